"""The doctor's session: a request is sent only when its price fits what is left."""

import httpx
import pytest
from placewise.api.contract import Endpoint
from placewise.api.customer import CustomerSelector
from placewise.api.settings import ApiSettings
from placewise.doctor.findings import Finding, Verdict, render_table
from placewise.doctor.session import OverBudgetError, ProbeSession

TOKEN = "secret-token-77"
CLUB = CustomerSelector.club(1001)


def session(handler, budget=10):
    api = ApiSettings(base_url="https://api.example.invalid", token=TOKEN)
    return ProbeSession(api, budget, transport=httpx.MockTransport(handler), sleep=lambda s: None)


def charging(cost):
    def handler(request):
        return httpx.Response(200, json={"records": []}, headers={"ratelimit-cost": str(cost)})

    return handler


def test_a_request_that_does_not_fit_is_not_sent():
    sent = []

    def handler(request):
        sent.append(request)
        return charging(4)(request)

    with session(handler, budget=10) as s:
        s.send(Endpoint.QUERY, CLUB, {"report": "a"}, cost=4)
        s.send(Endpoint.QUERY, CLUB, {"report": "b"}, cost=4)
        with pytest.raises(OverBudgetError, match="needs 4 tokens, 2 left"):
            s.send(Endpoint.QUERY, CLUB, {"report": "c"}, cost=4)
    assert len(sent) == 2 and s.spent == 8


def test_the_same_request_is_sent_once_and_costs_once():
    sent = []

    def handler(request):
        sent.append(request)
        return charging(3)(request)

    with session(handler) as s:
        first = s.send(Endpoint.QUERY, CLUB, {"report": "a"}, cost=3)
        assert s.remembered(Endpoint.QUERY, CLUB, {"report": "a"})
        assert s.send(Endpoint.QUERY, CLUB, {"report": "a"}, cost=3) is first
    assert len(sent) == 1 and s.spent == 3


def test_the_api_charge_counts_and_the_price_when_it_names_none():
    def handler(request):
        return httpx.Response(200, json={})

    with session(handler) as s:
        s.send(Endpoint.QUERY, CLUB, {"report": "a"}, cost=2)
        assert s.spent == 2  # no ratelimit-cost header: the price


def test_a_rate_limited_request_waits_and_is_sent_again():
    answers = [
        httpx.Response(429, json={"error": "slow down"}, headers={"retry-after": "1"}),
        httpx.Response(200, json={}, headers={"ratelimit-cost": "2"}),
    ]
    waits = []
    api = ApiSettings(base_url="https://api.example.invalid", token=TOKEN)
    transport = httpx.MockTransport(lambda request: answers.pop(0))
    with ProbeSession(api, 10, transport=transport, sleep=waits.append) as s:
        exchange = s.send(Endpoint.QUERY, CLUB, {"report": "a"}, cost=2)
    assert exchange.ok and waits == [1.0] and s.spent == 2


def test_the_token_never_appears_in_what_the_session_keeps():
    def handler(request):
        return httpx.Response(401, json={"error": f"bad token {TOKEN}"})

    with session(handler) as s:
        exchange = s.send(Endpoint.METADATA, CLUB, {"report": "a"}, cost=1)
    assert TOKEN not in exchange.text and TOKEN not in exchange.describe()
    assert exchange.describe() == 'HTTP 401 "bad token <token>"'


def test_omitted_headers_are_left_out_and_the_scheme_picks_the_credential_header():
    seen = []

    def handler(request):
        seen.append(request.headers)
        return httpx.Response(200, json={})

    with session(handler) as s:
        s.send(Endpoint.METADATA, CLUB, {}, cost=1, omit=("X-Product-Name",))
        s.send(Endpoint.METADATA, CLUB, {}, cost=1, scheme="user_token")
    assert "x-product-name" not in seen[0] and seen[0]["x-client-authorization"] == TOKEN
    assert seen[1]["authorization"] == f"Bearer {TOKEN}"
    assert "x-client-authorization" not in seen[1]


def test_the_table_has_the_five_columns_and_wraps_long_cells():
    rows = [
        Finding("auth", "client_token", "accepts client_token", Verdict.HOLDS, 1),
        Finding("window_end", "bucket_at_to", "x " * 60, Verdict.DIFFERS, 3),
    ]
    lines = render_table(rows).splitlines()
    assert [c.strip() for c in lines[0].split("|")] == [
        "assumption",
        "we assume",
        "the API does",
        "holds / differs / unknown",
        "tokens",
    ]
    assert lines[2].split("|")[3].strip() == "holds"
    assert lines[3].split("|")[3].strip() == "differs" and lines[3].split("|")[4].strip() == "3"
    assert len(lines) > 4  # the long cell went on onto a second line of its row


def test_the_configured_credential_keeps_its_header_overrides_and_the_other_scheme_is_plain():
    seen = []

    def handler(request):
        seen.append(request.headers)
        return httpx.Response(200, json={})

    api = ApiSettings(
        base_url="https://api.example.invalid",
        token=TOKEN,
        auth_header="X-Api-Key",
        auth_format="Token {token}",
    )
    with ProbeSession(api, 10, transport=httpx.MockTransport(handler)) as s:
        s.send(Endpoint.METADATA, CLUB, {}, cost=1)
        s.send(Endpoint.METADATA, CLUB, {}, cost=1, scheme="user_token")
    assert seen[0]["x-api-key"] == f"Token {TOKEN}"
    assert seen[1]["authorization"] == f"Bearer {TOKEN}" and "x-api-key" not in seen[1]
