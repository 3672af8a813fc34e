import io
import json
from datetime import UTC, date, datetime, timedelta

import pytest
from placewise.api.errors import ResultShapeError
from placewise.extract.windows import Window
from placewise.warehouse.rows import (
    COLUMNS,
    ROW_BUILDERS,
    BadPayloadError,
    PayloadStats,
    SliceContext,
    parse_api_time,
    records_rows,
    statistics_rows,
    timeseries_rows,
)

DAY = Window.days(date(2026, 11, 27), date(2026, 11, 27))
OSLO_FROM, OSLO_TO = "2026-11-27T00:00:00.000+01:00", "2026-11-28T00:00:00.000+01:00"


def ctx(report="sendings_stats", *, clubs=(1001,), multi=False, agg="none", interval=None,
        window=DAY):  # fmt: skip
    scope = f"club:{clubs[0]}" if not multi else "clubs:" + "_".join(map(str, clubs))
    if interval is None:
        interval = {"sendings_stats": "statistics", "sendings": "snapshot"}.get(report, "1d")
    return SliceContext(report, scope, tuple(clubs), multi, agg, interval, window)


def body(payload: dict) -> io.BytesIO:
    return io.BytesIO(json.dumps(payload).encode())


def rows(builder, context, payload):
    stats = PayloadStats()
    return list(builder(context, body(payload), stats)), stats


def stats_body(series, *, tz="Europe/Oslo", from_=OSLO_FROM, to=OSLO_TO):
    payload = {"range_timezone": tz}
    if from_ is not None:
        payload["from"] = from_
    if to is not None:
        payload["to"] = to
    payload |= {"series": series, "data_points": len(series), "result_type": "statistics"}
    return payload


def ts_body(buckets, series, *, tz="Europe/Oslo", interval="1d"):
    return {
        "interval": interval,
        "range_timezone": tz,
        "time_buckets": buckets,
        "series": series,
        "data_points": sum(len(s["values"]) for s in series),
        "result_type": "timeseries",
    }


# -- timestamps -----------------------------------------------------------------------------------


def test_parse_api_time_keeps_wall_clock_and_instant():
    local, instant = parse_api_time("2026-11-27T00:00:00.000+01:00")
    assert local == datetime(2026, 11, 27)
    assert instant == datetime(2026, 11, 26, 23, tzinfo=UTC)
    assert parse_api_time("2026-11-27T00:00:00Z")[1] == datetime(2026, 11, 27, tzinfo=UTC)
    assert parse_api_time("2026-11-27T00:00:00.000") == (datetime(2026, 11, 27), None)
    with pytest.raises(BadPayloadError, match="unparseable timestamp 'yesterday'"):
        parse_api_time("yesterday")


# -- statistics -----------------------------------------------------------------------------------


def test_statistics_rows_of_one_club_carry_the_window_day_and_the_club_timezone():
    payload = stats_body(
        [
            {"label": {"event_type": "delivered"}, "value": 1520},
            {"label": {"event_type": "opened"}, "value": 611},
            {"label": {"event_type": "failed"}, "value": None},
        ]
    )
    out, stats = rows(statistics_rows, ctx(), payload)
    assert out == [
        (
            1001,
            "none",
            datetime(2026, 11, 27),
            datetime(2026, 11, 28),
            date(2026, 11, 27),
            "Europe/Oslo",
            '{"event_type":"delivered"}',
            1520,
        ),
        (
            1001,
            "none",
            datetime(2026, 11, 27),
            datetime(2026, 11, 28),
            date(2026, 11, 27),
            "Europe/Oslo",
            '{"event_type":"opened"}',
            611,
        ),
    ]
    assert stats.rows == 2 and stats.timezones == {"Europe/Oslo"}
    assert len(out[0]) == len(COLUMNS["statistics"])


def test_statistics_answer_for_another_window_is_refused():
    payload = stats_body([], from_="2026-11-26T00:00:00.000+01:00", to=OSLO_FROM)
    with pytest.raises(BadPayloadError, match="not the requested 2026-11-27"):
        rows(statistics_rows, ctx(), payload)


