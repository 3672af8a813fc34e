"""Timeseries and statistics rules: intervals, buckets, retention, limits, timezones."""

from __future__ import annotations

from datetime import datetime
from itertools import pairwise

import pytest
from sim_helpers import EXPORT, QUERY, make_api

HISTORY = {"report": "sendings_events_history"}


def test_timeseries_over_150_buckets_is_rejected_with_422_on_query_only():
    api = make_api(history_days=400, variants={"window_end": "exclusive"})
    body = dict(HISTORY, interval="1d", **{"from": "2026-06-01T00:00:00"})
    ok = api.post(QUERY, dict(body, to="2026-10-29T00:00:00"))  # 150 days
    assert ok.status_code == 200
    too_many = api.post(QUERY, dict(body, to="2026-10-30T00:00:00"))  # 151 days
    assert too_many.status_code == 422
    assert "150" in too_many.json()["error"]
    exported = api.post(EXPORT, dict(body, to="2026-11-28T00:00:00"))
    assert exported.status_code == 200
    assert len(exported.json()["time_buckets"]) > 150


def test_a_partial_bucket_counts_as_touched_for_the_150_bucket_rule():
    api = make_api(variants={"window_end": "exclusive"})
    body = dict(HISTORY, interval="5m", **{"from": "2026-11-27T00:02:00"})
    assert api.post(QUERY, dict(body, to="2026-11-27T12:30:00")).status_code == 200
    assert api.post(QUERY, dict(body, to="2026-11-27T12:32:00")).status_code == 422


@pytest.mark.parametrize(
    ("start", "end", "interval"),
    [
        ("2026-11-27T00:00:00", "2026-11-27T12:00:00", "5m"),
        ("2026-11-25T00:00:00", "2026-11-28T00:00:00", "1h"),
        ("2026-11-24T00:00:00", "2026-11-28T00:00:00", "1d"),
    ],
)
def test_auto_interval_follows_the_documented_rule(api, start, end, interval):
    result = api.query(dict(HISTORY, interval="auto", **{"from": start, "to": end}))
    assert result["interval"] == interval
    assert api.query(dict(HISTORY, **{"from": start, "to": end}))["interval"] == interval


def test_auto_picks_an_interval_the_report_offers(api):
    body = {
        "report": "sendings_recipients_statistics",
        "interval": "auto",
        "from": "2026-11-27T00:00:00",
        "to": "2026-11-27T06:00:00",
    }
    assert api.query(body)["interval"] == "1h"
    assert api.post(QUERY, dict(body, interval="5m")).status_code == 422


@pytest.mark.parametrize(
    ("interval", "start"),
    [
        ("5m", "2026-11-13T00:00:00Z"),
        ("1h", "2026-05-01T00:00:00Z"),
        ("1d", "2024-11-01T00:00:00Z"),
    ],
)
@pytest.mark.parametrize("path", [QUERY, EXPORT])
def test_from_older_than_the_interval_retention_is_422(api, interval, start, path):
    body = dict(HISTORY, interval=interval, **{"from": start, "to": "2026-11-13T01:00:00Z"})
    if interval == "1d":
        body["to"] = "2025-01-01T00:00:00Z"
    response = api.post(path, body)
    assert response.status_code == 422
    assert "retention" in response.json()["error"]


def test_weekly_and_monthly_buckets_are_aligned_on_monday_and_the_first(api):
    weekly = api.query(
        dict(HISTORY, interval="1w", **{"from": "2026-10-01T00:00:00", "to": "2026-11-28T00:00:00"})
    )
    for bucket in weekly["time_buckets"]:
        moment = datetime.fromisoformat(bucket)
        assert moment.weekday() == 0 and moment.hour == 0
    monthly = api.query(
        dict(
            HISTORY, interval="1mo", **{"from": "2026-10-15T00:00:00", "to": "2026-11-28T00:00:00"}
        )
    )
    assert monthly["time_buckets"] == [
        "2026-10-01T00:00:00.000+02:00",
        "2026-11-01T00:00:00.000+01:00",
    ]


