"""The service layer against the simulator and a real PostgreSQL: migrate, register, sync, replay.

These are the operations the CLI, the Airflow tasks and the demo share.
"""

from __future__ import annotations

import json
from datetime import date

import psycopg
import pytest
from placewise import service
from placewise.api.settings import ApiSettings
from placewise.config import REPO_ROOT, PipelineSettings
from placewise.landing.store import LandingStore
from placewise.sync import OutcomeStatus
from placewise.warehouse.schema import (
    WarehouseNotMigratedError,
    connect,
    connect_migrated,
    expected_tables,
    missing_tables,
)

pytestmark = pytest.mark.integration

DAY = date(2026, 11, 26)


@pytest.fixture
def settings(tmp_path) -> PipelineSettings:
    return PipelineSettings.from_env(
        {
            "PLACEWISE_CLUBS_FILE": str(REPO_ROOT / "config" / "clubs.yml"),
            "PLACEWISE_LANDING_ROOT": str(tmp_path / "landing"),
            "PLACEWISE_RATE_CAPACITY": "100000",
            "PLACEWISE_RATE_REFILL_PER_S": "100000",
        }
    )


@pytest.fixture
def api(simulator) -> ApiSettings:
    return ApiSettings(base_url=simulator.url, token="dev-token")


def schemas(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("select schema_name from information_schema.schemata").fetchall()
    return {name for (name,) in rows if name.startswith("placewise")}


def sync_day(settings, api, url, reports=("sendings_stats", "sendings")):
    plan = service.plan_sync(settings, DAY, DAY, club_ids=[1001], reports=list(reports))
    return service.sync(plan.specs, settings=settings, api=api, conninfo=url, run_id="svc")


# -- migrate --------------------------------------------------------------------------------------


def test_connect_only_connects_and_migrate_creates_every_table(fresh_database):
    with connect(fresh_database) as conn:
        assert missing_tables(conn) == expected_tables()
    assert schemas(fresh_database) == set()
    service.migrate(fresh_database)
    service.migrate(fresh_database)  # idempotent
    with connect(fresh_database) as conn:
        assert missing_tables(conn) == []
    assert schemas(fresh_database) == {"placewise_raw", "placewise_ops"}
    assert "placewise_ops.api_token_buckets" in expected_tables()


def test_connect_migrated_names_what_is_missing_and_the_command_that_fixes_it(fresh_database):
    with pytest.raises(WarehouseNotMigratedError) as info:
        connect_migrated(fresh_database)
    message = str(info.value)
    assert message.startswith("the warehouse is not migrated (placewise_ops.slices, ")
    assert f"and {len(expected_tables()) - 3} more missing)" in message
    assert "run `placewise migrate`" in message


def test_a_warehouse_migrated_before_the_added_columns_is_named_and_migrated(fresh_database):
    service.migrate(fresh_database)
    with connect(fresh_database) as conn:
        conn.execute("alter table placewise_ops.slices drop column dropped_buckets")
        assert missing_tables(conn) == ["placewise_ops.slices.dropped_buckets"]
    with pytest.raises(WarehouseNotMigratedError, match=r"slices\.dropped_buckets missing"):
        connect_migrated(fresh_database)
    service.migrate(fresh_database)
    with connect(fresh_database) as conn:
        assert missing_tables(conn) == []


def test_a_table_dropped_after_migrating_is_named_in_the_error(fresh_database):
    service.migrate(fresh_database)
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("drop table placewise_raw.member_balance")
    with pytest.raises(WarehouseNotMigratedError) as info:
        connect_migrated(fresh_database)
    assert "(placewise_raw.member_balance missing)" in str(info.value)


# -- register_clubs -------------------------------------------------------------------------------


def test_register_clubs_mirrors_the_registry_and_needs_a_migrated_warehouse(
    settings, fresh_database
):
    with pytest.raises(WarehouseNotMigratedError):
        service.register_clubs(fresh_database, settings)
    service.migrate(fresh_database)
    assert service.register_clubs(fresh_database, settings) == 3
    assert service.register_clubs(fresh_database, settings) == 3
    with psycopg.connect(fresh_database) as conn:
        rows = conn.execute(
            "select loyalty_club_id, name, enabled from placewise_ops.clubs order by 1"
        ).fetchall()
    assert rows == [(c.id, c.name, c.enabled) for c in service.select_clubs(settings)]


# -- sync and replay ------------------------------------------------------------------------------


def test_sync_loads_the_plan_and_records_the_statuses_byte_for_byte(
    settings, api, simulator, fresh_database
):
    service.migrate(fresh_database)
    simulator.reset_stats()
    summary = sync_day(settings, api, fresh_database)
    assert summary.failures == [], summary.text()
    assert summary.count(OutcomeStatus.LOADED) == len(summary.outcomes) == 5 + 1
    assert summary.tokens == simulator.stats()["tokens_spent_total"] > 0
    with psycopg.connect(fresh_database) as conn:
        statuses = conn.execute(
            "select distinct status, run_id from placewise_ops.slices"
        ).fetchall()
    assert statuses == [("loaded", "svc")]
    manifests = list((LandingStore(settings.landing_root).root / "manifests").rglob("*.json"))
    assert len(manifests) == 6
    assert {json.loads(p.read_text())["status"] for p in manifests} == {"landed"}


def test_sync_on_an_unmigrated_warehouse_fails_before_calling_the_api(
    settings, api, simulator, fresh_database
):
    simulator.reset_stats()
    with pytest.raises(WarehouseNotMigratedError, match="run `placewise migrate`"):
        sync_day(settings, api, fresh_database)
    assert simulator.stats()["requests_total"] == 0
    assert schemas(fresh_database) == set()


def test_resumed_sync_skips_and_replay_of_the_same_answers_is_unchanged(
    settings, api, simulator, fresh_database
):
    service.migrate(fresh_database)
    first = sync_day(settings, api, fresh_database, reports=["sendings_stats"])
    plan = service.plan_sync(settings, DAY, DAY, club_ids=[1001], reports=["sendings_stats"])
    simulator.reset_stats()
    resumed = service.sync(
        plan.specs,
        settings=settings,
        api=api,
        conninfo=fresh_database,
        run_id="svc-2",
        skip_loaded=True,
    )
    assert resumed.count(OutcomeStatus.SKIPPED) == len(first.outcomes) == 5
    assert simulator.stats()["requests_total"] == 0
    replayed = service.replay_landed(settings=settings, conninfo=fresh_database, run_id="svc-3")
    assert replayed.count(OutcomeStatus.UNCHANGED) == 5
    assert replayed.count(OutcomeStatus.LOADED) == 0
    assert simulator.stats()["requests_total"] == 0


def test_replay_with_nothing_landed_says_where_it_looked(settings, fresh_database):
    service.migrate(fresh_database)
    with pytest.raises(service.NothingToReplayError) as info:
        service.replay_landed(
            settings=settings, conninfo=fresh_database, run_id="r", reports=["sendings"]
        )
    assert str(info.value).startswith(
        f"nothing to replay in {settings.landing_root} for reports=['sendings']"
    )
