"""What the row builders refuse so that a loaded slice never breaks staging or doubles a figure.

Each refusal is a ``BadPayloadError`` (the loader quarantines the slice with its message), and
each message names the offending key or value, so an operator can find it in the raw body.
"""

from __future__ import annotations

import io
import json
import re
from datetime import date
from pathlib import Path

import pytest
from placewise.extract.windows import Window
from placewise.warehouse.casts import BIGINT_MAX, cast_rule
from placewise.warehouse.rows import (
    BadPayloadError,
    PayloadStats,
    SliceContext,
    records_rows,
    statistics_rows,
    timeseries_rows,
)

DAY = Window.days(date(2026, 11, 27), date(2026, 11, 27))
OSLO_FROM, OSLO_TO = "2026-11-27T00:00:00.000+01:00", "2026-11-28T00:00:00.000+01:00"
STAGING = Path(__file__).resolve().parents[2] / "dbt_project" / "models" / "staging"


def ctx(report="sendings_stats", *, clubs=(1001,), multi=False, agg="none", interval=None):
    scope = f"club:{clubs[0]}" if not multi else "clubs:" + "_".join(map(str, clubs))
    if interval is None:
        interval = {"sendings_stats": "statistics"}.get(report, "1d")
    window = None if report in RECORDS else DAY
    return SliceContext(report, scope, tuple(clubs), multi, agg, interval, window)


RECORDS = {"members", "members_grouped_count", "sendings", "sendings_links", "sendings_links_stats"}


def run(builder, context, payload) -> list[tuple]:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return list(builder(context, io.BytesIO(data), PayloadStats()))


def stats(series, **extra):
    return {
        "range_timezone": "Europe/Oslo",
        "from": OSLO_FROM,
        "to": OSLO_TO,
        "series": series,
        "data_points": len(series),
        "result_type": "statistics",
    } | extra


def ts(buckets, series, *, tz="Europe/Oslo", interval="1d"):
    return {
        "interval": interval,
        "range_timezone": tz,
        "time_buckets": buckets,
        "series": series,
        "data_points": sum(len(s["values"]) for s in series),
        "result_type": "timeseries",
    }


def records(items):
    return {"records": items, "pagination": {"next_page_info": None}, "result_type": "records"}


def sending(**kw):
    return {"id": 17, "loyalty_club_id": 1001, "channel": "sms", "delivered_count": 3} | kw


HOURS = [f"2026-11-27T{h:02d}:00:00.000+01:00" for h in range(3)]


# -- NUL characters --------------------------------------------------------------------------------


def test_a_nul_character_in_a_series_label_is_refused_before_copy():
    payload = stats([{"label": {"event_type": "new\u0000"}, "value": 1}])
    with pytest.raises(BadPayloadError, match="NUL character"):
        run(statistics_rows, ctx(), payload)


def test_a_nul_character_anywhere_in_a_record_is_refused_with_its_key():
    payload = records([sending(), sending(id=18, properties={"note": ["a\u0000b"]})])
    with pytest.raises(BadPayloadError, match=r"record 1: NUL .* properties\.note\[0\]"):
        run(records_rows, ctx("sendings"), payload)


def test_a_nul_character_in_a_record_key_name_is_refused():
    payload = records([sending(**{"odd\u0000key": 1})])
    with pytest.raises(BadPayloadError, match="NUL character"):
        run(records_rows, ctx("sendings"), payload)


def test_an_escaped_backslash_before_u0000_is_no_nul_and_loads():
    raw = json.dumps(records([sending(source_id="C:\\u0000dir")])).encode()
    assert "\\\\u0000" in raw.decode()
    [row] = run(records_rows, ctx("sendings"), raw)
    assert json.loads(row[3])["source_id"] == "C:\\u0000dir"


# -- the grain: one row per key per slice ----------------------------------------------------------


def test_a_repeated_statistics_series_is_refused_naming_its_label():
    series = [
        {"label": {"event_type": "new"}, "value": 1},
        {"label": {"event_type": "new"}, "value": 2},
    ]
    with pytest.raises(BadPayloadError, match=r'duplicate series .*"event_type":"new"'):
        run(statistics_rows, ctx(), stats(series))


