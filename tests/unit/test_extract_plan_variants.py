"""Planning under the open readings of the docs (``ApiVariants``) and on the query endpoint."""

from datetime import date, datetime, timedelta

from placewise.api.catalog import get_report
from placewise.api.contract import Endpoint, bucket_key, build_query_body
from placewise.api.variants import ApiVariants
from placewise.extract.plan import (
    DEFAULT_REPORT_AGGREGATIONS,
    plan_club,
    plan_tenants,
    tenants_endpoint,
    tenants_unavailable_reason,
    timezone_groups,
    total_cost,
)

FIRST = date(2026, 11, 20)
LAST = FIRST + timedelta(days=7)  # eight local days


def cost(report: str) -> int:
    return get_report(report).token_cost


#: The reports and aggregations the nightly loaded before members_count_snapshot and the
#: consents / grouping_type breakdowns joined the default plan.
PREVIOUS_PLAN = {
    "sendings_stats": (None, "service_type", "campaign_id", "channel", "reporting_id"),
    "sendings_events_history": (None, "channel"),
    "links_visits_history": (None, "source_type"),
    "member_balance": (None,),
    "members_count_history": (None,),
    "sendings": (None,),
    "sendings_links_stats": (None,),
    "members_grouped_count": (None,),
}


def test_query_plan_of_one_club_for_eight_days_costs_104_tokens_with_the_previous_reports():
    by_hand = (
        5 * 8 * cost("sendings_stats")  # statistics: one request per aggregation and day
        + 2 * cost("sendings_events_history")  # timeseries: one request per aggregation
        + 2 * cost("links_visits_history")
        + cost("member_balance")
        + cost("members_count_history")
        + cost("sendings")  # records: one page each
        + cost("sendings_links_stats")
        + cost("members_grouped_count")
    )
    assert by_hand == 104
    plan = plan_club(1001, FIRST, LAST, aggregations=PREVIOUS_PLAN, use_export=False)
    assert total_cost(plan) == 104
    assert {s.endpoint for s in plan} == {Endpoint.QUERY}


def test_default_query_plan_adds_the_snapshot_and_the_two_breakdowns_at_their_own_cost():
    by_hand = (
        104
        + cost("members_count_snapshot")
        + cost("member_balance")  # aggregate_by consents
        + cost("members_count_history")  # aggregate_by grouping_type
    )
    assert by_hand == 113
    assert total_cost(plan_club(1001, FIRST, LAST, use_export=False)) == by_hand
    assert DEFAULT_REPORT_AGGREGATIONS["members_count_snapshot"] == (None,)


def test_bucketed_statistics_are_asked_for_one_day_buckets():
    plain = plan_club(1001, FIRST, FIRST, reports=["sendings_stats"], use_export=False)
    assert all("interval" not in s.body() for s in plain)
    bucketed = plan_club(
        1001,
        FIRST,
        FIRST,
        reports=["sendings_stats"],
        use_export=False,
        variants=ApiVariants(statistics_shape="buckets"),
    )
    assert {s.body()["interval"] for s in bucketed} == {"1d"}
    assert {s.partition_interval for s in bucketed} == {"statistics"}


# -- cross-club totals ------------------------------------------------------------------------


def test_cross_club_totals_use_the_documented_query_endpoint_at_the_report_cost():
    slices = plan_tenants([1001, 1002], FIRST, FIRST)
    assert {s.endpoint for s in slices} == {Endpoint.QUERY}
    assert all(s.customer.header_value == "id=1001_1002" for s in slices)
    assert bucket_key(slices[0].customer, "acme") == "Organization:acme:Reporting"
    assert total_cost(slices) == 5 * cost("sendings_stats")


def test_cross_club_totals_fall_back_to_the_tenants_export_only_when_refused_on_query():
    refused = ApiVariants(cross_customer_query="refused")
    assert tenants_endpoint(refused) is Endpoint.TENANTS_EXPORT
    assert {s.endpoint for s in plan_tenants([1001, 1002], FIRST, FIRST, variants=refused)} == {
        Endpoint.TENANTS_EXPORT
    }
    assert tenants_unavailable_reason(refused) is None


def test_cross_club_totals_are_not_planned_without_query_or_export_and_say_why():
    neither = ApiVariants(cross_customer_query="refused", exports="absent")
    assert plan_tenants([1001, 1002], FIRST, LAST, variants=neither) == []
    reason = tenants_unavailable_reason(neither)
    assert reason is not None
    assert "cross_customer_query=refused" in reason and "exports=absent" in reason
    assert "not checked" in reason


def test_clubs_are_grouped_by_timezone_and_windows_sent_with_the_zone_offset():
    zones = {1001: "Europe/Oslo", 1002: "America/New_York", 1003: "Europe/Oslo"}
    assert timezone_groups([1003, 1002, 1001], zones) == [
        ((1001, 1003), "Europe/Oslo"),
        ((1002,), "America/New_York"),
    ]
    slices = plan_tenants([1001, 1002, 1003], FIRST, FIRST, aggregations=(None,), timezones=zones)
    bodies = {s.scope: s.body() for s in slices}
    assert bodies["clubs:1001_1003"]["from"] == "2026-11-20T00:00:00.000+01:00"
    assert bodies["clubs:1001_1003"]["to"] == "2026-11-21T00:00:00.000+01:00"
    assert bodies["clubs:1002"]["from"] == "2026-11-20T00:00:00.000-05:00"
    # the slice still owns the club-local day
    assert {s.window.start for s in slices} == {datetime(2026, 11, 20)}


def test_clubs_of_unknown_zone_share_a_wall_clock_request_unless_the_api_reads_it_as_utc():
    zones = {1001: "Europe/Oslo"}
    assert timezone_groups([1001, 1002, 1003], zones) == [
        ((1001,), "Europe/Oslo"),
        ((1002, 1003), None),
    ]
    utc = ApiVariants(multi_tz_window="utc")
    assert timezone_groups([1001, 1002, 1003], zones, utc) == [
        ((1001,), "Europe/Oslo"),
        ((1002,), None),
        ((1003,), None),
    ]
    wall = plan_tenants([1002, 1003], FIRST, FIRST, aggregations=(None,))
    assert wall[0].body()["from"] == "2026-11-20T00:00:00.000"


# -- records cursor -----------------------------------------------------------------------------


def test_the_records_cursor_goes_back_under_the_configured_key():
    assert build_query_body("sendings", page_info="abc")["page_info"] == "abc"
    body = build_query_body("sendings", page_info="abc", cursor_key="next_page_info")
    assert body["next_page_info"] == "abc" and "page_info" not in body
    assert build_query_body("sendings", page_info="abc", cursor_key="cursor")["cursor"] == "abc"
