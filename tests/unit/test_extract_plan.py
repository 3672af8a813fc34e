from datetime import date, datetime, timedelta

import pytest
from placewise.api.catalog import UnknownReportError
from placewise.api.contract import MAX_PLANNED_BUCKETS, MAX_TIMESERIES_BUCKETS, Endpoint
from placewise.api.customer import CustomerSelector
from placewise.api.variants import ApiVariants
from placewise.extract.plan import (
    DEFAULT_REPORT_AGGREGATIONS,
    TENANTS_SENDINGS_STATS_AGGREGATIONS,
    SliceSpec,
    plan_club,
    plan_tenants,
    total_cost,
)
from placewise.extract.windows import Window, bucket_count

FIRST, LAST = date(2026, 11, 20), date(2026, 11, 22)
#: An API that refuses several customers on the query endpoint (the tenants export then).
REFUSED = ApiVariants(cross_customer_query="refused")
STATS_AGGS = DEFAULT_REPORT_AGGREGATIONS["sendings_stats"]
TIMESERIES = {
    r: DEFAULT_REPORT_AGGREGATIONS[r]
    for r in (
        "sendings_events_history",
        "links_visits_history",
        "member_balance",
        "members_count_history",
        "members_count_snapshot",
    )
}
RECORDS = ("sendings", "sendings_links_stats", "members_grouped_count")


def equal(field, value):
    return {"type": "equal", "field": field, "value": value}


def and_(*operations):
    return {"type": "and", "operations": list(operations)}


def or_(*operations):
    return {"type": "or", "operations": list(operations)}


def day(d: date) -> Window:
    return Window.days(d, d)


def stats_spec(aggregation=None, window=None, endpoint=Endpoint.EXPORT, filter=None, club=1001):
    return SliceSpec(
        "sendings_stats",
        CustomerSelector.club(club),
        aggregation,
        window or day(date(2026, 11, 27)),
        None,
        endpoint,
        filter,
    )


# -- plan_club ------------------------------------------------------------------------------------


def test_plan_club_statistics_get_one_slice_per_day_and_aggregation():
    slices = [
        s for s in plan_club(1001, FIRST, LAST, use_export=True) if s.report == "sendings_stats"
    ]
    assert len(slices) == 3 * len(STATS_AGGS) == 15
    assert {(s.window, s.aggregation) for s in slices} == {
        (day(d), agg) for d in (FIRST, FIRST + timedelta(1), LAST) for agg in STATS_AGGS
    }
    assert all(s.interval is None and s.partition_interval == "statistics" for s in slices)
    assert all(s.endpoint is Endpoint.EXPORT and s.scope == "club:1001" for s in slices)


def test_plan_club_statistics_are_newest_day_first_with_all_five_aggregations_per_day():
    slices = [s for s in plan_club(1001, FIRST, LAST) if s.report == "sendings_stats"]
    days = [s.window.start.date() for s in slices]
    assert days == [LAST] * 5 + [FIRST + timedelta(1)] * 5 + [FIRST] * 5
    assert [s.aggregation for s in slices[:5]] == list(STATS_AGGS)


def test_plan_club_orders_snapshots_first_then_windows_by_end_descending():
    slices = plan_club(1001, FIRST, LAST)
    assert [s.report for s in slices[: len(RECORDS)]] == list(RECORDS)
    ends = [s.window.end for s in slices if s.window is not None]
    assert ends == sorted(ends, reverse=True)


def test_plan_club_export_timeseries_are_one_window_per_aggregation():
    slices = [
        s for s in plan_club(1001, FIRST, LAST, use_export=True) if s.result_type == "timeseries"
    ]
    expected = {(r, a) for r, aggs in TIMESERIES.items() for a in aggs}
    assert {(s.report, s.aggregation) for s in slices} == expected
    assert len(slices) == len(expected)
    whole = Window(datetime(2026, 11, 20), datetime(2026, 11, 23))
    assert all(s.window == whole and s.interval == "1d" for s in slices)
    assert all(s.endpoint is Endpoint.EXPORT for s in slices)


def test_plan_club_query_timeseries_are_split_in_pieces_of_at_most_149_buckets():
    # an answer may also carry the bucket at `to` (window_end=bucket_at_to), which the API
    # counts toward its 150: a planned piece spans one bucket fewer
    assert MAX_PLANNED_BUCKETS == MAX_TIMESERIES_BUCKETS - 1 == 149
    first, last = date(2026, 1, 1), date(2026, 7, 19)  # 200 days
    slices = plan_club(
        1001,
        first,
        last,
        reports=["member_balance"],
        aggregations={"member_balance": (None,)},
        use_export=True,
    )
    assert len(slices) == 1 and slices[0].window == Window.days(first, last)

    pieces = plan_club(
        1001,
        first,
        last,
        reports=["member_balance"],
        aggregations={"member_balance": (None,)},
        use_export=False,
    )
    assert [bucket_count(s.window, "1d") for s in pieces] == [51, MAX_PLANNED_BUCKETS]
    assert all(s.endpoint is Endpoint.QUERY for s in pieces)
    newest, oldest = pieces
    assert oldest.window.start == datetime(2026, 1, 1)
    assert oldest.window.end == newest.window.start
    assert newest.window.end == datetime(2026, 7, 20)


