import json
import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from placewise.api import errors
from placewise.api.client import ApiCall, PlacewiseClient, RetryPolicy, describe_call
from placewise.api.contract import Endpoint, build_query_body
from placewise.api.customer import CustomerSelector
from placewise.api.errors import ResultShapeError
from placewise.api.pacing import InMemoryPacer

BODY = json.dumps(
    {
        "range_timezone": "Europe/Oslo",
        "series": [{"label": {"event_type": "new"}, "value": 3}],
        "data_points": 1,
        "result_type": "statistics",
    }
).encode()


def stats_call(customer=None, endpoint=Endpoint.QUERY):
    customer = customer or CustomerSelector.club(1001)
    body = build_query_body(
        "sendings_stats",
        aggregate_by="reporting_id",
        from_="2026-11-27",
        to="2026-11-28",
    )
    return ApiCall.build(endpoint, customer, body)


class FakeClock:
    """A monotonic clock that only moves when something sleeps."""

    def __init__(self):
        self.t = 0.0

    def now(self):
        return self.t

    def sleep(self, seconds):
        self.t += seconds


class Server:
    """A scripted fake API: each request gets the next response (or exception) of the script."""

    def __init__(self, *script):
        self.script = list(script)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, Exception):
            raise step
        return step(request) if callable(step) else step


def ok(body=BODY, **headers):
    base = {"ratelimit-bucket": "Customer:1001:Reporting", "ratelimit-cost": "2"}
    base.update(headers)
    return httpx.Response(200, content=body, headers=base)


def status(code, message="went wrong", **headers):
    return httpx.Response(code, json={"error": message}, headers=headers)


class BrokenStream(httpx.SyncByteStream):
    """A body that sends some bytes then breaks like a dropped connection."""

    def __init__(self, data: bytes, exc: Exception):
        self.data = data
        self.exc = exc

    def __iter__(self):
        yield self.data
        raise self.exc


def make_client(settings, server, sleeps, **kwargs):
    return PlacewiseClient(
        settings,
        transport=httpx.MockTransport(server),
        sleep=sleeps.append,
        **kwargs,
    )


# -- success path -----------------------------------------------------------------------------


def test_download_sends_required_headers_and_json_body(settings, landing):
    server = Server(ok(date=format_datetime(datetime(2026, 11, 28, 6, tzinfo=UTC), usegmt=True)))
    with make_client(settings, server, []) as client:
        result = client.download(stats_call(), landing.open)
    request = server.requests[0]
    assert request.method == "POST"
    assert str(request.url) == "https://api.test/v1/reporting/query"
    assert request.headers["X-Client-Authorization"] == settings.token
    assert request.headers["X-User-Agent"] == "tests/1"
    assert request.headers["X-Product-Name"] == "warehouse-tests"
    assert request.headers["X-Customer"] == "id=1001"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"
    assert json.loads(request.content) == stats_call().body
    assert landing.kept == [BODY]
    assert result.status == 200
    assert result.bytes_received == len(BODY)
    assert result.tokens_spent == 2
    assert result.ratelimit_bucket == "Customer:1001:Reporting"
    assert result.server_date == datetime(2026, 11, 28, 6, tzinfo=UTC)
    assert [a.outcome for a in result.attempts] == ["ok"]
    assert result.started_at <= result.finished_at


@pytest.mark.parametrize(
    ("customer", "header"),
    [
        (CustomerSelector.club(1001), "id=1001"),
        (CustomerSelector.clubs([1002, 1001]), "id=1001_1002"),
        (CustomerSelector.all(), "all=all"),
        (CustomerSelector.attributes(chain="Cats", country="PL"), "chain=Cats;country=PL"),
    ],
)
def test_x_customer_forms(settings, landing, customer, header):
    server = Server(ok())
    with make_client(settings, server, []) as client:
        client.download(stats_call(customer, Endpoint.TENANTS_EXPORT), landing.open)
    assert server.requests[0].headers["X-Customer"] == header
    assert server.requests[0].url.path == "/v1/reporting/tenants/query/export"


def test_query_json_parses_a_small_body(settings):
    server = Server(ok())
    with make_client(settings, server, []) as client:
        data, result = client.query_json(stats_call())
    assert data["result_type"] == "statistics"
    assert result.status == 200


def test_query_json_rejects_a_non_json_body(settings):
    server = Server(ok(body=b"<html>"))
    with make_client(settings, server, []) as client, pytest.raises(ResultShapeError):
        client.query_json(stats_call())