def test_statistics_without_from_and_to_in_the_answer_is_accepted():
    payload = stats_body([{"label": {"event_type": "new"}, "value": 1}], from_=None, to=None)
    out, _ = rows(statistics_rows, ctx(), payload)
    assert len(out) == 1


def test_statistics_slice_without_a_window_is_refused():
    with pytest.raises(BadPayloadError, match="without a window"):
        rows(statistics_rows, ctx(window=None), stats_body([]))


def test_statistics_local_result_uses_each_series_timezone():
    series = [
        {
            "label": {"loyalty_club_id": 1001, "event_type": "new"},
            "timezone": "Europe/Oslo",
            "value": 5,
        },
        {
            "label": {"loyalty_club_id": 1002, "event_type": "new"},
            "timezone": "America/New_York",
            "value": 7,
        },
    ]
    payload = stats_body(
        series, tz="local", from_="2026-11-27T00:00:00.000", to="2026-11-28T00:00:00.000"
    )
    out, stats = rows(statistics_rows, ctx(clubs=(1001, 1002), multi=True), payload)
    assert [(r[0], r[5], r[7]) for r in out] == [
        (1001, "Europe/Oslo", 5),
        (1002, "America/New_York", 7),
    ]
    assert stats.timezones == {"Europe/Oslo", "America/New_York"}


def test_statistics_total_aggregation_rows_have_no_club_and_no_timezone():
    series = [{"label": {"channel": "sms", "event_type": "new"}, "value": 12}]
    payload = stats_body(
        series, tz="local", from_="2026-11-27T00:00:00.000", to="2026-11-28T00:00:00.000"
    )
    context = ctx(clubs=(1001, 1002), multi=True, agg="total_channel")
    [row], _ = rows(statistics_rows, context, payload)
    assert row[0] is None and row[5] is None and row[1] == "total_channel"


def test_cross_club_series_without_club_is_refused_unless_the_aggregation_drops_it():
    series = [{"label": {"channel": "sms", "event_type": "new"}, "value": 12}]
    payload = stats_body(
        series, tz="local", from_="2026-11-27T00:00:00.000", to="2026-11-28T00:00:00.000"
    )
    context = ctx(clubs=(1001, 1002), multi=True, agg="channel")
    with pytest.raises(BadPayloadError, match="cross-club series without loyalty_club_id"):
        rows(statistics_rows, context, payload)


def test_series_of_a_club_outside_the_tenants_request_is_refused():
    series = [{"label": {"loyalty_club_id": 1003}, "timezone": "Asia/Tokyo", "value": 1}]
    payload = stats_body(
        series, tz="local", from_="2026-11-27T00:00:00.000", to="2026-11-28T00:00:00.000"
    )
    with pytest.raises(BadPayloadError, match="club 1003 does not belong to the request"):
        rows(statistics_rows, ctx(clubs=(1001, 1002), multi=True), payload)


def test_series_of_another_club_in_a_single_club_answer_is_refused():
    payload = stats_body([{"label": {"loyalty_club_id": 1002, "event_type": "new"}, "value": 1}])
    with pytest.raises(BadPayloadError, match=r"club 1002 does not belong .*club:1001"):
        rows(statistics_rows, ctx(), payload)


def test_non_integer_club_label_is_refused():
    payload = stats_body([{"label": {"loyalty_club_id": "1001"}, "value": 1}])
    with pytest.raises(BadPayloadError, match="is not an integer"):
        rows(statistics_rows, ctx(), payload)


def test_negative_statistics_value_is_refused():
    payload = stats_body([{"label": {"event_type": "new"}, "value": -1}])
    with pytest.raises(BadPayloadError, match="series 0: negative count -1"):
        rows(statistics_rows, ctx(), payload)


def test_unknown_range_timezone_is_refused():
    with pytest.raises(BadPayloadError, match="unknown timezone 'Mars/Olympus'"):
        rows(statistics_rows, ctx(), stats_body([], tz="Mars/Olympus"))