def test_a_statistics_label_repeated_with_its_keys_in_another_order_is_a_duplicate():
    series = [
        {"label": {"event_type": "new", "channel": "sms"}, "value": 1},
        {"label": {"channel": "sms", "event_type": "new"}, "value": 1},
    ]
    with pytest.raises(BadPayloadError, match="duplicate series"):
        run(statistics_rows, ctx(agg="channel"), stats(series))


def test_a_repeated_cross_club_series_is_refused_and_other_clubs_with_the_same_label_are_not():
    context = ctx(clubs=(1001, 1002), multi=True, agg="channel")

    def item(club, value):
        label = {"loyalty_club_id": club, "channel": "sms", "event_type": "new"}
        return {"label": label, "value": value}

    ok = stats([item(1001, 1), item(1002, 2)], range_timezone="UTC")
    assert len(run(statistics_rows, context, ok)) == 2
    bad = stats([item(1001, 1), item(1002, 2), item(1001, 5)], range_timezone="UTC")
    with pytest.raises(BadPayloadError, match=r"duplicate series.*1001"):
        run(statistics_rows, context, bad)


def test_a_repeated_timeseries_series_is_refused():
    series = [{"label": {"event_type": "new"}, "values": [1]}] * 2
    payload = ts(["2026-11-27T00:00:00.000+01:00"], series)
    with pytest.raises(BadPayloadError, match="duplicate series"):
        run(timeseries_rows, ctx("sendings_events_history"), payload)


def test_a_repeated_timeseries_bucket_is_refused():
    buckets = ["2026-11-27T00:00:00.000+01:00"] * 2
    payload = ts(buckets, [{"label": {"event_type": "new"}, "values": [1, 1]}])
    with pytest.raises(BadPayloadError, match="duplicate bucket 2026-11-27T00:00:00"):
        run(timeseries_rows, ctx("sendings_events_history"), payload)


def test_an_extra_bucket_off_the_interval_grid_is_refused():
    buckets = ["2026-11-27T00:00:00.000+01:00", "2026-11-27T12:00:00.000+01:00"]
    payload = ts(buckets, [{"label": {"event_type": "new"}, "values": [1, 1]}])
    with pytest.raises(BadPayloadError, match="not aligned to the 1d interval"):
        run(timeseries_rows, ctx("sendings_events_history"), payload)


def test_hourly_buckets_on_the_hour_load_and_a_half_hour_bucket_is_refused():
    series = [{"label": {"event_type": "new"}, "values": [1, 2, 3]}]
    context = ctx("sendings_events_history", interval="1h")
    assert len(run(timeseries_rows, context, ts(HOURS, series, interval="1h"))) == 3
    odd = [*HOURS[:2], "2026-11-27T02:30:00.000+01:00"]
    with pytest.raises(BadPayloadError, match="not aligned to the 1h interval"):
        run(timeseries_rows, context, ts(odd, series, interval="1h"))


def test_two_buckets_with_the_same_wall_clock_but_different_offsets_are_distinct():
    # the hour that repeats when DST ends: same local time, two instants
    buckets = ["2026-10-25T02:00:00.000+02:00", "2026-10-25T02:00:00.000+01:00"]
    window = Window.days(date(2026, 10, 25), date(2026, 10, 25))
    context = SliceContext(
        "sendings_events_history", "club:1001", (1001,), False, "none", "1h", window
    )
    series = [{"label": {"event_type": "new"}, "values": [1, 2]}]
    assert len(run(timeseries_rows, context, ts(buckets, series, interval="1h"))) == 2


def test_a_record_repeated_with_a_different_count_is_refused_naming_its_key():
    payload = records([sending(), sending(id=18), sending(delivered_count=9)])
    with pytest.raises(BadPayloadError, match="record 2: duplicate record key '17'"):
        run(records_rows, ctx("sendings"), payload)


def test_the_record_grain_spans_every_page_of_a_slice():
    context, shared = ctx("sendings"), PayloadStats()
    list(records_rows(context, io.BytesIO(json.dumps(records([sending()])).encode()), shared))
    with pytest.raises(BadPayloadError, match="duplicate record key '17'"):
        list(records_rows(context, io.BytesIO(json.dumps(records([sending()])).encode()), shared))


