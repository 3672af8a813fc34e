"""The simulated world: determinism, timezones, late arrivals, laziness."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from placewise_simulator import SimulatorConfig
from placewise_simulator.world import LATEST_EVENT_DELAY, World
from sim_helpers import EXPORT, NOW, QUERY, TENANTS, make_api

BODIES = [
    (
        QUERY,
        {
            "report": "sendings_stats",
            "aggregate_by": "reporting_id",
            "from": "2026-11-01T00:00:00",
            "to": "2026-11-28T00:00:00",
        },
    ),
    (QUERY, {"report": "sendings", "limit": 50}),
    (QUERY, {"report": "members", "limit": 50}),
    (EXPORT, {"report": "sendings_links"}),
    (
        EXPORT,
        {
            "report": "member_balance",
            "interval": "1h",
            "from": "2026-11-20T00:00:00",
            "to": "2026-11-28T00:00:00",
        },
    ),
    (
        TENANTS,
        {
            "report": "links_visits_history",
            "interval": "1d",
            "from": "2026-11-01T00:00:00",
            "to": "2026-11-28T00:00:00",
        },
    ),
]


def _bytes(api):
    return [
        api.post(path, body, "all=all" if path == TENANTS else "id=1001").content
        for path, body in BODIES
    ]


@pytest.mark.parametrize("seed", [3, 42])
def test_same_seed_and_now_give_byte_identical_responses(seed):
    assert _bytes(make_api(seed=seed)) == _bytes(make_api(seed=seed))


def test_a_different_seed_gives_a_different_world():
    first, second = _bytes(make_api(seed=1)), _bytes(make_api(seed=2))
    assert all(a != b for a, b in zip(first, second, strict=True))


def test_three_clubs_have_three_different_timezones_with_a_negative_offset():
    api = make_api(clubs=3)
    clubs = api.client.get("/_simulator/clubs").json()
    assert [c["id"] for c in clubs] == [1001, 1002, 1003]
    assert len({c["timezone"] for c in clubs}) == 3
    assert "America/New_York" in {c["timezone"] for c in clubs}
    assert all(set(c) == {"id", "name", "timezone", "chain", "country"} for c in clubs)
    assert clubs[0]["name"] == "Club 1001 Oslo City"


def test_settled_days_do_not_depend_on_now_or_history_days():
    body = {
        "report": "sendings_stats",
        "aggregate_by": "campaign_id",
        "from": "2026-11-01T00:00:00",
        "to": "2026-11-18T00:00:00",
    }
    early = make_api(now=NOW, history_days=60).query(body)
    late = make_api(now=NOW + timedelta(days=30), history_days=120).query(body)
    assert early == late


def test_late_events_keep_arriving_for_a_week_then_the_day_settles():
    body = {"report": "sendings_stats", "from": "2026-11-21T00:00:00", "to": "2026-11-26T00:00:00"}

    def values(days):
        api = make_api(now=NOW + timedelta(days=days))
        totals: dict = {}
        for club in (1001, 1002, 1003):
            for s in api.query(body, f"id={club}")["series"]:
                key = (club, s["label"]["event_type"])
                totals[key] = totals.get(key, 0) + s["value"]
        return totals

    now, later, settled, much_later = values(0), values(5), values(9), values(40)
    for club in (1001, 1002, 1003):
        assert now[(club, "new")] == later[(club, "new")] == settled[(club, "new")]
    assert sum(later.values()) > sum(now.values())
    assert all(later[key] >= value for key, value in now.items())
    assert sum(settled.values()) >= sum(later.values())
    assert settled == much_later


def test_no_event_exists_after_now(api):
    result = api.query(
        {"report": "sendings_stats", "from": "2026-11-28T06:00:00Z", "to": "2026-12-05T00:00:00Z"}
    )
    assert result["series"] == []
    assert result["data_points"] == 0


def test_events_arrive_at_most_six_days_and_23_hours_after_the_send():
    world = World(SimulatorConfig(seed=5, clubs=3, now=NOW))
    for club in world.clubs:
        for sending in world.sendings(club, world.all_days(club, NOW.timestamp())):
            assert min(e[0] for e in sending.events) == sending.created
            assert max(e[3] for e in sending.events) <= sending.created + LATEST_EVENT_DELAY
            assert all(e[0] <= e[3] for e in sending.events)
            assert all(t <= sending.created + LATEST_EVENT_DELAY for t, *_ in sending.visits)


def test_history_ranges_stay_open_until_a_sending_can_get_no_more_events(api):
    records = api.export({"report": "sendings"})["records"]
    cutoff = (NOW - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%S")
    assert {"1h", "1d", "1w", "1mo"} == set(records[0]["history_ranges"])
    for record in records:
        ranges = record["history_ranges"]
        recent = record["created_at"] > cutoff
        assert all((r["to"] is None) == recent for r in ranges.values()), record["created_at"]
        assert ranges["1d"]["from"] == record["created_at"][:10] + "T00:00:00.000000Z"
    assert any(r["history_ranges"]["1h"]["to"] is None for r in records)
    assert any(r["history_ranges"]["1h"]["to"] is not None for r in records)


def test_some_sendings_have_null_campaign_and_reporting_ids(api):
    records = api.export({"report": "sendings"})["records"]
    assert any(r["campaign_id"] is None for r in records)
    assert any(r["reporting_id"] is None for r in records)
    assert any(r["campaign_id"] is not None for r in records)
    assert {r["channel"] for r in records} == {"sms", "email", "push"}
    assert all(len(r) == 23 for r in records)


def test_history_floor_limits_which_sendings_exist():
    short = make_api(history_days=10).export({"report": "sendings"})["records"]
    longer = make_api(history_days=30).export({"report": "sendings"})["records"]
    assert short and len(longer) > len(short)
    assert longer[-len(short) :] == short
    assert min(r["created_at"] for r in short) >= "2026-11-17"


def test_a_thousand_club_two_year_world_starts_and_answers_quickly():
    started = time.monotonic()
    api = make_api(clubs=1000, history_days=730)
    result = api.query(
        {"report": "sendings_stats", "from": "2025-01-01T00:00:00", "to": "2025-01-08T00:00:00"},
        "id=1999",
    )
    assert result["series"]
    assert time.monotonic() - started < 5


def _serve_and_fetch(port, hash_seed):
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root / "simulator"), PYTHONHASHSEED=str(hash_seed))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "placewise_simulator",
            "serve",
            "--port",
            str(port),
            "--now",
            "2026-11-28T06:00:00Z",
            "--seed",
            "11",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(url + "/_simulator/clubs")
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        headers = {
            "X-User-Agent": "t",
            "X-Product-Name": "t",
            "X-Client-Authorization": "dev-token",
        }
        out = []
        for path, body in BODIES:
            customer = "all=all" if path == TENANTS else "id=1001"
            out.append(
                httpx.post(
                    url + path, json=body, headers=dict(headers, **{"X-Customer": customer})
                ).content
            )
        return out
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_separate_processes_with_the_same_seed_and_now_serve_identical_bytes():
    ports = []
    for _ in range(2):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
    first = _serve_and_fetch(ports[0], 1)
    second = _serve_and_fetch(ports[1], 2)
    assert first == second
    assert all(len(body) > 100 for body in first)


def test_without_a_frozen_clock_the_world_follows_real_time():
    api = make_api(now=None)
    records = api.export({"report": "sendings"})["records"]
    assert records
    latest = max(r["created_at"] for r in records)
    assert latest <= datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.999Z")
