"""The pipeline's engine loop: fetch -> land -> load for a list of slices, and replay.

``placewise.service`` builds what these functions need (client, pacer, landing store) for the
CLI, the Airflow tasks and the tests; nothing here imports Airflow.
A slice that fails does not stop the others: every outcome is collected and the caller decides
(an Airflow task fails at the end with a summary that names what failed). Errors that would fail
every slice the same way (bad token, missing permit, malformed headers) stop the loop at once.
A warehouse connection that drops mid-run (server restart, a terminated backend) is replaced by
a fresh one and the slice's load retried once on it; if that fails too, the slice fails, named
in the summary, and the next slice starts on a fresh connection again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import TypeVar

import psycopg

from placewise.api.client import PlacewiseClient
from placewise.api.contract import MAX_PAGE_LIMIT
from placewise.api.errors import (
    AuthenticationError,
    HeaderError,
    PlacewiseApiError,
    ResultShapeError,
)
from placewise.extract.fetch import SliceFetchError, fetch_slice
from placewise.extract.plan import SliceSpec
from placewise.landing.store import LandingStore, ManifestStatus, SliceManifest
from placewise.warehouse.load import (
    LoadResult,
    QuarantinedError,
    already_loaded,
    load_manifest,
)
from placewise.warehouse.maintenance import analyze_changed
from placewise.warehouse.schema import connect, connect_migrated

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Errors that say the configuration is wrong: retrying other slices would only repeat them.
FATAL_ERRORS = (AuthenticationError, HeaderError)


class OutcomeStatus(StrEnum):
    """What a run did with one planned (or replayed) slice."""

    LOADED = "loaded"  # new rows replaced the slice in the warehouse
    UNCHANGED = "unchanged"  # the warehouse already held exactly this answer: nothing written
    SUPERSEDED = "superseded"  # a newer answer owns all its partitions: recorded, not loaded
    SKIPPED = "skipped"  # already loaded from the same request (resume): not fetched
    FAILED = "failed"
    QUARANTINED = "quarantined"


#: Outcomes that fail a run.
FAILED_STATUSES = (OutcomeStatus.FAILED, OutcomeStatus.QUARANTINED)


class _Warehouse:
    """The run's warehouse connection, replaced by a fresh one when the server drops it."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self.conn = connect_migrated(conninfo)

    def __enter__(self) -> _Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.close()

    def usable(self) -> psycopg.Connection:
        """The connection, reconnected first if the previous one broke."""
        if self.conn.broken or self.conn.closed:
            self.reconnect()
        return self.conn

    def reconnect(self) -> None:
        self.conn.close()
        self.conn = connect(self.conninfo)

    def analyze(self) -> None:
        """Refresh the planner statistics of what the run changed (``analyze_changed``).

        Only an optimisation: a warehouse that fails here has its data loaded already, so the
        failure is logged, not raised.
        """
        try:
            analyze_changed(self.usable())
        except psycopg.OperationalError as exc:
            log.warning("statistics not refreshed: %s", " ".join(str(exc).split()))

    def load(
        self, store: LandingStore, manifest: SliceManifest, run_id: str | None, description: str
    ) -> LoadResult:
        """Load one manifest; on a dropped connection, once more on a fresh one."""
        try:
            return load_manifest(self.usable(), store, manifest, run_id=run_id)
        except psycopg.OperationalError as exc:
            if not self.conn.broken:
                raise
            log.warning(
                "%s: the warehouse connection was lost (%s); retrying on a fresh connection",
                description,
                " ".join(str(exc).split()),
            )
            self.reconnect()
            return load_manifest(self.conn, store, manifest, run_id=run_id)


def _warehouse_failed(exc: psycopg.OperationalError) -> str:
    return f"the warehouse failed: {' '.join(str(exc).split())}"


@dataclass
class SliceOutcome:
    """What happened to one planned slice."""

    slice_key: str
    description: str
    status: OutcomeStatus
    rows: int = 0
    tokens: int = 0
    error: str | None = None
    #: Buckets of the answer outside the slice's own days, dropped (``LoadResult``).
    dropped_buckets: int = 0


