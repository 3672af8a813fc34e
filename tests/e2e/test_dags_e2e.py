"""The three DAGs end to end (dag.test() in a child process) against the simulator and a real
PostgreSQL: 3 clubs in different timezones, marts and reconciliation checked afterwards."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest
from placewise.config import REPO_ROOT
from placewise.local.airflow_env import airflow_environment
from placewise.local.processes import SimulatorProcess
from placewise.local.run_dag import run_in_child

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NIGHTLY_DATE = "2026-11-28"  # the simulator's frozen day: loads 2026-11-20 .. 2026-11-27
BACKFILL = (date(2026, 11, 1), date(2026, 11, 10))


@dataclass
class Stack:
    env: dict[str, str]
    url: str
    simulator: SimulatorProcess
    logs: Path

    def run(self, dag_id: str, logical_date: str, conf: dict | None = None) -> dict:
        log_path = self.logs / f"{dag_id}-{len(list(self.logs.glob('*.log')))}.log"
        result = run_in_child(self.env, dag_id, logical_date, conf, log_path, timeout_s=1200)
        assert result["returncode"] == 0, (result, log_path.read_text()[-6000:])
        return result

    def query(self, sql: str, *params: object) -> list[tuple]:
        with psycopg.connect(self.url) as conn:
            return conn.execute(sql, params).fetchall()


@pytest.fixture(scope="module")
def stack(
    simulator: SimulatorProcess, module_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Stack:
    home = tmp_path_factory.mktemp("airflow")
    env = airflow_environment(
        home,
        warehouse_url=module_database,
        api_url=simulator.url,
        api_token="dev-token",
        clubs_file=REPO_ROOT / "config" / "clubs.yml",
        landing_root=home / "landing",
        extra={
            "PLACEWISE_TASK_RETRIES": "0",
            "PLACEWISE_RATE_CAPACITY": "100000",
            "PLACEWISE_RATE_REFILL_PER_S": "100000",
        },
    )
    return Stack(env, module_database, simulator, home / "run-logs")


def checksums(stack: Stack) -> dict[str, str]:
    """md5 of every raw, ops-partition and mart table's content (order-independent)."""
    tables = stack.query(
        "select table_schema || '.' || table_name from information_schema.tables "
        "where table_type = 'BASE TABLE' and (table_schema in ('placewise_raw', 'placewise_marts')"
        " or table_name in ('slices', 'loaded_partitions', 'clubs', 'quarantine', "
        "'recon_sendings_stats_totals')) order by 1"
    )
    return {
        name: stack.query(
            f"select md5(coalesce(string_agg(t::text, '|' order by t::text), '')) from {name} t"
        )[0][0]
        for (name,) in tables
    }


@pytest.fixture(scope="module")
def nightly(stack: Stack) -> dict:
    return stack.run("placewise_nightly", NIGHTLY_DATE)


def test_nightly_builds_the_marts_for_three_clubs_in_different_timezones(stack, nightly):
    assert nightly["state"] == "success"
    zones = stack.query("select loyalty_club_id, timezone from placewise_marts.dim_loyalty_clubs")
    assert len(zones) == 3 and len({tz for _, tz in zones}) == 3
    days = stack.query(
        "select loyalty_club_id, min(stat_date), max(stat_date), count(distinct stat_date) "
        "from placewise_marts.fct_sendings_stats group by 1 order by 1"
    )
    assert days == [
        (club, date(2026, 11, 20), date(2026, 11, 27), 8) for club in (1001, 1002, 1003)
    ]
    for table in ("mart_sendings_daily_performance", "agg_sendings_stats_total", "dim_sendings"):
        assert stack.query(f"select count(*) from placewise_marts.{table}")[0][0] > 0, table
    statuses = dict(
        stack.query(
            "select status, count(*) from placewise_audit.recon_sendings_stats_totals group by 1"
        )
    )
    assert statuses.get("difference", 0) == 0 and sum(statuses.values()) > 0


def test_bi_role_reads_marts_but_not_raw_tables(stack, nightly):
    with psycopg.connect(stack.url) as conn:
        conn.execute("set role placewise_bi")
        assert conn.execute("select count(*) from placewise_marts.fct_sendings_stats").fetchone()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select 1 from placewise_raw.sendings_stats limit 1")


def test_a_second_nightly_run_of_the_same_date_changes_nothing(stack, nightly):
    before = checksums(stack)
    stack.run("placewise_nightly", NIGHTLY_DATE)
    assert checksums(stack) == before


def test_a_backfill_over_ten_days_loads_exactly_those_days(stack, nightly):
    first, last = BACKFILL
    result = stack.run(
        "placewise_backfill",
        NIGHTLY_DATE,
        {"start_date": first.isoformat(), "end_date": last.isoformat(), "clubs": []},
    )
    assert result["state"] == "success"
    loaded = stack.query(
        "select distinct partition_date from placewise_ops.loaded_partitions "
        "where report = 'sendings_stats' and scope like 'club:%%' and partition_date < %s",
        date(2026, 11, 20),
    )
    assert sorted(d for (d,) in loaded) == [first + timedelta(days=i) for i in range(10)]
    settled = dict(
        stack.query(
            "select status, count(*) from placewise_audit.recon_sendings_stats_totals "
            "where is_settled group by 1"
        )
    )
    assert settled.get("match", 0) > 0 and settled.get("difference", 0) == 0, settled


def test_a_replay_rebuilds_a_deleted_mart_slice_without_calling_the_api(stack, nightly):
    day = date(2026, 11, 24)
    where = (
        "from placewise_marts.fct_sendings_stats where loyalty_club_id = 1001 and stat_date = %s"
    )
    before = sorted(
        stack.query(f"select aggregation, dimension_value, event_type, events {where}", day)
    )
    assert before
    with psycopg.connect(stack.url, autocommit=True) as conn:
        conn.execute(f"delete {where}", (day,))
    stack.simulator.reset_stats()
    stack.run(
        "placewise_replay",
        NIGHTLY_DATE,
        {"start_date": day.isoformat(), "end_date": day.isoformat(), "clubs": [1001]},
    )
    assert stack.simulator.stats()["requests_total"] == 0
    after = sorted(
        stack.query(f"select aggregation, dimension_value, event_type, events {where}", day)
    )
    assert after == before


def test_airflow_backfill_create_plans_one_nightly_run_per_trigger_in_the_range(stack, nightly):
    """Airflow's own backfill re-runs the nightly runs *triggered* in the range (to exclusive);
    each loads the day before its trigger, so 11-01..11-03 covers days 10-31 and 11-01."""
    airflow = str(Path(sys.executable).parent / "airflow")
    subprocess.run([airflow, "dags", "reserialize"], env=stack.env, check=True, capture_output=True)
    proc = subprocess.run(
        [
            airflow, "backfill", "create", "--dag-id", "placewise_nightly",
            "--from-date", "2026-11-01", "--to-date", "2026-11-03", "--dry-run",
        ],
        env=stack.env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    planned = [line for line in proc.stdout.splitlines() if "02:30:00+00:00" in line]
    assert len(planned) == 2, proc.stdout
    assert "2026-10-31 02:30" in planned[0] and "2026-11-01 02:30" in planned[1]