def test_a_record_without_its_key_is_refused():
    with pytest.raises(BadPayloadError, match="record 0: record has no id"):
        run(records_rows, ctx("sendings"), records([{"loyalty_club_id": 1001, "channel": "sms"}]))
    with pytest.raises(BadPayloadError, match="record 0: record has no id"):
        run(records_rows, ctx("sendings"), records([sending(id=None)]))
    link = {"loyalty_club_id": 1001, "host": "example.com"}
    with pytest.raises(BadPayloadError, match="record has no source_id"):
        run(records_rows, ctx("sendings_links"), records([link]))


# -- values the warehouse cannot hold --------------------------------------------------------------


@pytest.mark.parametrize("value", [10**30, 2**63, int(1e25)])
def test_a_count_beyond_bigint_is_refused(value):
    with pytest.raises(BadPayloadError, match="beyond the warehouse's bigint"):
        run(statistics_rows, ctx(), stats([{"label": {"event_type": "new"}, "value": value}]))
    payload = ts(
        ["2026-11-27T00:00:00.000+01:00"], [{"label": {"event_type": "new"}, "values": [value]}]
    )
    with pytest.raises(BadPayloadError, match="beyond the warehouse's bigint"):
        run(timeseries_rows, ctx("sendings_events_history"), payload)
    with pytest.raises(BadPayloadError, match=r"delivered_count.*beyond the warehouse's bigint"):
        run(records_rows, ctx("sendings"), records([sending(delivered_count=value)]))


def test_the_largest_bigint_count_loads():
    out = run(
        statistics_rows, ctx(), stats([{"label": {"event_type": "new"}, "value": BIGINT_MAX}])
    )
    assert out[0][-1] == BIGINT_MAX


def test_a_fractional_count_is_refused_rather_than_rounded_by_staging():
    with pytest.raises(BadPayloadError, match="not a whole number"):
        run(
            statistics_rows,
            ctx(),
            json.dumps(stats([{"label": {"event_type": "new"}, "value": 1}]))
            .replace('"value": 1', '"value": 1.5')
            .encode(),
        )


@pytest.mark.parametrize("campaign", ["abc", 10**25, 1.5, True])
def test_a_campaign_id_label_that_is_no_bigint_is_refused(campaign):
    series = [{"label": {"campaign_id": campaign, "event_type": "new"}, "value": 1}]
    raw = json.dumps(stats(series)).encode()
    with pytest.raises(BadPayloadError, match="campaign_id"):
        run(statistics_rows, ctx(agg="campaign_id"), raw)


def test_a_numeric_campaign_id_label_loads():
    series = [{"label": {"campaign_id": 42, "event_type": "new"}, "value": 1}]
    assert len(run(statistics_rows, ctx(agg="campaign_id"), stats(series))) == 1


@pytest.mark.parametrize(
    "field, value",
    [
        ("id", "abc"),
        ("campaign_id", "12"),
        ("created_at", "yesterday-ish"),
        ("created_at", "2026-02-30T00:00:00Z"),
        ("reporting_id", 2**63),
    ],
)
def test_a_record_field_staging_cannot_cast_is_refused_naming_the_field(field, value):
    with pytest.raises(BadPayloadError, match=field):
        run(records_rows, ctx("sendings"), records([sending(**{field: value})]))


def test_a_member_birth_year_group_beyond_integer_is_refused():
    member = {"id": 1, "community_id": 1001, "birth_year_group": 2**31}
    with pytest.raises(BadPayloadError, match=r"birth_year_group.*integer"):
        run(records_rows, ctx("members"), records([member]))


def test_a_history_range_that_is_no_timestamp_is_refused():
    ranges = {"1d": {"from": "soon", "to": "2026-11-28T00:00:00Z"}}
    with pytest.raises(BadPayloadError, match=r"history_ranges\.1d\.from"):
        run(records_rows, ctx("sendings"), records([sending(history_ranges=ranges)]))


