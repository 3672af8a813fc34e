"""The loader against a real PostgreSQL: slice replacement, idempotency, quarantine, kill safety."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from landing_helpers import land
from placewise.api.customer import CustomerSelector
from placewise.extract.plan import SliceSpec
from placewise.extract.windows import Window
from placewise.landing.store import LandingStore, SliceManifest
from placewise.warehouse.load import CopyText, QuarantinedError, load_manifest
from placewise.warehouse.schema import connect, migrate_warehouse
from psycopg.copy import Copy, FileWriter

pytestmark = pytest.mark.integration

DAY = date(2026, 11, 20)


def stats_body(values: dict[str, int], tz: str = "Europe/Oslo", day: date = DAY) -> bytes:
    series = [{"label": {"event_type": k}, "value": v} for k, v in values.items()]
    return json.dumps(
        {
            "range_timezone": tz,
            "from": f"{day.isoformat()}T00:00:00.000+01:00",
            "to": f"{date.fromordinal(day.toordinal() + 1).isoformat()}T00:00:00.000+01:00",
            "series": series,
            "data_points": len(series),
            "result_type": "statistics",
        }
    ).encode()


def day_spec(club: int = 1001, day: date = DAY, aggregation: str | None = None) -> SliceSpec:
    return SliceSpec(
        "sendings_stats", CustomerSelector.club(club), aggregation, Window.days(day, day)
    )


def table_snapshot(conn: psycopg.Connection, table: str) -> list[tuple]:
    return conn.execute(f"select * from placewise_raw.{table} order by 1, 5").fetchall()


@pytest.fixture
def db(fresh_database: str):
    migrate_warehouse(fresh_database)
    with connect(fresh_database) as conn:
        yield fresh_database, conn


def test_loading_a_statistics_slice_writes_one_row_per_series_with_lineage(db, tmp_path):
    _, conn = db
    store = LandingStore(tmp_path)
    manifest = land(store, day_spec(), stats_body({"new": 10, "delivered": 7}))
    result = load_manifest(conn, store, manifest)
    rows = conn.execute(
        "select loyalty_club_id, aggregation, stat_date, timezone, label, value, _response_sha256 "
        "from placewise_raw.sendings_stats order by _row_no"
    ).fetchall()
    assert result.rows == 2
    assert rows[0][:6] == (1001, "none", DAY, "Europe/Oslo", {"event_type": "new"}, 10)
    assert rows[0][6] == manifest.parts[0].sha256
    partitions = conn.execute(
        "select scope, partition_date, slice_id from placewise_ops.loaded_partitions"
    ).fetchall()
    assert partitions == [("club:1001", DAY, result.slice_id)]


def test_rerunning_the_same_slice_leaves_identical_tables(db, tmp_path):
    _, conn = db
    store = LandingStore(tmp_path)
    body = stats_body({"new": 10, "opened": 3})
    load_manifest(conn, store, land(store, day_spec(), body))
    before = table_snapshot(conn, "sendings_stats")
    for _ in range(3):
        result = load_manifest(conn, store, land(store, day_spec(), body))
        assert result.unchanged
    assert table_snapshot(conn, "sendings_stats") == before
    assert conn.execute("select count(*) from placewise_ops.slices").fetchone() == (1,)


def test_a_changed_answer_replaces_the_slice_and_supersedes_the_old_one(db, tmp_path):
    _, conn = db
    store = LandingStore(tmp_path)
    first = load_manifest(conn, store, land(store, day_spec(), stats_body({"new": 10})))
    load_manifest(conn, store, land(store, day_spec(club=1002), stats_body({"new": 99})))
    second = load_manifest(
        conn, store, land(store, day_spec(), stats_body({"new": 12, "opened": 1}))
    )
    values = conn.execute(
        "select loyalty_club_id, label->>'event_type', value from placewise_raw.sendings_stats "
        "order by 1, 2"
    ).fetchall()
    assert values == [(1001, "new", 12), (1001, "opened", 1), (1002, "new", 99)]
    statuses = dict(conn.execute("select slice_id, status from placewise_ops.slices").fetchall())
    assert statuses[first.slice_id] == "superseded"
    assert statuses[second.slice_id] == "loaded"


def test_negative_counts_are_quarantined_and_the_previous_version_stays(db, tmp_path):
    _, conn = db
    store = LandingStore(tmp_path)
    load_manifest(conn, store, land(store, day_spec(), stats_body({"new": 10})))
    before = table_snapshot(conn, "sendings_stats")
    bad = land(store, day_spec(), stats_body({"new": -4}))
    with pytest.raises(QuarantinedError, match="negative count") as info:
        load_manifest(conn, store, bad)
    assert "sendings_stats club:1001" in str(info.value)
    assert table_snapshot(conn, "sendings_stats") == before
    reason, paths = conn.execute(
        "select reason, landed_paths from placewise_ops.quarantine"
    ).fetchone()
    assert "negative count" in reason
    assert Path(paths[0]).exists()


def test_a_series_of_another_club_is_never_loaded(db, tmp_path):
    _, conn = db
    store = LandingStore(tmp_path)
    body = json.loads(stats_body({"new": 1}))
    body["series"][0]["label"]["loyalty_club_id"] = 2002
    with pytest.raises(QuarantinedError, match="does not belong to the request"):
        load_manifest(conn, store, land(store, day_spec(), json.dumps(body).encode()))
    assert conn.execute("select count(*) from placewise_raw.sendings_stats").fetchone() == (0,)


def test_invalid_json_and_wrong_shapes_are_quarantined(db, tmp_path):
    _, conn = db
    store = LandingStore(tmp_path)
    with pytest.raises(QuarantinedError, match="the body ended before the JSON value was complete"):
        load_manifest(
            conn, store, land(store, day_spec(), b'{"range_timezone": "UTC", "series": [{"label": ')
        )
    with pytest.raises(QuarantinedError, match="ResultShapeError"):
        load_manifest(conn, store, land(store, day_spec(), b'{"records": [], "result_type": "x"}'))
    assert conn.execute("select count(*) from placewise_ops.quarantine").fetchone() == (2,)


def test_unknown_enum_values_are_kept_and_reported(db, tmp_path):
    _, conn = db
    store = LandingStore(tmp_path)
    spec = day_spec(aggregation="service_type")
    body = json.dumps(
        {
            "range_timezone": "Europe/Oslo",
            "series": [
                {"label": {"service_type": "brand_new_kind", "event_type": "new"}, "value": 5},
                {"label": {"service_type": "campaign", "event_type": "new"}, "value": 2},
            ],
            "data_points": 2,
            "result_type": "statistics",
        }
    ).encode()
    result = load_manifest(conn, store, land(store, spec, body))
    assert result.rows == 2
    assert result.unknown_enum_values == {"service_type=brand_new_kind": 1}
    stored = conn.execute("select unknown_enum_values from placewise_ops.slices").fetchone()[0]
    assert stored == {"service_type=brand_new_kind": 1}


def test_cross_club_local_timeseries_get_instants_from_each_series_timezone(db, tmp_path):
    _, conn = db
    store = LandingStore(tmp_path)
    spec = SliceSpec(
        "member_balance",
        CustomerSelector.clubs([1001, 1002]),
        None,
        Window.days(DAY, DAY),
        "1d",
    )
    body = json.dumps(
        {
            "interval": "1d",
            "range_timezone": "local",
            "time_buckets": [f"{DAY.isoformat()}T00:00:00.000"],
            "series": [
                {
                    "timezone": "Europe/Oslo",
                    "label": {"loyalty_club_id": 1001, "type": "in"},
                    "values": [3],
                },
                {
                    "timezone": "America/Denver",
                    "label": {"loyalty_club_id": 1002, "type": "in"},
                    "values": [5],
                },
            ],
            "data_points": 2,
            "result_type": "timeseries",
        }
    ).encode()
    load_manifest(conn, store, land(store, spec, body))
    rows = conn.execute(
        "select loyalty_club_id, bucket_date, to_char(bucket_start at time zone 'UTC', "
        "'YYYY-MM-DD HH24:MI'), timezone from placewise_raw.member_balance order by 1"
    ).fetchall()
    assert rows == [
        (1001, DAY, "2026-11-19 23:00", "Europe/Oslo"),
        (1002, DAY, "2026-11-20 07:00", "America/Denver"),
    ]


# -- what the loader refuses, and what it lets the run go on with ------------------------------


def test_a_nul_character_is_quarantined_and_the_next_slice_still_loads(db, tmp_path):
    from placewise.sync import OutcomeStatus, replay

    url, conn = db
    store = LandingStore(tmp_path)
    nul = land(store, day_spec(), stats_body({"new\u0000": 1}))
    good = land(store, day_spec(club=1002), stats_body({"new": 7}))
    summary = replay([nul, good], store=store, conninfo=url)
    assert [o.status for o in summary.outcomes] == [
        OutcomeStatus.QUARANTINED,
        OutcomeStatus.LOADED,
    ]
    assert "NUL character" in summary.outcomes[0].error
    reason, paths = conn.execute(
        "select reason, landed_paths from placewise_ops.quarantine"
    ).fetchone()
    assert "NUL character" in reason
    assert all(Path(p).exists() for p in paths)
    assert conn.execute(
        "select loyalty_club_id, value from placewise_raw.sendings_stats"
    ).fetchall() == [(1002, 7)]


def test_any_database_data_error_of_a_slice_is_quarantined_with_its_reason(
    db, tmp_path, monkeypatch
):
    from placewise.warehouse import load as load_module

    _, conn = db
    store = LandingStore(tmp_path)
    load_manifest(conn, store, land(store, day_spec(), stats_body({"new": 10})))
    before = table_snapshot(conn, "sendings_stats")
    original = load_module.ROW_BUILDERS["statistics"]

    def club_beyond_bigint(ctx, fp, stats):
        for row in original(ctx, fp, stats):
            yield (2**70, *row[1:])

    monkeypatch.setitem(load_module.ROW_BUILDERS, "statistics", club_beyond_bigint)
    with pytest.raises(QuarantinedError, match="NumericValueOutOfRange") as info:
        load_manifest(conn, store, land(store, day_spec(), stats_body({"new": 11})))
    assert "bigint" in str(info.value)
    assert table_snapshot(conn, "sendings_stats") == before
    assert conn.execute("select count(*) from placewise_ops.quarantine").fetchone() == (1,)


def test_a_repeated_series_is_quarantined_naming_the_duplicated_key(db, tmp_path):
    _, conn = db
    store = LandingStore(tmp_path)
    body = json.loads(stats_body({"new": 10, "opened": 3}))
    body["series"].append({"label": {"event_type": "new"}, "value": 10})
    with pytest.raises(QuarantinedError, match=r'duplicate series .*"event_type":"new"'):
        load_manifest(conn, store, land(store, day_spec(), json.dumps(body).encode()))
    assert conn.execute("select count(*) from placewise_raw.sendings_stats").fetchone() == (0,)


def test_a_count_beyond_bigint_is_quarantined_instead_of_breaking_staging(db, tmp_path):
    _, conn = db
    store = LandingStore(tmp_path)
    with pytest.raises(QuarantinedError, match="beyond the warehouse's bigint"):
        load_manifest(conn, store, land(store, day_spec(), stats_body({"new": 2**63})))
    assert conn.execute("select count(*) from placewise_raw.sendings_stats").fetchone() == (0,)


def _as_of(manifest: SliceManifest, server_date: str) -> SliceManifest:
    manifest.server_date = server_date
    return manifest


def _values(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "select stat_date, label->>'event_type', value from placewise_raw.sendings_stats "
        "order by 1, 2"
    ).fetchall()


@pytest.mark.parametrize("newer_first", [True, False])
def test_the_newer_answer_owns_a_day_whatever_the_commit_order(db, tmp_path, newer_first):
    _, conn = db
    store = LandingStore(tmp_path)
    newer = _as_of(land(store, day_spec(), stats_body({"new": 132})), "2026-11-21T06:00:00+00:00")
    older = _as_of(land(store, day_spec(), stats_body({"new": 88})), "2026-11-21T02:30:00+00:00")
    first, second = (newer, older) if newer_first else (older, newer)
    load_manifest(conn, store, first)
    result = load_manifest(conn, store, second)
    assert _values(conn) == [(DAY, "new", 132)]
    statuses = conn.execute(
        "select server_date, status from placewise_ops.slices order by server_date"
    ).fetchall()
    assert [s for _, s in statuses] == ["superseded", "loaded"]
    assert result.superseded == newer_first


def test_an_older_answer_arriving_again_is_recorded_superseded_once(db, tmp_path):
    _, conn = db
    store = LandingStore(tmp_path)
    newer = _as_of(land(store, day_spec(), stats_body({"new": 132})), "2026-11-21T06:00:00+00:00")
    older = _as_of(land(store, day_spec(), stats_body({"new": 88})), "2026-11-21T02:30:00+00:00")
    load_manifest(conn, store, newer)
    first = load_manifest(conn, store, older)
    slices_before = conn.execute("select * from placewise_ops.slices order by 1").fetchall()
    again = load_manifest(conn, store, older)
    assert first.superseded and again.superseded
    assert again.slice_id == first.slice_id
    assert conn.execute("select * from placewise_ops.slices order by 1").fetchall() == slices_before
    assert _values(conn) == [(DAY, "new", 132)]


def test_an_older_answer_loads_only_the_days_no_newer_answer_owns(db, tmp_path):
    _, conn = db
    store = LandingStore(tmp_path)
    spec = SliceSpec(
        "member_balance",
        CustomerSelector.club(1001),
        None,
        Window.days(DAY, DAY + timedelta(1)),
        "1d",
    )
    one_day = SliceSpec(
        "member_balance", CustomerSelector.club(1001), None, Window.days(DAY, DAY), "1d"
    )

    def body(days, value):
        return json.dumps(
            {
                "interval": "1d",
                "range_timezone": "Europe/Oslo",
                "time_buckets": [f"{d.isoformat()}T00:00:00.000+01:00" for d in days],
                "series": [{"label": {"type": "in"}, "values": [value] * len(days)}],
                "data_points": len(days),
                "result_type": "timeseries",
            }
        ).encode()

    newer = _as_of(land(store, one_day, body([DAY], 132)), "2026-11-21T06:00:00+00:00")
    older = _as_of(
        land(store, spec, body([DAY, DAY + timedelta(1)], 88)), "2026-11-21T02:30:00+00:00"
    )
    load_manifest(conn, store, newer)
    result = load_manifest(conn, store, older)
    values = conn.execute(
        "select bucket_date, value from placewise_raw.member_balance order by 1"
    ).fetchall()
    assert values == [(DAY, 132), (DAY + timedelta(1), 88)]
    assert result.rows == 1 and not result.superseded
    owners = dict(
        conn.execute(
            "select partition_date, slice_id from placewise_ops.loaded_partitions"
        ).fetchall()
    )
    assert owners[DAY + timedelta(1)] == result.slice_id
    assert owners[DAY] != result.slice_id


def test_an_older_records_answer_does_not_replace_a_newer_one(db, tmp_path):
    _, conn = db
    store = LandingStore(tmp_path)
    spec = SliceSpec("sendings", CustomerSelector.club(1001), None, None)

    def body(count):
        record = {"id": 1, "loyalty_club_id": 1001, "delivered_count": count}
        return json.dumps(
            {"records": [record], "pagination": {"next_page_info": None}, "result_type": "records"}
        ).encode()

    load_manifest(conn, store, _as_of(land(store, spec, body(132)), "2026-11-21T06:00:00+00:00"))
    result = load_manifest(
        conn, store, _as_of(land(store, spec, body(88)), "2026-11-21T02:30:00+00:00")
    )
    assert result.superseded
    stored = conn.execute(
        "select record->>'delivered_count' from placewise_raw.sendings"
    ).fetchall()
    assert stored == [("132",)]


KILL_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from placewise.landing.store import LandingStore, SliceManifest
    from placewise.warehouse.load import load_manifest
    from placewise.warehouse.schema import connect
    store = LandingStore(sys.argv[2])
    manifest = SliceManifest.from_json(open(sys.argv[3]).read())
    with connect(sys.argv[1]) as conn:
        load_manifest(conn, store, manifest)
    """
)


