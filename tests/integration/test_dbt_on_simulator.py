"""dbt build over data loaded from the simulator: 3 clubs in different timezones, 36 days."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest
from placewise.api.client import PlacewiseClient
from placewise.api.pacing import InMemoryPacer
from placewise.api.settings import ApiSettings
from placewise.config import REPO_ROOT
from placewise.extract.plan import plan_club, plan_tenants
from placewise.landing.store import LandingStore
from placewise.local.dbt_profile import dbt_profile_env
from placewise.sync import sync_slices
from placewise.warehouse.schema import migrate_warehouse

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FIRST, LAST = date(2026, 10, 15), date(2026, 11, 19)  # 36 days, most of them settled
CLUBS = (1001, 1002, 1003)


def dbt(url: str, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dbt_profile_env(url, tmp / "logs")
    project = str(REPO_ROOT / "dbt_project")
    command = [
        str(Path(sys.executable).parent / "dbt"),
        *args,
        "--project-dir",
        project,
        "--profiles-dir",
        project,
        "--target-path",
        str(tmp / "target"),
    ]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def warehouse(simulator, module_database, tmp_path_factory) -> str:
    landing = tmp_path_factory.mktemp("landing")
    specs = [s for club in CLUBS for s in plan_club(club, FIRST, LAST)]
    specs += plan_tenants(CLUBS, FIRST, LAST)
    migrate_warehouse(module_database)
    settings = ApiSettings(base_url=simulator.url, token="dev-token")
    pacer = InMemoryPacer(capacity=100000, refill_per_s=100000)
    with PlacewiseClient(settings, pacer=pacer) as client:
        summary = sync_slices(
            specs, client=client, store=LandingStore(landing), conninfo=module_database
        )
    assert summary.failures == [], summary.text()
    with psycopg.connect(module_database, autocommit=True) as conn:
        conn.execute(
            "insert into placewise_ops.clubs (loyalty_club_id, name, enabled) values "
            "(1001, 'Oslo', true), (1002, 'Manhattan', true), (1003, 'Shibuya', true)"
        )
    return module_database


def test_dbt_build_passes_and_totals_reconcile_on_settled_days(warehouse, tmp_path):
    result = dbt(warehouse, tmp_path, "build")
    assert result.returncode == 0, result.stdout[-5000:]
    with psycopg.connect(warehouse) as conn:
        recon = dict(
            conn.execute(
                "select status, count(*) from placewise_audit.recon_sendings_stats_totals "
                "group by 1"
            ).fetchall()
        )
        zones = conn.execute(
            "select count(distinct timezone) from placewise_marts.dim_loyalty_clubs"
        ).fetchone()[0]
        days = conn.execute(
            "select count(distinct stat_date) from placewise_marts.fct_sendings_stats"
        ).fetchone()[0]
    assert recon.get("difference", 0) == 0 and recon.get("match", 0) > 0, recon
    assert zones == 3
    assert days == (LAST - FIRST).days + 1


def test_every_aggregation_of_the_facts_sums_to_the_unaggregated_series(warehouse, tmp_path):
    assert dbt(warehouse, tmp_path, "build").returncode == 0
    with psycopg.connect(warehouse) as conn:
        mismatches = conn.execute(
            """
            with sums as (
                select loyalty_club_id, stat_date, event_type, aggregation, sum(events) as events
                from placewise_marts.fct_sendings_stats group by 1, 2, 3, 4
            )
            select count(*) from sums a join sums n
              on (a.loyalty_club_id, a.stat_date, a.event_type)
               = (n.loyalty_club_id, n.stat_date, n.event_type) and n.aggregation = 'none'
            where a.events <> n.events
            """
        ).fetchone()[0]
        last_day = conn.execute(
            "select max(stat_date) from placewise_marts.fct_sendings_stats"
        ).fetchone()[0]
    assert mismatches == 0
    assert last_day == LAST and last_day - timedelta(days=35) == FIRST