def test_plan_club_query_window_under_the_bucket_limit_stays_whole():
    slices = plan_club(1001, FIRST, LAST, reports=["links_visits_history"], use_export=False)
    assert [s.window for s in slices] == [Window.days(FIRST, LAST)] * 2


def test_plan_club_records_get_one_snapshot_per_report():
    slices = [s for s in plan_club(1001, FIRST, LAST) if s.result_type == "records"]
    assert [s.report for s in slices] == list(RECORDS)
    for s in slices:
        assert s.window is None and s.aggregation is None
        assert s.partition_interval == "snapshot"
        assert s.slice_key == f"{s.report}|club:1001|none|snapshot|-"
        assert "from" not in s.body() and "to" not in s.body()


def test_plan_club_limits_itself_to_the_requested_reports():
    slices = plan_club(1002, FIRST, FIRST, reports=["sendings_stats", "sendings"])
    assert {s.report for s in slices} == {"sendings_stats", "sendings"}
    assert len(slices) == len(STATS_AGGS) + 1
    assert plan_club(1002, FIRST, LAST, reports=[]) == []


def test_plan_club_report_outside_the_defaults_is_planned_without_aggregation():
    slices = plan_club(1001, FIRST, FIRST, reports=["members", "sendings_recipients_statistics"])
    assert [(s.report, s.aggregation) for s in slices] == [
        ("members", None),
        ("sendings_recipients_statistics", None),
    ]


def test_plan_club_follows_a_registry_club_report_subset():
    from placewise.config import PipelineSettings
    from placewise.registry import Club
    from placewise.service import plan_for_club

    settings = PipelineSettings.from_env({})
    club = Club(1004, "Small", reports=("sendings_stats", "sendings"))
    slices = plan_for_club(club, FIRST, FIRST, settings)
    assert {s.report for s in slices} == {"sendings_stats", "sendings"}
    only = plan_for_club(club, FIRST, FIRST, settings, reports=["sendings", "member_balance"])
    assert [s.report for s in only] == ["sendings"]


def test_plan_club_rejects_unknown_reports_and_reversed_days():
    with pytest.raises(UnknownReportError, match="unknown report 'nope'"):
        plan_club(1001, FIRST, LAST, reports=["nope"])
    with pytest.raises(ValueError, match="before first day"):
        plan_club(1001, LAST, FIRST)


# -- plan_tenants ---------------------------------------------------------------------------------


def test_plan_tenants_uses_the_tenants_export_with_an_organization_scope():
    slices = plan_tenants([1003, 1001, 1002, 1001], FIRST, LAST, variants=REFUSED)
    assert len(slices) == 3 * len(TENANTS_SENDINGS_STATS_AGGREGATIONS)
    for s in slices:
        assert s.report == "sendings_stats"
        assert s.endpoint is Endpoint.TENANTS_EXPORT
        assert s.customer.is_multi
        assert s.customer.header_value == "id=1001_1002_1003"
        assert s.scope == "clubs:1001_1002_1003"
        assert s.description.startswith(f"sendings_stats agg={s.aggregation_name} clubs ")
    from placewise.api.contract import bucket_key

    assert bucket_key(slices[0].customer, "acme") == "Organization:acme:Reporting"


def test_plan_tenants_carries_the_total_aggregations_per_day_newest_first():
    slices = plan_tenants([1001, 1002], FIRST, LAST)
    assert {s.aggregation for s in slices} == {
        None,
        "total_service_type",
        "total_campaign_id",
        "total_channel",
        "total_reporting_id",
    }
    assert [s.window.start.date() for s in slices] == [LAST] * 5 + [LAST - timedelta(1)] * 5 + [
        FIRST
    ] * 5
    assert all(s.aggregation is None or s.aggregation.startswith("total_") for s in slices)


# -- SliceSpec ------------------------------------------------------------------------------------


def test_slice_key_names_report_scope_aggregation_interval_and_window():
    assert stats_spec("channel").slice_key == (
        "sendings_stats|club:1001|channel|statistics|2026-11-27T00:00:00|2026-11-28T00:00:00"
    )
    ts = SliceSpec(
        "member_balance", CustomerSelector.club(1002), None, Window.days(FIRST, LAST), "1d"
    )
    assert ts.slice_key == (
        "member_balance|club:1002|none|1d|2026-11-20T00:00:00|2026-11-23T00:00:00"
    )


