"""Headers, authentication, customer selection, routing and error bodies."""

from __future__ import annotations

import pytest
from placewise_simulator import TokenGrant
from sim_helpers import BASE_HEADERS, EXPORT, QUERY, TENANTS, make_api

STATS = {"report": "sendings_stats", "from": "2026-11-20T00:00:00", "to": "2026-11-21T00:00:00"}


@pytest.mark.parametrize("header", ["X-User-Agent", "X-Product-Name"])
def test_missing_required_header_is_470_with_error_body(api, header):
    headers = dict(BASE_HEADERS, **{"X-Customer": "id=1001"})
    del headers[header]
    response = api.client.post(QUERY, json=STATS, headers=headers)
    assert response.status_code == 470
    assert header in response.json()["error"]


@pytest.mark.parametrize("header", ["X-User-Agent", "X-Product-Name"])
def test_blank_required_header_is_471(api, header):
    response = api.post(QUERY, STATS, headers={header: "  "})
    assert response.status_code == 471
    assert "error" in response.json()


def test_missing_x_customer_is_470(api):
    response = api.client.post(QUERY, json=STATS, headers=BASE_HEADERS)
    assert response.status_code == 470


@pytest.mark.parametrize("customer", ["id=abc", "planet=Mars", "chain", "id=1001_"])
def test_malformed_x_customer_is_471(api, customer):
    assert api.post(QUERY, STATS, customer).status_code == 471


def test_more_than_40_customer_ids_is_471():
    api = make_api(clubs=45)
    ids = "_".join(str(1001 + i) for i in range(41))
    assert api.post(TENANTS, STATS, f"id={ids}").status_code == 471
    ids40 = "_".join(str(1001 + i) for i in range(40))
    assert api.post(TENANTS, STATS, f"id={ids40}").status_code == 200


def test_bad_token_is_401(api):
    response = api.post(QUERY, STATS, headers={"X-Client-Authorization": "nope"})
    assert response.status_code == 401
    assert response.json()["error"]


def test_unknown_club_is_403(api):
    assert api.post(QUERY, STATS, "id=999").status_code == 403
    assert api.post(TENANTS, STATS, "id=1001_5000").status_code == 403


def test_token_without_report_permit_or_club_gets_403():
    api = make_api(extra_tokens={"narrow": TokenGrant(frozenset({1001}), frozenset({"sendings"}))})
    narrow = {"X-Client-Authorization": "narrow"}
    assert api.post(QUERY, STATS, headers=narrow).status_code == 403
    assert api.post(QUERY, {"report": "sendings"}, headers=narrow).status_code == 200
    assert api.post(QUERY, {"report": "sendings"}, "id=1002", headers=narrow).status_code == 403
    listed = api.post(TENANTS, {"report": "sendings"}, "all=all", headers=narrow).json()
    assert {r["loyalty_club_id"] for r in listed["records"]} == {1001}


def test_invalid_json_is_400_with_empty_body(api):
    headers = dict(BASE_HEADERS, **{"X-Customer": "id=1001", "Content-Type": "application/json"})
    response = api.client.post(QUERY, content=b"{not json", headers=headers)
    assert response.status_code == 400
    assert response.content == b""


@pytest.mark.parametrize(
    "body",
    [
        {"report": "no_such_report"},
        dict(STATS, aggregate_by="no_such_aggregation"),
        dict(STATS, filter={"type": "equal", "field": "nope", "value": 1}),
        dict(STATS, filter={"type": "equal", "field": "loyalty_club_id", "value": 1001}),
        {"report": "sendings", "filter": {"type": "equal", "field": "delivered_count", "value": 1}},
        dict(STATS, filter={"type": "xor", "operations": []}),
        dict(STATS, filter={"type": "in", "field": "channel", "value": "sms"}),
        dict(STATS, filter={"type": "greater_than", "field": "channel", "value": "sms"}),
        dict(STATS, filter={"type": "equal", "field": "channel", "value": "fax"}),
        {"report": "sendings", "limit": 1001},
        {"report": "sendings", "limit": 0},
        {"report": "sendings", "page_info": "!!!"},
        {"report": "sendings_stats", "from": "2026-11-20T00:00:00"},
        {"report": "sendings_stats", "from": "yesterday", "to": "2026-11-21T00:00:00"},
        {"report": "sendings_stats", "from": "2026-11-21T00:00:00", "to": "2026-11-20T00:00:00"},
        ["not", "an", "object"],
    ],
)
def test_invalid_query_is_422_with_error_body(api, body):
    response = api.post(QUERY, body)
    assert response.status_code == 422, response.text
    assert isinstance(response.json()["error"], str)


def test_query_endpoint_refuses_several_customers():
    api = make_api(variants={"cross_customer_query": "refused"})
    response = api.post(QUERY, STATS, "id=1001_1002")
    assert response.status_code == 422
    assert "tenants" in response.json()["error"]


