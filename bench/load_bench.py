"""Load-path benchmark: rows/s of landing + load against a bare COPY, and peak RSS vs body size.

Run with ``make bench`` (or ``.venv/bin/python bench/load_bench.py``). Everything is measured in
one run on the same PostgreSQL, so the ratios carry over between machines far better than absolute
rows/s (other load on the machine still moves them: the per-run range shows by how much):

* rows/s of ``load_manifest`` (parse the landed body -> validate -> rows -> COPY -> commit) for a
  large ``sendings_stats``-by-``reporting_id`` tenants export and for a ``sendings`` records
  export, against a bare ``COPY ... FROM STDIN`` of exactly the same rows pre-rendered in memory
  into a table of the same DDL. The bare COPY is what PostgreSQL alone needs for those rows, so
  it is the ceiling of any loader; the target is ``ours >= 0.7 x bare``.
* client CPU rows/s of rendering those rows as COPY text with the loader's ``CopyText`` and with
  psycopg's own ``Copy.write_row`` + ``set_types``: the loader keeps its renderer only while it
  clearly beats psycopg's.
* peak RSS of a load of a small body and of a body 10x larger, each in its own child process, so
  that a parser or loader that buffers the body shows up as growth; the target is that the larger
  peak stays within 20% of the smaller.

The bodies are real exports of the simulator (frozen clock, unlimited rate), downloaded through
the client into the landing store exactly as a sync does; the download is reported separately.
PostgreSQL is an embedded server in a temp directory, or ``WAREHOUSE_URL`` if set (a dedicated
database is created on it and dropped at the end). The exit status is 0 whether or not a target
is met: this is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
from placewise.api.catalog import get_report
from placewise.api.client import PlacewiseClient, RetryPolicy
from placewise.api.contract import Endpoint
from placewise.api.customer import CustomerSelector
from placewise.api.pacing import InMemoryPacer
from placewise.api.settings import ApiSettings
from placewise.extract.fetch import fetch_slice
from placewise.extract.plan import SliceSpec
from placewise.extract.windows import Window
from placewise.landing.store import LandingStore, SliceManifest
from placewise.local.embedded_postgres import EmbeddedPostgres, drop_database, ensure_database
from placewise.local.processes import running_simulator
from placewise.warehouse.load import LINEAGE_COLUMNS, CopyText, context_of, load_manifest
from placewise.warehouse.rows import COLUMNS, ROW_BUILDERS, PayloadStats
from placewise.warehouse.schema import OPS_SCHEMA, RAW_SCHEMA, connect, migrate_warehouse
from psycopg.copy import Copy, FileWriter

SIMULATOR_NOW = "2026-11-28T06:00:00+00:00"
STAT_DAY = date(2026, 11, 20)
BENCH_SCHEMA = "placewise_bench"
COPY_CHUNK = 1 << 20
SPEED_TARGET = 0.7
RSS_TARGET = 1.2


@dataclass
class Body:
    """One landed export and what it took to download it."""

    name: str
    clubs: int
    manifest: SliceManifest
    seconds: float

    @property
    def size(self) -> int:
        return sum(p.bytes for p in self.manifest.parts)

    @property
    def table(self) -> str:
        return self.manifest.report


@dataclass
class SpeedResult:
    """Timings of our load path and of the bare COPY of the same rows (best run counts)."""

    body: Body
    rows: int
    ours_s: list[float]
    bare_s: list[float]
    rows_only_s: float
    render_rps: dict[str, float]

    @property
    def ours_rps(self) -> float:
        return self.rows / min(self.ours_s)

    @property
    def bare_rps(self) -> float:
        return self.rows / min(self.bare_s)

    @property
    def ratio(self) -> float:
        return self.ours_rps / self.bare_rps


@dataclass
class RssResult:
    """Peak RSS of two loads whose bodies differ 10x in size, each in its own process."""

    small: Body
    large: Body
    small_rows: int
    large_rows: int
    small_peak_kb: int
    large_peak_kb: int
    floor_kb: int

    @property
    def ratio(self) -> float:
        return self.large_peak_kb / self.small_peak_kb


# --- PostgreSQL ----------------------------------------------------------------------------------


@contextlib.contextmanager
def warehouse(workdir: Path) -> Iterator[str]:
    """A fresh database on WAREHOUSE_URL or on an embedded server; dropped/stopped afterwards."""
    configured = os.environ.get("WAREHOUSE_URL")
    server: EmbeddedPostgres | None = None
    if configured:
        server_url = configured
    else:
        server = EmbeddedPostgres(workdir / "pg")
        server_url = server.start()
    name = f"pw_bench_{uuid.uuid4().hex[:10]}"
    try:
        yield ensure_database(server_url, name)
    finally:
        try:
            drop_database(server_url, name)
        finally:
            if server is not None:
                server.stop()


def settle(conn: psycopg.Connection) -> None:
    """Flush dirty buffers before a timed run so that one run's writes do not slow the next."""
    with contextlib.suppress(psycopg.Error):
        conn.execute("checkpoint")


