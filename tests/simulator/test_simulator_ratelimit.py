"""Token buckets: costs, headers, refusals."""

from __future__ import annotations

from placewise_simulator.ratelimit import RateLimiter
from sim_helpers import EXPORT, QUERY, TENANTS, make_api

STATS = {"report": "sendings_stats", "from": "2026-11-20T00:00:00", "to": "2026-11-21T00:00:00"}
AND_OR = {
    "type": "and",
    "operations": [
        {
            "type": "or",
            "operations": [
                {"type": "equal", "field": "channel", "value": "sms"},
                {"type": "equal", "field": "channel", "value": "email"},
            ],
        },
        {"type": "not_equal", "field": "event_type", "value": "new"},
    ],
}


def _cost(response):
    return int(response.headers["ratelimit-cost"])


def test_every_api_response_carries_the_rate_limit_headers():
    api = make_api(rate_capacity=60, rate_refill=0.001)
    response = api.post(QUERY, STATS)
    assert response.headers["ratelimit-bucket"] == "Customer:1001:Reporting"
    assert _cost(response) == 2
    assert int(response.headers["ratelimit-remaining"]) == 58
    error = api.post(QUERY, {"report": "nope"})
    assert error.status_code == 422
    assert error.headers["ratelimit-bucket"] == "Customer:1001:Reporting"
    assert _cost(error) == 0
    unauthorized = api.post(QUERY, STATS, headers={"X-Client-Authorization": "wrong"})
    assert unauthorized.status_code == 401
    assert unauthorized.headers["ratelimit-bucket"] == "Customer:1001:Reporting"
    assert _cost(unauthorized) == 0
    assert "ratelimit-remaining" in unauthorized.headers


def test_costs_follow_report_filter_nodes_and_export_factor():
    api = make_api()
    assert _cost(api.post(QUERY, STATS)) == 2
    assert _cost(api.post(QUERY, dict(STATS, filter=AND_OR))) == 2 + 1 + 3
    assert _cost(api.post(EXPORT, dict(STATS, filter=AND_OR))) == (2 + 1 + 3) * 5
    assert _cost(api.post(QUERY, {"report": "members"})) == 10
    assert _cost(api.post("/v1/reporting/metadata", {"report": "members"})) == 1
    assert (
        _cost(api.post("/v1/reporting/field_metadata", {"report": "members", "field": "gender"}))
        == 1
    )
    tenants = api.post(TENANTS, STATS, "all=all")
    assert tenants.headers["ratelimit-bucket"] == "Organization:placewise-dev:Reporting"
    assert _cost(tenants) == 10


def test_empty_bucket_gives_429_with_retry_after_and_refusals_cost_nothing():
    api = make_api(rate_capacity=10, rate_refill=0.01)
    statuses = [api.post(QUERY, STATS).status_code for _ in range(5)]
    assert statuses == [200] * 5
    refused = api.post(QUERY, STATS)
    assert refused.status_code == 429
    assert refused.json()["error"]
    assert int(refused.headers["retry-after"]) >= 1
    assert int(refused.headers["ratelimit-remaining"]) >= 0
    assert _cost(refused) == 0
    again = api.post(QUERY, STATS)
    assert again.status_code == 429
    assert again.headers["ratelimit-remaining"] == refused.headers["ratelimit-remaining"]
    other_club = api.post(QUERY, STATS, "id=1002")
    assert other_club.status_code == 200
    stats = api.client.get("/_simulator/stats").json()
    assert stats["tokens_spent"]["Customer:1001:Reporting"] == 10


def test_request_dearer_than_the_capacity_runs_on_a_full_bucket_and_goes_negative():
    api = make_api(rate_capacity=20, rate_refill=0.01)
    response = api.post(EXPORT, {"report": "members"})
    assert response.status_code == 200
    assert int(response.headers["ratelimit-remaining"]) == -30
    assert api.post(QUERY, STATS).status_code == 429


def test_retry_after_is_the_time_until_enough_tokens():
    clock = [0.0]
    limiter = RateLimiter(10, 2, clock=lambda: clock[0])
    assert limiter.charge("b", 10).allowed
    refused = limiter.charge("b", 3)
    assert not refused.allowed and refused.retry_after == 2
    clock[0] = 1.0
    assert not limiter.charge("b", 3).allowed
    clock[0] = 1.5
    decision = limiter.charge("b", 3)
    assert decision.allowed and decision.remaining == 0
