"""``make demo``: the whole pipeline on one machine, with nothing installed but this venv.

1. PostgreSQL: embedded (data in ``.demo/postgres``) unless ``WAREHOUSE_URL`` names a server.
2. API: the local simulator (3 clubs in different timezones, 60 days of history) unless
   ``PLACEWISE_API_URL`` (and ``PLACEWISE_API_TOKEN``) name a real one.
3. ``placewise migrate`` on the warehouse (the DAGs' first task migrates too; doing it here first
   means the demo's own queries never meet a missing table).
4. Airflow (SQLite metadata in ``.demo/airflow``): ``placewise_nightly`` for yesterday, then
   ``placewise_backfill`` for the 30 days before, each ending with dbt building the marts.
5. A summary: rows per mart, API tokens spent, reconciliation status, where to look next, and
   the status page written to ``.demo/status.html`` (the page of the Airflow UI's "Placewise").

Exits non-zero if a DAG run failed or reconciliation found a difference on a settled day. Every
process it started is stopped on the way out. A rerun reuses ``.demo/`` and only fetches what
changed (backfill slices already loaded by the same request are skipped).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from placewise import service
from placewise.local.processes import SimulatorProcess
from placewise.local.run_dag import run_in_child
from placewise.local.stack import DEMO_DIR, LocalStack, StackConfigError, local_stack
from placewise.status import UI_ROUTE

#: The simulator's bucket in the demo is larger than the API default so the 30-day backfill
#: takes minutes, not a quarter of an hour; the pipeline's pacer is told the same numbers.
DEMO_RATE = {"capacity": 600, "refill": 120}


def _say(text: str) -> None:
    print(f"[demo] {text}", flush=True)


def _run_dag(env: dict[str, str], dag_id: str, logical: datetime, conf: dict | None = None) -> dict:
    log_path = DEMO_DIR / "logs" / f"{dag_id}.log"
    result = run_in_child(env, dag_id, logical.isoformat(), conf, log_path)
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


def _write_status_page(warehouse_url: str) -> Path:
    """What ``placewise status --html .demo/status.html`` writes: the page the plugin serves."""
    from placewise.status.queries import read_status
    from placewise.status.render import render_html

    target = DEMO_DIR / "status.html"
    target.write_text(render_html(read_status(warehouse_url)), encoding="utf-8")
    return target


def main() -> int:
    started_at = datetime.now(UTC)
    try:
        with local_stack(
            rate_capacity=DEMO_RATE["capacity"], rate_refill=DEMO_RATE["refill"]
        ) as stack:
            return _demo(stack, started_at)
    except StackConfigError as exc:
        _say(str(exc))
        return 2


def _demo(stack: LocalStack, started_at: datetime) -> int:
    warehouse_url = stack.warehouse_url
    if stack.postgres is None:
        _say(f"warehouse: WAREHOUSE_URL ({warehouse_url.split('@')[-1]})")
    else:
        _say(f"warehouse: embedded PostgreSQL {warehouse_url}")
    if stack.simulator is None:
        _say(f"API: {stack.api_url} (clubs from {stack.clubs_file})")
    else:
        _say(f"API: local simulator {stack.api_url} ({len(stack.simulator.clubs())} clubs)")
    service.migrate(warehouse_url)
    _say("warehouse migrated (placewise migrate)")
    env = stack.airflow_env({"PLACEWISE_TASK_RETRIES": "1"})
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
    lines, recon_ok = _summary(warehouse_url, started_at, stack.simulator)
    status_page = _write_status_page(warehouse_url)
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
    print(
        f"  {status_page}  # the status page, written now; in the Airflow UI: the nav entry "
        f'"Placewise" (http://localhost:8080/plugin/{UI_ROUTE})'
    )
    print(f"  WAREHOUSE_URL={warehouse_url} placewise status [--html FILE]")
    print(f"  psql {warehouse_url}")
    print(
        "  make docs        # the dbt docs site (http://localhost:8081) over "
        f"{parts.hostname}:{parts.port}{parts.path}"
    )
    ok = all(r["state"] == "success" for r in runs) and recon_ok
    print("Result: OK" if ok else "Result: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
