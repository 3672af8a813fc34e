"""The loader's lookups stay index scans in a warehouse holding a year of partitions.

A load's cost must not grow with the warehouse: every statement of the load transaction (the
unchanged check, the delete of the replaced partitions, the partition upsert, the supersede
check, the resume check, the quarantine) must find its rows through an index. The warehouse is
filled set-based (generate_series) with a year of per-club slices, partitions and raw rows for
several clubs, analysed, and then real slices are loaded through ``load_manifest`` on a
connection whose cursors EXPLAIN every statement before running it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import psycopg
import pytest
from landing_helpers import land
from placewise.api.customer import CustomerSelector
from placewise.extract.plan import SliceSpec
from placewise.extract.windows import Window
from placewise.landing.store import LandingStore
from placewise.warehouse.load import QuarantinedError, already_loaded, load_manifest
from placewise.warehouse.maintenance import analyze_changed
from placewise.warehouse.schema import connect, migrate
from psycopg import sql

pytestmark = pytest.mark.integration

CLUBS = tuple(range(1001, 1009))
STATS_AGGREGATIONS = ("none", "service_type", "campaign_id", "channel", "reporting_id")
TIMESERIES_AGGREGATIONS = ("none", "channel", "campaign_id")
FIRST_DAY = date(2025, 11, 1)
DAYS = 365
LAST_DAY = FIRST_DAY + timedelta(days=DAYS - 1)
#: Tables that grow with the history; a sequential scan of any of them makes a load O(history).
BIG_TABLES = {
    "slices",
    "loaded_partitions",
    "quarantine",
    "sendings_stats",
    "sendings_events_history",
    "sendings",
}


def fill_a_year(conn: psycopg.Connection) -> None:
    """A year of loaded slices, partitions and raw rows for every club, set-based."""
    clubs = list(CLUBS)
    conn.execute(
        """
        insert into placewise_ops.slices (slice_key, scope, club_ids, report, result_type,
            aggregation, interval, window_start, window_end, endpoint, request_body,
            response_sha256, rows, loaded_at, status)
        select 'sendings_stats|club:' || c || '|' || a || '|' || d::date,
               'club:' || c, array[c], 'sendings_stats', 'statistics', a, 'statistics',
               d, d + interval '1 day', 'export', jsonb_build_object('day', d::date),
               md5(c || a || d::text), 4, now(), 'loaded'
        from unnest(%s::bigint[]) as c, unnest(%s::text[]) as a,
             generate_series(%s::date, %s::date, interval '1 day') as d
        """,
        (clubs, list(STATS_AGGREGATIONS), FIRST_DAY, LAST_DAY),
    )
    # Every statistics day was loaded twice: the older answer is superseded.
    conn.execute(
        """
        insert into placewise_ops.slices (slice_key, scope, club_ids, report, result_type,
            aggregation, interval, window_start, window_end, endpoint, request_body,
            response_sha256, rows, loaded_at, status)
        select slice_key, scope, club_ids, report, result_type, aggregation, interval,
               window_start, window_end, endpoint, request_body, 'old', rows, loaded_at,
               'superseded'
        from placewise_ops.slices
        """
    )
    conn.execute(
        """
        insert into placewise_ops.loaded_partitions (scope, loyalty_club_id, report,
            aggregation, interval, partition_date, slice_id, loaded_at)
        select scope, club_ids[1], report, aggregation, interval, window_start::date, slice_id,
               loaded_at
        from placewise_ops.slices where status = 'loaded'
        """
    )
    conn.execute(
        """
        insert into placewise_raw.sendings_stats (_slice_id, _scope, _loaded_at,
            _response_sha256, _row_no, loyalty_club_id, aggregation, window_start_local,
            window_end_local, stat_date, timezone, label, value)
        select s.slice_id, s.scope, s.loaded_at, s.response_sha256, n, s.club_ids[1],
               s.aggregation, s.window_start, s.window_end, s.window_start::date,
               'Europe/Oslo', jsonb_build_object('event_type', 'e' || n), n
        from placewise_ops.slices as s, generate_series(1, 4) as n
        where s.status = 'loaded'
        """
    )
    # Timeseries: one slice per (club, aggregation, 15-day window), one partition per day.
    conn.execute(
        """
        insert into placewise_ops.slices (slice_key, scope, club_ids, report, result_type,
            aggregation, interval, window_start, window_end, endpoint, request_body,
            response_sha256, rows, loaded_at, status)
        select 'sendings_events_history|club:' || c || '|' || a || '|' || w::date,
               'club:' || c, array[c], 'sendings_events_history', 'timeseries', a, '1d',
               w, w + interval '15 days', 'export', jsonb_build_object('from', w::date),
               md5(c || a || w::text), 30, now(), 'loaded'
        from unnest(%s::bigint[]) as c, unnest(%s::text[]) as a,
             generate_series(%s::date, %s::date, interval '15 days') as w
        """,
        (clubs, list(TIMESERIES_AGGREGATIONS), FIRST_DAY, LAST_DAY - timedelta(days=15)),
    )
    conn.execute(
        """
        insert into placewise_ops.loaded_partitions (scope, loyalty_club_id, report,
            aggregation, interval, partition_date, slice_id, loaded_at)
        select s.scope, s.club_ids[1], s.report, s.aggregation, s.interval, d::date,
               s.slice_id, s.loaded_at
        from placewise_ops.slices as s,
             generate_series(s.window_start, s.window_end - interval '1 day',
                             interval '1 day') as d
        where s.report = 'sendings_events_history'
        """
    )
    conn.execute(
        """
        insert into placewise_raw.sendings_events_history (_slice_id, _scope, _loaded_at,
            _response_sha256, _row_no, loyalty_club_id, aggregation, interval, bucket_local,
            bucket_start, bucket_date, timezone, label, value)
        select p.slice_id, p.scope, p.loaded_at, 'sha', n, p.loyalty_club_id, p.aggregation,
               '1d', p.partition_date, p.partition_date, p.partition_date, 'Europe/Oslo',
               jsonb_build_object('event_type', 'e' || n), n
        from placewise_ops.loaded_partitions as p, generate_series(1, 3) as n
        where p.report = 'sendings_events_history'
        """
    )
    # Records: a year of daily sendings snapshots per club, the latest one loaded.
    conn.execute(
        """
        insert into placewise_ops.slices (slice_key, scope, club_ids, report, result_type,
            aggregation, endpoint, request_body, response_sha256, rows, loaded_at, status)
        select 'sendings|club:' || c || '|none', 'club:' || c, array[c], 'sendings', 'records',
               'none', 'export', '{}'::jsonb, md5(c || d::text), 50, now(),
               case when d = %s::date then 'loaded' else 'superseded' end
        from unnest(%s::bigint[]) as c,
             generate_series(%s::date, %s::date, interval '1 day') as d
        """,
        (LAST_DAY, clubs, FIRST_DAY, LAST_DAY),
    )
    conn.execute(
        """
        insert into placewise_raw.sendings (_slice_id, _scope, _loaded_at, _response_sha256,
            _row_no, loyalty_club_id, aggregation, record_key, record)
        select s.slice_id, s.scope, s.loaded_at, 'sha', n, s.club_ids[1], 'none', n::text,
               jsonb_build_object('id', n)
        from placewise_ops.slices as s, generate_series(1, 200) as n
        where s.report = 'sendings' and s.status = 'loaded'
        """
    )
    conn.execute(
        """
        insert into placewise_ops.quarantine (slice_key, scope, report, aggregation,
            landed_paths, reason)
        select slice_key, scope, report, aggregation, '{}', 'synthetic'
        from placewise_ops.slices where status = 'superseded' and report = 'sendings_stats'
        """
    )


class ExplainingCursor(psycopg.Cursor):
    """A cursor that records the JSON plan of every statement before running it."""

    plans: list[tuple[str, Any]] = []

    def _explain(self, query: Any, params: Any) -> None:
        text = query.as_string(self) if isinstance(query, sql.Composable) else str(query)
        head = text.lstrip().split(None, 1)[0].lower()
        if head not in ("select", "insert", "update", "delete", "with"):
            return
        if "pg_advisory_xact_lock" in text or "pg_stat_force_next_flush" in text:
            return
        explain = sql.SQL("explain (format json) ") + (
            query if isinstance(query, sql.Composable) else sql.SQL(text)
        )
        plan = psycopg.Cursor(self.connection).execute(explain, params).fetchone()[0]
        self.plans.append((" ".join(text.split()), plan))

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> ExplainingCursor:
        self._explain(query, params)
        return super().execute(query, params, **kwargs)

    def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> None:
        params_seq = list(params_seq)
        if params_seq:
            self._explain(query, params_seq[0])
        super().executemany(query, params_seq, **kwargs)


def seq_scans(node: dict[str, Any]) -> Iterator[str]:
    """Relations read by a sequential scan anywhere in a plan tree."""
    if node.get("Node Type") == "Seq Scan":
        yield str(node.get("Relation Name"))
    for child in node.get("Plans", ()):
        yield from seq_scans(child)


def stats_body(day: date, values: dict[str, int]) -> bytes:
    return json.dumps(
        {
            "range_timezone": "Europe/Oslo",
            "from": f"{day.isoformat()}T00:00:00.000+01:00",
            "to": f"{(day + timedelta(days=1)).isoformat()}T00:00:00.000+01:00",
            "series": [{"label": {"event_type": k}, "value": v} for k, v in values.items()],
            "data_points": len(values),
            "result_type": "statistics",
        }
    ).encode()


def events_body(first: date, days: int) -> bytes:
    buckets = [f"{(first + timedelta(days=i)).isoformat()}T00:00:00.000" for i in range(days)]
    return json.dumps(
        {
            "interval": "1d",
            "range_timezone": "Europe/Oslo",
            "time_buckets": buckets,
            "series": [{"label": {"event_type": "delivered"}, "values": [5] * days}],
            "data_points": days,
            "result_type": "timeseries",
        }
    ).encode()


def sendings_body(club: int) -> bytes:
    records = [{"id": n, "loyalty_club_id": club, "delivered_count": n} for n in range(1, 20)]
    return json.dumps({"records": records, "result_type": "records"}).encode()


@pytest.fixture(scope="module")
def year_warehouse(module_database: str) -> str:
    with connect(module_database) as conn:
        migrate(conn)
        with conn.transaction():
            fill_a_year(conn)
        analyze_changed(conn)
    return module_database


def test_every_lookup_of_a_load_is_an_index_scan_in_a_year_old_warehouse(
    year_warehouse: str, tmp_path
) -> None:
    store = LandingStore(tmp_path)
    ExplainingCursor.plans = []
    conn = psycopg.connect(year_warehouse, autocommit=True, cursor_factory=ExplainingCursor)
    with conn:
        day = LAST_DAY - timedelta(days=3)
        club = CLUBS[2]
        stats = SliceSpec(
            "sendings_stats", CustomerSelector.club(club), None, Window.days(day, day)
        )
        first = load_manifest(conn, store, land(store, stats, stats_body(day, {"new": 3})))
        assert not first.unchanged
        again = load_manifest(conn, store, land(store, stats, stats_body(day, {"new": 3})))
        assert again.unchanged
        assert already_loaded(conn, stats.slice_key, stats.body())
        events = SliceSpec(
            "sendings_events_history",
            CustomerSelector.club(club),
            None,
            Window.days(LAST_DAY - timedelta(days=7), LAST_DAY),
            "1d",
        )
        load_manifest(
            conn, store, land(store, events, events_body(LAST_DAY - timedelta(days=7), 8))
        )
        sendings = SliceSpec("sendings", CustomerSelector.club(club), None, None)
        load_manifest(conn, store, land(store, sendings, sendings_body(club)))
        with pytest.raises(QuarantinedError):
            load_manifest(conn, store, land(store, stats, stats_body(day, {"new": -1})))

    kinds = {text.split()[0].lower() for text, _ in ExplainingCursor.plans}
    assert {"select", "insert", "update", "delete"} <= kinds, kinds
    deletes = [text for text, _ in ExplainingCursor.plans if text.lower().startswith("delete")]
    assert any("sendings_stats" in t for t in deletes)
    assert any("sendings_events_history" in t for t in deletes)
    assert any('"sendings"' in t or "sendings where" in t for t in deletes), deletes
    offenders = [
        (relation, text)
        for text, plan in ExplainingCursor.plans
        for relation in seq_scans(plan[0]["Plan"])
        if relation in BIG_TABLES
    ]
    assert offenders == []


def test_the_warehouse_really_holds_a_year_for_every_club(year_warehouse: str) -> None:
    with psycopg.connect(year_warehouse) as conn:
        per_club = conn.execute(
            "select count(distinct loyalty_club_id), count(distinct partition_date)"
            " from placewise_ops.loaded_partitions where report = 'sendings_stats'"
        ).fetchone()
        slices = conn.execute("select count(*) from placewise_ops.slices").fetchone()[0]
    assert per_club == (len(CLUBS), DAYS)
    assert slices > 2 * len(CLUBS) * len(STATS_AGGREGATIONS) * DAYS