def test_unknown_v1_path_is_404_and_wrong_method_is_405(api):
    response = api.post("/v1/reporting/nothing", STATS)
    assert response.status_code == 404
    assert response.json()["error"]
    response = api.client.get(QUERY, headers=BASE_HEADERS)
    assert response.status_code == 405
    assert response.json()["error"]
    assert response.headers["ratelimit-cost"] == "0"


@pytest.mark.parametrize(
    "customer", ["id=1001_1002", "1001_1002", "all=all", "chain=Cats", "country=NO;chain=Cats"]
)
def test_x_customer_forms_select_the_expected_clubs(customer):
    api = make_api(clubs=12)
    clubs = {c["id"]: c for c in api.client.get("/_simulator/clubs").json()}
    result = api.tenants({"report": "members_grouped_count"}, customer)
    seen = {r["community_id"] for r in result["records"]}
    if customer.startswith(("id=", "1001")):
        expected = {1001, 1002}
    elif customer == "all=all":
        expected = set(clubs)
    else:
        wanted = dict(part.split("=") for part in customer.split(";"))
        expected = {i for i, c in clubs.items() if all(c[k] == v for k, v in wanted.items())}
    assert seen == expected and expected


def test_metadata_describes_the_report(api):
    meta = api.ok("/v1/reporting/metadata", {"report": "sendings_stats"})
    assert meta["result_type"] == "statistics"
    assert meta["token_cost"] == 2
    fields = {f["name"]: f for f in meta["fields"]}
    assert fields["event_type"]["enum_values"] == [
        "new",
        "transmitted",
        "transiently_failed",
        "delivered",
        "opened",
        "opened_event",
        "failed",
        "delivery_errored",
    ]
    assert fields["channel"]["enum_values"] == ["sms", "email", "push"]
    assert fields["loyalty_club_id"]["filterable"] is False
    assert set(meta["aggregations"]) == {
        "service_type",
        "campaign_id",
        "channel",
        "reporting_id",
        "total_service_type",
        "total_campaign_id",
        "total_channel",
        "total_reporting_id",
    }
    recipients = api.ok("/v1/reporting/metadata", {"report": "sendings_recipients_statistics"})
    assert recipients["intervals"] == ["1h", "1d", "1w", "1mo"]


def test_field_metadata_lists_values_seen_in_the_window(api):
    body = {
        "report": "sendings_stats",
        "field": "service_type",
        "from": "2026-10-01T00:00:00",
        "to": "2026-11-28T00:00:00",
    }
    values = api.ok("/v1/reporting/field_metadata", body)["values"]
    assert set(values) <= {
        "campaign",
        "automation",
        "transactional",
        "rewards_notifications",
        "system",
    }
    assert len(values) >= 3
    response = api.post("/v1/reporting/field_metadata", dict(body, field="nope"))
    assert response.status_code == 422


def test_records_carry_their_club_field_in_tenants_exports(api):
    result = api.tenants({"report": "sendings"}, "id=1001_1003")
    assert {r["loyalty_club_id"] for r in result["records"]} == {1001, 1003}
    members = api.tenants({"report": "members"}, "id=1002")
    assert {r["community_id"] for r in members["records"]} == {1002}


def test_members_grouped_count_aggregation_sums_across_clubs(api):
    per_club = api.tenants({"report": "members_grouped_count"})["records"]
    summed: dict = {}
    for r in per_club:
        key = (r["grouping_type"], r["grouping_value"])
        summed[key] = summed.get(key, 0) + r["members_count"]
    total = api.tenants(
        {"report": "members_grouped_count", "aggregate_by": "by_grouping_type_and_value"}
    )["records"]
    assert {(r["grouping_type"], r["grouping_value"]): r["members_count"] for r in total} == summed
    assert all(set(r) == {"grouping_type", "grouping_value", "members_count"} for r in total)


def test_admin_endpoints_need_no_headers_and_count_requests(api):
    api.query(STATS)
    api.post(QUERY, {"report": "nope"})
    api.ok(EXPORT, STATS)
    stats = api.client.get("/_simulator/stats").json()
    rows = {(r["endpoint"], r["report"], r["status"]): r["count"] for r in stats["requests"]}
    assert rows[("query", "sendings_stats", "200")] == 1
    assert rows[("query", "nope", "422")] == 1
    assert rows[("query_export", "sendings_stats", "200")] == 1
    assert stats["tokens_spent"] == {"Customer:1001:Reporting": 2 + 10}
    assert api.client.post("/_simulator/stats/reset").status_code == 200
    assert api.client.get("/_simulator/stats").json()["requests_total"] == 0
    assert api.client.get("/_simulator/stats/reset").status_code == 405


def test_date_header_follows_the_simulator_clock_not_the_host():
    from datetime import UTC, datetime

    from placewise_simulator import SimulatorConfig, create_app
    from starlette.testclient import TestClient

    client = TestClient(create_app(SimulatorConfig(now=datetime(2026, 3, 1, 12, 0, tzinfo=UTC))))
    response = client.get("/_simulator/clubs")
    assert response.headers["date"] == "Sun, 01 Mar 2026 12:00:00 GMT"
