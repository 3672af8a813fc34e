"""The public docs' own example bodies through the real parsers and loader (a real PostgreSQL).

Each example (tests/fixtures/docs/, README there names the doc page) is loaded with the window of
the request the docs show, or the one its buckets imply: it loads with exactly the rows the body
holds, every day counted once, or it is refused with the reason that is actually wrong with it.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx
import landing_helpers
import psycopg
import pytest
from placewise.api.client import ApiCall, PlacewiseClient
from placewise.api.contract import Endpoint
from placewise.api.customer import CustomerSelector
from placewise.api.errors import InvalidQueryError
from placewise.api.settings import ApiSettings
from placewise.extract.plan import SliceSpec
from placewise.extract.windows import Window
from placewise.landing.store import LandingStore, SliceManifest
from placewise.warehouse.load import QuarantinedError, load_manifest
from placewise.warehouse.schema import connect, migrate_warehouse

pytestmark = pytest.mark.integration

DOCS = Path(__file__).resolve().parents[1] / "fixtures" / "docs"
#: The docs' timeseries request: 2024-04-08T00:00-06:00 .. 2024-04-25T00:00-06:00 (Denver).
BALANCE_WINDOW = Window(datetime(2024, 4, 8), datetime(2024, 4, 25))
#: The cross-customer examples show no request; their two daily buckets are its days.
CROSS_WINDOW = Window.days(date(2024, 4, 30), date(2024, 5, 1))
COMMUNITY = 235  # the club of the docs' records example


def land(
    store: LandingStore, spec: SliceSpec, name: str | bytes, request: dict | None = None
) -> SliceManifest:
    """Land the fixture ``name`` (or the body itself, given as bytes) as ``spec``'s answer."""
    body = name if isinstance(name, bytes) else (DOCS / name).read_bytes()
    return landing_helpers.land(store, spec, body, request=request)


@pytest.fixture
def db(fresh_database: str):
    migrate_warehouse(fresh_database)
    with connect(fresh_database) as conn:
        yield conn


def balance_spec(aggregation: str | None, window: Window = BALANCE_WINDOW) -> SliceSpec:
    return SliceSpec(
        "member_balance",
        CustomerSelector.club(COMMUNITY),
        aggregation,
        window,
        "1d",
        Endpoint.QUERY,
    )


def timeseries_rows(conn: psycopg.Connection, report: str) -> list[tuple]:
    return conn.execute(
        f"""select loyalty_club_id, bucket_date, label, value::int, timezone, bucket_start
            from placewise_raw.{report} order by loyalty_club_id nulls first, label::text,
            bucket_date"""
    ).fetchall()


def denver(day: int, month: int = 4) -> datetime:
    return datetime.fromisoformat(f"2024-{month:02d}-{day:02d}T00:00:00-06:00")


def test_the_docs_timeseries_loads_its_window_and_drops_the_bucket_at_to(db, tmp_path):
    store = LandingStore(tmp_path)
    request = json.loads((DOCS / "timeseries_member_balance.request.json").read_text())
    manifest = land(store, balance_spec("consents"), "timeseries_member_balance.json", request)
    result = load_manifest(db, store, manifest)
    rows = [(d, label, v) for _, d, label, v, _, _ in timeseries_rows(db, "member_balance")]
    assert rows == [
        (date(2024, 4, 9), {"type": "in"}, 4),
        (date(2024, 4, 11), {"type": "in"}, 300),
        (date(2024, 4, 22), {"type": "in"}, 2),
        (date(2024, 4, 23), {"type": "in"}, 1),
        (date(2024, 4, 8), {"type": "out"}, 2),
        (date(2024, 4, 9), {"type": "out"}, 2),
        (date(2024, 4, 11), {"type": "out"}, 1),
        (date(2024, 4, 22), {"type": "out"}, 1),
        (date(2024, 4, 24), {"type": "out"}, 1),
    ]
    assert (result.rows, result.dropped_buckets) == (9, 1)
    first = timeseries_rows(db, "member_balance")[0]
    assert (first[4], first[5]) == ("America/Denver", denver(9))
    slices = db.execute("select status, dropped_buckets, rows from placewise_ops.slices").fetchall()
    assert slices == [("loaded", 1, 9)]
    owned = db.execute(
        "select min(partition_date), max(partition_date), count(*) "
        "from placewise_ops.loaded_partitions"
    ).fetchone()
    assert owned == (date(2024, 4, 8), date(2024, 4, 24), 17)


def test_the_bucket_at_to_is_loaded_once_by_the_window_that_owns_its_day(db, tmp_path):
    store = LandingStore(tmp_path)
    load_manifest(db, store, land(store, balance_spec(None), "timeseries_member_balance.json"))
    # the next window [04-25, 04-26) owns the 04-25 bucket: its answer starts there (the
    # docs' body, cut to the buckets an API asked for that window would send)
    body = json.loads((DOCS / "timeseries_member_balance.json").read_bytes())
    keep = [i for i, b in enumerate(body["time_buckets"]) if b.startswith("2024-04-25")]
    body["time_buckets"] = [body["time_buckets"][i] for i in keep]
    for series in body["series"]:
        series["values"] = [series["values"][i] for i in keep]
    next_window = Window.days(date(2024, 4, 25), date(2024, 4, 25))
    result = load_manifest(
        db, store, land(store, balance_spec(None, next_window), json.dumps(body).encode())
    )
    assert (result.rows, result.dropped_buckets) == (2, 0)
    per_day = db.execute(
        "select bucket_date, sum(value)::int, count(*) from placewise_raw.member_balance "
        "group by 1 order by 1"
    ).fetchall()
    assert per_day[-1] == (date(2024, 4, 25), 5 + 11, 2)
    assert len(per_day) == 7  # the seven buckets of the body, each day once
    assert sum(total for _, total, _ in per_day) == 2 + 2 + 1 + 1 + 1 + 5 + 4 + 300 + 2 + 1 + 11