def test_slice_key_is_the_same_for_export_and_query_of_the_same_slice():
    export = stats_spec("channel")
    assert export.with_endpoint(Endpoint.QUERY).slice_key == export.slice_key
    assert stats_spec("channel", club=1002).slice_key != export.slice_key
    assert stats_spec("campaign_id").slice_key != export.slice_key


def test_body_of_a_statistics_slice_has_a_local_window_and_no_interval():
    assert stats_spec("reporting_id").body() == {
        "report": "sendings_stats",
        "filter": None,
        "aggregate_by": "reporting_id",
        "from": "2026-11-27T00:00:00.000",
        "to": "2026-11-28T00:00:00.000",
    }


def test_body_of_a_timeseries_slice_has_its_interval_and_paging_keys_only_when_asked():
    spec = SliceSpec(
        "links_visits_history",
        CustomerSelector.club(1001),
        "source_type",
        day(FIRST),
        "1d",
        Endpoint.QUERY,
    )
    assert spec.body()["interval"] == "1d"
    assert "page_info" not in spec.body() and "limit" not in spec.body()
    records = SliceSpec("sendings", CustomerSelector.club(1001), None, None, None, Endpoint.QUERY)
    assert records.body(page_info="abc", limit=1000) == {
        "report": "sendings",
        "filter": None,
        "aggregate_by": None,
        "page_info": "abc",
        "limit": 1000,
    }


def test_body_includes_the_filter():
    flt = and_(equal("channel", "sms"), equal("service_type", "campaign"))
    assert stats_spec(filter=flt).body()["filter"] == flt


def test_description_names_report_aggregation_club_and_window():
    assert stats_spec("channel").description == (
        "sendings_stats agg=channel club 1001 window 2026-11-27"
    )
    ts = SliceSpec(
        "member_balance", CustomerSelector.club(1001), None, Window.days(FIRST, LAST), "1d"
    )
    assert ts.description == "member_balance agg=none club 1001 window 2026-11-20..2026-11-22"
    snap = SliceSpec("sendings", CustomerSelector.club(1001), None, None)
    assert snap.description == "sendings agg=none club 1001 snapshot"
    tenants = plan_tenants([1001, 1002], FIRST, FIRST)[0]
    assert tenants.description == "sendings_stats agg=none clubs clubs:1001_1002 window 2026-11-20"


def test_token_cost_of_query_is_the_report_cost_and_export_five_times_it():
    assert stats_spec(endpoint=Endpoint.QUERY).token_cost() == 2
    assert stats_spec().token_cost() == 2 * 5
    assert stats_spec(endpoint=Endpoint.TENANTS_EXPORT).token_cost() == 2 * 5
    ts = SliceSpec("sendings_events_history", CustomerSelector.club(1001), None, day(FIRST), "1d")
    assert ts.token_cost() == 3 * 5


def test_token_cost_adds_one_per_and_and_three_per_or_node_before_the_export_factor():
    flt = and_(equal("channel", "sms"), or_(equal("channel", "email"), equal("id", 1)))
    assert stats_spec(endpoint=Endpoint.QUERY, filter=flt).token_cost() == 2 + 1 + 3
    assert stats_spec(filter=flt).token_cost() == (2 + 1 + 3) * 5


def test_with_window_and_with_endpoint_keep_everything_else():
    flt = equal("channel", "sms")
    spec = stats_spec("channel", filter=flt)
    moved = spec.with_window(day(FIRST)).with_endpoint(Endpoint.QUERY)
    assert (moved.report, moved.customer, moved.aggregation, moved.filter) == (
        "sendings_stats",
        spec.customer,
        "channel",
        flt,
    )
    assert moved.window == day(FIRST) and moved.endpoint is Endpoint.QUERY


# -- total_cost -----------------------------------------------------------------------------------


def test_total_cost_sums_every_slice():
    slices = plan_club(1001, FIRST, LAST, use_export=True)
    assert total_cost(slices) == sum(s.token_cost() for s in slices)
    # 15 stats x 2 + 9 timeseries x 3 + records 2 + 2 + 2, all x5 for the export
    assert total_cost(slices) == (15 * 2 + 9 * 3 + 2 + 2 + 2) * 5
    assert total_cost([]) == 0


def test_total_cost_of_a_query_plan_is_a_fifth_of_the_export_plan():
    export = plan_club(1001, FIRST, LAST, use_export=True)
    query = plan_club(1001, FIRST, LAST)
    assert {s.endpoint for s in query} == {Endpoint.QUERY}  # the documented endpoint by default
    assert total_cost(export) == 5 * total_cost(query)
    tenants = plan_tenants([1001, 1002], FIRST, LAST, variants=REFUSED)
    assert total_cost(tenants) == 15 * 2 * 5
    # the documented query endpoint serves several customers at the report's own cost
    assert total_cost(plan_tenants([1001, 1002], FIRST, LAST)) == 15 * 2