@dataclass
class SyncSummary:
    """All outcomes of one run of slices."""

    outcomes: list[SliceOutcome] = field(default_factory=list)

    def count(self, status: OutcomeStatus) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def rows(self) -> int:
        return sum(o.rows for o in self.outcomes)

    @property
    def tokens(self) -> int:
        return sum(o.tokens for o in self.outcomes)

    @property
    def dropped_buckets(self) -> int:
        return sum(o.dropped_buckets for o in self.outcomes)

    @property
    def failures(self) -> list[SliceOutcome]:
        return [o for o in self.outcomes if o.status in FAILED_STATUSES]

    def text(self) -> str:
        """One line of totals, then one line per failed slice.

        ``unchanged`` is named only when some slice was: a first load reads as before.
        """
        unchanged = self.count(OutcomeStatus.UNCHANGED)
        superseded = self.count(OutcomeStatus.SUPERSEDED)
        head = (
            f"{len(self.outcomes)} slices: {self.count(OutcomeStatus.LOADED)} loaded, "
            + (f"{unchanged} unchanged, " if unchanged else "")
            + (f"{superseded} superseded by newer answers, " if superseded else "")
            + f"{self.count(OutcomeStatus.SKIPPED)} skipped, "
            f"{self.count(OutcomeStatus.FAILED)} failed, "
            f"{self.count(OutcomeStatus.QUARANTINED)} quarantined; "
            f"{self.rows} rows, {self.tokens} tokens"
            + (
                f"; {self.dropped_buckets} buckets outside their slice's days dropped"
                if self.dropped_buckets
                else ""
            )
        )
        lines = [head] + [f"  {o.status}: {o.description}: {o.error}" for o in self.failures]
        return "\n".join(lines)


#: Called with each slice's outcome as soon as it is known (progress reporting).
OutcomeObserver = Callable[["SliceOutcome"], None]


def _observed(
    items: Iterable[T], summary: SyncSummary, on_outcome: OutcomeObserver | None
) -> Iterator[T]:
    """Yield ``items``; after each one, pass the outcome the loop body recorded to ``on_outcome``.

    A body that raises (a fatal error) is not resumed, so nothing is reported for it.
    """
    for item in items:
        recorded = len(summary.outcomes)
        yield item
        if on_outcome is not None and len(summary.outcomes) > recorded:
            on_outcome(summary.outcomes[-1])


def sync_slices(
    specs: Iterable[SliceSpec],
    *,
    client: PlacewiseClient,
    store: LandingStore,
    conninfo: str,
    run_id: str | None = None,
    skip_loaded: bool = False,
    page_limit: int = MAX_PAGE_LIMIT,
    on_outcome: OutcomeObserver | None = None,
) -> SyncSummary:
    """Fetch, land and load every slice; collect outcomes instead of stopping at the first error.

    ``skip_loaded`` makes the run resumable: a slice whose current version was loaded from the
    very same request is not fetched again (backfills use this). A slice whose answer the
    warehouse already holds is ``unchanged`` and adds no rows to the summary. ``on_outcome`` is
    told each slice's outcome as it is recorded.
    """
    summary = SyncSummary()
    with _Warehouse(conninfo) as warehouse:
        for spec in _observed(specs, summary, on_outcome):
            try:
                if skip_loaded and already_loaded(warehouse.usable(), spec.slice_key, spec.body()):
                    summary.outcomes.append(
                        SliceOutcome(spec.slice_key, spec.description, OutcomeStatus.SKIPPED)
                    )
                    continue
                manifests = fetch_slice(client, store, spec, page_limit=page_limit)
                results = [warehouse.load(store, m, run_id, spec.description) for m in manifests]
                status = _status_of(results)
                rows = sum(r.rows for r in results if not r.unchanged)
                tokens = sum(m.tokens_spent for m in manifests)
                dropped = sum(r.dropped_buckets for r in results if not r.unchanged)
                summary.outcomes.append(
                    SliceOutcome(
                        spec.slice_key, spec.description, status, rows, tokens, None, dropped
                    )
                )
            except FATAL_ERRORS:
                raise
            except QuarantinedError as exc:
                summary.outcomes.append(
                    SliceOutcome(
                        spec.slice_key,
                        spec.description,
                        OutcomeStatus.QUARANTINED,
                        error=str(exc),
                    )
                )
            except PlacewiseApiError as exc:
                log.error("%s failed: %s", spec.description, exc)
                summary.outcomes.append(
                    SliceOutcome(
                        spec.slice_key, spec.description, OutcomeStatus.FAILED, error=str(exc)
                    )
                )
            except SliceFetchError as exc:
                log.error("%s", exc)
                summary.outcomes.append(
                    SliceOutcome(
                        spec.slice_key, spec.description, OutcomeStatus.FAILED, error=str(exc)
                    )
                )
            except psycopg.OperationalError as exc:
                error = _warehouse_failed(exc)
                log.error("%s failed: %s", spec.description, error)
                summary.outcomes.append(
                    SliceOutcome(
                        spec.slice_key, spec.description, OutcomeStatus.FAILED, error=error
                    )
                )
            except ResultShapeError as exc:
                # A query answer read while fetching (paging, the data-point cap) was malformed.
                error = f"malformed API answer: {exc}"
                log.error("%s failed: %s", spec.description, error)
                summary.outcomes.append(
                    SliceOutcome(
                        spec.slice_key, spec.description, OutcomeStatus.FAILED, error=error
                    )
                )
        warehouse.analyze()
    return summary


