"""Client, landing and loader against the simulator over real HTTP and a real PostgreSQL."""

from __future__ import annotations

from datetime import date

import psycopg
import pytest
from placewise.api.client import PlacewiseClient, RetryPolicy
from placewise.api.pacing import InMemoryPacer
from placewise.api.settings import ApiSettings
from placewise.extract.plan import plan_club, plan_tenants
from placewise.landing.store import LandingStore
from placewise.sync import OutcomeStatus, replay, select_manifests, sync_slices
from placewise.warehouse.schema import migrate_warehouse

pytestmark = pytest.mark.integration

FIRST, LAST = date(2026, 11, 22), date(2026, 11, 26)
REPORTS = ["sendings_stats", "sendings_events_history", "member_balance", "sendings"]

CONTENT = {
    "sendings_stats": "loyalty_club_id, aggregation, stat_date, timezone, label::text, value",
    "sendings_events_history": "loyalty_club_id, aggregation, bucket_start, label::text, value",
    "member_balance": "loyalty_club_id, aggregation, bucket_start, label::text, value",
    "sendings": "loyalty_club_id, record_key, record::text",
}


def client_for(url: str, retry: RetryPolicy | None = None) -> PlacewiseClient:
    settings = ApiSettings(base_url=url, token="dev-token")
    return PlacewiseClient(
        settings,
        pacer=InMemoryPacer(capacity=100000, refill_per_s=100000),
        retry=retry or RetryPolicy(base_delay_s=0.01, max_delay_s=0.05),
        sleep=lambda s: None,
    )


def content(url: str) -> dict[str, list[tuple]]:
    with psycopg.connect(url) as conn:
        return {
            table: sorted(
                conn.execute(f"select {cols}, _response_sha256 from placewise_raw.{table}"),
                key=repr,
            )
            for table, cols in CONTENT.items()
        }


def run_sync(sim_url: str, db_url: str, landing, *, use_export: bool = True, retry=None):
    specs = [
        s
        for club in (1001, 1002)
        for s in plan_club(club, FIRST, LAST, reports=REPORTS, use_export=use_export)
    ]
    specs += plan_tenants([1001, 1002, 1003], LAST, LAST)
    migrate_warehouse(db_url)
    with client_for(sim_url, retry) as client:
        return sync_slices(
            specs, client=client, store=LandingStore(landing), conninfo=db_url, run_id="t"
        )


def test_sync_lands_and_loads_every_planned_slice(simulator, fresh_database, tmp_path):
    simulator.reset_stats()
    summary = run_sync(simulator.url, fresh_database, tmp_path)
    assert summary.failures == [], summary.text()
    assert summary.count(OutcomeStatus.LOADED) == len(summary.outcomes)
    stats = simulator.stats()
    assert summary.tokens == stats["tokens_spent_total"]
    data = content(fresh_database)
    assert {row[0] for row in data["sendings_stats"]} == {1001, 1002, 1003, None}  # + tenants
    assert {row[2] for row in data["sendings_stats"] if row[0] == 1001} == {
        date(2026, 11, d) for d in range(22, 27)
    }


def test_a_second_sync_of_the_same_answers_reports_every_slice_unchanged(
    simulator, fresh_database, tmp_path
):
    first = run_sync(simulator.url, fresh_database, tmp_path)
    before = content(fresh_database)
    again = run_sync(simulator.url, fresh_database, tmp_path)
    assert again.failures == [], again.text()
    assert again.count(OutcomeStatus.UNCHANGED) == len(again.outcomes) == len(first.outcomes)
    assert again.count(OutcomeStatus.LOADED) == 0 and again.rows == 0
    assert again.tokens == first.tokens  # fetched (and paid for) again, but nothing written
    assert again.text().startswith(
        f"{len(again.outcomes)} slices: 0 loaded, {len(again.outcomes)} unchanged, 0 skipped"
    )
    assert content(fresh_database) == before


def test_a_faulty_api_yields_the_same_landed_and_loaded_result(
    simulator, simulator_factory, database_factory, tmp_path
):
    clean_db, faulty_db = database_factory("pw_clean"), database_factory("pw_faulty")
    faulty = simulator_factory(
        "--seed", "42", "--clubs", "3", "--fault-rate", "0.2", "--fault-seed", "7"
    )
    clean = run_sync(simulator.url, clean_db, tmp_path / "clean")
    noisy = run_sync(
        faulty.url,
        faulty_db,
        tmp_path / "faulty",
        retry=RetryPolicy(max_attempts=12, base_delay_s=0.01, max_delay_s=0.05),
    )
    assert clean.failures == [] and noisy.failures == [], noisy.text()
    faults = faulty.stats()
    assert {r["status"] for r in faults["requests"]} - {"200"}, "no fault was injected"
    assert content(clean_db) == content(faulty_db)


def test_query_endpoint_paging_and_splitting_match_the_export(
    simulator, database_factory, tmp_path
):
    export_db, query_db = database_factory("pw_export"), database_factory("pw_query")
    assert run_sync(simulator.url, export_db, tmp_path / "e").failures == []
    assert run_sync(simulator.url, query_db, tmp_path / "q", use_export=False).failures == []
    exported, queried = content(export_db), content(query_db)
    for table in CONTENT:
        strip = [row[:-1] for row in exported[table]], [row[:-1] for row in queried[table]]
        assert strip[0] == strip[1], table


def test_replay_rebuilds_raw_tables_from_the_landing_root_without_api_calls(
    simulator, fresh_database, tmp_path
):
    assert run_sync(simulator.url, fresh_database, tmp_path).failures == []
    before = content(fresh_database)
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        for table in CONTENT:
            conn.execute(f"truncate placewise_raw.{table}")
        conn.execute("truncate placewise_ops.slices, placewise_ops.loaded_partitions")
    simulator.reset_stats()
    store = LandingStore(tmp_path)
    summary = replay(select_manifests(store), store=store, conninfo=fresh_database)
    assert summary.failures == []
    assert simulator.stats()["requests_total"] == 0
    assert content(fresh_database) == before


def test_a_paced_sync_against_the_default_rate_limit_sees_at_most_a_handful_of_429s(
    simulator_factory, fresh_database, tmp_path
):
    """The shared PostgreSQL pacer with the API's bucket size keeps 429s rare: 20 exports of 10
    tokens each from a 60-token bucket refilled at 6/s take ~25 s and are almost never refused."""
    from placewise.api.pacing import PostgresPacer

    limited = simulator_factory("--seed", "42", "--clubs", "3", fast=False)  # 60 tokens, 6/s
    specs = plan_club(1001, date(2026, 11, 23), date(2026, 11, 26), reports=["sendings_stats"])
    migrate_warehouse(fresh_database)
    pacer = PostgresPacer(fresh_database, capacity=60, refill_per_s=6.0)
    settings = ApiSettings(base_url=limited.url, token="dev-token")
    with PlacewiseClient(settings, pacer=pacer) as client:
        summary = sync_slices(
            specs, client=client, store=LandingStore(tmp_path), conninfo=fresh_database
        )
    assert summary.failures == [] and summary.count(OutcomeStatus.LOADED) == len(specs) == 20
    refused = sum(r["count"] for r in limited.stats()["requests"] if r["status"] == "429")
    assert refused <= 3, limited.stats()
