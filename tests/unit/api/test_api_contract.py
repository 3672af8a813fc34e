from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from placewise.api import contract
from placewise.api.catalog import get_report
from placewise.api.contract import Endpoint, bucket_key, build_query_body, call_cost
from placewise.api.customer import CustomerSelector
from placewise.api.settings import ApiSettings

EQUAL_A = {"type": "equal", "field": "a", "value": 1}
AND_A = {"type": "and", "operations": [EQUAL_A]}
AND_A_OR_B = {
    "type": "and",
    "operations": [
        EQUAL_A,
        {"type": "or", "operations": [{"type": "equal", "field": "b", "value": 1}]},
    ],
}


def test_endpoint_paths():
    assert contract.API_PREFIX == "/v1/reporting"
    assert Endpoint.QUERY == "/v1/reporting/query"
    assert Endpoint.EXPORT == "/v1/reporting/query/export"
    assert Endpoint.TENANTS_EXPORT == "/v1/reporting/tenants/query/export"
    assert Endpoint.METADATA == "/v1/reporting/metadata"
    assert Endpoint.FIELD_METADATA == "/v1/reporting/field_metadata"


def test_body_keys_in_order_and_optional_keys_omitted():
    body = build_query_body("sendings_stats", aggregate_by="channel", from_="a", to="b")
    assert list(body) == ["report", "filter", "aggregate_by", "from", "to"]
    assert body["filter"] is None
    full = build_query_body(
        "sendings",
        filter={"type": "equal", "field": "channel", "value": "sms"},
        interval="1d",
        from_="a",
        to="b",
        page_info="CUR",
        limit=500,
    )
    assert list(full) == [
        "report",
        "filter",
        "aggregate_by",
        "interval",
        "from",
        "to",
        "page_info",
        "limit",
    ]
    assert full["aggregate_by"] is None


def test_naive_datetime_is_wall_clock_without_offset():
    body = build_query_body("x", from_=datetime(2026, 11, 27), to=date(2026, 11, 28))
    assert body["from"] == "2026-11-27T00:00:00.000"
    assert body["to"] == "2026-11-28T00:00:00.000"


def test_aware_datetime_keeps_its_offset_in_milliseconds():
    cet = timezone(timedelta(hours=1))
    body = build_query_body(
        "x",
        from_=datetime(2026, 11, 27, 0, 0, 0, 123456, tzinfo=cet),
        to=datetime(2026, 11, 28, tzinfo=UTC),
    )
    assert body["from"] == "2026-11-27T00:00:00.123+01:00"
    assert body["to"] == "2026-11-28T00:00:00.000+00:00"


def test_string_times_pass_through():
    assert build_query_body("x", from_="2026-11-27T00:00:00Z")["from"] == "2026-11-27T00:00:00Z"


def test_bad_interval_and_limit_are_rejected():
    with pytest.raises(ValueError, match="interval"):
        build_query_body("x", interval="2d")
    with pytest.raises(ValueError, match="1000"):
        build_query_body("x", limit=1001)


def test_call_cost():
    stats = get_report("sendings_stats")
    members = get_report("members")
    assert call_cost(Endpoint.QUERY, stats, None) == 2
    assert call_cost(Endpoint.QUERY, stats, AND_A_OR_B) == 6
    assert call_cost(Endpoint.EXPORT, stats, None) == 10
    assert call_cost(Endpoint.TENANTS_EXPORT, members, AND_A) == 55
    assert call_cost(Endpoint.METADATA, None, None) == 1
    assert call_cost(Endpoint.FIELD_METADATA, None, None) == 1


def test_bucket_key_by_customer_form():
    assert bucket_key(CustomerSelector.club(1001), "acme") == "Customer:1001:Reporting"
    assert bucket_key(CustomerSelector.clubs([1001]), "acme") == "Customer:1001:Reporting"
    assert bucket_key(CustomerSelector.clubs([1, 2]), "acme") == "Organization:acme:Reporting"
    assert bucket_key(CustomerSelector.all(), "acme") == "Organization:acme:Reporting"
    assert (
        bucket_key(CustomerSelector.attributes(chain="Cats"), "acme")
        == "Organization:acme:Reporting"
    )


def test_request_headers():
    settings = ApiSettings("https://x.test", "tok", user_agent="ua", product_name="pn")
    headers = contract.request_headers(settings, CustomerSelector.clubs([2, 1]))
    assert headers == {
        "X-Client-Authorization": "tok",
        "X-User-Agent": "ua",
        "X-Product-Name": "pn",
        "X-Customer": "id=1_2",
        "Content-Type": "application/json",
        "Accept": "application/json",
    }


def test_limits_and_retention():
    assert contract.DEFAULT_PAGE_LIMIT == 100
    assert contract.MAX_PAGE_LIMIT == 1000
    assert contract.MAX_TIMESERIES_BUCKETS == 150
    assert contract.MAX_QUERY_DATA_POINTS == 1000
    assert contract.RETENTION["5m"] == timedelta(days=14)
    assert contract.RETENTION["1h"] == timedelta(days=183)
    assert contract.RETENTION["1d"] == timedelta(days=730)
    assert contract.RETENTION["1w"] is None
    assert contract.RETENTION["1mo"] is None