def test_a_load_killed_mid_copy_leaves_the_previous_version(db, tmp_path):
    url, conn = db
    store = LandingStore(tmp_path / "landing")
    load_manifest(conn, store, land(store, day_spec(), stats_body({"new": 10})))
    before = table_snapshot(conn, "sendings_stats")
    # A big answer for the same slice (many reporting ids), so the COPY runs long enough to kill.
    big = {
        "range_timezone": "Europe/Oslo",
        "series": [
            {"label": {"reporting_id": i, "event_type": "new"}, "value": i}
            for i in range(1_500_000)
        ],
        "data_points": 1_500_000,
        "result_type": "statistics",
    }
    manifest = land(store, day_spec(), json.dumps(big).encode())
    manifest_file = tmp_path / "manifest.json"
    manifest_file.write_text(manifest.to_json())
    script = tmp_path / "kill_me.py"
    script.write_text(KILL_SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, str(script), url, str(store.root), str(manifest_file)], env=env
    )
    try:
        deadline = time.monotonic() + 60
        copying = False
        while time.monotonic() < deadline and proc.poll() is None:
            active = "select count(*) from pg_stat_activity where query ilike 'copy%%sendings%%'"
            copying = conn.execute(active).fetchone()[0] > 0
            if copying:
                time.sleep(0.3)  # let some rows stream in before the kill
                break
            time.sleep(0.05)
        assert copying, "the load never reached its COPY"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    time.sleep(0.5)
    assert table_snapshot(conn, "sendings_stats") == before
    assert conn.execute("select count(*) from placewise_ops.slices").fetchone() == (1,)


