"""Run one DAG to completion in this process (``dag.test()``) and exit non-zero if it failed.

Used by the demo and the end-to-end tests, in a child process whose environment points Airflow
at a local home (see ``placewise.local.airflow_env``). Unlike ``airflow dags test``, the exit code
tells whether the run succeeded, and the last line is a JSON summary of the task states.

    python -m placewise.local.run_dag placewise_nightly 2026-11-28 --conf '{"k": "v"}'
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULT_PREFIX = "RUN_RESULT "


@contextlib.contextmanager
def _recorded_as_started_now() -> Iterator[None]:
    """Make ``dag.test()`` record its DagRun as started when it really starts.

    ``dag.test()`` creates its run through ``airflow.models.dagrun.get_or_create_dagrun`` with
    ``start_date=logical_date``: a run for today's midnight (the demo's nightly run) is shown in
    the UI as started at midnight, with a duration of however long after midnight it ended.
    ``dag.test()`` looks the helper up at call time, so wrapping it for the duration of the run
    passes the wall-clock time instead; the logical date and data interval are unchanged.
    """
    from airflow.models import dagrun
    from airflow.sdk import timezone

    create = dagrun.get_or_create_dagrun

    def create_started_now(**kwargs: Any) -> Any:
        kwargs["start_date"] = timezone.utcnow()
        return create(**kwargs)

    dagrun.get_or_create_dagrun = create_started_now
    try:
        yield
    finally:
        dagrun.get_or_create_dagrun = create


def run(dag_id: str, logical_date: datetime, conf: dict | None) -> dict:
    """Parse the DAG folder, run ``dag_id`` once and return the run's state and task states."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.db import initdb

    initdb()
    bag = DagBag()
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {bag.import_errors}")
    dag = bag.get_dag(dag_id)
    if dag is None:
        raise SystemExit(f"no DAG {dag_id!r} in {sorted(bag.dag_ids)}")
    with _recorded_as_started_now():
        dag_run = dag.test(logical_date=logical_date, run_conf=conf)
    states = Counter(str(ti.state) for ti in dag_run.get_task_instances())
    failed = sorted(
        f"{ti.task_id}[{ti.map_index}]"
        for ti in dag_run.get_task_instances()
        if str(ti.state) in ("failed", "upstream_failed")
    )
    return {
        "dag_id": dag_id,
        "run_id": dag_run.run_id,
        "state": str(dag_run.state),
        "task_states": dict(states),
        "failed_tasks": failed,
    }


def run_in_child(
    env: Mapping[str, str],
    dag_id: str,
    logical_date: str,
    conf: dict | None,
    log_path: Path,
    timeout_s: float = 3600,
) -> dict:
    """Run a DAG in a child process with ``env`` (an Airflow home), output into ``log_path``.

    Returns the run's summary plus ``seconds``, ``log`` and ``returncode``; a child that died
    before printing its summary, or exited non-zero, counts as a failed run.
    """
    command = [sys.executable, "-m", "placewise.local.run_dag", dag_id, logical_date]
    if conf is not None:
        command += ["--conf", json.dumps(conf)]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(log_path, "w") as log:
        proc = subprocess.run(
            command,
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=timeout_s,
            check=False,
        )
    result: dict = {"dag_id": dag_id, "state": "failed", "failed_tasks": ["(no result)"]}
    for line in log_path.read_text().splitlines():
        if line.startswith(RESULT_PREFIX):
            result = json.loads(line.removeprefix(RESULT_PREFIX))
    if proc.returncode != 0 and result.get("state") == "success":
        result["state"] = "failed"
    result.update(
        seconds=round(time.monotonic() - started, 1), log=str(log_path), returncode=proc.returncode
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dag_id")
    parser.add_argument("logical_date", help="ISO date or datetime (UTC)")
    parser.add_argument("--conf", default=None, help="run conf / params as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    logical = datetime.fromisoformat(args.logical_date)
    if logical.tzinfo is None:
        logical = logical.replace(tzinfo=UTC)
    result = run(args.dag_id, logical, json.loads(args.conf) if args.conf else None)
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0 if result["state"] == "success" and not result["failed_tasks"] else 1


if __name__ == "__main__":
    sys.exit(main())
