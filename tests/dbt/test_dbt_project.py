"""The dbt project against a real PostgreSQL holding a synthetic Placewise world.

The tests of this module share one database (built once by ``dbt build``) and run in file
order; a test that changes raw data restores it or runs last.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from dbt_world import (
    CLUBS,
    DAYS,
    DBT_PROJECT,
    REPO_ROOT,
    TENANTS_SCOPE,
    DbtWarehouse,
    Loader,
    load_club_day,
    load_tenants_day,
    sending_records,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FCT_KEY = "loyalty_club_id, aggregation, stat_date, dimension_value, event_type"


def fct_snapshot(
    conn: psycopg.Connection, table: str = "placewise_marts.fct_sendings_stats", key: str = FCT_KEY
) -> dict[tuple, tuple]:
    """Rows by grain key -> (row version xmin, _slice_id, _loaded_at, measure)."""
    rows = conn.execute(f"select {key}, xmin::text, _slice_id, _loaded_at from {table}").fetchall()
    width = len(key.split(","))
    return {tuple(row[:width]): tuple(row[width:]) for row in rows}


def reload_club_day(warehouse: DbtWarehouse, club: int, day: dt.date) -> None:
    """Load ``club``'s ``day`` again from the (changed) world, as a new answer would: its
    statistics, that day's cross-club totals and the club's sendings records."""
    world = warehouse.world
    now = dt.datetime.now(dt.UTC)
    with psycopg.connect(warehouse.url) as loader_conn:
        loader = Loader(loader_conn)
        load_club_day(loader, world, club, day, now)
        load_tenants_day(loader, world, day, now)
        loader.load_records("sendings", club, sending_records(world, club), now)


def tamper_tenants_total(conn: psycopg.Connection, day: dt.date, delta: int) -> tuple[int, int]:
    """Add ``delta`` to one API total_channel series of ``day``; return its (slice, row_no)."""
    row = conn.execute(
        "select _slice_id, _row_no from placewise_raw.sendings_stats"
        " where _scope like 'clubs:%%' and aggregation = 'total_channel' and stat_date = %s"
        " order by _row_no limit 1",
        (day,),
    ).fetchone()
    assert row, f"no tenants total_channel series on {day}"
    conn.execute(
        "update placewise_raw.sendings_stats set value = value + %s"
        " where _slice_id = %s and _row_no = %s",
        (delta, *row),
    )
    return row


def untamper(conn: psycopg.Connection, row: tuple[int, int], delta: int) -> None:
    conn.execute(
        "update placewise_raw.sendings_stats set value = value - %s"
        " where _slice_id = %s and _row_no = %s",
        (delta, *row),
    )


def test_dbt_build_passes_and_fills_every_mart(built_warehouse: DbtWarehouse) -> None:
    with built_warehouse.connect() as conn:
        for table in (
            "placewise_marts.fct_sendings_stats",
            "placewise_marts.agg_sendings_stats_total",
            "placewise_marts.dim_sendings",
            "placewise_marts.dim_loyalty_clubs",
            "placewise_marts.mart_sendings_daily_performance",
            "placewise_marts.fct_sendings_events_history",
            "placewise_marts.fct_sendings_recipients_statistics",
            "placewise_marts.fct_links_visits_history",
            "placewise_marts.fct_member_balance",
            "placewise_marts.fct_members_count_history",
            "placewise_marts.fct_sendings_links_stats",
            "placewise_marts.fct_members_grouped_count",
            "placewise_audit.recon_sendings_stats_totals",
            "placewise_audit.sync_status",
        ):
            count = conn.execute(f"select count(*) from {table}").fetchone()[0]
            assert count > 0, table
        aggregations = {
            row[0]
            for row in conn.execute(
                "select distinct aggregation from placewise_marts.fct_sendings_stats"
            )
        }
        assert aggregations == {"none", "service_type", "campaign_id", "channel", "reporting_id"}
        clubs = conn.execute(
            "select loyalty_club_id, timezone, first_synced_day, last_synced_day"
            " from placewise_marts.dim_loyalty_clubs order by 1"
        ).fetchall()
        world = built_warehouse.world
        assert clubs == [(club, tz, world.first_day, world.last_day) for club, tz in CLUBS.items()]


def test_recon_has_no_difference_on_settled_days(built_warehouse: DbtWarehouse) -> None:
    with built_warehouse.connect() as conn:
        by_state = dict(
            conn.execute(
                "select is_settled, count(*) from placewise_audit.recon_sendings_stats_totals"
                " group by 1"
            ).fetchall()
        )
        assert by_state.get(True, 0) > 0 and by_state.get(False, 0) > 0
        differences = conn.execute(
            "select count(*) from placewise_audit.recon_sendings_stats_totals where difference <> 0"
        ).fetchone()[0]
        assert differences == 0
        aggregations = {
            row[0]
            for row in conn.execute(
                "select distinct aggregation from placewise_audit.recon_sendings_stats_totals"
            )
        }
        assert aggregations == {
            "total",
            "total_service_type",
            "total_campaign_id",
            "total_channel",
            "total_reporting_id",
        }


def test_bi_role_reads_marts_and_audit_but_cannot_write_or_read_raw(
    built_warehouse: DbtWarehouse,
) -> None:
    with built_warehouse.connect() as conn:
        conn.execute("set role placewise_bi")
        assert (
            conn.execute("select count(*) from placewise_marts.fct_sendings_stats").fetchone()[0]
            > 0
        )
        assert conn.execute("select count(*) from placewise_audit.sync_status").fetchone()[0] > 0
        assert (
            conn.execute(
                "select count(*) from placewise_audit.recon_sendings_stats_totals"
            ).fetchone()[0]
            > 0
        )
        forbidden = [
            "insert into placewise_marts.dim_loyalty_clubs (loyalty_club_id, enabled)"
            " values (1, true)",
            "delete from placewise_marts.fct_sendings_stats",
            "select * from placewise_raw.sendings_stats limit 1",
            "select * from placewise_ops.slices limit 1",
            "select * from placewise_staging.stg_placewise__sendings_stats limit 1",
            "create temp table bi_scratch (x integer)",
        ]
        for statement in forbidden:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)


def test_dbt_docs_generate_writes_a_catalog(built_warehouse: DbtWarehouse) -> None:
    built_warehouse.dbt("docs", "generate")
    catalog = json.loads((built_warehouse.target_path / "catalog.json").read_text())
    assert "model.placewise_warehouse.fct_sendings_stats" in catalog["nodes"]


def test_unsettled_api_total_difference_is_reported_not_failed(
    built_warehouse: DbtWarehouse,
) -> None:
    day = built_warehouse.world.unsettled_day()
    with built_warehouse.connect() as conn:
        row = tamper_tenants_total(conn, day, 5)
        try:
            built_warehouse.dbt(
                "build", "--select", "recon_sendings_stats_totals+", "--full-refresh"
            )
            statuses = conn.execute(
                "select status, is_settled, difference"
                " from placewise_audit.recon_sendings_stats_totals where difference <> 0"
            ).fetchall()
            assert statuses == [("unsettled", False, -5)]
            state = conn.execute(
                "select reconciliation_state from placewise_audit.sync_status"
                " where report = 'sendings_stats' and scope like 'clubs:%'"
            ).fetchone()[0]
            assert state == "unsettled"
        finally:
            untamper(conn, row, 5)
            built_warehouse.dbt(
                "build", "--select", "recon_sendings_stats_totals+", "--full-refresh"
            )


def test_settled_api_total_difference_fails_the_recon_test(
    built_warehouse: DbtWarehouse,
) -> None:
    day = built_warehouse.world.settled_day()
    with built_warehouse.connect() as conn:
        row = tamper_tenants_total(conn, day, 5)
        try:
            result = built_warehouse.dbt(
                "build", "--select", "recon_sendings_stats_totals+", "--full-refresh", check=False
            )
            assert result.returncode != 0
            assert "assert_recon_settled_totals_match" in result.stdout
            assert conn.execute(
                "select status from placewise_audit.recon_sendings_stats_totals"
                " where difference <> 0"
            ).fetchall() == [("difference",)]
        finally:
            untamper(conn, row, 5)
            built_warehouse.dbt(
                "build", "--select", "recon_sendings_stats_totals+", "--full-refresh"
            )


def test_a_settled_day_missing_a_clubs_partition_is_incomplete_not_a_failure(
    built_warehouse: DbtWarehouse,
) -> None:
    day = built_warehouse.world.settled_day()
    where = "loyalty_club_id = %s and aggregation = 'channel' and stat_date = %s"
    with built_warehouse.connect() as conn:
        (club,) = conn.execute(
            "select loyalty_club_id from placewise_marts.fct_sendings_stats"
            " where aggregation = 'channel' and stat_date = %s and events > 0"
            " group by 1 order by sum(events) desc limit 1",
            (day,),
        ).fetchone()
        # as if that club's channel slice of the day had been quarantined on its first load:
        # no partition, no raw rows, no facts
        removed = conn.execute(
            "delete from placewise_ops.loaded_partitions where report = 'sendings_stats'"
            " and scope = %s and aggregation = 'channel' and partition_date = %s"
            " returning scope, loyalty_club_id, report, aggregation, interval, partition_date,"
            " slice_id, loaded_at",
            (f"club:{club}", day),
        ).fetchall()
        assert len(removed) == 1
        for table in ("placewise_raw.sendings_stats", "placewise_marts.fct_sendings_stats"):
            saved = "saved_" + table.rsplit(".", 1)[1]
            conn.execute(
                f"create temp table {saved} as select * from {table} where {where}", (club, day)
            )
            assert conn.execute(f"delete from {table} where {where}", (club, day)).rowcount > 0
        try:
            result = built_warehouse.dbt(
                "build", "--select", "recon_sendings_stats_totals+", "--full-refresh", check=False
            )
            assert result.returncode == 0, result.stdout[-3000:]
            rows = conn.execute(
                "select distinct status, club_partitions_missing"
                " from placewise_audit.recon_sendings_stats_totals"
                " where stat_date = %s and aggregation = 'total_channel' and difference <> 0",
                (day,),
            ).fetchall()
            assert rows == [("incomplete", 1)]
            state = conn.execute(
                "select reconciliation_state, recon_incomplete from placewise_audit.sync_status"
                " where report = 'sendings_stats' and scope = %s",
                (f"club:{club}",),
            ).fetchone()
            assert state[0] == "incomplete" and state[1] > 0
        finally:
            for table in ("placewise_raw.sendings_stats", "placewise_marts.fct_sendings_stats"):
                saved = "saved_" + table.rsplit(".", 1)[1]
                conn.execute(f"insert into {table} select * from {saved}")
            conn.cursor().executemany(
                "insert into placewise_ops.loaded_partitions (scope, loyalty_club_id, report,"
                " aggregation, interval, partition_date, slice_id, loaded_at)"
                " values (%s, %s, %s, %s, %s, %s, %s, %s)",
                removed,
            )
            built_warehouse.dbt(
                "build", "--select", "recon_sendings_stats_totals+", "--full-refresh"
            )


def test_reloading_one_day_rebuilds_only_that_days_partitions(
    built_warehouse: DbtWarehouse,
) -> None:
    world = built_warehouse.world
    club = 1001
    sending, day = next(
        (s, d)
        for d in world.days()[: DAYS - 10]
        for s in world.sendings
        if s.club == club and d in s.daily
    )
    with built_warehouse.connect() as conn:
        before = fct_snapshot(conn)
        history_before = fct_snapshot(
            conn,
            "placewise_marts.fct_sendings_events_history",
            "loyalty_club_id, aggregation, bucket_date, dimension_value, event_type",
        )
        opened_before = conn.execute(
            "select events from placewise_marts.fct_sendings_stats where loyalty_club_id = %s"
            " and stat_date = %s and aggregation = 'none' and event_type = 'opened'",
            (club, day),
        ).fetchone()
        sending.daily[day]["opened"] += 7
        reload_club_day(built_warehouse, club, day)

        built_warehouse.dbt("build")

        after = fct_snapshot(conn)
        assert after.keys() >= {k for k in before if not (k[0] == club and k[2] == day)}
        changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
        assert changed, "the re-loaded day was not rebuilt"
        assert {(k[0], k[2]) for k in changed} == {(club, day)}
        new_slices = {after[k][1] for k in after if k[0] == club and k[2] == day}
        old_slices = {before[k][1] for k in before if k[0] == club and k[2] == day}
        assert new_slices.isdisjoint(old_slices)
        opened_after = conn.execute(
            "select events from placewise_marts.fct_sendings_stats where loyalty_club_id = %s"
            " and stat_date = %s and aggregation = 'none' and event_type = 'opened'",
            (club, day),
        ).fetchone()
        assert opened_after[0] == (opened_before[0] if opened_before else 0) + 7
        assert (
            fct_snapshot(
                conn,
                "placewise_marts.fct_sendings_events_history",
                "loyalty_club_id, aggregation, bucket_date, dimension_value, event_type",
            )
            == history_before
        )


AGG_KEY = "stat_date, aggregation, dimension_value, event_type"
RECON_KEY = "stat_date, tenants_scope, aggregation, dimension_value, event_type"
PERFORMANCE_KEY = "stat_date, loyalty_club_id, channel"


def versions(conn: psycopg.Connection, table: str, key: str, measure: str) -> dict[tuple, tuple]:
    """Rows by grain key -> (row version xmin, measure)."""
    rows = conn.execute(f"select {key}, xmin::text, {measure} from {table}").fetchall()
    width = len(key.split(","))
    return {tuple(row[:width]): tuple(row[width:]) for row in rows}


def test_reloading_one_club_day_rebuilds_only_that_days_totals_recon_and_performance(
    built_warehouse: DbtWarehouse,
) -> None:
    world = built_warehouse.world
    club = 1002
    sending, day = next(
        (s, d)
        for d in reversed(world.days()[5 : DAYS - 12])
        for s in world.sendings
        if s.club == club and d in s.daily
    )
    tables = {
        "agg": ("placewise_marts.agg_sendings_stats_total", AGG_KEY, "events"),
        "recon": ("placewise_audit.recon_sendings_stats_totals", RECON_KEY, "rebuilt_events"),
        "performance": (
            "placewise_marts.mart_sendings_daily_performance",
            PERFORMANCE_KEY,
            "opened",
        ),
    }
    with built_warehouse.connect() as conn:
        before = {name: versions(conn, *spec) for name, spec in tables.items()}
        sending.daily[day]["opened"] += 5
        reload_club_day(built_warehouse, club, day)

        built_warehouse.dbt("build")

        after = {name: versions(conn, *spec) for name, spec in tables.items()}
        for name in tables:
            old, new = before[name], after[name]
            changed = {k for k in old.keys() | new.keys() if old.get(k) != new.get(k)}
            assert changed, f"{name}: the reloaded day was not rebuilt"
            assert {k[0] for k in changed} == {day}, name
            assert {k: v for k, v in new.items() if k[0] != day} == {
                k: v for k, v in old.items() if k[0] != day
            }, name
            rebuilt = {k for k in new if k[0] == day}
            assert all(new[k][0] != old.get(k, (None,))[0] for k in rebuilt), name
        total_key = (day, "total", "(all)", "opened")
        assert after["agg"][total_key][1] == before["agg"].get(total_key, (None, 0))[1] + 5
        performance_key = (day, club, sending.channel)
        assert (
            after["performance"][performance_key][1]
            == before["performance"].get(performance_key, (None, 0))[1] + 5
        )
        recon_key = (day, TENANTS_SCOPE, "total", "(all)", "opened")
        assert after["recon"][recon_key][1] == before["recon"].get(recon_key, (None, 0))[1] + 5
        assert (
            conn.execute(
                "select count(*) from placewise_audit.recon_sendings_stats_totals"
                " where stat_date = %s and difference <> 0",
                (day,),
            ).fetchone()[0]
            == 0
        )


def test_an_empty_reloaded_partition_deletes_the_days_older_rows(
    built_warehouse: DbtWarehouse,
) -> None:
    with built_warehouse.connect() as conn:
        club, day = conn.execute(
            "select loyalty_club_id, stat_date from placewise_marts.fct_sendings_stats"
            " where aggregation = 'channel' and stat_date > %s order by 2, 1 limit 1",
            (built_warehouse.world.last_day - dt.timedelta(days=6),),
        ).fetchone()
        before = conn.execute(
            "select count(*) from placewise_marts.fct_sendings_stats where loyalty_club_id = %s"
            " and stat_date = %s and aggregation = 'channel'",
            (club, day),
        ).fetchone()[0]
        assert before > 0
        with psycopg.connect(built_warehouse.url) as loader_conn:
            Loader(loader_conn).load_statistics(
                f"club:{club}", [club], "channel", day, [], dt.datetime.now(dt.UTC)
            )
        built_warehouse.dbt("build")
        after = conn.execute(
            "select count(*) from placewise_marts.fct_sendings_stats where loyalty_club_id = %s"
            " and stat_date = %s and aggregation = 'channel'",
            (club, day),
        ).fetchone()[0]
        assert after == 0


def test_data_tests_look_at_the_recently_loaded_days_unless_told_to_test_all(
    built_warehouse: DbtWarehouse,
) -> None:
    with built_warehouse.connect() as conn:
        conn.execute(
            "update placewise_ops.loaded_partitions set loaded_at = loaded_at - interval '10 days'"
        )
        old_day = built_warehouse.world.settled_day()
        conn.execute(
            "insert into placewise_marts.fct_sendings_stats"
            " select * from placewise_marts.fct_sendings_stats"
            " where stat_date = %s and aggregation = 'none' limit 1",
            (old_day,),
        )
        try:
            nightly = built_warehouse.dbt("test", "--select", "fct_sendings_stats", check=False)
            assert nightly.returncode == 0, nightly.stdout[-3000:]
            everything = built_warehouse.dbt(
                "test",
                "--select",
                "fct_sendings_stats",
                "--vars",
                "{placewise_test_all_days: true}",
                check=False,
            )
            assert everything.returncode != 0
            assert "unique_combination_of_columns_fct_sendings_stats" in everything.stdout
            conn.execute(
                "update placewise_ops.loaded_partitions set loaded_at = now()"
                " where partition_date = %s",
                (old_day,),
            )
            touched = built_warehouse.dbt("test", "--select", "fct_sendings_stats", check=False)
            assert touched.returncode != 0
            assert "unique_combination_of_columns_fct_sendings_stats" in touched.stdout
        finally:
            conn.execute(
                "delete from placewise_marts.fct_sendings_stats as f using ("
                "  select min(ctid) as keep, stat_date, loyalty_club_id, aggregation,"
                "         dimension_value, event_type"
                "  from placewise_marts.fct_sendings_stats where stat_date = %s"
                "  group by 2, 3, 4, 5, 6 having count(*) > 1) as d"
                " where f.stat_date = d.stat_date and f.loyalty_club_id = d.loyalty_club_id"
                " and f.aggregation = d.aggregation and f.dimension_value = d.dimension_value"
                " and f.event_type = d.event_type and f.ctid <> d.keep",
                (old_day,),
            )
            conn.execute("update placewise_ops.loaded_partitions set loaded_at = now()")
        assert built_warehouse.dbt("test", "--select", "fct_sendings_stats").returncode == 0


def test_sqlfluff_lint_passes_on_the_dbt_project() -> None:
    sqlfluff = Path(sys.executable).with_name("sqlfluff")
    result = subprocess.run(
        [
            str(sqlfluff),
            "lint",
            str(DBT_PROJECT / "models"),
            str(DBT_PROJECT / "tests"),
            str(DBT_PROJECT / "analyses"),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-5000:]