def test_unknown_enum_values_are_counted_and_kept():
    payload = stats_body(
        [
            {"label": {"event_type": "bounced", "channel": "whatsapp"}, "value": 3},
            {"label": {"event_type": "bounced", "channel": "sms"}, "value": 4},
            {"label": {"event_type": "new", "channel": "sms"}, "value": 5},
        ]
    )
    out, stats = rows(statistics_rows, ctx(agg="channel"), payload)
    assert [r[7] for r in out] == [3, 4, 5]
    assert stats.unknown_enum_values == {"event_type=bounced": 2, "channel=whatsapp": 1}


# -- timeseries -----------------------------------------------------------------------------------


def test_timeseries_rows_of_one_club_take_the_offsets_of_the_buckets():
    window = Window.days(date(2026, 11, 26), date(2026, 11, 27))
    payload = ts_body(
        ["2026-11-26T00:00:00.000+01:00", "2026-11-27T00:00:00.000+01:00"],
        [
            {"label": {"type": "in"}, "values": [4, None]},
            {"label": {"type": "out"}, "values": [0, 2]},
        ],
    )
    out, stats = rows(timeseries_rows, ctx("member_balance", window=window), payload)
    assert out == [
        (
            1001,
            "none",
            "1d",
            datetime(2026, 11, 26),
            datetime(2026, 11, 25, 23, tzinfo=UTC),
            date(2026, 11, 26),
            "Europe/Oslo",
            '{"type":"in"}',
            4,
        ),
        (
            1001,
            "none",
            "1d",
            datetime(2026, 11, 26),
            datetime(2026, 11, 25, 23, tzinfo=UTC),
            date(2026, 11, 26),
            "Europe/Oslo",
            '{"type":"out"}',
            0,
        ),
        (
            1001,
            "none",
            "1d",
            datetime(2026, 11, 27),
            datetime(2026, 11, 26, 23, tzinfo=UTC),
            date(2026, 11, 27),
            "Europe/Oslo",
            '{"type":"out"}',
            2,
        ),
    ]
    assert stats.rows == 3
    assert len(out[0]) == len(COLUMNS["timeseries"])


def test_timeseries_across_a_dst_change_keeps_each_bucket_offset():
    # Europe/Oslo leaves CET for CEST on 2026-03-29 at 02:00.
    window = Window.days(date(2026, 3, 28), date(2026, 3, 30))
    payload = ts_body(
        [
            "2026-03-28T00:00:00.000+01:00",
            "2026-03-29T00:00:00.000+01:00",
            "2026-03-30T00:00:00.000+02:00",
        ],
        [{"label": {"type": "in"}, "values": [1, 2, 3]}],
    )
    out, _ = rows(timeseries_rows, ctx("member_balance", window=window), payload)
    assert [r[3] for r in out] == [datetime(2026, 3, d) for d in (28, 29, 30)]
    assert [r[4].astimezone(UTC) for r in out] == [
        datetime(2026, 3, 27, 23, tzinfo=UTC),
        datetime(2026, 3, 28, 23, tzinfo=UTC),
        datetime(2026, 3, 29, 22, tzinfo=UTC),
    ]
    assert out[2][4] - out[1][4] == timedelta(hours=23)  # the short local day


def test_timeseries_local_result_places_buckets_in_each_series_zone():
    payload = ts_body(
        ["2026-11-27T00:00:00.000"],
        [
            {"label": {"loyalty_club_id": 1001}, "timezone": "Europe/Oslo", "values": [1]},
            {"label": {"loyalty_club_id": 1002}, "timezone": "America/Denver", "values": [2]},
        ],
        tz="local",
    )
    context = ctx("links_visits_history", clubs=(1001, 1002), multi=True)
    out, stats = rows(timeseries_rows, context, payload)
    assert [(r[0], r[3], r[6]) for r in out] == [
        (1001, datetime(2026, 11, 27), "Europe/Oslo"),
        (1002, datetime(2026, 11, 27), "America/Denver"),
    ]
    assert [r[4].astimezone(UTC) for r in out] == [
        datetime(2026, 11, 26, 23, tzinfo=UTC),
        datetime(2026, 11, 27, 7, tzinfo=UTC),
    ]
    assert stats.timezones == {"Europe/Oslo", "America/Denver"}