def reset_raw(conn: psycopg.Connection, table: str) -> None:
    """Empty the raw table and the ops tables so that every load starts from the same state."""
    conn.execute(f"truncate {RAW_SCHEMA}.{table}")
    conn.execute(
        f"truncate {OPS_SCHEMA}.slices, {OPS_SCHEMA}.loaded_partitions, {OPS_SCHEMA}.quarantine"
    )
    settle(conn)


# --- data ----------------------------------------------------------------------------------------


def stats_spec() -> SliceSpec:
    """One club-local day of ``sendings_stats`` by ``reporting_id`` for every club (tenants)."""
    window = Window.days(STAT_DAY, STAT_DAY)
    return SliceSpec(
        "sendings_stats",
        CustomerSelector.all(),
        "reporting_id",
        window,
        None,
        Endpoint.TENANTS_EXPORT,
    )


def records_spec() -> SliceSpec:
    """The ``sendings`` records of every club (tenants export snapshot)."""
    return SliceSpec("sendings", CustomerSelector.all(), None, None, None, Endpoint.TENANTS_EXPORT)


def download(
    clubs: int, history_days: int, wanted: list[tuple[str, SliceSpec]], store: LandingStore
) -> list[Body]:
    """Start a simulator with ``clubs`` clubs, land the wanted exports, stop it."""
    args = [
        *("--seed", "42", "--clubs", str(clubs), "--history-days", str(history_days)),
        *("--now", SIMULATOR_NOW, "--rate-capacity", "1000000", "--rate-refill", "1000000"),
    ]
    bodies = []
    with running_simulator(args) as sim:
        settings = ApiSettings(base_url=sim.url, token="dev-token", timeout_s=600)
        pacer = InMemoryPacer(capacity=10**9, refill_per_s=10**9)
        with PlacewiseClient(settings, pacer=pacer, retry=RetryPolicy(max_attempts=1)) as client:
            for name, spec in wanted:
                started = time.monotonic()
                (manifest,) = fetch_slice(client, store, spec)
                bodies.append(Body(name, clubs, manifest, time.monotonic() - started))
    return bodies


# --- rows/s: our path against a bare COPY --------------------------------------------------------


def columns_of(table: str) -> tuple[str, ...]:
    """The columns our loader writes to ``table`` (lineage + result-type columns)."""
    return LINEAGE_COLUMNS + COLUMNS[get_report(table).result_type]


def rows_only(store: LandingStore, body: Body) -> float:
    """Seconds to build the rows from the landed body without PostgreSQL (client-side cost)."""
    ctx = context_of(body.manifest)
    stats = PayloadStats()
    started = time.perf_counter()
    for part in body.manifest.parts:
        with store.open_part(part) as fp:
            for _ in ROW_BUILDERS[ctx.spec.result_type](ctx, fp, stats):
                pass
    return time.perf_counter() - started