def test_a_marketing_flag_that_is_no_boolean_is_refused():
    member = {"id": 1, "community_id": 1001, "marketing_via_sms": "maybe"}
    with pytest.raises(BadPayloadError, match="marketing_via_sms"):
        run(records_rows, ctx("members"), records([member]))


def test_valid_typed_fields_and_nulls_load():
    record = sending(
        created_at="2026-11-27T08:00:00.000+01:00",
        campaign_id=None,
        history_ranges={"1d": {"from": "2026-11-27T00:00:00Z", "to": "2026-11-28T00:00:00Z"}},
    )
    assert len(run(records_rows, ctx("sendings"), records([record]))) == 1


def test_a_statistics_answer_with_only_half_its_window_echo_is_refused():
    payload = stats([{"label": {"event_type": "new"}, "value": 1}])
    del payload["to"]
    with pytest.raises(BadPayloadError, match="echoes 'from' without 'to'"):
        run(statistics_rows, ctx(), payload)


# -- staging and the loader agree on every cast ----------------------------------------------------

_CAST = re.compile(
    r"\((record|label) (?:->>|#>>) '([^']+)'\)::(\w+)|\b(value)::(\w+)", re.IGNORECASE
)
_SOURCE = re.compile(r"source\('placewise_raw', '(\w+)'\)")


def _staging_casts() -> list[tuple[str, str, tuple[str, ...], str]]:
    found = []
    for path in sorted(STAGING.glob("*.sql")):
        text = path.read_text()
        report = _SOURCE.search(text).group(1)
        for match in _CAST.finditer(text):
            if match.group(4):
                found.append((report, "value", (), match.group(5).lower()))
                continue
            where, key, pg_type = match.group(1), match.group(2), match.group(3).lower()
            keys = tuple(key.strip("{}").split(",")) if key.startswith("{") else (key,)
            found.append((report, where, keys, pg_type))
    return found


def test_the_staging_models_cast_something():
    casts = _staging_casts()
    assert len(casts) > 30
    assert {c[0] for c in casts} >= RECORDS | {"sendings_stats", "member_balance"}


@pytest.mark.parametrize("report, where, path, pg_type", _staging_casts())
def test_every_staging_cast_has_the_loader_rule_for_its_type(report, where, path, pg_type):
    assert cast_rule(report, where, path) == pg_type


# -- bodies that are more, or less, than one JSON answer --------------------------------------


@pytest.mark.parametrize(
    "builder, context, payload",
    [
        (statistics_rows, ctx(), stats([{"label": {"event_type": "new"}, "value": 1}])),
        (records_rows, ctx("sendings"), records([sending()])),
        (
            timeseries_rows,
            ctx("sendings_events_history"),
            ts(
                ["2026-11-27T00:00:00.000+01:00"], [{"label": {"event_type": "new"}, "values": [1]}]
            ),
        ),
    ],
)
def test_data_after_the_json_answer_is_refused(builder, context, payload):
    from placewise.api.errors import ResultShapeError

    raw = json.dumps(payload).encode() + b'\n{"series": []}'
    with pytest.raises(ResultShapeError, match="after the end of the JSON object"):
        run(builder, context, raw)


def test_a_label_value_that_is_an_object_is_refused():
    series = [{"label": {"event_type": {"nested": {"deeper": "new"}}}, "value": 1}]
    with pytest.raises(BadPayloadError, match="label event_type is an object, not a scalar"):
        run(statistics_rows, ctx(), stats(series))


def tenants_ctx(agg="reporting_id"):
    """A statistics slice of every customer (the tenants export): the request names no club."""
    return SliceContext("sendings_stats", "all", (), True, agg, "statistics", DAY)


def club_series(*clubs):
    return [
        {
            "timezone": "Europe/Oslo",
            "label": {"loyalty_club_id": c, "event_type": "new"},
            "value": 1,
        }
        for c in clubs
    ]


def test_a_tenants_answer_takes_every_integer_club_id_up_to_bigint():
    rows = run(statistics_rows, tenants_ctx(), stats(club_series(1001, 7, BIGINT_MAX)))
    assert [row[0] for row in rows] == [1001, 7, BIGINT_MAX]


