"""``make demo``: the whole pipeline on one machine, with nothing installed but this venv.

1. PostgreSQL: embedded (data in ``.demo/postgres``) unless ``WAREHOUSE_URL`` names a server.
2. API: the local simulator (3 clubs in different timezones, 60 days of history) unless
   ``PLACEWISE_API_URL`` (and ``PLACEWISE_API_TOKEN``) name a real one.
3. Airflow (SQLite metadata in ``.demo/airflow``): ``placewise_nightly`` for yesterday, then
   ``placewise_backfill`` for the 30 days before, each ending with dbt building the marts.
4. A summary: rows per mart, API tokens spent, reconciliation status, where to look next.

Exits non-zero if a DAG run failed or reconciliation found a difference on a settled day. Every
process it started is stopped on the way out. A rerun reuses ``.demo/`` and only fetches what
changed (backfill slices already loaded by the same request are skipped).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from placewise.config import REPO_ROOT
from placewise.local.airflow_env import airflow_environment
from placewise.local.embedded_postgres import EmbeddedPostgres, ensure_database, free_port
from placewise.local.processes import SimulatorProcess, start_simulator
from placewise.registry import Club, render_registry

DEMO_DIR = REPO_ROOT / ".demo"
#: The simulator's bucket in the demo is larger than the API default so the 30-day backfill
#: takes minutes, not a quarter of an hour; the pipeline's pacer is told the same numbers.
DEMO_RATE = {"capacity": 600, "refill": 120}


def demo_postgres_port() -> int:
    """A stable port for the demo's PostgreSQL (so its URL stays valid across runs), else any."""
    wanted = int(os.environ.get("PLACEWISE_DEMO_PG_PORT", "54329"))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        if probe.connect_ex(("127.0.0.1", wanted)) != 0:
            return wanted
    return free_port()


def _say(text: str) -> None:
    print(f"[demo] {text}", flush=True)


def _run_dag(env: dict[str, str], dag_id: str, logical: datetime, conf: dict | None = None) -> dict:
    command = [sys.executable, "-m", "placewise.local.run_dag", dag_id, logical.isoformat()]
    if conf:
        command += ["--conf", json.dumps(conf)]
    log_path = DEMO_DIR / "logs" / f"{dag_id}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(log_path, "w") as log:
        proc = subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)
    result: dict = {"dag_id": dag_id, "state": "failed", "failed_tasks": ["(no result)"]}
    for line in log_path.read_text().splitlines():
        if line.startswith("RUN_RESULT "):
            result = json.loads(line.removeprefix("RUN_RESULT "))
    result["seconds"] = round(time.monotonic() - started, 1)
    result["log"] = str(log_path)
    if proc.returncode != 0 and result.get("state") == "success":
        result["state"] = "failed"
    _say(f"{dag_id}: {result['state']} in {result['seconds']} s (log: {log_path})")
    return result


def _summary(
    url: str, started_at: datetime, simulator: SimulatorProcess | None
) -> tuple[list[str], bool]:
    lines: list[str] = []
    ok = True
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in ('placewise_marts', 'placewise_audit') order by 1, 2"
        ).fetchall()
        lines.append("Rows per mart:")
        for schema, table in tables:
            count = conn.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]
            lines.append(f"  {schema}.{table:<40} {count:>9}")
        tokens, slices = conn.execute(
            "select coalesce(sum(tokens_spent), 0), count(*) from placewise_ops.slices "
            "where requested_at >= %s",
            (started_at,),
        ).fetchone()
        total_tokens = conn.execute(
            "select coalesce(sum(tokens_spent), 0) from placewise_ops.slices"
        ).fetchone()[0]
        if simulator is not None:
            charged = simulator.stats()["tokens_spent_total"]
            lines.append(
                f"API tokens spent: {charged} by this run (as charged by the API; "
                f"{slices} slices changed and were loaded), "
                f"{total_tokens} recorded since the warehouse was created"
            )
        else:
            lines.append(
                f"API tokens spent on the {slices} slices this run changed: {tokens} "
                f"(unchanged re-fetches are not recorded); {total_tokens} since the warehouse "
                "was created"
            )
        recon = conn.execute(
            "select status, count(*), count(*) filter (where is_settled) "
            "from placewise_audit.recon_sendings_stats_totals group by status order by status"
        ).fetchall()
        by_status = {status: n for status, n, _ in recon}
        lines.append(
            "Reconciliation (rebuilt totals vs the API's total_*): "
            + ", ".join(f"{n} {status} ({settled} on settled days)" for status, n, settled in recon)
        )
        if by_status.get("difference", 0) > 0:
            ok = False
            lines.append(
                "  DIFFERENCES on settled days: see placewise_audit.recon_sendings_stats_totals"
            )
        quarantined = conn.execute("select count(*) from placewise_ops.quarantine").fetchone()[0]
        if quarantined:
            lines.append(f"Quarantined slices: {quarantined} (placewise_ops.quarantine)")
    return lines, ok


