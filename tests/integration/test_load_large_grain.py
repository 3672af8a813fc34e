"""A slice larger than the rows whose grain the client remembers: the database checks the rest.

``rows.GRAIN_MEMORY_ROWS`` bounds the loader's memory; these tests lower it to 3 so that a
repeat among the later rows can only be found by the check after the COPY.
"""

from __future__ import annotations

import json
from datetime import date

import pytest
from landing_helpers import land
from placewise.api.customer import CustomerSelector
from placewise.extract.plan import SliceSpec
from placewise.extract.windows import Window
from placewise.landing.store import LandingStore
from placewise.warehouse import rows
from placewise.warehouse.load import QuarantinedError, load_manifest
from placewise.warehouse.schema import connect, migrate_warehouse

pytestmark = pytest.mark.integration

DAY = date(2026, 11, 20)


@pytest.fixture
def db(fresh_database: str, monkeypatch):
    monkeypatch.setattr(rows, "GRAIN_MEMORY_ROWS", 3)
    migrate_warehouse(fresh_database)
    with connect(fresh_database) as conn:
        yield conn


def stats_body(reporting_ids: list[int]) -> bytes:
    series = [
        {"label": {"event_type": "new", "reporting_id": r}, "value": 10 + i}
        for i, r in enumerate(reporting_ids)
    ]
    return json.dumps(
        {
            "range_timezone": "Europe/Oslo",
            "from": f"{DAY.isoformat()}T00:00:00.000+01:00",
            "to": "2026-11-21T00:00:00.000+01:00",
            "series": series,
            "data_points": len(series),
            "result_type": "statistics",
        }
    ).encode()


STATS = SliceSpec(
    "sendings_stats", CustomerSelector.club(1001), "reporting_id", Window.days(DAY, DAY)
)
RECORDS = SliceSpec("sendings", CustomerSelector.club(1001), None, None)
TIMESERIES = SliceSpec(
    "member_balance", CustomerSelector.club(1001), None, Window.days(DAY, DAY), "1d"
)


def count(conn, table: str) -> int:
    return conn.execute(f"select count(*) from placewise_raw.{table}").fetchone()[0]


def test_a_large_slice_without_repeats_loads_every_row(db, tmp_path):
    store = LandingStore(tmp_path)
    result = load_manifest(db, store, land(store, STATS, stats_body([1, 2, 3, 4, 5, 6])))
    assert result.rows == 6 and count(db, "sendings_stats") == 6


def test_a_repeat_of_a_remembered_series_is_refused_while_streaming(db, tmp_path):
    store = LandingStore(tmp_path)
    with pytest.raises(QuarantinedError, match=r"series 5: duplicate series .*\"reporting_id\":1"):
        load_manifest(db, store, land(store, STATS, stats_body([1, 2, 3, 4, 5, 1])))
    assert count(db, "sendings_stats") == 0


def test_a_repeat_among_the_rows_past_the_memory_is_refused_by_the_database(db, tmp_path):
    store = LandingStore(tmp_path)
    with pytest.raises(
        QuarantinedError,
        match=r'duplicate series \{"event_type":"new","reporting_id":5\}.*checked after its COPY',
    ):
        load_manifest(db, store, land(store, STATS, stats_body([1, 2, 3, 4, 5, 6, 5])))
    assert count(db, "sendings_stats") == 0
    assert db.execute("select count(*) from placewise_ops.quarantine").fetchone() == (1,)


def test_a_repeated_record_past_the_memory_is_refused_by_the_database(db, tmp_path):
    store = LandingStore(tmp_path)
    records = [{"id": i, "loyalty_club_id": 1001, "delivered_count": i} for i in (1, 2, 3, 4, 5)]
    records.append({"id": 4, "loyalty_club_id": 1001, "delivered_count": 9})
    body = {"records": records, "pagination": {"next_page_info": None}, "result_type": "records"}
    with pytest.raises(QuarantinedError, match=r"duplicate record key '4'.*checked after its COPY"):
        load_manifest(db, store, land(store, RECORDS, json.dumps(body).encode()))
    assert count(db, "sendings") == 0


def test_a_repeated_timeseries_series_past_the_memory_is_refused_by_the_database(db, tmp_path):
    store = LandingStore(tmp_path)
    series = [{"label": {"type": t}, "values": [i]} for i, t in enumerate("abcde")]
    series.append({"label": {"type": "d"}, "values": [7]})
    body = {
        "interval": "1d",
        "range_timezone": "Europe/Oslo",
        "time_buckets": [f"{DAY.isoformat()}T00:00:00.000+01:00"],
        "series": series,
        "data_points": len(series),
        "result_type": "timeseries",
    }
    with pytest.raises(
        QuarantinedError, match=r'duplicate series \{"type":"d"\} at bucket .*after its COPY'
    ):
        load_manifest(db, store, land(store, TIMESERIES, json.dumps(body).encode()))
    assert count(db, "member_balance") == 0