# -- the COPY text renderer against psycopg's own COPY output --------------------------------------

OSLO = ZoneInfo("Europe/Oslo")
AWKWARD_TEXT = [
    None,
    "",
    "\\",
    "\t",
    "\n",
    "\r",
    "\r\n",
    "\\N",
    "\\.",
    "a\\.b",
    "tab\there\nnew\rline\\back",
    "\b\f\v",
    "\x7f\x01",
    "blåbær ÆØÅ",
    "astral 😀 𝄞 \U0010fffd",
    "\u2028\u2029",
    "x" * 100_000,
    ("a\\b\tc" * 50_000),
]
#: Per column type of the raw tables (warehouse/schema.py), plus boolean: awkward values.
AWKWARD_BY_TYPE: dict[str, list] = {
    "text": AWKWARD_TEXT,
    "int8": [None, 0, -1, 2**63 - 1, -(2**63), 1001],
    "int4": [None, 0, -1, 2**31 - 1, -(2**31)],
    "numeric": [None, 0, -5, 10**40, -(10**40), Decimal("1.25"), Decimal("-0.000001")],
    "date": [None, date(1, 1, 1), date(9999, 12, 31), date(2026, 3, 29)],
    "timestamp": [
        None,
        datetime(1, 1, 1),
        datetime(9999, 12, 31, 23, 59, 59, 999999),
        datetime(2026, 3, 29, 2, 30, 0, 1),
    ],
    "timestamptz": [
        None,
        datetime(2026, 3, 29, 1, 59, tzinfo=UTC),
        datetime(2026, 3, 29, 3, 0, tzinfo=OSLO),
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),  # the same instant as the line above
        datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=OSLO),
        datetime(2026, 1, 1, 5, 45, 0, 123456, tzinfo=timezone(timedelta(hours=5, minutes=45))),
        datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=-3, minutes=-30))),
    ],
    # the loader hands jsonb columns JSON text, as the row builders encode it
    "jsonb": [
        '{"event_type":"delivered","loyalty_club_id":1001}',
        '{"name":"quote \\" backslash \\\\ tab \\t newline \\n"}',
        '{"u":"\\u00e9\\ud83d\\ude00","astral":"😀"}',
        '{"n":null,"big":123456789012345678901234567890,"neg":-1.5e-7}',
        "{}",
        "[]",
        '"\\\\N"',
    ],
    "bool": [None, True, False],
}