def test_timeseries_local_result_across_dst_uses_the_zone_rules_of_each_day():
    window = Window.days(date(2026, 10, 24), date(2026, 10, 26))
    payload = ts_body(
        ["2026-10-24T00:00:00.000", "2026-10-25T00:00:00.000", "2026-10-26T00:00:00.000"],
        [{"label": {"loyalty_club_id": 1001}, "timezone": "Europe/Oslo", "values": [1, 1, 1]}],
        tz="local",
    )
    context = ctx("links_visits_history", clubs=(1001, 1002), multi=True, window=window)
    out, _ = rows(timeseries_rows, context, payload)
    assert [r[4].utcoffset() for r in out] == [
        timedelta(hours=2),
        timedelta(hours=2),
        timedelta(hours=1),
    ]


def test_timeseries_local_series_with_an_unknown_zone_is_refused():
    payload = ts_body(
        ["2026-11-27T00:00:00.000"],
        [{"label": {"loyalty_club_id": 1001}, "timezone": "Nowhere/City", "values": [1]}],
        tz="local",
    )
    context = ctx("links_visits_history", clubs=(1001, 1002), multi=True)
    with pytest.raises(BadPayloadError, match="unknown timezone 'Nowhere/City'"):
        rows(timeseries_rows, context, payload)


def test_timeseries_club_series_of_a_local_result_without_timezone_is_a_shape_error():
    payload = ts_body(
        ["2026-11-27T00:00:00.000"],
        [{"label": {"loyalty_club_id": 1001}, "values": [1]}],
        tz="local",
    )
    context = ctx("links_visits_history", clubs=(1001, 1002), multi=True)
    with pytest.raises(ResultShapeError, match="has no timezone"):
        rows(timeseries_rows, context, payload)


def test_timeseries_bucket_starting_at_to_is_dropped_and_counted():
    # the docs' own example answers a bucket starting at `to`: it belongs to the next window
    payload = ts_body(["2026-11-28T00:00:00.000+01:00"], [{"label": {"type": "in"}, "values": [1]}])
    loaded, stats = rows(timeseries_rows, ctx("member_balance"), payload)
    assert loaded == []
    assert (stats.rows, stats.dropped_buckets) == (0, 1)


def test_timeseries_bucket_before_the_window_is_refused():
    # no reading of the docs puts a bucket before `from`: the answer is to another question
    payload = ts_body(["2026-11-26T00:00:00.000+01:00"], [{"label": {"type": "in"}, "values": [1]}])
    with pytest.raises(
        BadPayloadError, match="bucket 2026-11-26T00:00:00 is outside the requested"
    ):
        rows(timeseries_rows, ctx("member_balance"), payload)


def test_timeseries_with_another_interval_than_asked_is_refused():
    payload = ts_body(
        ["2026-11-27T00:00:00.000+01:00"], [{"label": {}, "values": [1]}], interval="1h"
    )
    with pytest.raises(BadPayloadError, match="interval '1h', asked '1d'"):
        rows(timeseries_rows, ctx("member_balance"), payload)


def test_negative_timeseries_value_is_refused_with_its_bucket():
    payload = ts_body(["2026-11-27T00:00:00.000+01:00"], [{"label": {}, "values": [-2]}])
    with pytest.raises(BadPayloadError, match="bucket 2026-11-27T00:00:00: negative count -2"):
        rows(timeseries_rows, ctx("member_balance"), payload)


def test_timeseries_series_of_another_club_is_refused():
    payload = ts_body(
        ["2026-11-27T00:00:00.000+01:00"], [{"label": {"loyalty_club_id": 7}, "values": [1]}]
    )
    with pytest.raises(BadPayloadError, match="club 7 does not belong"):
        rows(timeseries_rows, ctx("member_balance"), payload)


