"""The dbt task group in both execution modes: one task per model either way; in watcher mode
one producer runs the build and the model tasks start after it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from placewise.config import REPO_ROOT

PROJECT = REPO_ROOT / "dbt_project"


def model_names() -> set[str]:
    manifest = json.loads((PROJECT / "target" / "manifest.json").read_text())
    return {
        node["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["package_name"] == "placewise_warehouse"
    }


def build_group(mode: str):
    from airflow.sdk import DAG
    from placewise.airflow.dbt import dbt_task_group

    with DAG(f"probe_{mode}", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC)):
        return dbt_task_group(PROJECT, execution=mode)


def model_tasks(group) -> dict[str, object]:
    return {
        task.task_id.removeprefix("dbt.").removesuffix("_run"): task
        for task in group.children.values()
        if task.task_id.endswith("_run")
    }


def test_watcher_mode_has_one_build_producer_and_a_sensor_per_model():
    from cosmos.operators.watcher import DbtProducerWatcherOperator, DbtRunWatcherOperator

    group = build_group("watcher")
    producers = [t for t in group.children.values() if isinstance(t, DbtProducerWatcherOperator)]
    assert [p.task_id for p in producers] == ["dbt.dbt_producer_watcher"]
    models = model_tasks(group)
    assert set(models) == model_names()
    assert all(isinstance(task, DbtRunWatcherOperator) for task in models.values())
    assert "dbt.dbt_project_test" in group.children


def test_watcher_model_tasks_start_after_the_build_and_poke_without_a_triggerer():
    group = build_group("watcher")
    model_ids = {task.task_id for task in model_tasks(group).values()}
    roots = 0
    for task in model_tasks(group).values():
        assert task.deferrable is False and task.mode == "poke", task.task_id
        if task.upstream_task_ids & model_ids:
            assert task.upstream_task_ids <= model_ids, task.task_id
        else:
            roots += 1
            assert task.upstream_task_ids == {"dbt.dbt_producer_watcher"}, task.task_id
            assert str(task.trigger_rule).lower().endswith("all_done"), task.task_id
    assert roots > 0


def test_local_mode_runs_one_dbt_invocation_per_model_task():
    from cosmos.operators.local import DbtRunLocalOperator

    group = build_group("local")
    models = model_tasks(group)
    assert set(models) == model_names()
    assert all(type(task) is DbtRunLocalOperator for task in models.values())
    assert not any("producer" in task_id for task_id in group.children)


def test_an_unknown_mode_is_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"one of \('watcher', 'local'\), got 'docker'"):
        build_group("docker")
