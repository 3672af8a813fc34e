"""Injected faults, deterministic per fault seed, observed over real HTTP."""

from __future__ import annotations

import time

import httpx
import pytest
from placewise_simulator import SimulatorConfig
from placewise_simulator.faults import FaultPlan
from sim_helpers import BASE_HEADERS, EXPORT, NOW, QUERY, LiveServer, make_api

STATS = {"report": "sendings_stats", "from": "2026-11-20T00:00:00", "to": "2026-11-21T00:00:00"}
HEADERS = dict(BASE_HEADERS, **{"X-Customer": "id=1001"})


def _plan(rate, seed, count):
    plan = FaultPlan(rate, seed)
    return [(f.kind if f else None) for f in (plan.next() for _ in range(count))]


def test_fault_sequence_is_deterministic_per_seed():
    assert _plan(0.3, 7, 200) == _plan(0.3, 7, 200)
    assert _plan(0.3, 7, 200) != _plan(0.3, 8, 200)
    kinds = set(_plan(0.5, 7, 400))
    assert {"500", "503", "429", "reset", "truncate", "slow", None} <= kinds


def test_zero_fault_rate_never_faults():
    api = make_api(fault_rate=0.0, fault_seed=3)
    assert all(api.post(QUERY, STATS).status_code == 200 for _ in range(40))


def _seed_starting_with(kind):
    for seed in range(5000):
        if _plan(1.0, seed, 1)[0] == kind:
            return seed
    raise AssertionError(kind)


def _server(kind, **extra):
    config = SimulatorConfig(
        now=NOW,
        rate_capacity=1e9,
        rate_refill=1e9,
        fault_rate=1.0,
        fault_seed=_seed_starting_with(kind),
        **extra,
    )
    return LiveServer(config)


@pytest.mark.parametrize("status", ["500", "503"])
def test_injected_server_errors_have_error_bodies(status):
    with _server(status) as server:
        response = httpx.post(server.url + QUERY, json=STATS, headers=HEADERS)
        assert response.status_code == int(status)
        assert "error" in response.json()


def test_injected_429_storm_refuses_several_requests_with_retry_after_1():
    with _server("429") as server:
        first = httpx.post(server.url + QUERY, json=STATS, headers=HEADERS)
        assert first.status_code == 429
        assert first.headers["retry-after"] == "1"
        assert first.headers["ratelimit-bucket"] == "Customer:1001:Reporting"
        assert first.headers["ratelimit-cost"] == "0"
        assert httpx.post(server.url + QUERY, json=STATS, headers=HEADERS).status_code == 429


def test_injected_connection_reset_gives_no_response():
    with _server("reset") as server, pytest.raises(httpx.TransportError):
        httpx.post(server.url + QUERY, json=STATS, headers=HEADERS)


def test_injected_truncation_breaks_the_chunked_body_mid_stream():
    with _server("truncate") as server:
        with (
            pytest.raises(httpx.TransportError),
            httpx.stream("POST", server.url + EXPORT, json=STATS, headers=HEADERS) as response,
        ):
            assert response.status_code == 200
            response.read()
        stats = httpx.get(server.url + "/_simulator/stats").json()
        assert stats["tokens_spent"] == {}


def test_injected_slow_first_byte_delays_but_answers():
    with _server("slow") as server:
        started = time.monotonic()
        response = httpx.post(server.url + QUERY, json=STATS, headers=HEADERS, timeout=10)
        assert response.status_code == 200
        assert time.monotonic() - started >= 0.5


def test_exports_stream_with_chunked_encoding(live_server):
    body = {"report": "members"}
    with httpx.stream("POST", live_server.url + EXPORT, json=body, headers=HEADERS) as response:
        assert response.status_code == 200
        assert response.headers["transfer-encoding"] == "chunked"
        chunks = list(response.iter_raw())
    assert len(chunks) > 1
    assert b"".join(chunks).endswith(b'"result_type":"records"}')