def copy_text_rps(conn: psycopg.Connection, store: LandingStore, body: Body) -> dict[str, float]:
    """Client CPU rows/s of turning the body's rows into COPY text: ours and psycopg's write_row.

    ``CopyText`` is kept only while it clearly beats ``Copy.write_row`` with ``set_types`` (the
    COPY text psycopg would send, written to a null ``FileWriter``); both get the same rows.
    """
    ctx = context_of(body.manifest)
    rows: list[tuple[Any, ...]] = []
    for part in body.manifest.parts:
        with store.open_part(part) as fp:
            rows.extend(ROW_BUILDERS[ctx.spec.result_type](ctx, fp, PayloadStats()))
    head = (1, body.manifest.scope, datetime.now(UTC), body.manifest.parts[0].sha256)
    kinds = dict(
        conn.execute(
            "select attname, format_type(atttypid, null) from pg_attribute "
            "where attrelid = %s::regclass and attnum > 0",
            (f"{RAW_SCHEMA}.{body.table}",),
        ).fetchall()
    )
    # the row builders hand jsonb columns JSON text
    types = ["text" if kinds[c] == "jsonb" else kinds[c] for c in columns_of(body.table)]

    def ours() -> None:
        field = CopyText(conn).field
        lead, tab = "".join(field(v) + "\t" for v in head), "\t"
        chunk: list[str] = []
        for row_no, row in enumerate(rows, 1):
            chunk.append(f"{lead}{row_no}\t{tab.join(map(field, row))}\n")
            if len(chunk) >= 1000:
                "".join(chunk).encode()
                chunk.clear()

    def theirs() -> None:
        with (
            open(os.devnull, "wb") as sink,
            conn.cursor() as cur,
            Copy(cur, writer=FileWriter(sink)) as copy,
        ):
            copy.set_types(types)
            for row_no, row in enumerate(rows, 1):
                copy.write_row((*head, row_no, *row))

    best = {"CopyText": float("inf"), "psycopg write_row": float("inf")}
    for _ in range(3):
        for name, render in (("CopyText", ours), ("psycopg write_row", theirs)):
            started = time.process_time()
            render()
            best[name] = min(best[name], time.process_time() - started)
    return {name: len(rows) / seconds for name, seconds in best.items()}


def render_rows(conn: psycopg.Connection, table: str, columns: tuple[str, ...]) -> bytes:
    """The rows our path loaded, as COPY text (the bare COPY sends exactly these bytes)."""
    listing = ", ".join(columns)
    out = bytearray()
    with (
        conn.cursor() as cur,
        cur.copy(
            f"copy (select {listing} from {RAW_SCHEMA}.{table} order by _row_no) to stdout"
        ) as copy,
    ):
        for chunk in copy:
            out += chunk
    return bytes(out)


def bare_copy(conn: psycopg.Connection, table: str, columns: tuple[str, ...], data: bytes) -> float:
    """Load the pre-rendered rows with one COPY in one transaction; return its seconds."""
    conn.execute(f"truncate {BENCH_SCHEMA}.{table}")
    settle(conn)
    view = memoryview(data)
    started = time.perf_counter()
    with (
        conn.transaction(),
        conn.cursor() as cur,
        cur.copy(f"copy {BENCH_SCHEMA}.{table} ({', '.join(columns)}) from stdin") as copy,
    ):
        for offset in range(0, len(view), COPY_CHUNK):
            copy.write(view[offset : offset + COPY_CHUNK])
    return time.perf_counter() - started


def our_load(conn: psycopg.Connection, store: LandingStore, body: Body) -> tuple[int, float]:
    """Load the landed body through ``load_manifest`` from a clean state; rows and seconds."""
    reset_raw(conn, body.table)
    started = time.perf_counter()
    result = load_manifest(conn, store, body.manifest, run_id="bench")
    return result.rows, time.perf_counter() - started


def measure_speed(url: str, store: LandingStore, body: Body, repeat: int) -> SpeedResult:
    """Alternate our load and the bare COPY ``repeat`` times each, on the same server."""
    with connect(url) as conn:
        conn.execute(f"create schema if not exists {BENCH_SCHEMA}")
        conn.execute(
            f"create table if not exists {BENCH_SCHEMA}.{body.table} "
            f"(like {RAW_SCHEMA}.{body.table} including all)"
        )
        rows, first = our_load(conn, store, body)
        columns = columns_of(body.table)
        data = render_rows(conn, body.table, columns)
        ours, bare = [first], []
        for run in range(repeat):
            bare.append(bare_copy(conn, body.table, columns, data))
            if run + 1 < repeat:
                again, seconds = our_load(conn, store, body)
                assert again == rows
                ours.append(seconds)
        copied = conn.execute(f"select count(*) from {BENCH_SCHEMA}.{body.table}").fetchone()
        assert copied is not None and copied[0] == rows, (copied, rows)
        conn.execute(f"truncate {BENCH_SCHEMA}.{body.table}")
        reset_raw(conn, body.table)
        render = copy_text_rps(conn, store, body)
    return SpeedResult(body, rows, ours, bare, rows_only(store, body), render)