def test_timeseries_unknown_enum_values_are_counted_and_kept():
    payload = ts_body(
        ["2026-11-27T00:00:00.000+01:00"],
        [{"label": {"type": "sideways"}, "values": [1]}, {"label": {"type": "in"}, "values": [2]}],
    )
    out, stats = rows(timeseries_rows, ctx("member_balance"), payload)
    assert len(out) == 2
    assert stats.unknown_enum_values == {"type=sideways": 1}


# -- records --------------------------------------------------------------------------------------


def records_body(records):
    return {"records": records, "result_type": "records"}


def sending(**kw):
    return {"id": 17, "loyalty_club_id": 1001, "channel": "sms", "delivered_count": 3} | kw


def test_records_rows_are_keyed_by_the_catalog_key():
    out, stats = rows(records_rows, ctx("sendings"), records_body([sending(), sending(id=18)]))
    assert [(r[0], r[1], r[2]) for r in out] == [(1001, "none", "17"), (1001, "none", "18")]
    assert json.loads(out[0][3]) == sending()
    assert stats.rows == 2
    assert len(out[0]) == len(COLUMNS["records"])


def test_records_composite_key_joins_fields_and_writes_null_as_empty():
    record = {
        "loyalty_club_id": 1001,
        "source_id": "s1",
        "host": "example.com",
        "path": "/a",
        "utm_campaign": None,
        "utm_medium": "email",
    }
    [row], _ = rows(records_rows, ctx("sendings_links"), records_body([record]))
    assert row[2] == "s1|example.com|/a|||email||"


def test_records_of_the_members_family_take_their_club_from_community_id():
    record = {"grouping_type": "country", "grouping_value": "NO", "community_id": 1001}
    [row], _ = rows(records_rows, ctx("members_grouped_count"), records_body([record]))
    assert row[0] == 1001 and row[2] == "country|NO"


def test_cross_club_aggregated_records_without_club_have_none():
    record = {"grouping_type": "country", "grouping_value": "NO", "members_count": 9}
    context = ctx(
        "members_grouped_count", clubs=(1001, 1002), multi=True, agg="by_grouping_type_and_value"
    )
    [row], _ = rows(records_rows, context, records_body([record]))
    assert row[0] is None


def test_record_without_its_club_field_is_refused():
    with pytest.raises(BadPayloadError, match="record 0: record has no loyalty_club_id"):
        rows(records_rows, ctx("sendings"), records_body([{"id": 1}]))


def test_record_of_another_club_is_refused():
    with pytest.raises(BadPayloadError, match="club 1002 does not belong"):
        rows(records_rows, ctx("sendings"), records_body([sending(loyalty_club_id=1002)]))


def test_record_with_a_negative_count_is_refused():
    with pytest.raises(BadPayloadError, match="delivered_count: negative count -3"):
        rows(records_rows, ctx("sendings"), records_body([sending(delivered_count=-3)]))


def test_record_with_a_null_count_is_kept():
    out, _ = rows(records_rows, ctx("sendings"), records_body([sending(delivered_count=None)]))
    assert len(out) == 1


def test_records_unknown_enum_values_are_counted_and_kept():
    out, stats = rows(
        records_rows,
        ctx("sendings"),
        records_body([sending(channel="carrier_pigeon"), sending(id=2, channel="sms")]),
    )
    assert len(out) == 2
    assert stats.unknown_enum_values == {"channel=carrier_pigeon": 1}


def test_row_builders_cover_every_result_type():
    assert set(ROW_BUILDERS) == set(COLUMNS) == {"statistics", "timeseries", "records"}


