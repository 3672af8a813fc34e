"""DAG integrity and policy: every file imports cleanly, fast, and follows the house rules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from placewise.local.airflow_env import airflow_environment

HERE = Path(__file__).parent
EXPECTED = {"placewise_nightly", "placewise_backfill", "placewise_replay", "placewise_doctor"}


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> dict:
    home = tmp_path_factory.mktemp("airflow-home")
    env = airflow_environment(
        home,
        warehouse_url="postgresql://nobody@127.0.0.1:1/none",  # parsing must not connect
        api_url="http://127.0.0.1:1",
        api_token="unused",
        clubs_file=home / "missing-clubs.yml",  # parsing must not read the registry either
        landing_root=home / "landing",
    )
    proc = subprocess.run(
        [sys.executable, str(HERE / "dag_probe.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("PROBE ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(lines[-1].removeprefix("PROBE "))


def test_every_dag_file_imports_without_errors(probe):
    for name, info in probe["files"].items():
        assert info["import_errors"] == {}, name
    assert set(probe["dags"]) == EXPECTED


def test_each_dag_file_parses_well_under_a_second(probe):
    times = {name: round(info["cpu_seconds"], 3) for name, info in probe["files"].items()}
    wall = {name: round(info["seconds"], 3) for name, info in probe["files"].items()}
    print(f"DAG parse CPU seconds per file: {times} (wall: {wall})")
    assert all(seconds < 1.0 for seconds in times.values()), times


def test_dags_are_explicit_about_catchup_concurrency_tags_and_docs(probe):
    for dag_id, dag in probe["dags"].items():
        assert dag["catchup"] is False, dag_id
        assert dag["max_active_runs"] == 1, dag_id
        assert "placewise" in dag["tags"], dag_id
        assert "Triage" in dag["doc_md"], dag_id


def test_every_task_has_an_owner_retries_with_backoff_a_timeout_and_docs(probe):
    for dag_id, dag in probe["dags"].items():
        for task_id, task in dag["tasks"].items():
            where = f"{dag_id}.{task_id}"
            assert task["owner"] == "data-platform", where
            assert task["retries"] >= 1, where
            assert task["retry_exponential_backoff"], where
            assert task["execution_timeout"], where
            if not task_id.startswith("dbt."):
                assert task["doc"], where


def test_nightly_runs_daily_at_0230_utc_and_backfill_and_replay_are_manual(probe):
    assert probe["dags"]["placewise_nightly"]["schedule"] == "30 2 * * *"
    assert probe["dags"]["placewise_backfill"]["schedule"] == "None"
    assert probe["dags"]["placewise_replay"]["schedule"] == "None"
    assert set(probe["dags"]["placewise_backfill"]["params"]) == {
        "start_date",
        "end_date",
        "clubs",
        "reports",
        "priority",
    }


def test_the_doctor_is_manual_with_a_token_budget_param_and_only_migrate_before_it(probe):
    dag = probe["dags"]["placewise_doctor"]
    assert dag["schedule"] == "None"
    assert dag["params"] == ["max_tokens"] and dag["param_defaults"]["max_tokens"] == 100
    assert set(dag["tasks"]) == {"migrate", "doctor"}
    assert "First contact" in dag["doc_md"]


def test_nightly_outranks_backfill_and_publishes_raw_and_mart_assets(probe):
    nightly = probe["dags"]["placewise_nightly"]["tasks"]
    backfill = probe["dags"]["placewise_backfill"]["tasks"]
    assert nightly["sync_club"]["priority_weight"] > backfill["sync_club"]["priority_weight"]
    assert nightly["loads_done"]["outlets"] == ["placewise_raw"]
    assert nightly["summary"]["outlets"] == ["placewise_marts"]
    assert nightly["loads_done"]["trigger_rule"].lower().endswith("all_done")


def test_every_dag_starts_by_migrating_the_warehouse(probe):
    first_work = {
        "placewise_nightly": "plan",
        "placewise_backfill": "plan_backfill",
        "placewise_replay": "replay_slices",
        "placewise_doctor": "doctor",
    }
    for dag_id, dag in probe["dags"].items():
        assert dag["roots"] == ["migrate"], dag_id
        assert dag["tasks"][first_work[dag_id]]["upstream"] == ["migrate"], dag_id
        assert dag["tasks"]["migrate"]["doc"], dag_id


def test_backfill_date_defaults_do_not_depend_on_the_day_the_file_was_parsed(probe):
    defaults = probe["dags"]["placewise_backfill"]["param_defaults"]
    assert defaults["start_date"] is None and defaults["end_date"] is None
    assert defaults["clubs"] == [] and defaults["priority"] == "normal"


def test_dag_settings_come_from_the_pipeline_settings(tmp_path):
    """PLACEWISE_TASK_RETRIES and PLACEWISE_NIGHTLY_CRON reach the parsed DAGs."""
    env = airflow_environment(
        tmp_path,
        warehouse_url="postgresql://nobody@127.0.0.1:1/none",
        api_url="http://127.0.0.1:1",
        api_token="unused",
        clubs_file=tmp_path / "missing-clubs.yml",
        landing_root=tmp_path / "landing",
        extra={"PLACEWISE_TASK_RETRIES": "5", "PLACEWISE_NIGHTLY_CRON": "15 4 * * *"},
    )
    proc = subprocess.run(
        [sys.executable, str(HERE / "dag_probe.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("PROBE ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    dags = json.loads(lines[-1].removeprefix("PROBE "))["dags"]
    assert dags["placewise_nightly"]["schedule"] == "15 4 * * *"
    assert {t["retries"] for d in dags.values() for t in d["tasks"].values()} == {5}
