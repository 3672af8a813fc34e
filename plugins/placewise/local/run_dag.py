"""Run one DAG to completion in this process (``dag.test()``) and exit non-zero if it failed.

Used by the demo and the end-to-end tests, in a child process whose environment points Airflow
at a local home (see ``placewise.local.airflow_env``). Unlike ``airflow dags test``, the exit code
tells whether the run succeeded, and the last line is a JSON summary of the task states.

    python -m placewise.local.run_dag placewise_nightly 2026-11-28 --conf '{"k": "v"}'
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter
from datetime import UTC, datetime


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
    print("RUN_RESULT " + json.dumps(result), flush=True)
    return 0 if result["state"] == "success" and not result["failed_tasks"] else 1


if __name__ == "__main__":
    sys.exit(main())
