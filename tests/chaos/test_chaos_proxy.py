"""The chaos proxy itself: clean answers pass unchanged, a rule corrupts only its Nth answer."""

from __future__ import annotations

import json

import httpx
import pytest
from chaos_modes import MODES
from chaos_proxy import Answer, ChaosProxy, RequestKey, Rule

pytestmark = [pytest.mark.chaos, pytest.mark.integration]

EXPORT = "/v1/reporting/query/export"
HEADERS = {
    "X-Client-Authorization": "dev-token",
    "X-User-Agent": "chaos proxy tests",
    "X-Product-Name": "placewise-warehouse",
    "X-Customer": "id=1001",
    "Content-Type": "application/json",
}
BODY = {
    "report": "sendings_stats",
    "filter": None,
    "aggregate_by": None,
    "from": "2026-11-25T00:00:00.000",
    "to": "2026-11-26T00:00:00.000",
}


def post(base: str) -> httpx.Response:
    return httpx.post(base + EXPORT, headers=HEADERS, content=json.dumps(BODY), timeout=60)


def test_without_a_rule_the_answer_is_byte_for_byte_the_simulators(simulator):
    direct = post(simulator.url)
    with ChaosProxy(simulator.url) as proxy:
        proxied = post(proxy.url)
    assert direct.status_code == proxied.status_code == 200
    assert proxied.content == direct.content
    assert proxied.headers["date"] == direct.headers["date"]
    assert proxied.headers["ratelimit-bucket"] == direct.headers["ratelimit-bucket"]
    assert [e.corrupted for e in proxy.exchanges] == [False]
    assert proxy.exchanges[0].body == direct.content


def test_a_rule_corrupts_only_its_nth_matching_answer(simulator):
    def html(answer: Answer, request: dict) -> Answer:
        return Answer(200, [("Content-Type", "text/html")], b"<html>oops</html>")

    key = RequestKey.of(EXPORT, "id=1001", BODY)
    with ChaosProxy(simulator.url) as proxy:
        proxy.add(Rule(key, corrupt=html, occurrence=2))
        first, second, third = post(proxy.url), post(proxy.url), post(proxy.url)
        other = httpx.post(
            proxy.url + EXPORT,
            headers={**HEADERS, "X-Customer": "id=1002"},
            content=json.dumps(BODY),
            timeout=60,
        )
    assert first.content == third.content != second.content
    assert second.content == b"<html>oops</html>"
    assert second.headers["content-type"] == "text/html"
    assert other.status_code == 200 and other.content != second.content
    assert [e.corrupted for e in proxy.sent_for(key)] == [False, True, False]


def test_a_json_mode_changes_only_what_it_names(simulator):
    clean = post(simulator.url).content
    answer = MODES["negative_value"].corrupt(Answer(200, [], clean), BODY)
    before, after = json.loads(clean), json.loads(answer.body)
    assert after["series"][0]["value"] == -7
    after["series"][0]["value"] = before["series"][0]["value"]
    assert after == before