def _rows_of(types: list[str]) -> list[tuple]:
    """One row per position: column i takes its type's i-th awkward value (cycled)."""
    longest = max(len(AWKWARD_BY_TYPE[t]) for t in types)
    return [
        tuple(AWKWARD_BY_TYPE[t][i % len(AWKWARD_BY_TYPE[t])] for t in types)
        for i in range(longest)
    ]


def _psycopg_copy_text(conn: psycopg.Connection, types: list[str], rows: list[tuple]) -> bytes:
    """What psycopg's own ``Copy.write_row`` sends for these rows (``set_types`` per column)."""
    out = io.BytesIO()
    with conn.cursor() as cur, Copy(cur, writer=FileWriter(out)) as copy:
        # JSON text goes to a jsonb column as text: COPY's text format carries no types
        copy.set_types(["text" if t == "jsonb" else t for t in types])
        for row in rows:
            copy.write_row(row)
    return out.getvalue()


TYPES = list(AWKWARD_BY_TYPE)


def test_copy_text_is_byte_identical_to_psycopg_write_row_for_every_raw_column_type(db):
    _, conn = db
    rows = _rows_of(TYPES)
    text = CopyText(conn)
    ours = "".join("\t".join(map(text.field, row)) + "\n" for row in rows)
    expected = _psycopg_copy_text(conn, TYPES, rows)
    assert ours.encode(conn.info.encoding) == expected
    # every awkward value took part, and the escapes really occurred
    assert len(rows) == max(len(v) for v in AWKWARD_BY_TYPE.values())
    assert b"\\\\N" in expected and b"\\t" in expected and b"\\r" in expected


