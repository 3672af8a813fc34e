"""Variants change behaviour, never the world: invariants stay exact under every variant value."""

from __future__ import annotations

from collections import Counter

import pytest
from placewise_simulator import SimulatorConfig
from placewise_simulator.variants import VARIANTS
from sim_helpers import QUERY, TENANTS, Api, make_api

EVERY_VALUE = [(name, value) for name, values in VARIANTS.items() for value in values]
IDS = [f"{name}={value}" for name, value in EVERY_VALUE]
WINDOW = {"from": "2026-11-10T00:00:00", "to": "2026-11-27T00:00:00"}
AGGREGATIONS = ("service_type", "campaign_id", "channel", "reporting_id")
CLUBS = (1001, 1002)


def _api(name: str, value: str, **options: object) -> Api:
    return make_api(variants={name: value}, **options)


def _stat_totals(result: dict, keys: tuple[str, ...]) -> Counter:
    """Statistics of either shape summed per label (restricted to ``keys``)."""
    totals: Counter = Counter()
    for s in result["series"]:
        label = tuple(s["label"].get(k) for k in keys)
        totals[label] += s["value"] if "value" in s else sum(v or 0 for v in s["values"])
    return totals


def _points_in(result: dict, buckets: set[str]) -> dict:
    """Non-null timeseries values in the given buckets, keyed by (label values, bucket)."""
    return {
        (tuple(s["label"].values()), b): v
        for s in result["series"]
        for b, v in zip(result["time_buckets"], s["values"], strict=True)
        if b in buckets and v is not None
    }


def _export_records(api: Api, report: str, customer: str = "id=1001") -> list[dict]:
    """The export's records, or (exports absent) the default server's: the world is shared."""
    source = api if api.variants["exports"] == "present" else make_api()
    return source.export({"report": report}, customer)["records"]


RECORD_REPORTS = ("sendings", "members", "members_grouped_count")
STATS_BODY = dict(WINDOW, report="sendings_stats", aggregate_by="reporting_id")
STATS_KEYS = ("reporting_id", "event_type")
BALANCE_BODY = dict(WINDOW, report="member_balance", interval="1d", aggregate_by="consents")


@pytest.fixture(scope="module")
def default_world() -> dict:
    """Answers of a default server with seed 5, computed once for every variant to match."""
    api = make_api(seed=5)
    return {
        "records": {r: api.pages({"report": r, "limit": 1000}) for r in RECORD_REPORTS},
        "stats": {c: _stat_totals(api.query(STATS_BODY, f"id={c}"), STATS_KEYS) for c in CLUBS},
        "balance": {c: api.query(BALANCE_BODY, f"id={c}") for c in CLUBS},
    }


@pytest.mark.parametrize(("name", "value"), EVERY_VALUE, ids=IDS)
def test_same_seed_gives_the_same_world_under_every_variant(name, value, default_world):
    varied = _api(name, value, seed=5)
    for report in RECORD_REPORTS:
        records = varied.pages({"report": report, "limit": 1000})
        assert records == default_world["records"][report]
    for club in CLUBS:
        customer = f"id={club}"
        stats = _stat_totals(varied.query(STATS_BODY, customer), STATS_KEYS)
        assert stats == default_world["stats"][club]
        got = varied.query(BALANCE_BODY, customer)
        expected = default_world["balance"][club]
        common = set(got["time_buckets"]) & set(expected["time_buckets"])
        assert len(common) >= len(expected["time_buckets"]) - 1

        assert _points_in(got, common) == _points_in(expected, common)


@pytest.mark.parametrize(("name", "value"), EVERY_VALUE, ids=IDS)
def test_aggregations_sum_to_the_unaggregated_series_under_every_variant(name, value):
    api = _api(name, value)
    body = dict(WINDOW, report="sendings_stats")
    for club in CLUBS:
        customer = f"id={club}"
        plain = _stat_totals(api.query(body, customer), ("event_type",))
        assert plain
        for agg in AGGREGATIONS + tuple(f"total_{a}" for a in AGGREGATIONS):
            result = api.query(dict(body, aggregate_by=agg), customer)
            assert _stat_totals(result, ("event_type",)) == plain, (club, agg)
        timeseries = dict(WINDOW, report="members_count_history", interval="1d")
        whole = api.query(timeseries, customer)
        expected = dict(zip(whole["time_buckets"], whole["series"][0]["values"], strict=True))
        grouped = api.query(dict(timeseries, aggregate_by="grouping_type"), customer)
        per_type: dict[str, Counter] = {}
        for s in grouped["series"]:
            slot = per_type.setdefault(s["label"]["grouping_type"], Counter())
            for bucket, v in zip(grouped["time_buckets"], s["values"], strict=True):
                slot[bucket] += v or 0
        assert set(per_type) == {"optin_channel", "optin_platform", "country", "gender", "age"}
        assert all(dict(c) == expected for c in per_type.values())


@pytest.mark.parametrize(("name", "value"), EVERY_VALUE, ids=IDS)
def test_total_aggregations_equal_the_sum_over_clubs_under_every_variant(name, value):
    api = _api(name, value, clubs=4)
    customer = "id=1001_1002_1003_1004"
    cross = TENANTS if api.variants["exports"] == "present" else QUERY
    body = dict(WINDOW, report="sendings_stats")
    # Under multi_tz_window=utc the naive window means UTC across timezones; a single club
    # is then asked for the same instants explicitly.
    suffix = "Z" if api.variants["multi_tz_window"] == "utc" else ""
    single_body = dict(body, **{"from": body["from"] + suffix, "to": body["to"] + suffix})
    for agg in AGGREGATIONS:
        keys = (agg, "event_type")
        expected: Counter = Counter()
        for club in (1001, 1002, 1003, 1004):
            single = api.query(dict(single_body, aggregate_by=agg), f"id={club}")
            expected += _stat_totals(single, keys)
        total = api.ok(cross, dict(body, aggregate_by=f"total_{agg}"), customer)
        assert _stat_totals(total, keys) == expected
        assert all("loyalty_club_id" not in s["label"] for s in total["series"])
        per_club = api.ok(cross, dict(body, aggregate_by=agg), customer)
        assert _stat_totals(per_club, keys) == expected


@pytest.mark.parametrize(("name", "value"), EVERY_VALUE, ids=IDS)
def test_query_pages_concatenated_equal_the_export_under_every_variant(name, value):
    api = _api(name, value)
    for report in ("sendings", "members", "sendings_links", "members_grouped_count"):
        paged = api.pages({"report": report, "limit": 29})
        assert paged == _export_records(api, report)
        assert len(paged) > 29


def test_an_unknown_variant_name_or_value_is_refused_listing_the_valid_ones():
    with pytest.raises(ValueError, match=r"window_end=bucket_at_to\|exclusive"):
        SimulatorConfig(variants={"window_edge": "exclusive"})
    with pytest.raises(ValueError, match="valid values: page_info, next_page_info, cursor"):
        SimulatorConfig(variants={"cursor_key": "offset"})
    assert SimulatorConfig(variants={"auth": "user_token"}).variant("auth") == "user_token"
    assert SimulatorConfig().variants == {name: values[0] for name, values in VARIANTS.items()}