@pytest.mark.parametrize(
    ("club", "message"),
    [(BIGINT_MAX + 1, "bigint"), ("1002", "is not an integer"), (True, "is not an integer")],
)
def test_a_tenants_series_with_a_club_id_no_bigint_is_refused_after_valid_ones(club, message):
    # the first series teaches the rules the label's shape; the second takes the common path
    with pytest.raises(BadPayloadError, match=f"series 1: loyalty_club_id .*{message}"):
        run(statistics_rows, tenants_ctx(), stats(club_series(1001, club)))


def test_a_single_club_series_naming_another_club_after_valid_ones_is_refused():
    series = club_series(1001, 1001)
    series[1]["label"]["event_type"] = "delivered"
    series.append(club_series(1002)[0])
    with pytest.raises(BadPayloadError, match="series 2: series of club 1002 does not belong"):
        run(statistics_rows, ctx(), stats(series))


def test_single_club_labels_without_a_club_take_the_club_asked_for():
    series = [{"label": {"event_type": e}, "value": 3} for e in ("new", "delivered")]
    assert [row[0] for row in run(statistics_rows, ctx(clubs=(1005,)), stats(series))] == [
        1005,
        1005,
    ]


def test_an_unknown_enum_value_is_counted_on_every_series_not_only_the_first():
    series = [
        {"label": {"loyalty_club_id": 1001, "event_type": e}, "value": 1}
        for e in ("new", "teleported", "beamed")
    ]
    payload_stats = PayloadStats()
    data = json.dumps(stats(series)).encode()
    list(statistics_rows(ctx(), io.BytesIO(data), payload_stats))
    assert payload_stats.unknown_enum_values == {"event_type=teleported": 1, "event_type=beamed": 1}


def test_a_label_value_that_is_an_array_is_refused_and_a_string_with_brackets_loads():
    series = [{"label": {"event_type": "new", "tag": "{not} [an] object"}, "value": 1}]
    assert len(run(statistics_rows, ctx(), stats(series))) == 1
    series = [{"label": {"event_type": "new", "tag": ["a", "b"]}, "value": 1}]
    with pytest.raises(BadPayloadError, match=r"label tag is an array, not a scalar: \["):
        run(statistics_rows, ctx(), stats(series))


def test_labels_differing_only_in_true_and_1_are_two_series():
    series = [
        {"label": {"event_type": "new", "flag": True}, "value": 1},
        {"label": {"event_type": "new", "flag": 1}, "value": 2},
    ]
    assert [row[-1] for row in run(statistics_rows, ctx(), stats(series))] == [1, 2]


def test_the_grain_of_a_large_slice_costs_under_200_bytes_a_series():
    """The duplicate check must remember every series of a slice; it keeps a hash of each (an
    int and its set slot, ~140 bytes), not the label's key (~340), so that a tenants answer of a
    million series does not hold their labels."""
    import tracemalloc

    n = 20_000
    series = [
        {"label": {"loyalty_club_id": 1001, "reporting_id": i, "event_type": "new"}, "value": i}
        for i in range(n)
    ]
    data = json.dumps(stats(series)).encode()
    payload_stats = PayloadStats()
    tracemalloc.start()
    try:
        for _ in statistics_rows(ctx(), io.BytesIO(data), payload_stats):
            pass
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert payload_stats.rows == n
    assert held / n < 200, f"{held / n:.0f} bytes held per series"


def test_past_its_memory_the_grain_stops_growing_and_says_the_database_must_check(monkeypatch):
    from placewise.warehouse import rows

    monkeypatch.setattr(rows, "GRAIN_MEMORY_ROWS", 2)
    grain = PayloadStats()
    for number, row_grain in enumerate((11, 12, 13), start=1):
        assert grain.first_time(row_grain)
        grain.rows = number  # as the row builders count the rows they yield
    assert grain.first_time(11) is False  # remembered: refused while streaming
    assert grain.first_time(13) is True  # not remembered: left to the check after the COPY
    assert grain.grain == {11, 12}
    assert grain.spilled_after == 2  # rows 3 and later are for the database to check