def test_buckets_without_data_are_omitted_and_nulls_fill_gaps(api):
    result = api.query(
        dict(HISTORY, interval="5m", **{"from": "2026-11-27T00:00:00", "to": "2026-11-27T12:00:00"})
    )
    buckets = result["time_buckets"]
    assert 0 < len(buckets) < 144
    nonnull = 0
    for index in range(len(buckets)):
        column = [s["values"][index] for s in result["series"]]
        assert any(v is not None for v in column)
    for series in result["series"]:
        assert len(series["values"]) == len(buckets)
        assert any(v is not None for v in series["values"])
        nonnull += sum(v is not None for v in series["values"])
    assert result["data_points"] == nonnull
    assert any(v is None for s in result["series"] for v in s["values"])


def test_single_club_results_use_the_clubs_timezone_and_offsets():
    api = make_api(clubs=3)
    body = dict(
        HISTORY, interval="1d", **{"from": "2026-11-20T00:00:00", "to": "2026-11-27T00:00:00"}
    )
    expected = {
        1001: ("Europe/Oslo", "+01:00"),
        1002: ("America/New_York", "-05:00"),
        1003: ("Asia/Tokyo", "+09:00"),
    }
    for club, (zone, offset) in expected.items():
        result = api.query(body, f"id={club}")
        assert result["range_timezone"] == zone
        assert result["time_buckets"][0] == f"2026-11-20T00:00:00.000{offset}"
        stats = api.query(
            {
                "report": "sendings_stats",
                "from": "2026-11-20T00:00:00",
                "to": "2026-11-21T00:00:00",
            },
            f"id={club}",
        )
        assert stats["from"] == f"2026-11-20T00:00:00.000{offset}"
        assert stats["to"] == f"2026-11-21T00:00:00.000{offset}"


def test_hourly_buckets_follow_a_dst_change_in_the_clubs_zone(api):
    body = dict(
        HISTORY, interval="1h", **{"from": "2026-10-31T20:00:00", "to": "2026-11-01T08:00:00"}
    )
    exported = api.ok(EXPORT, body, "id=1002")
    offsets = {b[-6:] for b in exported["time_buckets"]}
    assert offsets <= {"-04:00", "-05:00"}
    for bucket in exported["time_buckets"]:
        assert bucket[14:23] == "00:00.000"


def test_cross_club_results_with_different_zones_are_local_with_per_series_timezone(api):
    body = dict(
        HISTORY, interval="1d", **{"from": "2026-11-20T00:00:00", "to": "2026-11-27T00:00:00"}
    )
    result = api.tenants(body)
    assert result["range_timezone"] == "local"
    assert all(len(b) == 23 for b in result["time_buckets"])
    zones = {s["label"]["loyalty_club_id"]: s["timezone"] for s in result["series"]}
    assert zones == {1001: "Europe/Oslo", 1002: "America/New_York", 1003: "Asia/Tokyo"}
    assert all(next(iter(s["label"])) == "loyalty_club_id" for s in result["series"])


def test_cross_club_results_sharing_one_zone_name_it_without_series_timezones():
    api = make_api(clubs=13)
    body = dict(
        HISTORY, interval="1d", **{"from": "2026-11-20T00:00:00", "to": "2026-11-27T00:00:00"}
    )
    result = api.tenants(body, "id=1001_1013")
    assert result["range_timezone"] == "Europe/Oslo"
    assert result["time_buckets"][0] == "2026-11-20T00:00:00.000+01:00"
    assert all("timezone" not in s for s in result["series"])
    assert {s["label"]["loyalty_club_id"] for s in result["series"]} == {1001, 1013}


def test_members_family_timeseries_label_the_club_across_customers(api):
    body = {
        "report": "members_count_history",
        "interval": "1d",
        "from": "2026-11-20T00:00:00",
        "to": "2026-11-27T00:00:00",
    }
    result = api.tenants(body)
    assert {tuple(s["label"]) for s in result["series"]} == {("loyalty_club_id",)}