@pytest.mark.parametrize("column_type", TYPES)
def test_each_awkward_value_renders_like_psycopg_alone_in_its_column(db, column_type):
    _, conn = db
    text = CopyText(conn)
    for value in AWKWARD_BY_TYPE[column_type]:
        expected = _psycopg_copy_text(conn, [column_type], [(value,)])
        assert (text.field(value) + "\n").encode() == expected, value


def test_copy_text_stores_what_psycopg_write_row_stores(db):
    _, conn = db
    rows = [(n, *row) for n, row in enumerate(_rows_of(TYPES))]
    columns = ", ".join(f"c_{t} {t}" for t in TYPES)
    conn.execute(f"create temp table ours (n int, {columns})")
    conn.execute(f"create temp table theirs (n int, {columns})")
    text = CopyText(conn)
    with conn.cursor() as cur, cur.copy("copy ours from stdin") as copy:
        copy.write("".join("\t".join(map(text.field, row)) + "\n" for row in rows))
    with conn.cursor() as cur, cur.copy("copy theirs from stdin") as copy:
        copy.set_types(["int4", *("text" if t == "jsonb" else t for t in TYPES)])
        for row in rows:
            copy.write_row(row)

    def read_back(table: str) -> bytes:
        out = bytearray()
        with (
            conn.cursor() as cur,
            cur.copy(f"copy (select * from {table} order by n) to stdout") as copy,
        ):
            for chunk in copy:
                out += chunk
        return bytes(out)

    assert read_back("ours") == read_back("theirs")
    stored = conn.execute("select c_text, c_int8, c_numeric, c_timestamptz from ours order by n")
    for (_, *row), (text_value, int8_value, numeric_value, instant) in zip(
        rows, stored, strict=True
    ):
        assert text_value == row[TYPES.index("text")]
        assert int8_value == row[TYPES.index("int8")]
        assert numeric_value == row[TYPES.index("numeric")]
        expected = row[TYPES.index("timestamptz")]
        # by timestamp: Python never calls a time in a DST fold equal to one in another zone
        assert (instant and instant.timestamp()) == (expected and expected.timestamp())