def test_metadata_posts_the_report_and_costs_one_token(settings):
    pacer = InMemoryPacer(capacity=10, refill_per_s=1, clock=lambda: 0.0, sleep=lambda s: None)
    server = Server(ok(body=b'{"result_type": "records", "fields": []}'))
    with make_client(settings, server, [], pacer=pacer) as client:
        meta = client.metadata("anything_new", CustomerSelector.club(5))
    assert meta["result_type"] == "records"
    assert server.requests[0].url.path == "/v1/reporting/metadata"
    assert json.loads(server.requests[0].content) == {"report": "anything_new"}
    assert pacer.tokens("Customer:5:Reporting") == 9


def test_description_names_report_aggregation_club_and_window():
    assert stats_call().description == (
        "sendings_stats agg=reporting_id club 1001 window 2026-11-27..2026-11-28"
    )
    export = describe_call(Endpoint.EXPORT, CustomerSelector.clubs([1, 2]), {"report": "sendings"})
    assert export == "sendings (export) clubs 1,2"


# -- fail-fast errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "error_class", "hint"),
    [
        (401, errors.AuthenticationError, "PLACEWISE_API_TOKEN"),
        (403, errors.PermissionDeniedError, "permit"),
        (470, errors.HeaderError, "X-Product-Name"),
        (471, errors.HeaderError, "X-Customer"),
        (400, errors.InvalidQueryError, "fix the query"),
        (404, errors.InvalidQueryError, "fix the query"),
        (405, errors.InvalidQueryError, "fix the query"),
        (422, errors.InvalidQueryError, "150 time buckets"),
    ],
)
def test_client_errors_fail_fast_without_retry(settings, landing, code, error_class, hint):
    server = Server(status(code, f"bad thing, token {settings.token} rejected"))
    sleeps = []
    with make_client(settings, server, sleeps) as client, pytest.raises(error_class) as info:
        client.download(stats_call(), landing.open)
    error = info.value
    message = str(error)
    assert len(server.requests) == 1
    assert sleeps == []
    assert landing.opened == 0
    assert error.status == code
    assert len(error.attempts) == 1
    assert "sendings_stats" in message
    assert "club 1001" in message
    assert "2026-11-27..2026-11-28" in message
    assert hint in message
    assert "bad thing" in message
    assert settings.token not in message
    assert settings.token not in repr(error.args)
    assert isinstance(error, errors.PlacewiseApiError)


def test_invalid_query_carries_the_server_error_text(settings, landing):
    server = Server(status(422, "too many time buckets (151 > 150)"))
    with (
        make_client(settings, server, []) as client,
        pytest.raises(errors.InvalidQueryError) as info,
    ):
        client.download(stats_call(), landing.open)
    assert info.value.server_message == "too many time buckets (151 > 150)"


def test_unknown_report_fails_before_any_request(settings, landing):
    server = Server(ok())
    call = ApiCall.build(Endpoint.QUERY, CustomerSelector.club(1), {"report": "nope"})
    with make_client(settings, server, []) as client, pytest.raises(KeyError, match="nope"):
        client.download(call, landing.open)
    assert server.requests == []


# -- rate limiting ----------------------------------------------------------------------------


def test_429_waits_retry_after_then_succeeds(settings, landing, caplog):
    server = Server(
        status(429, "slow down", **{"Retry-After": "7", "ratelimit-remaining": "-3"}), ok()
    )
    sleeps = []
    with caplog.at_level(logging.WARNING), make_client(settings, server, sleeps) as client:
        result = client.download(stats_call(), landing.open)
    assert sleeps == [7.0]
    assert [a.outcome for a in result.attempts] == ["http_429", "ok"]
    assert result.attempts[0].retry_after_s == 7.0
    assert result.attempts[1].waited_s == 7.0
    assert landing.kept == [BODY]
    assert "http_429" in caplog.text and "sendings_stats" in caplog.text
    assert settings.token not in caplog.text


def test_429_with_http_date_retry_after(settings, landing):
    when = datetime.now(UTC) + timedelta(seconds=30)
    server = Server(status(429, **{"Retry-After": format_datetime(when, usegmt=True)}), ok())
    sleeps = []
    with make_client(settings, server, sleeps) as client:
        client.download(stats_call(), landing.open)
    assert len(sleeps) == 1 and 25 <= sleeps[0] <= 30


