import io
import json
from decimal import Decimal

import pytest
from placewise.api.errors import ResultShapeError
from placewise.formats.results import iter_records, parse_statistics, parse_timeseries


def _fp(obj) -> io.BytesIO:
    return io.BytesIO(json.dumps(obj).encode() if not isinstance(obj, bytes) else obj)


RECORDS = {
    "records": [{"id": 4066131, "community_id": 235}, {"id": 4066135, "community_id": 235}],
    "pagination": {"next_page_info": "CNOW-AE"},
    "result_type": "records",
}

TIMESERIES = {
    "interval": "1d",
    "range_timezone": "America/Denver",
    "time_buckets": [
        "2024-04-08T00:00:00.000-06:00",
        "2024-04-09T00:00:00.000-06:00",
        "2024-04-11T00:00:00.000-06:00",
    ],
    "series": [
        {"label": {"type": "out"}, "values": [2, 2, 1]},
        {"label": {"type": "in"}, "values": [None, 4, 300]},
    ],
    "data_points": 5,
    "result_type": "timeseries",
}

LOCAL_TIMESERIES = {
    "interval": "1d",
    "range_timezone": "local",
    "time_buckets": ["2024-04-30T00:00:00.000", "2024-05-01T00:00:00.000"],
    "series": [
        {"timezone": "Europe/Oslo", "label": {"loyalty_club_id": 10}, "values": [20, 10]},
        {"timezone": "America/Denver", "label": {"loyalty_club_id": 11}, "values": [10, 20]},
    ],
    "result_type": "timeseries",
}

STATISTICS = {
    "range_timezone": "Europe/Oslo",
    "from": "2026-11-27T00:00:00.000+01:00",
    "to": "2026-11-28T00:00:00.000+01:00",
    "series": [
        {"label": {"event_type": "delivered"}, "value": 1520},
        {"label": {"event_type": "brand_new_event"}, "value": 611},
    ],
    "data_points": 2,
    "result_type": "statistics",
}


def test_records_stream_yields_each_record_and_the_cursor():
    stream = iter_records(_fp(RECORDS))
    assert list(stream) == RECORDS["records"]
    assert stream.next_page_info == "CNOW-AE"
    assert stream.count == 2


def test_records_last_page_has_no_cursor():
    body = dict(RECORDS, pagination={"next_page_info": None})
    stream = iter_records(_fp(body))
    list(stream)
    assert stream.next_page_info is None


def test_records_export_without_pagination_is_fine():
    body = {"records": [{"id": 1}], "result_type": "records"}
    assert list(iter_records(_fp(body))) == [{"id": 1}]


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ({"result_type": "records"}, "no 'records'"),
        ({"records": [], "result_type": "timeseries"}, "result_type"),
        ({"records": []}, "no 'result_type'"),
        ({"records": [1], "result_type": "records"}, "not an object"),
        ({"records": {}, "result_type": "records"}, "must be an array"),
        ([1, 2], "not a JSON object"),
    ],
)
def test_records_with_the_wrong_shape_raise(body, match):
    with pytest.raises(ResultShapeError, match=match):
        list(iter_records(_fp(body)))


def test_truncated_json_raises_result_shape_error():
    raw = json.dumps(RECORDS).encode()[:-10]
    with pytest.raises(ResultShapeError):
        list(iter_records(_fp(raw)))


def test_timeseries_header_then_series():
    header, series = parse_timeseries(_fp(TIMESERIES))
    assert header.interval == "1d"
    assert header.range_timezone == "America/Denver"
    assert header.time_buckets == TIMESERIES["time_buckets"]
    assert header.complete is False
    got = list(series)
    assert [(s.label, s.timezone, s.values) for s in got] == [
        ({"type": "out"}, None, [2, 2, 1]),
        ({"type": "in"}, None, [None, 4, 300]),
    ]
    label, tz, _values = got[0]
    assert (label, tz) == ({"type": "out"}, None)
    assert header.complete is True
    assert header.data_points == 5
    assert header.result_type == "timeseries"


def test_timeseries_local_range_carries_per_series_timezone():
    header, series = parse_timeseries(_fp(LOCAL_TIMESERIES))
    assert header.range_timezone == "local"
    assert [(s.timezone, s.label["loyalty_club_id"]) for s in series] == [
        ("Europe/Oslo", 10),
        ("America/Denver", 11),
    ]