def test_a_dropped_warehouse_connection_mid_run_is_replaced_and_the_run_goes_on(
    db, tmp_path, monkeypatch
):
    from placewise import sync

    url, conn = db
    store = LandingStore(tmp_path)
    manifests = [land(store, day_spec(club=c), stats_body({"new": c})) for c in (1, 2, 3)]
    real_load = sync.load_manifest
    calls = []

    def load_after_the_backend_was_killed(run_conn, *args, **kwargs):
        calls.append(run_conn.info.backend_pid)
        if len(calls) == 2:  # the second slice: the server drops the run's connection
            conn.execute("select pg_terminate_backend(%s)", (run_conn.info.backend_pid,))
        return real_load(run_conn, *args, **kwargs)

    monkeypatch.setattr(sync, "load_manifest", load_after_the_backend_was_killed)
    summary = sync.replay(manifests, store=store, conninfo=url)
    assert [o.status for o in summary.outcomes] == [sync.OutcomeStatus.LOADED] * 3
    assert len(calls) == 4 and calls[2] != calls[1]  # the second slice retried on a new backend
    values = conn.execute("select loyalty_club_id, value from placewise_raw.sendings_stats")
    assert sorted(values.fetchall()) == [(1, 1), (2, 2), (3, 3)]


def test_a_warehouse_that_stays_unreachable_fails_the_slice_by_name(db, tmp_path, monkeypatch):
    from placewise import sync

    url, conn = db
    store = LandingStore(tmp_path)
    manifests = [land(store, day_spec(club=c), stats_body({"new": c})) for c in (1, 2)]

    def always_dropped(run_conn, *args, **kwargs):
        conn.execute("select pg_terminate_backend(%s)", (run_conn.info.backend_pid,))
        run_conn.execute("select 1")

    monkeypatch.setattr(sync, "load_manifest", always_dropped)
    summary = sync.replay(manifests, store=store, conninfo=url)
    assert [o.status for o in summary.outcomes] == [sync.OutcomeStatus.FAILED] * 2
    assert "the warehouse failed" in summary.outcomes[0].error
    assert manifests[0].slice_key in summary.text()


def test_an_empty_body_is_quarantined_saying_it_is_empty(db, tmp_path):
    _, conn = db
    store = LandingStore(tmp_path)
    with pytest.raises(QuarantinedError, match=r"empty body \(0 bytes\)"):
        load_manifest(conn, store, land(store, day_spec(), b""))


def test_a_statistics_manifest_without_a_window_is_quarantined_and_loads_nothing(db, tmp_path):
    _, conn = db
    store = LandingStore(tmp_path)
    load_manifest(conn, store, land(store, day_spec(), stats_body({"new": 10})))
    before = table_snapshot(conn, "sendings_stats")
    manifest = land(store, day_spec(), stats_body({"new": 11}))
    windowless = dataclasses.replace(manifest, window_start=None, window_end=None)
    with pytest.raises(QuarantinedError, match="slice without a window"):
        load_manifest(conn, store, windowless)
    assert table_snapshot(conn, "sendings_stats") == before