def _status_of(results: list[LoadResult]) -> OutcomeStatus:
    """The outcome of a slice from the loads of its manifests (several for a split query)."""
    if results and all(r.unchanged for r in results):
        return OutcomeStatus.UNCHANGED
    if results and all(r.superseded or r.unchanged for r in results):
        return OutcomeStatus.SUPERSEDED
    return OutcomeStatus.LOADED


def _window_overlaps(manifest: SliceManifest, first: date | None, last: date | None) -> bool:
    if manifest.window_start is None or manifest.window_end is None:
        return True
    start = datetime.fromisoformat(manifest.window_start).date()
    end = datetime.fromisoformat(manifest.window_end)
    if first is not None and end <= datetime(first.year, first.month, first.day):
        return False
    return not (last is not None and start > last)


def select_manifests(
    store: LandingStore,
    *,
    reports: Iterable[str] | None = None,
    club_ids: Iterable[int] | None = None,
    first_day: date | None = None,
    last_day: date | None = None,
    include_tenants: bool = True,
) -> list[SliceManifest]:
    """The newest landed manifest of every slice matching the filters, in the order fetched.

    Slices of one report, scope and aggregation can overlap (a nightly window and a later
    backfill window share days); loading them oldest fetch first makes the newest answer of
    every partition the one that stays, as it was when they were first loaded.
    """
    wanted_reports = set(reports) if reports else None
    wanted_scopes = {f"club:{c}" for c in club_ids} if club_ids else None
    chosen: list[SliceManifest] = []
    for report in sorted(wanted_reports) if wanted_reports else [None]:
        for manifest in store.latest_manifests(report).values():
            if manifest.status != ManifestStatus.LANDED:
                continue
            is_tenants = not manifest.scope.startswith("club:")
            if is_tenants and not include_tenants:
                continue
            if wanted_scopes is not None and not is_tenants and manifest.scope not in wanted_scopes:
                continue
            if not _window_overlaps(manifest, first_day, last_day):
                continue
            chosen.append(manifest)
    return sorted(chosen, key=lambda m: (m.fetched_at, m.window_start or "", m.slice_key))


def replay(
    manifests: Iterable[SliceManifest],
    *,
    store: LandingStore,
    conninfo: str,
    run_id: str | None = None,
    on_outcome: OutcomeObserver | None = None,
) -> SyncSummary:
    """Reload landed slices into the warehouse without calling the API.

    Each body is checked against its sha256 first: a landing root that was tampered with or
    damaged fails loudly rather than loading something else than what the API sent.
    """
    summary = SyncSummary()
    with _Warehouse(conninfo) as warehouse:
        for manifest in _observed(manifests, summary, on_outcome):
            description = f"replay {manifest.slice_key}"
            broken = [store.locate(p) for p in manifest.parts if not store.verify(p)]
            if broken:
                summary.outcomes.append(
                    SliceOutcome(
                        manifest.slice_key,
                        description,
                        OutcomeStatus.FAILED,
                        error="landed body missing or not matching its sha256: "
                        + ", ".join(broken),
                    )
                )
                continue
            try:
                result = warehouse.load(store, manifest, run_id, description)
            except psycopg.OperationalError as exc:
                summary.outcomes.append(
                    SliceOutcome(
                        manifest.slice_key,
                        description,
                        OutcomeStatus.FAILED,
                        error=_warehouse_failed(exc),
                    )
                )
                continue
            except QuarantinedError as exc:
                summary.outcomes.append(
                    SliceOutcome(
                        manifest.slice_key, description, OutcomeStatus.QUARANTINED, error=str(exc)
                    )
                )
                continue
            status = _status_of([result])
            loaded = status == OutcomeStatus.LOADED
            summary.outcomes.append(
                SliceOutcome(
                    manifest.slice_key,
                    description,
                    status,
                    result.rows if loaded else 0,
                    dropped_buckets=result.dropped_buckets if loaded else 0,
                )
            )
        warehouse.analyze()
    return summary