def main() -> int:
    DEMO_DIR.mkdir(exist_ok=True)
    started_at = datetime.now(UTC)
    postgres: EmbeddedPostgres | None = None
    simulator: SimulatorProcess | None = None
    try:
        server_url = os.environ.get("WAREHOUSE_URL")
        if server_url:
            warehouse_url = server_url
            _say(f"warehouse: WAREHOUSE_URL ({server_url.split('@')[-1]})")
        else:
            postgres = EmbeddedPostgres(DEMO_DIR / "postgres", port=demo_postgres_port())
            warehouse_url = ensure_database(postgres.start(), "warehouse")
            _say(f"warehouse: embedded PostgreSQL {warehouse_url}")

        api_url = os.environ.get("PLACEWISE_API_URL")
        extra: dict[str, str] = {}
        if api_url:
            token = os.environ.get("PLACEWISE_API_TOKEN", "")
            if not token:
                _say("PLACEWISE_API_URL is set but PLACEWISE_API_TOKEN is not")
                return 2
            clubs_file = Path(
                os.environ.get("PLACEWISE_CLUBS_FILE", REPO_ROOT / "config/clubs.yml")
            )
            _say(f"API: {api_url} (clubs from {clubs_file})")
        else:
            simulator = start_simulator(
                [
                    "--clubs", "3", "--history-days", "60",
                    "--rate-capacity", str(DEMO_RATE["capacity"]),
                    "--rate-refill", str(DEMO_RATE["refill"]),
                ],
                log_path=DEMO_DIR / "logs" / "simulator.log",
            )  # fmt: skip
            api_url, token = simulator.url, "dev-token"
            clubs = [Club(c["id"], c["name"]) for c in simulator.clubs()]
            clubs_file = DEMO_DIR / "clubs.yml"
            clubs_file.write_text(render_registry(clubs))
            extra = {
                "PLACEWISE_RATE_CAPACITY": str(DEMO_RATE["capacity"]),
                "PLACEWISE_RATE_REFILL_PER_S": str(DEMO_RATE["refill"]),
            }
            _say(f"API: local simulator {api_url} ({len(clubs)} clubs)")

        env = airflow_environment(
            DEMO_DIR / "airflow",
            warehouse_url=warehouse_url,
            api_url=api_url,
            api_token=token,
            clubs_file=clubs_file,
            landing_root=os.environ.get("PLACEWISE_LANDING_ROOT", str(DEMO_DIR / "landing")),
            extra={"PLACEWISE_TASK_RETRIES": "1", **extra},
        )
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        yesterday = (today - timedelta(days=1)).date()
        runs = [
            _run_dag(env, "placewise_nightly", today),
            _run_dag(
                env,
                "placewise_backfill",
                today,
                {
                    "start_date": (yesterday - timedelta(days=30)).isoformat(),
                    "end_date": (yesterday - timedelta(days=1)).isoformat(),
                },
            ),
        ]
        lines, recon_ok = _summary(warehouse_url, started_at, simulator)
        print()
        print("Placewise Warehouse demo")
        print("=" * 24)
        for run in runs:
            print(f"{run['dag_id']}: {run['state']} ({run['seconds']} s) {run.get('task_states')}")
            if run.get("failed_tasks"):
                print(f"  failed tasks: {run['failed_tasks']} (log: {run['log']})")
        for line in lines:
            print(line)
        print()
        parts = urlsplit(warehouse_url)
        print("Look further (start `make airflow` first to bring the embedded stack back up):")
        print("  make airflow     # the Airflow UI (http://localhost:8080) with these runs")
        print(f"  psql {warehouse_url}")
        print(
            f"  PLACEWISE_PG_HOST={parts.hostname} PLACEWISE_PG_PORT={parts.port} "
            f"PLACEWISE_PG_DBNAME={parts.path.lstrip('/')} .venv/bin/dbt docs generate "
            "--project-dir dbt_project --profiles-dir dbt_project && .venv/bin/dbt docs serve "
            "--project-dir dbt_project --profiles-dir dbt_project"
        )
        ok = all(r["state"] == "success" for r in runs) and recon_ok
        print("Result: OK" if ok else "Result: FAILED")
        return 0 if ok else 1
    finally:
        if simulator is not None:
            simulator.stop()
        if postgres is not None:
            postgres.stop()


if __name__ == "__main__":
    sys.exit(main())
