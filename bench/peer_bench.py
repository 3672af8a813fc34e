"""Peer benchmark: this project's load and sync against dlt on the same PostgreSQL, in one run.

Run with ``make bench-peer`` (it builds ``.venv-bench``: the project's lock plus
``requirements-bench.txt``, so dlt never enters the runtime virtualenv). Printed are ratios
measured in the same run; the exit status is 0 whether or not a target is met, and 1 when the
two end-to-end sides did not do the same work (then their times do not compare).

1. Load. The same simulator export bodies (``sendings`` records; ``sendings_stats`` by
   ``reporting_id``), downloaded once, are loaded by ``load_manifest`` (the rows are parsed from
   the landed body inside the timing), by dlt from a ``dlt.resource`` yielding the already
   parsed rows from memory (the columns of our raw tables; default loader file format and
   ``csv``), and by a bare ``COPY`` of the same rows pre-rendered in memory. Targets: ours >= 10x
   dlt, ours >= 0.8x bare COPY.
2. End to end. One club's nightly sync (8 days) by ``sync_slices`` against ``dlt.sources.rest_api``
   configured with the same requests (POST bodies, headers, ``page_info`` paging of records),
   for each extract mode, against a simulator with a generous rate limit. Both must make the
   same requests and load the same records rows; the bench asserts it.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import dlt
import httpx
from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator
from dlt.sources.rest_api import rest_api_source
from load_bench import (
    SIMULATOR_NOW,
    Body,
    bare_copy,
    columns_of,
    download,
    our_load,
    records_spec,
    render_rows,
    reset_raw,
    stats_spec,
    warehouse,
)
from placewise.api.client import PlacewiseClient, RetryPolicy
from placewise.api.contract import (
    KEY_NEXT_PAGE_INFO,
    KEY_PAGE_INFO,
    KEY_PAGINATION,
    KEY_RECORDS,
    MAX_PAGE_LIMIT,
    Endpoint,
    request_headers,
)
from placewise.api.pacing import InMemoryPacer
from placewise.api.settings import ApiSettings
from placewise.extract.plan import SliceSpec, plan_club
from placewise.landing.store import LandingStore
from placewise.local.processes import running_simulator
from placewise.sync import sync_slices
from placewise.warehouse.load import context_of
from placewise.warehouse.rows import COLUMNS, ROW_BUILDERS, PayloadStats
from placewise.warehouse.schema import RAW_SCHEMA, connect, migrate_warehouse

LOAD_TARGET_DLT = 10.0
LOAD_TARGET_BARE = 0.8
E2E_CLUB = 1001  # the simulator numbers its clubs from 1001
E2E_LAST_DAY = date(2026, 11, 27)
E2E_DAYS = 8  # the nightly day plus the restatement window
RATE = ["--rate-capacity", "1000000", "--rate-refill", "1000000"]


def dlt_credentials(url: str) -> str:
    """``url`` with a password: dlt insists on one even where the server trusts local logins."""
    parts = urlsplit(url)
    if parts.password is not None or "@" not in parts.netloc:
        return url
    user, host = parts.netloc.rsplit("@", 1)
    return urlunsplit(parts._replace(netloc=f"{user}:unused@{host}"))


# --- 1. load -------------------------------------------------------------------------------------


@dataclass
class LoadResult:
    """Seconds of each loader over the same rows (best run counts)."""

    body: Body
    rows: int
    seconds: dict[str, list[float]]

    def rps(self, name: str) -> float:
        return self.rows / min(self.seconds[name])


def parsed_rows(store: LandingStore, body: Body) -> list[dict[str, Any]]:
    """The rows our raw table gets from the body (result-type columns), as dicts for dlt."""
    ctx = context_of(body.manifest)
    names = COLUMNS[ctx.spec.result_type]
    rows: list[dict[str, Any]] = []
    for part in body.manifest.parts:
        with store.open_part(part) as fp:
            rows.extend(
                dict(zip(names, row, strict=True))
                for row in ROW_BUILDERS[ctx.spec.result_type](ctx, fp, PayloadStats())
            )
    return rows


def dlt_load(
    url: str,
    workdir: Path,
    table: str,
    rows: list[dict[str, Any]],
    file_format: str | None,
    run: int,
) -> float:
    """One dlt pipeline run of the in-memory rows into a fresh dataset; its seconds."""
    name = f"peer_{table}_{file_format or 'default'}_{run}"

    @dlt.resource(name=table, write_disposition="append")
    def resource() -> Iterator[dict[str, Any]]:
        yield from rows

    pipeline = dlt.pipeline(
        pipeline_name=name,
        destination=dlt.destinations.postgres(credentials=dlt_credentials(url)),
        dataset_name=name,
        pipelines_dir=str(workdir / "dlt"),
    )
    started = time.perf_counter()
    info = pipeline.run(resource(), loader_file_format=file_format)
    seconds = time.perf_counter() - started
    info.raise_on_failed_jobs()
    with connect(url) as conn:
        (count,) = conn.execute(f"select count(*) from {name}.{table}").fetchone() or (0,)
        conn.execute(f"drop schema {name} cascade")
    assert count == len(rows), (name, count, len(rows))
    return seconds


def measure_load(
    url: str, store: LandingStore, body: Body, workdir: Path, repeat: int
) -> LoadResult:
    """Our load and the bare COPY ``repeat`` times; each dlt format ``max(1, repeat // 2)``."""
    seconds: dict[str, list[float]] = collections.defaultdict(list)
    with connect(url) as conn:
        conn.execute("create schema if not exists placewise_bench")
        conn.execute(
            f"create table if not exists placewise_bench.{body.table} "
            f"(like {RAW_SCHEMA}.{body.table} including all)"
        )
        rows, first = our_load(conn, store, body)
        seconds["ours"].append(first)
        columns = columns_of(body.table)
        data = render_rows(conn, body.table, columns)
        for run in range(repeat):
            seconds["bare COPY"].append(bare_copy(conn, body.table, columns, data))
            if run + 1 < repeat:
                again, took = our_load(conn, store, body)
                assert again == rows
                seconds["ours"].append(took)
        conn.execute(f"drop table placewise_bench.{body.table}")
        reset_raw(conn, body.table)
    parsed = parsed_rows(store, body)
    assert len(parsed) == rows, (len(parsed), rows)
    for run in range(max(1, repeat // 2)):
        for label, file_format in (("dlt default", None), ("dlt csv", "csv")):
            seconds[label].append(dlt_load(url, workdir, body.table, parsed, file_format, run))
    return LoadResult(body, rows, dict(seconds))


# --- 2. end to end -------------------------------------------------------------------------------


@dataclass
class E2eResult:
    """Wall time, requests and records rows of one side of the end-to-end comparison."""

    seconds: float
    requests: list[tuple[str, str]]
    record_rows: int
    rows: int


def request_key(request: httpx.Request) -> tuple[str, str]:
    """A request's path and canonical JSON body: what both sides must send alike."""
    body = json.loads(request.content) if request.content else None
    return request.url.path, json.dumps(body, sort_keys=True)


def run_ours(url: str, api: ApiSettings, specs: list[SliceSpec], root: Path) -> E2eResult:
    """Fetch, land and load the slices with this project's sync."""
    sent: list[tuple[str, str]] = []
    pacer = InMemoryPacer(capacity=10**9, refill_per_s=10**9)
    started = time.perf_counter()
    with PlacewiseClient(api, pacer=pacer, retry=RetryPolicy(max_attempts=1)) as client:
        client._http.event_hooks["request"].append(lambda r: sent.append(request_key(r)))
        summary = sync_slices(specs, client=client, store=LandingStore(root), conninfo=url)
    seconds = time.perf_counter() - started
    failed = [o for o in summary.outcomes if o.error]
    assert not failed, failed
    records = sum(
        o.rows for o, s in zip(summary.outcomes, specs, strict=True) if s.result_type == "records"
    )
    return E2eResult(seconds, sent, records, summary.rows)


def rest_api_config(api: ApiSettings, specs: list[SliceSpec], sent: list) -> dict[str, Any]:
    """dlt rest_api configuration making the requests our plan makes, one resource per slice."""

    def hook(response: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(
            request_key(httpx.Request("POST", response.request.url, content=response.request.body))
        )
        return response

    resources = []
    for n, spec in enumerate(specs):
        paged = spec.endpoint is Endpoint.QUERY and spec.result_type == "records"
        endpoint: dict[str, Any] = {
            "path": spec.endpoint.value,
            "method": "POST",
            "json": spec.body(limit=MAX_PAGE_LIMIT) if paged else spec.body(),
            "data_selector": KEY_RECORDS if spec.result_type == "records" else "$",
            "paginator": JSONResponseCursorPaginator(
                cursor_path=f"{KEY_PAGINATION}.{KEY_NEXT_PAGE_INFO}", cursor_body_path=KEY_PAGE_INFO
            )
            if paged
            else "single_page",
            "response_actions": [hook],
        }
        resources.append({"name": f"{spec.report}_{n}", "endpoint": endpoint})
    return {
        "client": {
            "base_url": api.base_url,
            "headers": request_headers(api, specs[0].customer),
        },
        "resources": resources,
    }


def run_dlt(
    url: str, api: ApiSettings, specs: list[SliceSpec], workdir: Path, mode: str
) -> E2eResult:
    """Fetch and load the same requests with dlt's rest_api source."""
    sent: list[tuple[str, str]] = []
    name = f"peer_e2e_{mode}"
    pipeline = dlt.pipeline(
        pipeline_name=name,
        destination=dlt.destinations.postgres(credentials=dlt_credentials(url)),
        dataset_name=name,
        pipelines_dir=str(workdir / "dlt"),
    )
    started = time.perf_counter()
    info = pipeline.run(rest_api_source(rest_api_config(api, specs, sent)))
    seconds = time.perf_counter() - started
    info.raise_on_failed_jobs()
    counts = pipeline.last_trace.last_normalize_info.row_counts
    records = sum(
        counts.get(f"{s.report}_{n}", 0) for n, s in enumerate(specs) if s.result_type == "records"
    )
    rows = sum(v for k, v in counts.items() if not k.startswith("_dlt"))
    return E2eResult(seconds, sent, records, rows)


def measure_e2e(workdir: Path) -> dict[str, tuple[E2eResult, E2eResult]]:
    """Both sides for each extract mode against one simulator (fresh databases per side)."""
    first = E2E_LAST_DAY - timedelta(days=E2E_DAYS - 1)
    out = {}
    args = ["--seed", "42", "--clubs", "3", "--history-days", "30", "--now", SIMULATOR_NOW, *RATE]
    with running_simulator(args) as sim:
        api = ApiSettings(base_url=sim.url, token="dev-token", timeout_s=600)
        for mode in ("query", "export"):  # query is the default mode
            specs = plan_club(E2E_CLUB, first, E2E_LAST_DAY, use_export=mode == "export")
            print(f"end to end, {mode} mode: {len(specs)} slices ...", flush=True)
            with warehouse(workdir) as ours_url:
                migrate_warehouse(ours_url)
                ours = run_ours(ours_url, api, specs, workdir / f"landing-{mode}")
            with warehouse(workdir) as dlt_url:
                theirs = run_dlt(dlt_url, api, specs, workdir, mode)
            out[mode] = (ours, theirs)
    return out


# --- report --------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def print_report(loads: list[LoadResult], e2e: dict[str, tuple[E2eResult, E2eResult]]) -> bool:
    """The tables and ratios; False when the two end-to-end sides did not do the same work."""
    print("\nLoad rows/s (best of runs), same rows, same PostgreSQL")
    print(f"  {'body':<12} {'rows':>8} {'loader':<12} {'best s':>7} {'rows/s':>10}  runs s")
    for r in loads:
        for name, runs in r.seconds.items():
            listing = ", ".join(f"{x:.2f}" for x in runs)
            print(
                f"  {r.body.name:<12} {r.rows:>8} {name:<12} {min(runs):>7.2f} "
                f"{r.rps(name):>10,.0f}  [{listing}]"
            )
    print("\nLoad ratios (rows/s)")
    for r in loads:
        for other, target in (
            ("dlt default", LOAD_TARGET_DLT),
            ("dlt csv", LOAD_TARGET_DLT),
            ("bare COPY", LOAD_TARGET_BARE),
        ):
            ratio = r.rps("ours") / r.rps(other)
            print(
                f"  {r.body.name:<12} ours/{other:<12} {ratio:7.2f}  (target >= {target})  "
                f"{verdict(ratio >= target)}"
            )
    same = True
    print(f"\nEnd to end: club {E2E_CLUB}, {E2E_DAYS} days, fetch + land/normalise + load")
    for mode, (ours, theirs) in e2e.items():
        equal = collections.Counter(ours.requests) == collections.Counter(theirs.requests)
        rows_equal = ours.record_rows == theirs.record_rows
        same = same and equal and rows_equal
        ratio = theirs.seconds / ours.seconds
        print(
            f"  {mode:<7} ours {ours.seconds:6.2f} s, {len(ours.requests)} requests, "
            f"{ours.rows} rows ({ours.record_rows} records rows)\n"
            f"  {'':<7} dlt  {theirs.seconds:6.2f} s, {len(theirs.requests)} requests, "
            f"{theirs.rows} rows in dlt tables incl. child tables "
            f"({theirs.record_rows} records rows)\n"
            f"  {'':<7} same requests: {equal}; same records rows: {rows_equal}; "
            f"dlt/ours wall time {ratio:.2f} (target > 1)  {verdict(ratio > 1)}"
        )
    return same


def main() -> int:
    """Download the bodies, time the loaders and both syncs, print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clubs", type=int, default=6_000, help="clubs of the statistics body")
    parser.add_argument(
        "--records-clubs", type=int, default=2_000, help="clubs of the records body"
    )
    parser.add_argument("--history-days", type=int, default=30, help="simulator history (records)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="timed runs of our load and bare COPY"
    )
    args = parser.parse_args()
    begun = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pw-peer-bench-") as tmp:
        workdir = Path(tmp)
        store = LandingStore(workdir / "landing")
        bodies = []
        for name, spec, clubs in (
            ("records", records_spec(), args.records_clubs),
            ("statistics", stats_spec(), args.clubs),
        ):
            print(f"downloading {name} from a simulator with {clubs} clubs ...", flush=True)
            bodies += download(clubs, args.history_days, [(name, spec)], store)
        loads = []
        with warehouse(workdir) as url:
            migrate_warehouse(url)
            for body in bodies:
                print(f"timing loads of {body.name} ...", flush=True)
                loads.append(measure_load(url, store, body, workdir, args.repeat))
        e2e = measure_e2e(workdir)
    same = print_report(loads, e2e)
    print(f"\ntotal {time.monotonic() - begun:.0f} s")
    if not same:
        print("the two end-to-end sides did not make the same requests / rows: see above")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
