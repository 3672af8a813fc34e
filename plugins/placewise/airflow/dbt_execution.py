"""How the dbt models run inside Airflow: one watched ``dbt build``, or one dbt run per model.

``watcher`` (the default) is Cosmos' ``ExecutionMode.WATCHER``: a single producer task runs one
``dbt build`` over every model, in-process (``InvocationMode.DBT_RUNNER``, no dbt start-up per
model, one project parse per run), and reports each model's result through XCom; every model
still has its own Airflow task, a sensor that takes that result, so the UI shows per-model
state, timing and compiled SQL as before. ``local`` is ``ExecutionMode.LOCAL``: each model task
runs its own dbt invocation (slower; kept for debugging a single model in isolation).

Both modes render from the manifest (``LoadMode.DBT_MANIFEST``), use the same profile mapping
and run the tests once after all models, so they build identical marts.

The model sensors are wired downstream of the producer (trigger rule ``all_done``), not beside
it: a sensor that starts while the build is still running would sit in a worker slot (or need a
triggerer round trip) and, under ``dag.test()``, which runs one task at a time, could wait for a
producer that never gets its turn. Started after the build, each sensor finds its model's result
on its first poke. When the build failed, they still run: a model the build finished reports its
own state, and on a retry the producer skips itself and each sensor runs its own model instead.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import TriggerRule
from cosmos import ExecutionConfig
from cosmos.constants import PRODUCER_WATCHER_TASK_ID, ExecutionMode, InvocationMode

DBT_EXECUTION_MODES = ("watcher", "local")

#: Seconds between two looks at the producer's XCom (the result is normally there at once).
SENSOR_POKE_INTERVAL_S = 2


def execution_config(mode: str, dbt_executable: str) -> ExecutionConfig:
    """The Cosmos execution settings for ``mode`` (one of ``DBT_EXECUTION_MODES``)."""
    if mode not in DBT_EXECUTION_MODES:
        raise ValueError(f"dbt execution mode must be one of {DBT_EXECUTION_MODES}, got {mode!r}")
    return ExecutionConfig(
        execution_mode=ExecutionMode.WATCHER if mode == "watcher" else ExecutionMode.LOCAL,
        invocation_mode=InvocationMode.DBT_RUNNER,
        dbt_executable_path=dbt_executable,
    )


def producer_task(group: Any) -> Any | None:
    """The group's ``dbt build`` producer task (None in ``local`` mode)."""
    return group.children.get(f"{group.group_id}.{PRODUCER_WATCHER_TASK_ID}")


def model_sensors(group: Any) -> list[Any]:
    """The group's per-model watcher sensors (empty in ``local`` mode)."""
    from cosmos.operators._watcher.base import BaseConsumerSensor

    return [task for task in group.children.values() if isinstance(task, BaseConsumerSensor)]


def wire_watcher_group(group: Any) -> None:
    """Start the model sensors after the build (see the module docstring), in poke mode."""
    producer = producer_task(group)
    if producer is None:
        return
    sensors = model_sensors(group)
    names = {sensor.task_id for sensor in sensors}
    for sensor in sensors:
        sensor.deferrable = False
        sensor.mode = "poke"
        sensor.poke_interval = SENSOR_POKE_INTERVAL_S
        if not names & sensor.upstream_task_ids:
            producer >> sensor
            sensor.trigger_rule = TriggerRule.ALL_DONE