def test_429_beyond_its_budget_raises_rate_limit_exhausted(settings, landing):
    server = Server(status(429, **{"Retry-After": "1"}))
    sleeps = []
    policy = RetryPolicy(max_rate_limit_waits=3)
    with (
        make_client(settings, server, sleeps, retry=policy) as client,
        pytest.raises(errors.RateLimitExhaustedError) as info,
    ):
        client.download(stats_call(), landing.open)
    assert sleeps == [1.0, 1.0, 1.0]
    assert len(info.value.attempts) == 4
    assert info.value.status == 429


def test_retry_after_longer_than_the_policy_allows_fails(settings, landing):
    server = Server(status(429, **{"Retry-After": "3600"}))
    sleeps = []
    with (
        make_client(settings, server, sleeps) as client,
        pytest.raises(errors.RateLimitExhaustedError, match="3600"),
    ):
        client.download(stats_call(), landing.open)
    assert sleeps == []


def test_429_tells_the_pacer_and_tokens_are_summed(settings, landing):
    clock = FakeClock()
    pacer = InMemoryPacer(capacity=60, refill_per_s=6, clock=clock.now, sleep=clock.sleep)
    server = Server(
        status(429, **{"Retry-After": "2", "ratelimit-cost": "0", "ratelimit-remaining": "0"}),
        ok(**{"ratelimit-cost": "2", "ratelimit-remaining": "40"}),
    )
    with make_client(settings, server, [], pacer=pacer) as client:
        result = client.download(stats_call(), landing.open)
    assert result.tokens_spent == 2
    assert result.ratelimit_remaining == 40
    # the 429 emptied the bucket for 2 s; the next acquire had to wait for it to refill
    assert result.attempts[1].waited_s > 2.0


# -- server errors and transport failures -------------------------------------------------------


def test_5xx_retried_with_capped_backoff_then_server_error(settings, landing):
    server = Server(status(503, "maintenance"))
    sleeps = []
    policy = RetryPolicy(max_attempts=5, base_delay_s=1.0, max_delay_s=3.0, jitter=0.5)
    with (
        make_client(settings, server, sleeps, retry=policy) as client,
        pytest.raises(errors.ServerError) as info,
    ):
        client.download(stats_call(), landing.open)
    assert len(server.requests) == 5
    assert len(sleeps) == 4
    for failures, slept in enumerate(sleeps, start=1):
        cap = min(3.0, 1.0 * 2 ** (failures - 1))
        assert cap * 0.5 <= slept <= cap
    error = info.value
    assert [a.outcome for a in error.attempts] == ["http_503"] * 5
    assert error.status == 503
    assert "maintenance" in str(error)
    assert settings.token not in str(error)


@pytest.mark.parametrize("code", [500, 502, 504])
def test_other_5xx_are_retried_and_can_recover(settings, landing, code):
    server = Server(status(code), ok())
    sleeps = []
    with make_client(settings, server, sleeps) as client:
        result = client.download(stats_call(), landing.open)
    assert [a.outcome for a in result.attempts] == [f"http_{code}", "ok"]
    assert len(sleeps) == 1


def test_backoff_never_exceeds_the_cap():
    policy = RetryPolicy(base_delay_s=1, max_delay_s=60, jitter=0.5)
    assert policy.backoff(1, rng=lambda: 0.0) == 1.0
    assert policy.backoff(3, rng=lambda: 0.0) == 4.0
    assert policy.backoff(30, rng=lambda: 0.0) == 60.0
    assert policy.backoff(30, rng=lambda: 1.0) == 30.0


def test_timeout_is_retried(settings, landing):
    server = Server(httpx.ReadTimeout("timed out"), ok())
    sleeps = []
    with make_client(settings, server, sleeps) as client:
        result = client.download(stats_call(), landing.open)
    assert [a.outcome for a in result.attempts] == ["timeout", "ok"]
    assert landing.kept == [BODY]


def test_connection_reset_is_retried_then_transport_error(settings, landing):
    server = Server(httpx.ConnectError("connection reset by peer"))
    sleeps = []
    with (
        make_client(settings, server, sleeps, retry=RetryPolicy(max_attempts=3)) as client,
        pytest.raises(errors.TransportError) as info,
    ):
        client.download(stats_call(), landing.open)
    assert [a.outcome for a in info.value.attempts] == ["connection_error"] * 3
    assert info.value.status is None
    assert "connection reset" in str(info.value)
    assert len(sleeps) == 2


