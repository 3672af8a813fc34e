"""The invariants the warehouse relies on, checked on several seeds."""

from __future__ import annotations

from collections import Counter

import pytest
from sim_helpers import EXPORT, make_api

SEEDS = (1, 42, 2026)
WINDOWS = (
    ("2026-11-20T00:00:00", "2026-11-21T00:00:00"),
    ("2026-11-01T00:00:00", "2026-11-28T00:00:00"),
    ("2026-11-27T18:30:00", "2026-11-28T06:00:00"),
)
AGGREGATIONS = ("service_type", "campaign_id", "channel", "reporting_id")


def _by_event(series: list[dict]) -> Counter:
    totals: Counter = Counter()
    for item in series:
        totals[item["label"]["event_type"]] += item["value"]
    return totals


@pytest.mark.parametrize("seed", SEEDS)
def test_every_sendings_stats_aggregation_sums_to_the_unaggregated_series(seed):
    api = make_api(seed=seed, clubs=3)
    for club in (1001, 1002, 1003):
        for start, end in WINDOWS:
            body = {"report": "sendings_stats", "from": start, "to": end}
            plain = api.query(body, f"id={club}")
            expected = {s["label"]["event_type"]: s["value"] for s in plain["series"]}
            assert expected, "the window should hold events"
            for agg in AGGREGATIONS + tuple(f"total_{a}" for a in AGGREGATIONS):
                result = api.query(dict(body, aggregate_by=agg), f"id={club}")
                assert dict(_by_event(result["series"])) == expected, (club, agg)
                key = agg.removeprefix("total_")
                assert all(list(s["label"]) == [key, "event_type"] for s in result["series"])


@pytest.mark.parametrize("seed", SEEDS)
def test_total_aggregations_equal_the_sum_over_clubs_of_the_per_club_aggregation(seed):
    api = make_api(seed=seed, clubs=4)
    body = {"report": "sendings_stats", "from": "2026-11-10T00:00:00", "to": "2026-11-28T00:00:00"}
    for agg in AGGREGATIONS:
        key = agg
        expected: Counter = Counter()
        for club in (1001, 1002, 1003, 1004):
            result = api.query(dict(body, aggregate_by=agg), f"id={club}")
            for s in result["series"]:
                expected[(s["label"][key], s["label"]["event_type"])] += s["value"]
        total = api.tenants(dict(body, aggregate_by=f"total_{agg}"), "id=1001_1002_1003_1004")
        assert total["range_timezone"] == "local"
        got = {(s["label"][key], s["label"]["event_type"]): s["value"] for s in total["series"]}
        assert got == dict(expected)
        assert all(
            "loyalty_club_id" not in s["label"] and "timezone" not in s for s in total["series"]
        )
        per_club = api.tenants(dict(body, aggregate_by=agg), "id=1001_1002_1003_1004")
        summed: Counter = Counter()
        for s in per_club["series"]:
            assert "timezone" in s and "loyalty_club_id" in s["label"]
            summed[(s["label"][key], s["label"]["event_type"])] += s["value"]
        assert summed == expected


@pytest.mark.parametrize("seed", SEEDS)
def test_events_history_daily_summed_over_a_window_equals_sendings_stats(seed):
    api = make_api(seed=seed, variants={"window_end": "exclusive"})
    for club in (1001, 1002, 1003):
        window = {"from": "2026-10-25T00:00:00", "to": "2026-11-28T00:00:00"}
        stats = api.query(dict(window, report="sendings_stats"), f"id={club}")
        history = api.query(
            dict(window, report="sendings_events_history", interval="1d"), f"id={club}"
        )
        summed = {
            s["label"]["event_type"]: sum(v or 0 for v in s["values"]) for s in history["series"]
        }
        assert summed == {s["label"]["event_type"]: s["value"] for s in stats["series"]}


@pytest.mark.parametrize("seed", SEEDS)
def test_sendings_records_agree_with_sendings_stats_by_reporting_id_over_all_time(seed):
    api = make_api(seed=seed)
    records = api.pages({"report": "sendings", "limit": 1000}, "id=1002")
    expected: Counter = Counter()
    for record in records:
        for event in (
            "new",
            "transmitted",
            "transiently_failed",
            "delivered",
            "opened",
            "opened_event",
            "failed",
            "delivery_errored",
        ):
            if record[f"{event}_count"]:
                expected[(record["reporting_id"], event)] += record[f"{event}_count"]
    stats = api.ok(
        EXPORT,
        {
            "report": "sendings_stats",
            "aggregate_by": "reporting_id",
            "from": "2020-01-01T00:00:00Z",
            "to": "2030-01-01T00:00:00Z",
        },
        "id=1002",
    )
    got = {
        (s["label"]["reporting_id"], s["label"]["event_type"]): s["value"] for s in stats["series"]
    }
    assert got == dict(expected)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(
    "report",
    ["sendings", "members", "sendings_links", "sendings_links_stats", "members_grouped_count"],
)
def test_query_pages_concatenated_equal_the_export(seed, report):
    api = make_api(seed=seed)
    paged = api.pages({"report": report, "limit": 7})
    exported = api.export({"report": report})
    assert exported["pagination"] == {"next_page_info": None}
    assert paged == exported["records"]
    assert len(paged) > 7


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(
    "body",
    [
        {"report": "sendings_stats", "aggregate_by": "channel"},
        {"report": "sendings_events_history", "interval": "1d"},
        {"report": "member_balance", "interval": "1d", "aggregate_by": "optin_platform"},
        {"report": "members_count_history", "interval": "1w", "aggregate_by": "age"},
        {"report": "links_visits_history", "interval": "1d", "aggregate_by": "source_id"},
        {"report": "sendings_recipients_statistics", "interval": "1d", "aggregate_by": "age"},
    ],
)
def test_export_is_byte_identical_to_the_query_when_under_the_limits(seed, body):
    api = make_api(seed=seed)
    full = dict(body, **{"from": "2026-11-14T00:00:00", "to": "2026-11-28T00:00:00"})
    query = api.post("/v1/reporting/query", full)
    export = api.post(EXPORT, full)
    assert query.status_code == export.status_code == 200
    assert query.json()["data_points"] <= 1000
    assert query.content == export.content


def test_tenants_export_of_one_club_series_match_that_clubs_query():
    api = make_api(clubs=3)
    body = {
        "report": "sendings_events_history",
        "interval": "1d",
        "from": "2026-11-20T00:00:00",
        "to": "2026-11-27T00:00:00",
    }
    tenants = api.tenants(body)
    for club in (1001, 1002, 1003):
        single = api.query(body, f"id={club}")
        walls = [b[:23] for b in single["time_buckets"]]
        for series in single["series"]:
            match = [
                s
                for s in tenants["series"]
                if s["label"] == {"loyalty_club_id": club, **series["label"]}
            ]
            assert len(match) == 1
            by_bucket = dict(zip(tenants["time_buckets"], match[0]["values"], strict=True))
            assert [by_bucket[w] for w in walls] == series["values"]
