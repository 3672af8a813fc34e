"""Planner statistics: the tables a run changed are analysed at its end, and only those.

The machine's PostgreSQL (like many managed ones under a long backfill) does not analyse on its
own here, so without ``analyze_changed`` the raw and ops tables keep the statistics of an empty
warehouse and dbt's partition joins degrade into nested loops over the whole history.
"""

from __future__ import annotations

from datetime import date

import psycopg
import pytest
from placewise.api.client import PlacewiseClient
from placewise.api.pacing import InMemoryPacer
from placewise.api.settings import ApiSettings
from placewise.extract.plan import plan_club
from placewise.landing.store import LandingStore
from placewise.sync import replay, select_manifests, sync_slices
from placewise.warehouse.maintenance import analyze_changed, changed_tables
from placewise.warehouse.schema import connect, migrate, migrate_warehouse

pytestmark = pytest.mark.integration


def table_stats(conn: psycopg.Connection, table: str) -> tuple[float, int, bool]:
    """(pg_class.reltuples, n_mod_since_analyze, analysed at all) of a pipeline table."""
    conn.execute("select pg_stat_clear_snapshot()")
    row = conn.execute(
        """
        select c.reltuples, s.n_mod_since_analyze, s.last_analyze is not null
        from pg_stat_user_tables as s join pg_class as c on c.oid = s.relid
        where s.schemaname || '.' || s.relname = %s
        """,
        (table,),
    ).fetchone()
    assert row is not None, table
    return float(row[0]), int(row[1]), bool(row[2])


def test_analyze_changed_analyses_exactly_the_tables_that_were_written(fresh_database):
    with connect(fresh_database) as conn:
        migrate(conn)
        assert analyze_changed(conn) == []  # freshly created, empty: nothing to analyse
        conn.execute(
            """
            insert into placewise_ops.loaded_partitions (scope, loyalty_club_id, report,
                aggregation, interval, partition_date, slice_id, loaded_at)
            select 'club:' || c, c, 'sendings_stats', 'none', 'statistics', d, c * 1000 + n,
                   now()
            from generate_series(1001, 1010) as c,
                 generate_series(date '2025-12-01', date '2026-11-30', interval '1 day')
                     with ordinality as days(d, n)
            """
        )
        reltuples, modified, analysed = table_stats(conn, "placewise_ops.loaded_partitions")
        assert reltuples < 0 and not analysed  # a year of partitions, never analysed

        assert changed_tables(conn) == [("placewise_ops", "loaded_partitions")]
        assert analyze_changed(conn) == ["placewise_ops.loaded_partitions"]

        reltuples, modified, analysed = table_stats(conn, "placewise_ops.loaded_partitions")
        assert analysed and modified == 0
        assert reltuples == 3650
        assert analyze_changed(conn) == []  # nothing changed since: one catalog query


def test_a_few_changed_rows_of_a_long_history_do_not_trigger_a_full_analyse(fresh_database):
    partitions = """
        insert into placewise_ops.loaded_partitions (scope, loyalty_club_id, report,
            aggregation, interval, partition_date, slice_id, loaded_at)
        select 'club:' || c, c, 'sendings_stats', 'none', 'statistics', d, c * 1000 + n, now()
        from generate_series(%s::bigint, %s::bigint) as c,
             generate_series(date '2025-12-01', date '2026-11-30', interval '1 day')
                 with ordinality as days(d, n)
    """
    with connect(fresh_database) as conn:
        migrate(conn)
        conn.execute(partitions, (1001, 1010))  # 3650 rows
        conn.commit()
        assert analyze_changed(conn) == ["placewise_ops.loaded_partitions"]
        # A nightly's worth: 8 days of one club, far below 50 + 10% of 3650 rows.
        conn.execute(
            "update placewise_ops.loaded_partitions set slice_id = slice_id + 1"
            " where loyalty_club_id = 1001 and partition_date >= date '2026-11-23'"
        )
        conn.commit()
        assert changed_tables(conn) == []
        # A backfill's worth: a new club's year is 10% of the table, plus more than 50 rows.
        conn.execute(partitions, (1011, 1012))
        conn.commit()
        assert analyze_changed(conn) == ["placewise_ops.loaded_partitions"]
        reltuples, modified, _ = table_stats(conn, "placewise_ops.loaded_partitions")
        assert reltuples == 4380 and modified == 0


def test_analyze_changed_refuses_to_run_inside_an_open_transaction(fresh_database):
    with connect(fresh_database) as conn, conn.transaction():
        migrate(conn)
        with pytest.raises(RuntimeError, match="outside a transaction"):
            analyze_changed(conn)


def test_a_sync_and_a_replay_leave_fresh_statistics_on_what_they_loaded(
    simulator, module_database, database_factory, tmp_path
):
    landing = LandingStore(tmp_path / "landing")
    migrate_warehouse(module_database)
    specs = plan_club(
        1001,
        date(2026, 11, 1),
        date(2026, 11, 14),
        reports=["sendings_stats", "sendings_events_history"],
    )
    settings = ApiSettings(base_url=simulator.url, token="dev-token")
    pacer = InMemoryPacer(capacity=100000, refill_per_s=100000)
    with PlacewiseClient(settings, pacer=pacer) as client:
        summary = sync_slices(specs, client=client, store=landing, conninfo=module_database)
    assert summary.failures == [] and summary.count("loaded") == len(specs)

    replayed = database_factory("pw_test")
    migrate_warehouse(replayed)
    replay_summary = replay(select_manifests(landing), store=landing, conninfo=replayed)
    assert replay_summary.failures == []

    for url in (module_database, replayed):
        with psycopg.connect(url, autocommit=True) as conn:
            for table in (
                "placewise_raw.sendings_stats",
                "placewise_raw.sendings_events_history",
                "placewise_ops.slices",
                "placewise_ops.loaded_partitions",
            ):
                reltuples, modified, analysed = table_stats(conn, table)
                rows = conn.execute(f"select count(*) from {table}").fetchone()[0]
                assert rows > 0, table
                assert analysed and modified == 0, (url, table)
                assert reltuples == rows, (url, table)
            # Tables the run did not write to stay as they were (never analysed, empty).
            reltuples, modified, analysed = table_stats(conn, "placewise_raw.members")
            assert not analysed and modified == 0