def test_truncated_body_discards_the_sink_and_lands_the_full_body_on_retry(settings, landing):
    broken = httpx.Response(
        200,
        stream=BrokenStream(BODY[:20], httpx.RemoteProtocolError("peer closed connection")),
    )
    server = Server(broken, ok())
    with make_client(settings, server, []) as client:
        result = client.download(stats_call(), landing.open)
    assert landing.discarded == [BODY[:20]]
    assert landing.kept == [BODY]
    assert landing.opened == 2
    assert [a.outcome for a in result.attempts] == ["truncated_body", "ok"]
    assert result.bytes_received == len(BODY)


def test_body_shorter_than_content_length_counts_as_truncated(settings, landing):
    short = httpx.Response(
        200,
        headers={"content-length": str(len(BODY))},
        stream=httpx.ByteStream(BODY[:-5]),
    )
    server = Server(short, ok())
    with make_client(settings, server, []) as client:
        result = client.download(stats_call(), landing.open)
    assert landing.discarded == [BODY[:-5]]
    assert landing.kept == [BODY]
    assert [a.outcome for a in result.attempts] == ["truncated_body", "ok"]


def test_read_timeout_mid_body_discards_the_sink(settings, landing):
    broken = httpx.Response(200, stream=BrokenStream(BODY[:7], httpx.ReadTimeout("stalled")))
    server = Server(broken, ok())
    with make_client(settings, server, []) as client:
        result = client.download(stats_call(), landing.open)
    assert landing.discarded == [BODY[:7]]
    assert [a.outcome for a in result.attempts] == ["timeout", "ok"]


def test_truncated_bodies_exhausted_raise_transport_error(settings, landing):
    def broken(_request):
        return httpx.Response(200, stream=BrokenStream(b"{", httpx.ReadError("reset")))

    server = Server(broken)
    with (
        make_client(settings, server, [], retry=RetryPolicy(max_attempts=2)) as client,
        pytest.raises(errors.TransportError) as info,
    ):
        client.download(stats_call(), landing.open)
    assert len(landing.discarded) == 2
    assert landing.kept == []
    assert [a.outcome for a in info.value.attempts] == ["truncated_body"] * 2
    assert info.value.status is None
    assert [a.status for a in info.value.attempts] == [200, 200]


def test_sink_errors_are_not_retried(settings):
    server = Server(ok())

    class DiskFull(OSError):
        pass

    def failing_sink():
        raise DiskFull("no space left")

    with make_client(settings, server, []) as client, pytest.raises(DiskFull):
        client.download(stats_call(), failing_sink)
    assert len(server.requests) == 1


def test_export_is_paced_at_five_times_the_cost(settings, landing):
    pacer = InMemoryPacer(capacity=60, refill_per_s=1, clock=lambda: 0.0, sleep=lambda s: None)
    server = Server(ok())
    with make_client(settings, server, [], pacer=pacer) as client:
        client.download(stats_call(endpoint=Endpoint.EXPORT), landing.open)
    assert pacer.tokens("Customer:1001:Reporting") == 50


def test_field_metadata_posts_report_field_and_window(settings):
    server = Server(ok(body=b'{"values": ["sms", "email"]}'))
    with make_client(settings, server, []) as client:
        data = client.field_metadata(
            "sendings_stats", "channel", CustomerSelector.club(1), "2026-11-01", "2026-11-02"
        )
    assert data == {"values": ["sms", "email"]}
    assert server.requests[0].url.path == "/v1/reporting/field_metadata"
    assert json.loads(server.requests[0].content) == {
        "report": "sendings_stats",
        "field": "channel",
        "from": "2026-11-01",
        "to": "2026-11-02",
    }


def test_gzip_encoded_body_lands_as_the_json_the_server_sent(settings, landing):
    import gzip

    server = Server(
        httpx.Response(200, content=gzip.compress(BODY), headers={"content-encoding": "gzip"})
    )
    with make_client(settings, server, []) as client:
        result = client.download(stats_call(), landing.open)
    assert landing.kept == [BODY]
    assert result.bytes_received == len(BODY)


def test_unexpected_status_fails_with_the_base_error(settings, landing):
    server = Server(status(444, "waf"))
    with (
        make_client(settings, server, []) as client,
        pytest.raises(errors.PlacewiseApiError) as info,
    ):
        client.download(stats_call(), landing.open)
    assert info.value.status == 444
    assert type(info.value) is errors.PlacewiseApiError
