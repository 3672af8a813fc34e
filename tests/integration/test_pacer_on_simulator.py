"""The shared pacer between OS processes, over real HTTP, against the API's default bucket.

The simulator runs with its default rate limit (60 tokens, 6 per second). A backfill and a
nightly sync of the same club (so one API bucket, Customer:1001:Reporting) run as two processes
on one warehouse, each through ``service.sync`` and so through ``PostgresPacer``; every
``ratelimit-remaining`` the server sends is recorded.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest
from placewise import service
from placewise.api import pacing
from placewise.api.pacing import TABLE, PostgresPacer
from placewise.api.settings import ApiSettings
from placewise.config import PipelineSettings
from placewise.extract.plan import plan_club
from placewise.warehouse.schema import migrate_warehouse

pytestmark = pytest.mark.integration

REPORT = "sendings_stats"  # an export of it costs 10 tokens; 5 slices per day
NIGHTLY_DAYS = 4  # 20 calls, 200 tokens: 60 from the full bucket, the rest at 6/s (~23 s alone)


def _sync_process(
    sim_url: str,
    conninfo: str,
    landing: str,
    club: int,
    first: str,
    last: str,
    priority: str,
    record: str,
) -> None:
    """One sync in its own process; appends every ``ratelimit-remaining`` seen to ``record``."""
    observe = PostgresPacer.observe

    def recording(self, bucket, *, remaining, cost, retry_after_s):
        with open(record, "a") as fp:
            fp.write(json.dumps({"remaining": remaining, "retry_after_s": retry_after_s}) + "\n")
        observe(self, bucket, remaining=remaining, cost=cost, retry_after_s=retry_after_s)

    PostgresPacer.observe = recording  # type: ignore[method-assign]
    settings = PipelineSettings.from_env({"PLACEWISE_LANDING_ROOT": landing})
    specs = plan_club(
        club,
        date.fromisoformat(first),
        date.fromisoformat(last),
        reports=[REPORT],
        use_export=True,  # 10 tokens a slice: four days need more than the full bucket holds
    )
    service.sync(
        specs,
        settings=settings,
        api=ApiSettings(base_url=sim_url, token="dev-token"),
        conninfo=conninfo,
        run_id=f"{priority}-{club}",
        priority=priority,
    )


def _start(context, *args) -> multiprocessing.Process:
    process = context.Process(target=_sync_process, args=args)
    process.start()
    return process


def _refused(sim) -> int:
    return sum(r["count"] for r in sim.stats()["requests"] if r["status"] == "429")


def _remaining(record: Path) -> list[int]:
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    return [line["remaining"] for line in lines if line["remaining"] is not None]


def _fresh_buckets(sim, conninfo: str) -> None:
    """A full bucket on both sides: the simulator's reset refills its buckets, and the pacer's
    rows are removed (a missing row starts full)."""
    sim.reset_stats()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"delete from {TABLE}")


def test_a_nightly_beside_a_backfill_takes_about_as_long_as_alone_with_no_429(
    simulator_factory, fresh_database, tmp_path
):
    sim = simulator_factory(
        "--seed", "42", "--clubs", "3", "--history-days", "60", fast=False
    )  # the default bucket: 60 tokens, 6/s
    migrate_warehouse(fresh_database)
    context = multiprocessing.get_context("fork")
    last = date(2026, 11, 27)
    alone_days = (last - timedelta(days=NIGHTLY_DAYS - 1), last)
    beside_days = (alone_days[0] - timedelta(days=NIGHTLY_DAYS), alone_days[0] - timedelta(days=1))
    common = (sim.url, fresh_database, str(tmp_path / "landing"))

    _fresh_buckets(sim, fresh_database)
    started = time.monotonic()
    nightly = _start(
        context,
        *common,
        1001,
        *(d.isoformat() for d in alone_days),
        "nightly",
        str(tmp_path / "alone.jsonl"),
    )
    nightly.join(timeout=180)
    alone_s = time.monotonic() - started
    assert nightly.exitcode == 0
    assert _refused(sim) == 0
    alone_tokens = sim.stats()["tokens_spent_total"]
    assert alone_tokens == NIGHTLY_DAYS * 5 * 10

    _fresh_buckets(sim, fresh_database)
    backfill = _start(
        context,
        *common,
        1001,  # the same club: the same API bucket as the nightly
        "2026-09-01",
        "2026-10-31",
        "normal",
        str(tmp_path / "backfill.jsonl"),
    )
    try:
        deadline = time.monotonic() + 60
        while sim.stats()["tokens_spent_total"] < 60:  # the backfill has drained the bucket
            assert time.monotonic() < deadline, "the backfill did not start spending"
            assert backfill.is_alive()
            time.sleep(0.2)
        started = time.monotonic()
        nightly = _start(
            context,
            *common,
            1001,
            *(d.isoformat() for d in beside_days),
            "nightly",
            str(tmp_path / "beside.jsonl"),
        )
        nightly.join(timeout=180)
        beside_s = time.monotonic() - started
        assert nightly.exitcode == 0
        assert backfill.is_alive(), "the backfill must outlast the nightly for the comparison"
    finally:
        backfill.terminate()
        backfill.join(timeout=30)

    assert beside_s <= 1.3 * alone_s, (beside_s, alone_s)
    assert _refused(sim) == 0, sim.stats()
    seen = [
        *_remaining(tmp_path / "alone.jsonl"),
        *_remaining(tmp_path / "beside.jsonl"),
        *_remaining(tmp_path / "backfill.jsonl"),
    ]
    assert len(seen) >= 2 * NIGHTLY_DAYS * 5
    assert min(seen) >= 0  # never overdrawn


def _plentiful_sync(sim_url: str, conninfo: str, landing: Path) -> int:
    """100 calls of 10 tokens on a bucket of 600 refilled at 600/s: tokens to spare."""
    specs = plan_club(1001, date(2026, 11, 1), date(2026, 11, 20), reports=[REPORT])
    settings = PipelineSettings.from_env(
        {
            "PLACEWISE_LANDING_ROOT": str(landing),
            "PLACEWISE_RATE_CAPACITY": "600",
            "PLACEWISE_RATE_REFILL_PER_S": "600",
        }
    )
    summary = service.sync(
        specs,
        settings=settings,
        api=ApiSettings(base_url=sim_url, token="dev-token"),
        conninfo=conninfo,
        run_id="plentiful",
    )
    assert summary.failures == []
    return len(specs)


def test_a_sync_opens_one_pacer_connection_however_many_requests(
    simulator, fresh_database, tmp_path, monkeypatch
):
    migrate_warehouse(fresh_database)
    opened: list[str] = []
    statements: list[str] = []

    class CountingCursor(psycopg.Cursor):
        def execute(self, query, params=None, **kwargs):
            statements.append(str(query))
            return super().execute(query, params, **kwargs)

    real_connect = psycopg.connect

    def connect(conninfo="", **kwargs):
        if kwargs.get("application_name") == pacing.APPLICATION_NAME:
            opened.append(conninfo)
            kwargs["cursor_factory"] = CountingCursor
        return real_connect(conninfo, **kwargs)

    monkeypatch.setattr(psycopg, "connect", connect)
    requests = _plentiful_sync(simulator.url, fresh_database, tmp_path / "landing")
    assert requests == 100
    assert opened == [fresh_database]
    # With tokens to spare most requests are paced from a lease: far fewer statements than
    # requests (main ran five statements on two new connections per request).
    assert len(statements) < requests, len(statements)