def test_timeseries_over_1000_points_is_silently_capped_on_query_but_not_on_export():
    api = make_api(history_days=200, variants={"window_end": "exclusive"})
    body = dict(
        HISTORY,
        interval="1d",
        aggregate_by="sending_id",
        **{"from": "2026-07-01T00:00:00", "to": "2026-11-28T00:00:00"},
    )
    query = api.query(body)
    export = api.export(body)
    assert export["data_points"] > 1000
    assert query["data_points"] == 1000
    assert sum(v is not None for s in query["series"] for v in s["values"]) == 1000
    kept = []
    for index, bucket in enumerate(export["time_buckets"]):
        for series in export["series"]:
            if series["values"][index] is not None:
                kept.append(
                    (
                        bucket,
                        series["label"]["sending_id"],
                        series["label"]["event_type"],
                        series["values"][index],
                    )
                )
    got = sorted(
        (bucket, s["label"]["sending_id"], s["label"]["event_type"], v)
        for s in query["series"]
        for bucket, v in zip(query["time_buckets"], s["values"], strict=True)
        if v is not None
    )
    assert got == sorted(kept[:1000])


def test_statistics_over_1000_series_keep_the_first_1000_on_query_only():
    api = make_api(history_days=500)
    body = {
        "report": "sendings_stats",
        "aggregate_by": "reporting_id",
        "from": "2025-08-01T00:00:00",
        "to": "2026-11-28T00:00:00",
    }
    export = api.export(body)
    query = api.query(body)
    assert export["data_points"] == len(export["series"]) > 1000
    assert query["data_points"] == 1000
    assert query["series"] == export["series"][:1000]


def test_member_balance_total_is_in_minus_out(api):
    body = {
        "report": "member_balance",
        "interval": "1w",
        "from": "2026-10-05T00:00:00",
        "to": "2026-11-23T00:00:00",
    }
    by_type = api.query(body)
    total = api.query(dict(body, aggregate_by="total"))
    assert [s["label"] for s in total["series"]] == [{}]
    values = {s["label"]["type"]: s["values"] for s in by_type["series"]}
    net = [(i or 0) - (o or 0) for i, o in zip(values["in"], values["out"], strict=True)]
    assert [v or 0 for v in total["series"][0]["values"]] == net


def test_members_count_history_moves_with_member_balance(api):
    base = {"interval": "1d", "from": "2026-11-10T00:00:00", "to": "2026-11-20T00:00:00"}
    counts = api.query(dict(base, report="members_count_history"))["series"][0]["values"]
    balance = api.query(dict(base, report="member_balance", aggregate_by="total"))
    net = [v or 0 for v in balance["series"][0]["values"]]
    assert [b - a for a, b in pairwise(counts)] == net[1:]


def test_aggregated_timeseries_sum_to_the_unaggregated_ones(api):
    window = {"interval": "1d", "from": "2026-11-01T00:00:00", "to": "2026-11-28T00:00:00"}
    cases = {
        "sendings_recipients_statistics": ("gender", "age"),
        "links_visits_history": ("source_type", "source_id"),
        "members_count_history": ("optin_platform", "gender", "age"),
    }
    for report, aggregations in cases.items():
        plain = api.query(dict(window, report=report))
        expected = dict(zip(plain["time_buckets"], plain["series"][0]["values"], strict=True))
        for agg in aggregations:
            result = api.query(dict(window, report=report, aggregate_by=agg))
            summed: dict = {}
            for series in result["series"]:
                for bucket, value in zip(result["time_buckets"], series["values"], strict=True):
                    summed[bucket] = summed.get(bucket, 0) + (value or 0)
            assert summed == {b: v or 0 for b, v in expected.items()}, (report, agg)


def test_a_day_whose_midnight_was_skipped_by_dst_still_gets_a_bucket():
    from placewise_simulator.timeutil import Buckets, wall_to_epoch

    zone = "America/Sao_Paulo"  # in 2018 clocks jumped from 00:00 to 01:00 on 4 November
    start = wall_to_epoch(datetime(2018, 11, 4, 1, 30), zone)
    end = wall_to_epoch(datetime(2018, 11, 7, 0, 0), zone)
    buckets = Buckets(start, end, zone, "1d")
    assert buckets.starts[0] == start
    assert [w.day for w in buckets.walls] == [4, 5, 6]
    assert all(a < b for a, b in pairwise(buckets.starts))
    assert buckets.index(start) == 0


def test_exports_ignore_paging_keys(api):
    body = {"report": "sendings", "limit": 5000, "page_info": "whatever"}
    assert api.post(EXPORT, body).status_code == 200
    assert api.post(QUERY, body).status_code == 422
