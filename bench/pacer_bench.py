"""Pacer benchmark: one club's sync with the shared PostgresPacer against the InMemoryPacer.

Run with ``make bench`` (or ``.venv/bin/python bench/pacer_bench.py``). The same slices (every
registered report of one club over ``--days`` days) are synced through the client, the landing
store and the loader into an emptied warehouse, once per pacer and round, alternating, against a
simulator without a rate limit and pacers whose buckets never run dry: what differs is only what
the pacer costs per request. The printed ratio is the median PostgresPacer wall time over the
median InMemoryPacer wall time (target: close to 1.0x). PostgreSQL is ``WAREHOUSE_URL`` if set,
else an embedded server in a temp directory; the exit status is 0 whatever the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import psycopg
from load_bench import SIMULATOR_NOW, warehouse
from placewise.api.client import PlacewiseClient
from placewise.api.pacing import InMemoryPacer, Pacer, PostgresPacer
from placewise.api.settings import ApiSettings
from placewise.extract.plan import plan_club
from placewise.landing.store import LandingStore
from placewise.local.processes import running_simulator
from placewise.sync import sync_slices
from placewise.warehouse.schema import OPS_SCHEMA, RAW_SCHEMA, migrate_warehouse

CLUB = 1001
LAST_DAY = date(2026, 11, 27)
#: Big enough that neither pacer ever waits: the benchmark measures the pacer, not the bucket.
UNLIMITED = 10**9


def one_sync(sim_url: str, conninfo: str, workdir: Path, kind: str, days: int) -> float:
    """Seconds of one club's sync into an emptied warehouse with the ``kind`` pacer."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"drop schema if exists {RAW_SCHEMA}, {OPS_SCHEMA} cascade")
    migrate_warehouse(conninfo)
    specs = plan_club(CLUB, LAST_DAY - timedelta(days=days - 1), LAST_DAY)
    pacer: Pacer = (
        InMemoryPacer(capacity=UNLIMITED, refill_per_s=UNLIMITED)
        if kind == "memory"
        else PostgresPacer(conninfo, capacity=UNLIMITED, refill_per_s=UNLIMITED)
    )
    store = LandingStore(workdir / f"landing-{uuid.uuid4().hex[:8]}")
    settings = ApiSettings(base_url=sim_url, token="dev-token")
    started = time.perf_counter()
    with PlacewiseClient(settings, pacer=pacer) as client:
        summary = sync_slices(specs, client=client, store=store, conninfo=conninfo)
    elapsed = time.perf_counter() - started
    if isinstance(pacer, PostgresPacer):
        pacer.close()
    if summary.failures:
        raise SystemExit(f"the {kind} sync failed: {summary.text()}")
    return elapsed


def main() -> int:
    """Print the wall time of each run and the PostgresPacer / InMemoryPacer ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=14, help="days of the club's sync")
    parser.add_argument("--rounds", type=int, default=3, help="runs per pacer")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="placewise-pacer-bench-"))
    sim_args = [
        *("--seed", "42", "--clubs", "3", "--history-days", "60", "--now", SIMULATOR_NOW),
        *("--rate-capacity", str(UNLIMITED), "--rate-refill", str(UNLIMITED)),
    ]
    requests = len(plan_club(CLUB, LAST_DAY - timedelta(days=args.days - 1), LAST_DAY))
    times: dict[str, list[float]] = {"memory": [], "postgres": []}
    with running_simulator(sim_args) as sim, warehouse(workdir) as conninfo:
        one_sync(sim.url, conninfo, workdir, "memory", 1)  # warm up imports and the server
        for _ in range(args.rounds):
            for kind in ("memory", "postgres"):
                times[kind].append(one_sync(sim.url, conninfo, workdir, kind, args.days))
                print(f"{kind:>8}: {times[kind][-1]:6.2f} s for {requests} slices", flush=True)
    memory, postgres = statistics.median(times["memory"]), statistics.median(times["postgres"])
    print(
        f"club {CLUB}, {args.days} days, {requests} slices: InMemoryPacer {memory:.2f} s, "
        f"PostgresPacer {postgres:.2f} s (medians of {args.rounds}); "
        f"PostgresPacer / InMemoryPacer = {postgres / memory:.2f}x (target: close to 1.0x)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