def test_a_record_with_a_fractional_number_is_stored_as_a_json_number():
    import io
    import json

    from placewise.warehouse.rows import PayloadStats, SliceContext, records_rows

    ctx = SliceContext(
        "sendings_links_stats", "club:1001", (1001,), False, "none", "snapshot", None
    )
    body = {
        "records": [
            {"loyalty_club_id": 1001, "source_id": "7", "visits_count": 3, "ratio": 0.25},
        ],
        "pagination": {"next_page_info": None},
        "result_type": "records",
    }
    rows = list(records_rows(ctx, io.BytesIO(json.dumps(body).encode()), PayloadStats()))
    assert json.loads(rows[0][3])["ratio"] == 0.25


# -- one rule each: the club, the counts, the enums -----------------------------------------------


def local_ts(series, report_buckets=("2026-11-27T00:00:00.000",)):
    return ts_body(list(report_buckets), series, tz="local")


def test_members_family_series_take_their_club_from_the_catalog_club_field():
    payload = local_ts(
        [
            {
                "label": {"community_id": 1001, "type": "in"},
                "timezone": "Europe/Oslo",
                "values": [3],
            },
            {
                "label": {"community_id": 1002, "type": "in"},
                "timezone": "Europe/Oslo",
                "values": [5],
            },
        ]
    )
    context = ctx("member_balance", clubs=(1001, 1002), multi=True)
    out, _ = rows(timeseries_rows, context, payload)
    assert [(r[0], r[8]) for r in out] == [(1001, 3), (1002, 5)]


def test_members_family_series_of_a_club_outside_the_request_are_refused():
    payload = local_ts(
        [{"label": {"community_id": 1003, "type": "in"}, "timezone": "Europe/Oslo", "values": [1]}]
    )
    context = ctx("member_balance", clubs=(1001, 1002), multi=True)
    with pytest.raises(BadPayloadError, match="series 0: series of club 1003 does not belong"):
        rows(timeseries_rows, context, payload)


def test_a_non_integer_club_of_a_members_family_series_is_refused_by_its_key():
    payload = local_ts(
        [{"label": {"community_id": "1001", "type": "in"}, "timezone": "UTC", "values": [1]}]
    )
    context = ctx("member_balance", clubs=(1001, 1002), multi=True)
    with pytest.raises(BadPayloadError, match="series 0: community_id '1001' is not an integer"):
        rows(timeseries_rows, context, payload)


def test_a_members_family_key_is_no_club_in_a_report_whose_club_field_is_loyalty_club_id():
    series = [{"label": {"community_id": 1001, "event_type": "new"}, "value": 1}]
    payload = stats_body(
        series, tz="local", from_="2026-11-27T00:00:00.000", to="2026-11-28T00:00:00.000"
    )
    context = ctx(clubs=(1001, 1002), multi=True, agg="channel")
    with pytest.raises(BadPayloadError, match="cross-club series without loyalty_club_id"):
        rows(statistics_rows, context, payload)


def test_a_null_club_label_names_no_club():
    single = stats_body([{"label": {"loyalty_club_id": None, "event_type": "new"}, "value": 1}])
    [row], _ = rows(statistics_rows, ctx(), single)
    assert row[0] == 1001
    series = [{"label": {"loyalty_club_id": None, "channel": "sms"}, "timezone": "UTC", "value": 2}]
    cross = stats_body(
        series, tz="local", from_="2026-11-27T00:00:00.000", to="2026-11-28T00:00:00.000"
    )
    [row], _ = rows(
        statistics_rows, ctx(clubs=(1001, 1002), multi=True, agg="total_channel"), cross
    )
    assert row[0] is None


def test_a_non_integer_club_field_of_a_record_is_refused_by_its_name():
    record = {"grouping_type": "country", "grouping_value": "NO", "community_id": "1001"}
    with pytest.raises(BadPayloadError, match="record 0: community_id '1001' is not an integer"):
        rows(records_rows, ctx("members_grouped_count"), records_body([record]))


def test_a_record_of_another_club_in_the_members_family_is_refused():
    record = {"grouping_type": "country", "grouping_value": "NO", "community_id": 1002}
    with pytest.raises(BadPayloadError, match="record 0: record of club 1002 does not belong"):
        rows(records_rows, ctx("members_grouped_count"), records_body([record]))