def test_local_total_series_without_club_needs_no_timezone():
    body = dict(LOCAL_TIMESERIES, series=[{"label": {"channel": "sms"}, "values": [1, 2]}])
    _, series = parse_timeseries(_fp(body))
    assert list(series) == [({"channel": "sms"}, None, [1, 2])]


def test_numbers_are_int_when_integral_and_decimal_otherwise():
    body = dict(TIMESERIES, series=[{"label": {}, "values": [1.0, 2.5, 3]}])
    _, series = parse_timeseries(_fp(json.dumps(body).encode()))
    values = next(series).values
    assert values == [1, Decimal("2.5"), 3]
    assert type(values[0]) is int
    assert isinstance(values[1], Decimal)


def _ts(**changes):
    body = dict(TIMESERIES)
    body.update(changes)
    return body


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (_ts(series=[{"label": {}, "values": [1, 2]}]), "2 values for 3 time buckets"),
        (_ts(series=[{"values": [1, 2, 3]}]), "no label"),
        (_ts(series=[{"label": {}, "values": [1, "x", 3]}]), "non-numeric"),
        (_ts(series=[{"label": {}}]), "no values"),
        (_ts(result_type="records"), "result_type"),
        (_ts(time_buckets=[1, 2, 3]), "not a string"),
        (
            dict(LOCAL_TIMESERIES, series=[{"label": {"loyalty_club_id": 3}, "values": [1, 2]}]),
            "no timezone",
        ),
        ({k: v for k, v in TIMESERIES.items() if k != "result_type"}, "no 'result_type'"),
        ({k: v for k, v in TIMESERIES.items() if k != "series"}, "no 'series'"),
    ],
)
def test_timeseries_with_the_wrong_shape_raise(body, match):
    with pytest.raises(ResultShapeError, match=match):
        _header, series = parse_timeseries(_fp(body))
        list(series)


def test_timeseries_with_series_before_buckets_is_rejected():
    body = {
        "series": TIMESERIES["series"],
        "time_buckets": TIMESERIES["time_buckets"],
        "range_timezone": "UTC",
        "result_type": "timeseries",
    }
    with pytest.raises(ResultShapeError, match="before 'series'"):
        parse_timeseries(_fp(body))


def test_timeseries_streams_many_series_lazily():
    buckets = [f"b{i}" for i in range(3)]
    n = 5000
    raw = (
        b'{"interval":"1h","range_timezone":"UTC","time_buckets":'
        + json.dumps(buckets).encode()
        + b',"series":['
        + b",".join(b'{"label":{"sending_id":%d},"values":[1,2,3]}' % i for i in range(n))
        + b'],"data_points":15000,"result_type":"timeseries"}'
    )
    header, series = parse_timeseries(io.BytesIO(raw))
    first = next(series)
    assert first.label == {"sending_id": 0}
    assert sum(1 for _ in series) == n - 1
    assert header.data_points == 15000


def test_statistics_header_and_series():
    header, series = parse_statistics(_fp(STATISTICS))
    assert header.range_timezone == "Europe/Oslo"
    assert header.from_ == STATISTICS["from"]
    assert header.to == STATISTICS["to"]
    assert [tuple(s) for s in series] == [
        ({"event_type": "delivered"}, None, 1520),
        ({"event_type": "brand_new_event"}, None, 611),
    ]
    assert header.complete and header.data_points == 2


def test_statistics_local_range_with_club_labels():
    body = dict(
        STATISTICS,
        range_timezone="local",
        series=[
            {
                "timezone": "Europe/Oslo",
                "label": {"loyalty_club_id": 1, "event_type": "new"},
                "value": None,
            }
        ],
    )
    _, series = parse_statistics(_fp(body))
    assert list(series) == [({"loyalty_club_id": 1, "event_type": "new"}, "Europe/Oslo", None)]


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (dict(STATISTICS, result_type="timeseries"), "result_type"),
        (dict(STATISTICS, series=[{"label": {}}]), "no value"),
        (dict(STATISTICS, series=[{"label": {}, "value": "many"}]), "non-numeric"),
        (dict(STATISTICS, series=[{"label": [], "value": 1}]), "no label"),
        ({k: v for k, v in STATISTICS.items() if k != "range_timezone"}, "range_timezone"),
    ],
)
def test_statistics_with_the_wrong_shape_raise(body, match):
    with pytest.raises(ResultShapeError, match=match):
        _, series = parse_statistics(_fp(body))
        list(series)