# --- peak RSS in child processes -----------------------------------------------------------------


def _peak_rss_kb() -> int:
    """This process's peak resident set size in KiB.

    ``VmHWM`` rather than ``getrusage``: after fork + exec, ``ru_maxrss`` still carries the
    parent's peak, which would hide the child's own.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # not Linux: best effort


def child_load(url: str, root: str, manifest_path: str) -> None:
    """Child-process entry: load one manifest and print rows and peak RSS as JSON."""
    store = LandingStore(root)
    manifest = SliceManifest.from_json(Path(manifest_path).read_text())
    with connect(url) as conn:
        floor = _peak_rss_kb()
        result = load_manifest(conn, store, manifest, run_id="bench-rss")
    peak = _peak_rss_kb()
    print(json.dumps({"rows": result.rows, "peak_kb": peak, "floor_kb": floor}))


def load_in_child(url: str, store: LandingStore, body: Body, workdir: Path) -> dict[str, int]:
    """Run one load in a fresh interpreter so that its peak RSS is its own."""
    with connect(url) as conn:
        reset_raw(conn, body.table)
    manifest_path = workdir / f"{body.name}-{body.clubs}.manifest.json"
    manifest_path.write_text(body.manifest.to_json())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run(
        [sys.executable, __file__, "--child", url, str(store.root), str(manifest_path)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_rss(
    url: str, store: LandingStore, small: Body, large: Body, workdir: Path
) -> RssResult:
    """Peak RSS of the small and the large load, each in its own child process."""
    first = load_in_child(url, store, small, workdir)
    second = load_in_child(url, store, large, workdir)
    with connect(url) as conn:
        reset_raw(conn, large.table)
    return RssResult(
        small,
        large,
        first["rows"],
        second["rows"],
        first["peak_kb"],
        second["peak_kb"],
        min(first["floor_kb"], second["floor_kb"]),
    )


# --- report --------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def print_report(
    bodies: list[Body], speeds: list[SpeedResult], rsses: list[RssResult], total_s: float
) -> None:
    """The tables and the ratios against the targets."""
    print("\nDownload (simulator -> client -> landing store; not part of the load figures)")
    print(f"  {'body':<16} {'clubs':>6} {'MB':>8} {'seconds':>8} {'MB/s':>7}")
    for b in bodies:
        mb = b.size / 1e6
        print(f"  {b.name:<16} {b.clubs:>6} {mb:>8.1f} {b.seconds:>8.2f} {mb / b.seconds:>7.1f}")

    print("\nLoad rows/s (best of runs): load_manifest vs bare COPY of the same rows")
    print(
        f"  {'body':<16} {'rows':>8} {'MB':>6} {'ours s':>7} {'ours rows/s':>12} "
        f"{'bare s':>7} {'bare rows/s':>12} {'ratio':>6}"
    )
    for s in speeds:
        print(
            f"  {s.body.name:<16} {s.rows:>8} {s.body.size / 1e6:>6.1f} {min(s.ours_s):>7.2f} "
            f"{s.ours_rps:>12,.0f} {min(s.bare_s):>7.2f} {s.bare_rps:>12,.0f} {s.ratio:>6.2f}"
        )
        runs = ", ".join(f"{x:.2f}" for x in s.ours_s)
        bare_runs = ", ".join(f"{x:.2f}" for x in s.bare_s)
        print(f"  {'':<16} runs ours [{runs}] s, bare [{bare_runs}] s")
        paired = sorted(b / o for o, b in zip(s.ours_s, s.bare_s, strict=True))
        print(
            f"  {'':<16} ratio of each run with the bare run after it: median "
            f"{paired[len(paired) // 2]:.2f} (range {paired[0]:.2f}..{paired[-1]:.2f})"
        )
        print(f"  {'':<16} rows built without PostgreSQL: {s.rows_only_s:.2f} s")
        render = ", ".join(f"{name} {rps:,.0f}" for name, rps in s.render_rps.items())
        print(f"  {'':<16} COPY text, client CPU rows/s: {render}")

    print("\nPeak RSS of one load in its own process (10x body size)")
    print(
        f"  {'body':<16} {'rows':>8} {'MB':>6} {'peak MB':>8}   "
        f"{'rows':>8} {'MB':>6} {'peak MB':>8}"
    )
    for r in rsses:
        print(
            f"  {r.small.name:<16} {r.small_rows:>8} {r.small.size / 1e6:>6.1f} "
            f"{r.small_peak_kb / 1024:>8.1f}   {r.large_rows:>8} {r.large.size / 1e6:>6.1f} "
            f"{r.large_peak_kb / 1024:>8.1f}"
        )
    if rsses:
        print(
            "  (interpreter + imports + connection before loading: "
            f"{rsses[0].floor_kb / 1024:.1f} MB)"
        )

    print("\nRatios")
    for s in speeds:
        print(
            f"  {s.body.name:<16} ours/bare COPY rows/s   {s.ratio:5.2f}  "
            f"(target >= {SPEED_TARGET})  {verdict(s.ratio >= SPEED_TARGET)}"
        )
    for r in rsses:
        print(
            f"  {r.small.name:<16} peak RSS 10x / 1x      {r.ratio:5.2f}  "
            f"(target <= {RSS_TARGET})  {verdict(r.ratio <= RSS_TARGET)}"
        )
    print(f"\ntotal {total_s:.0f} s")


def main() -> int:
    """Download the bodies, measure rows/s and peak RSS, print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--clubs", type=int, default=10_000, help="clubs of the large statistics body"
    )
    parser.add_argument(
        "--records-clubs", type=int, default=1_000, help="clubs of the large records body"
    )
    parser.add_argument("--history-days", type=int, default=30, help="simulator history (records)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each load")
    parser.add_argument(
        "--child", nargs=3, metavar=("URL", "ROOT", "MANIFEST"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        child_load(*args.child)
        return 0

    begun = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pw-load-bench-") as tmp:
        workdir = Path(tmp)
        store = LandingStore(workdir / "landing")
        with warehouse(workdir) as url:
            migrate_warehouse(url)
            plan: dict[int, list[tuple[str, SliceSpec]]] = {}
            for name, spec, clubs in (
                ("records", records_spec(), args.records_clubs // 10),
                ("records", records_spec(), args.records_clubs),
                ("statistics", stats_spec(), args.clubs // 10),
                ("statistics", stats_spec(), args.clubs),
            ):
                plan.setdefault(clubs, []).append((name, spec))
            by_size: dict[tuple[str, int], Body] = {}
            bodies: list[Body] = []
            for clubs in sorted(plan):
                # one simulator per world size; bodies of the same size share it
                print(f"downloading from a simulator with {clubs} clubs ...", flush=True)
                for body in download(clubs, args.history_days, plan[clubs], store):
                    by_size[(body.name, clubs)] = body
                    bodies.append(body)
            stats_large = by_size[("statistics", args.clubs)]
            stats_small = by_size[("statistics", args.clubs // 10)]
            rec_large = by_size[("records", args.records_clubs)]
            rec_small = by_size[("records", args.records_clubs // 10)]
            speeds = []
            for body in (stats_large, rec_large):
                print(f"timing {body.name} ({body.clubs} clubs) ...", flush=True)
                speeds.append(measure_speed(url, store, body, args.repeat))
            rsses = []
            for small, large in ((stats_small, stats_large), (rec_small, rec_large)):
                print(f"peak RSS of {small.name} loads ...", flush=True)
                rsses.append(measure_rss(url, store, small, large, workdir))
    print_report(bodies, speeds, rsses, time.monotonic() - begun)
    return 0


if __name__ == "__main__":
    sys.exit(main())