def test_cross_club_records_without_club_are_refused_unless_the_aggregation_drops_it():
    record = {"id": 5, "channel": "sms"}
    context = ctx("sendings", clubs=(1001, 1002), multi=True)
    with pytest.raises(
        BadPayloadError, match="record 0: cross-club record without loyalty_club_id"
    ):
        rows(records_rows, context, records_body([record]))


def test_a_record_count_that_is_not_a_number_is_refused():
    with pytest.raises(
        BadPayloadError, match="record 0 delivered_count: value True is not a number"
    ):
        rows(records_rows, ctx("sendings"), records_body([sending(delivered_count=True)]))
    with pytest.raises(BadPayloadError, match="delivered_count: value '3' is not a number"):
        rows(records_rows, ctx("sendings"), records_body([sending(delivered_count="3")]))


def test_a_fractional_record_field_that_is_no_count_is_not_checked_as_one():
    record = {"loyalty_club_id": 1001, "source_id": "7", "visits_count": 3, "ratio": -0.25}
    [row], _ = rows(records_rows, ctx("sendings_links_stats"), records_body([record]))
    assert json.loads(row[3])["ratio"] == -0.25


def test_enum_values_are_counted_for_every_label_shape_even_beyond_the_shape_cache():
    # 80 label shapes (key sets) in one body: more than the per-body shape cache keeps
    series = [
        {"label": {"event_type": "bounced", f"extra_{i}": i}, "value": 1} for i in range(80)
    ] + [{"label": {"event_type": "bounced", "extra_0": 1}, "value": 1}]  # shape 0 again
    out, stats = rows(statistics_rows, ctx(), stats_body(series))
    assert len(out) == 81
    assert stats.unknown_enum_values == {"event_type=bounced": 81}


def test_records_with_different_shapes_each_get_their_own_count_and_enum_checks():
    first = {"id": 1, "loyalty_club_id": 1001, "channel": "fax", "delivered_count": 1}
    second = {"loyalty_club_id": 1001, "id": 2, "opened_count": -1, "channel": "sms"}
    with pytest.raises(BadPayloadError, match="record 1 opened_count: negative count -1"):
        rows(records_rows, ctx("sendings"), records_body([first, second]))
    out, stats = rows(
        records_rows, ctx("sendings"), records_body([first, second | {"opened_count": 0}])
    )
    assert len(out) == 2 and stats.unknown_enum_values == {"channel=fax": 1}


def test_timeseries_enum_values_are_counted_once_per_series():
    payload = ts_body(
        ["2026-11-26T00:00:00.000+01:00", "2026-11-27T00:00:00.000+01:00"],
        [{"label": {"type": "sideways"}, "values": [1, 2]}],
    )
    window = Window.days(date(2026, 11, 26), date(2026, 11, 27))
    out, stats = rows(timeseries_rows, ctx("member_balance", window=window), payload)
    assert len(out) == 2 and stats.unknown_enum_values == {"type=sideways": 1}


def test_statistics_timezones_are_refused_or_counted_once_per_name():
    series = [
        {"label": {"loyalty_club_id": 1001}, "timezone": "Europe/Oslo", "value": 1},
        {"label": {"loyalty_club_id": 1002}, "timezone": "Europe/Oslo", "value": 2},
        {"label": {"loyalty_club_id": 1002}, "timezone": "Moon/Base", "value": 3},
    ]
    payload = stats_body(
        series, tz="local", from_="2026-11-27T00:00:00.000", to="2026-11-28T00:00:00.000"
    )
    with pytest.raises(BadPayloadError, match="series 2: unknown timezone 'Moon/Base'"):
        rows(statistics_rows, ctx(clubs=(1001, 1002), multi=True), payload)
    out, stats = rows(
        statistics_rows, ctx(clubs=(1001, 1002), multi=True), payload | {"series": series[:2]}
    )
    assert [r[5] for r in out] == ["Europe/Oslo", "Europe/Oslo"]
    assert stats.timezones == {"Europe/Oslo"}