def test_the_docs_aggregated_timeseries_keeps_its_labels(db, tmp_path):
    store = LandingStore(tmp_path)
    spec = balance_spec("optin_platform")
    result = load_manifest(
        db, store, land(store, spec, "timeseries_member_balance_optin_platform.json")
    )
    rows = timeseries_rows(db, "member_balance")
    assert (result.rows, result.dropped_buckets) == (9, 1)
    assert {r[2]["optin_platform"] for r in rows} == {"other"}
    assert sum(r[3] for r in rows) == 2 + 2 + 1 + 1 + 1 + 4 + 300 + 2 + 1


def test_the_docs_records_page_loads_both_members(db, tmp_path):
    store = LandingStore(tmp_path)
    spec = SliceSpec("members", CustomerSelector.club(COMMUNITY), None, None, None, Endpoint.QUERY)
    result = load_manifest(db, store, land(store, spec, "records_members.json"))
    rows = db.execute(
        "select loyalty_club_id, record_key, record from placewise_raw.members order by 2"
    ).fetchall()
    assert result.rows == 2
    assert rows == [
        (COMMUNITY, "4066131", {"id": 4066131, "community_id": 235}),
        (COMMUNITY, "4066135", {"id": 4066135, "community_id": 235}),
    ]


@pytest.mark.parametrize(
    "name",
    [
        "timeseries_cross_customer_same_timezone.json",
        "timeseries_cross_customer_different_timezones.json",
    ],
)
def test_the_cross_customer_examples_as_printed_are_refused_as_invalid_json(db, tmp_path, name):
    store = LandingStore(tmp_path)
    spec = SliceSpec(
        "members_count_history", CustomerSelector.clubs([10, 11]), None, CROSS_WINDOW, "1d"
    )
    with pytest.raises(QuarantinedError, match="the body is not valid JSON") as info:
        load_manifest(db, store, land(store, spec, name))
    reason = db.execute("select reason from placewise_ops.quarantine").fetchone()[0]
    assert "not valid JSON" in reason and str(info.value.quarantine_id) in str(info.value)
    assert db.execute("select count(*) from placewise_raw.members_count_history").fetchone() == (0,)


def test_the_same_timezone_example_is_one_merged_cross_club_series(db, tmp_path):
    store = LandingStore(tmp_path)
    spec = SliceSpec(
        "members_count_history", CustomerSelector.clubs([10, 12]), None, CROSS_WINDOW, "1d"
    )
    load_manifest(
        db, store, land(store, spec, "timeseries_cross_customer_same_timezone.corrected.json")
    )
    oslo = [datetime.fromisoformat(f"2024-0{d}T00:00:00+02:00") for d in ("4-30", "5-01")]
    assert timeseries_rows(db, "members_count_history") == [
        (None, date(2024, 4, 30), {}, 20, "Europe/Oslo", oslo[0]),
        (None, date(2024, 5, 1), {}, 10, "Europe/Oslo", oslo[1]),
    ]


def test_the_different_timezones_example_places_each_club_in_its_own_zone(db, tmp_path):
    store = LandingStore(tmp_path)
    spec = SliceSpec(
        "members_count_history", CustomerSelector.clubs([10, 11]), None, CROSS_WINDOW, "1d"
    )
    load_manifest(
        db, store, land(store, spec, "timeseries_cross_customer_different_timezones.corrected.json")
    )
    rows = timeseries_rows(db, "members_count_history")
    assert [(c, d, v, tz) for c, d, _, v, tz, _ in rows] == [
        (10, date(2024, 4, 30), 20, "Europe/Oslo"),
        (10, date(2024, 5, 1), 10, "Europe/Oslo"),
        (11, date(2024, 4, 30), 10, "America/Denver"),
        (11, date(2024, 5, 1), 20, "America/Denver"),
    ]
    starts = [r[5] for r in rows]
    assert starts[0] == datetime.fromisoformat("2024-04-30T00:00:00+02:00")
    assert starts[2] == denver(30)
    assert starts[2] - starts[0] == timedelta(hours=8)


def test_the_docs_error_body_becomes_the_error_message():
    body = (DOCS / "error_body.json").read_bytes()
    transport = httpx.MockTransport(lambda request: httpx.Response(422, content=body))
    client = PlacewiseClient(ApiSettings("https://api.test", "tok"), transport=transport)
    call = ApiCall.build(Endpoint.QUERY, CustomerSelector.club(COMMUNITY), {"report": "members"})
    with client, pytest.raises(InvalidQueryError) as info:
        client.query_json(call)
    assert info.value.status == 422
    assert info.value.server_message == "Message describing what went wrong"
