"""Wall time of a real scheduler run per dbt execution mode (``PLACEWISE_DBT_EXECUTION``).

Run with ``make bench-dag`` (or ``.venv/bin/python bench/dag_run_bench.py``). For each mode, one
``placewise_backfill`` run (by default 2 clubs x 5 days) goes through a real Airflow: scheduler
with the LocalExecutor, dag-processor and api-server on a fresh PostgreSQL metadata database,
against the simulator with unlimited rate limits, each mode in a fresh warehouse. Reported per
mode: the run's wall time (dag_run start to end), the wall time of its dbt part (first dbt task
start to the BI grants' end) and that part's share. Every mode runs on the same machine in the
same invocation; other load on the machine moves the numbers, so compare modes within a run.

PostgreSQL is ``WAREHOUSE_URL``'s server, else an embedded server in a temp directory; the
databases created here are dropped at the end. The exit status is 0 whether or not a run was
fast: this is a measurement (a failed run exits 1).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

from placewise.local.airflow_cluster import airflow_cluster, cluster_environment
from placewise.local.airflow_env import airflow_environment
from placewise.local.embedded_postgres import (
    EmbeddedPostgres,
    drop_database,
    ensure_database,
    free_port,
)
from placewise.local.processes import running_simulator
from placewise.registry import Club, render_registry

SIMULATOR_NOW = "2026-11-28T06:00:00+00:00"
LAST_DAY = date(2026, 11, 26)


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    configured = os.environ.get("WAREHOUSE_URL")
    if configured:
        yield configured
        return
    server = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="placewise-bench-pg-")))
    server.start()
    try:
        yield server.url()
    finally:
        server.destroy()


def measure(mode: str, server: str, api_url: str, clubs_file: Path, days: int, root: Path) -> dict:
    """One backfill run in ``mode``; its wall times from the metadata database."""
    tag = uuid.uuid4().hex[:8]
    warehouse, metadata = f"pw_bench_wh_{tag}", f"pw_bench_meta_{tag}"
    home = root / mode
    cores = os.cpu_count() or 2
    try:
        env = cluster_environment(
            airflow_environment(
                home,
                warehouse_url=ensure_database(server, warehouse),
                api_url=api_url,
                api_token="dev-token",
                clubs_file=clubs_file,
                landing_root=home / "landing",
                extra={
                    "PLACEWISE_DBT_EXECUTION": mode,
                    "PLACEWISE_TASK_RETRIES": "0",
                    "PLACEWISE_RATE_CAPACITY": "100000",
                    "PLACEWISE_RATE_REFILL_PER_S": "100000",
                    "AIRFLOW__CORE__PARALLELISM": str(2 * cores),
                    "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(2 * cores),
                },
            ),
            metadata_url=ensure_database(server, metadata),
            api_port=free_port(),
        )
        conf = {
            "start_date": (LAST_DAY - timedelta(days=days - 1)).isoformat(),
            "end_date": LAST_DAY.isoformat(),
            "clubs": [],
        }
        with airflow_cluster(env, home / "service-logs") as cluster:
            cluster.wait_until_parsed("placewise_backfill")
            run_id = f"bench_{mode}"
            cluster.trigger("placewise_backfill", run_id, "2026-11-28T00:00:00+00:00", conf)
            state = cluster.wait_for_run("placewise_backfill", run_id, timeout_s=1800)
            (run_s,) = cluster.query(
                "select extract(epoch from end_date - start_date) from dag_run where run_id = %s",
                run_id,
            )[0]
            (dbt_s,) = cluster.query(
                "select extract(epoch from max(end_date) - min(start_date)) from task_instance "
                "where run_id = %s and (task_id like 'dbt.%%' or task_id = 'grant_bi_role')",
                run_id,
            )[0]
            (tasks,) = cluster.query(
                "select count(*) from task_instance where run_id = %s and task_id like 'dbt.%%'",
                run_id,
            )[0]
        return {
            "mode": mode,
            "state": state,
            "run_seconds": round(float(run_s), 1),
            "dbt_seconds": round(float(dbt_s), 1),
            "dbt_share": round(float(dbt_s) / float(run_s), 2),
            "dbt_tasks": tasks,
        }
    finally:
        drop_database(server, warehouse)
        drop_database(server, metadata)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--modes", default="local,watcher", help="comma-separated modes")
    parser.add_argument("--clubs", type=int, default=2)
    parser.add_argument("--days", type=int, default=5)
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="placewise-dag-bench-"))
    results = []
    world = ["--seed", "42", "--clubs", str(args.clubs), "--history-days", "30"]
    fast = ["--rate-capacity", "100000", "--rate-refill", "100000", "--now", SIMULATOR_NOW]
    with postgres_server() as server, running_simulator([*world, *fast]) as sim:
        clubs_file = root / "clubs.yml"
        clubs_file.write_text(render_registry([Club(c["id"], c["name"]) for c in sim.clubs()]))
        for mode in args.modes.split(","):
            started = time.monotonic()
            result = measure(mode, server, sim.url, clubs_file, args.days, root)
            result["bench_seconds"] = round(time.monotonic() - started, 1)
            print(json.dumps(result), flush=True)
            results.append(result)
    print(json.dumps({"clubs": args.clubs, "days": args.days, "runs": results}, indent=2))
    return 0 if all(r["state"] == "success" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
