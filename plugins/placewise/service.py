"""The pipeline's operations as plain functions: plan, sync, replay, migrate, register clubs,
and the doctor that checks an API before the first sync.

The ``placewise`` CLI, the Airflow tasks (``placewise.airflow``) and the demo all call these, so
each operation is built one way only: the same client, pacer and landing store for a sync
whichever door it came through. Arguments are settings objects, a warehouse URL and domain types
(``Club``, ``SliceSpec``, ``SyncSummary``); turning Airflow Connections into settings and results
into XCom payloads is the Airflow layer's job. Nothing here imports Airflow.

Every operation that writes to the warehouse expects it migrated (``migrate``) and otherwise
fails with ``WarehouseNotMigratedError``, whose message says to run ``placewise migrate``.
Operations with a warehouse first install the API's cached report Metadata as the live catalog
(``use_live_catalog``), so a report or aggregation only the API describes plans and loads too.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TypedDict

import httpx

from placewise.api.catalog import known_reports
from placewise.api.client import PlacewiseClient
from placewise.api.fairness import NIGHTLY
from placewise.api.pacing import PostgresPacer
from placewise.api.settings import ApiSettings
from placewise.api.variants import ApiVariants, VariantsFileError, load_variants
from placewise.config import PipelineSettings
from placewise.doctor import DEFAULT_MAX_TOKENS, DoctorResult, run_doctor, write_settings
from placewise.doctor.store import load_live_catalog, store_findings
from placewise.extract.plan import (
    SliceSpec,
    plan_club,
    plan_tenants,
    tenants_unavailable_reason,
    total_cost,
)
from placewise.landing.store import LandingStore
from placewise.progress import ProgressReporter
from placewise.registry import Club, enabled_clubs, load_registry
from placewise.sync import SyncSummary, replay, select_manifests, sync_slices
from placewise.warehouse.schema import OPS_SCHEMA, connect_migrated, migrate_warehouse

log = logging.getLogger(__name__)

#: Days a backfill covers when it is started without dates: the 30 days before today.
DEFAULT_BACKFILL_DAYS = 30
#: How many ``backfill_token_reserve``s a backfill leaves in the shared bucket, by priority.
BACKFILL_RESERVE_LEVELS = {"low": 2, "normal": 1, "high": 0}
#: The report whose cross-club tenants exports carry the API's own ``total_*`` figures.
TENANTS_REPORT = "sendings_stats"


class PlanError(ValueError):
    """A selection plans nothing (no enabled club, no registered report); says which."""


class NothingToReplayError(ValueError):
    """The landing root holds no slice matching a replay's filters."""


# --- planning -------------------------------------------------------------------------------------


def nightly_days(interval_start: date, restatement_days: int) -> tuple[date, date]:
    """Local days a nightly run covers: its data interval's day plus the restatement window."""
    return interval_start - timedelta(days=restatement_days), interval_start


def default_backfill_days(today: date) -> tuple[date, date]:
    """The last ``DEFAULT_BACKFILL_DAYS`` days before ``today``: a backfill without dates.

    Computed when a run starts, never when a DAG file is parsed, so the defaults a run uses do
    not depend on the day the scheduler last read the file.
    """
    return today - timedelta(days=DEFAULT_BACKFILL_DAYS), today - timedelta(days=1)


def select_clubs(settings: PipelineSettings, club_ids: Sequence[int] | None = None) -> list[Club]:
    """Enabled clubs of the registry (or the listed ones, which must exist in it)."""
    clubs = load_registry(settings.clubs_file)
    if club_ids:
        by_id = {c.id: c for c in clubs}
        missing = [c for c in club_ids if c not in by_id]
        if missing:
            raise ValueError(f"clubs {missing} are not in the registry {settings.clubs_file}")
        return [by_id[c] for c in club_ids]
    return enabled_clubs(clubs)


def check_report_names(reports: Sequence[str] | None, clubs: Sequence[Club]) -> None:
    """Refuse a requested report the catalog does not know (the static one, and the API's
    Metadata once ``placewise doctor`` cached it, which is how a registry may name more): it
    would plan nothing, so a typo would pass silently.

    A known report that only some of ``clubs`` are registered for is fine: each club plans the
    reports it has; a selection that plans nothing at all is refused by ``plan_sync``.
    """
    known = set(known_reports())
    unknown = [r for r in dict.fromkeys(reports or []) if r not in known]
    if unknown:
        raise PlanError(
            f"unknown report(s) {unknown} for clubs {[c.id for c in clubs]}: the catalog does "
            f"not name them (run `placewise doctor` to cache the API's Metadata); known "
            f"reports: {', '.join(sorted(known))}"
        )


def plan_for_club(
    club: Club,
    first_day: date,
    last_day: date,
    settings: PipelineSettings,
    reports: Sequence[str] | None = None,
) -> list[SliceSpec]:
    """The slices of one club, limited to the reports it is registered for (and asked for)."""
    wanted = [r for r in club.reports if not reports or r in reports]
    return plan_club(
        club.id,
        first_day,
        last_day,
        reports=wanted,
        use_export=settings.use_export,
        variants=settings.api_variants(),
    )


def tenants_skip_reason(
    club_ids: Sequence[int],
    reports: Sequence[str] | None = None,
    settings: PipelineSettings | None = None,
) -> str | None:
    """Why the tenants slices are left out of a run, or None when they belong in it.

    With ``settings``, also when the configured API can serve no cross-club totals at all
    (``tenants_unavailable_reason``).
    """
    if not club_ids:
        return "no clubs"
    if len(club_ids) < 2:
        return "they need at least two clubs"
    if reports and TENANTS_REPORT not in reports:
        return f"{TENANTS_REPORT} not requested"
    if settings is not None:
        return tenants_unavailable_reason(settings.api_variants())
    return None


def plan_cross_club(
    clubs: Sequence[Club],
    first_day: date,
    last_day: date,
    settings: PipelineSettings,
) -> list[SliceSpec]:
    """The cross-club slices of the API's own totals for ``clubs``, the way the configured API
    serves them (endpoint and timezone groups, ``extract.plan.plan_tenants``); empty, with the
    reason logged, when it serves none.

    The timezone groups come from configuration only (the registry's ``timezone`` and the API
    settings file), never from what the warehouse holds: the same nights then always ask the
    same requests, so a rerun, a CLI sync and the nightly own the same cross-club partitions
    whatever order the club loads finished in.
    """
    variants = settings.api_variants()
    reason = tenants_unavailable_reason(variants)
    if reason is not None:
        log.warning("cross-club totals skipped: %s", reason)
        return []
    return plan_tenants(
        [c.id for c in clubs],
        first_day,
        last_day,
        variants=variants,
        timezones={c.id: c.timezone for c in clubs},
    )


@dataclass(frozen=True)
class SyncPlan:
    """The slices of a sync over chosen clubs and days, before anything is spent."""

    clubs: list[Club]
    specs: list[SliceSpec]
    first_day: date
    last_day: date
    tenants_skipped: str | None = None

    @property
    def club_ids(self) -> list[int]:
        return [c.id for c in self.clubs]

    @property
    def tokens(self) -> int:
        return total_cost(self.specs)


def plan_sync(
    settings: PipelineSettings,
    first_day: date,
    last_day: date,
    *,
    club_ids: Sequence[int] | None = None,
    reports: Sequence[str] | None = None,
    tenants: bool = False,
) -> SyncPlan:
    """The slices of the chosen clubs (default: every enabled one) and, with ``tenants``, the
    cross-club tenants slices; raises ``PlanError`` when the selection plans nothing."""
    if last_day < first_day:
        raise PlanError(f"last day {last_day} is before first day {first_day}")
    clubs = select_clubs(settings, list(dict.fromkeys(club_ids)) if club_ids else None)
    if not clubs:
        raise PlanError(f"no enabled club in the registry {settings.clubs_file}")
    check_report_names(reports, clubs)
    specs = [
        spec
        for club in clubs
        for spec in plan_for_club(club, first_day, last_day, settings, reports)
    ]
    ids = [c.id for c in clubs]
    skipped = None
    if tenants:
        skipped = tenants_skip_reason(ids, settings=settings)
        if skipped is None:
            specs += plan_cross_club(clubs, first_day, last_day, settings)
        else:
            log.info("cross-club totals not planned: %s", skipped)
    if not specs:
        raise PlanError(
            f"nothing to plan: clubs {ids} are not registered for reports {list(reports or [])}"
        )
    return SyncPlan(clubs, specs, first_day, last_day, skipped)


class BackfillEstimate(TypedDict):
    """Token cost and a rough ETA of a backfill (plain data: logged and kept as an XCom)."""

    days: int
    clubs: int
    tokens_per_club: dict[int, int]
    tokens_tenants: int
    tokens_total: int
    eta_seconds: int


def estimate_backfill(
    clubs: Iterable[Club],
    first_day: date,
    last_day: date,
    settings: PipelineSettings,
    reports: Sequence[str] | None = None,
) -> BackfillEstimate:
    """Token cost and a rough ETA of a backfill, computed before anything is spent.

    The ETA assumes the API refills each bucket at the configured rate and that per-club buckets
    drain in parallel (clubs have their own Customer bucket), minus the reserve left to nightly.
    """
    clubs = list(clubs)
    per_club = {
        c.id: total_cost(plan_for_club(c, first_day, last_day, settings, reports)) for c in clubs
    }
    tenants = (
        total_cost(plan_cross_club(clubs, first_day, last_day, settings)) if len(clubs) > 1 else 0
    )
    slowest = max([*per_club.values(), tenants], default=0)
    refill = max(settings.rate_refill_per_s, 0.001)
    eta_s = math.ceil(max(slowest - settings.rate_capacity, 0) / refill)
    return {
        "days": (last_day - first_day).days + 1,
        "clubs": len(clubs),
        "tokens_per_club": per_club,
        "tokens_tenants": tenants,
        "tokens_total": sum(per_club.values()) + tenants,
        "eta_seconds": eta_s,
    }


def backfill_reserve(priority: str, settings: PipelineSettings) -> int:
    """Tokens a backfill of ``priority`` leaves in the shared bucket above the nightly floor."""
    if priority not in BACKFILL_RESERVE_LEVELS:
        raise ValueError(
            f"unknown backfill priority {priority!r}; "
            f"use one of {', '.join(BACKFILL_RESERVE_LEVELS)}"
        )
    return BACKFILL_RESERVE_LEVELS[priority] * settings.backfill_token_reserve


def token_floor(priority: str, settings: PipelineSettings) -> int:
    """Tokens a sync of ``priority`` must leave in the shared bucket.

    The nightly run leaves nothing. A backfill, even at ``high``, leaves the nightly floor
    (``nightly_token_floor``) plus its priority's reserve, so a nightly run that starts while a
    backfill runs finds that many tokens waiting. The floor costs a backfill no throughput (it
    still spends every token refilled), only its bursts; at most ``rate_capacity - 1``, which
    means: only from a full bucket.
    """
    if priority == NIGHTLY:
        return 0
    floor = settings.nightly_token_floor + backfill_reserve(priority, settings)
    return min(floor, settings.rate_capacity - 1)


# --- running --------------------------------------------------------------------------------------


def build_pacer(
    settings: PipelineSettings, conninfo: str, *, priority: str = NIGHTLY
) -> PostgresPacer:
    """The warehouse's shared token buckets, for a sync of ``priority`` (its line and floor)."""
    return PostgresPacer(
        conninfo,
        capacity=settings.rate_capacity,
        refill_per_s=settings.rate_refill_per_s,
        reserve=token_floor(priority, settings),
        priority=priority,
    )


@contextlib.contextmanager
def _reporting(progress: ProgressReporter | None, total: int) -> Iterator[None]:
    """Start ``progress`` for ``total`` slices; finish it, or interrupt it if the run raised."""
    if progress is None:
        yield
        return
    progress.start(total)
    try:
        yield
    except BaseException:
        progress.interrupt()
        raise
    progress.finish()


def sync(
    specs: Sequence[SliceSpec],
    *,
    settings: PipelineSettings,
    api: ApiSettings,
    conninfo: str,
    run_id: str,
    skip_loaded: bool = False,
    priority: str = NIGHTLY,
    progress: ProgressReporter | None = None,
) -> SyncSummary:
    """Fetch -> land -> load planned slices with the shared pacer; return what happened.

    ``priority`` is the sync's place in the pacer's line: ``nightly`` for the scheduled run,
    ``low``/``normal``/``high`` for a backfill (``token_floor`` says what each leaves).
    ``progress`` is told the number of slices, then each slice's outcome, then that the run
    finished (or was interrupted by a fatal error: a terminal's bar line is ended).
    """
    use_live_catalog(conninfo)
    store = LandingStore(settings.landing_root)
    pacer = build_pacer(settings, conninfo, priority=priority)
    with (
        contextlib.closing(pacer),
        PlacewiseClient(api, pacer=pacer, variants=settings.api_variants()) as client,
        _reporting(progress, len(specs)),
    ):
        summary = sync_slices(
            specs,
            client=client,
            store=store,
            conninfo=conninfo,
            run_id=run_id,
            skip_loaded=skip_loaded,
            on_outcome=progress,
        )
    log.info("%s", summary.text())
    return summary


def replay_landed(
    *,
    settings: PipelineSettings,
    conninfo: str,
    run_id: str,
    reports: Sequence[str] | None = None,
    club_ids: Sequence[int] | None = None,
    first_day: date | None = None,
    last_day: date | None = None,
    progress: ProgressReporter | None = None,
) -> SyncSummary:
    """Reload the newest landed version of every matching slice; no API call is made."""
    use_live_catalog(conninfo)
    if first_day is not None and last_day is not None and last_day < first_day:
        raise ValueError(f"last day {last_day} is before first day {first_day}")
    store = LandingStore(settings.landing_root)
    manifests = select_manifests(
        store, reports=reports, club_ids=club_ids, first_day=first_day, last_day=last_day
    )
    if not manifests:
        raise NothingToReplayError(
            f"nothing to replay in {settings.landing_root} for reports={list(reports or [])} "
            f"clubs={list(club_ids or [])} days={first_day or '...'}..{last_day or '...'}"
        )
    with _reporting(progress, len(manifests)):
        summary = replay(
            manifests, store=store, conninfo=conninfo, run_id=run_id, on_outcome=progress
        )
    log.info("%s", summary.text())
    return summary


# --- the warehouse --------------------------------------------------------------------------------


def migrate(conninfo: str) -> None:
    """Create or update the pipeline's schemas and tables (idempotent; ``placewise migrate``)."""
    migrate_warehouse(conninfo)


def register_clubs(conninfo: str, settings: PipelineSettings) -> int:
    """Mirror the registry into ``placewise_ops.clubs`` (read by dbt's ``dim_loyalty_clubs``)."""
    use_live_catalog(conninfo)
    clubs = load_registry(settings.clubs_file)
    with connect_migrated(conninfo) as conn, conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            f"""
            insert into {OPS_SCHEMA}.clubs (loyalty_club_id, name, timezone, enabled, reports,
                                            updated_at)
            values (%s, %s, %s, %s, %s, now())
            on conflict (loyalty_club_id) do update set
                name = excluded.name, timezone = excluded.timezone,
                enabled = excluded.enabled, reports = excluded.reports,
                updated_at = excluded.updated_at
            where (clubs.name, clubs.timezone, clubs.enabled, clubs.reports)
                is distinct from
                (excluded.name, excluded.timezone, excluded.enabled, excluded.reports)
            """,
            [(c.id, c.name, c.timezone, c.enabled, list(c.reports)) for c in clubs],
        )
    return len(clubs)


# --- the API's own account of itself ------------------------------------------------------------


def use_live_catalog(conninfo: str) -> int:
    """Install the report Metadata ``placewise doctor`` cached in the warehouse as the live
    catalog (the static catalog answers for the rest); the number of reports it describes."""
    return len(load_live_catalog(conninfo))


@dataclass(frozen=True)
class DoctorOutcome:
    """A doctor run: what it found, where the settings went, how many findings were stored."""

    result: DoctorResult
    run_id: str
    settings_file: Path | None
    findings_stored: int | None


def doctor(
    settings: PipelineSettings,
    api: ApiSettings,
    *,
    conninfo: str | None,
    run_id: str,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    show_plan: Callable[[str], None] | None = None,
    transport: httpx.BaseTransport | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> DoctorOutcome:
    """Probe the API for the registry's enabled clubs and reports within ``max_tokens``.

    The readings found go to the API settings file (``settings.api_contract_file``) unless the
    API could not be reached or refused every credential; with a warehouse, the findings and
    the Metadata read go to ``placewise_ops.api_findings`` and ``report_metadata``.
    """
    clubs = load_registry(settings.clubs_file, check_reports=False)
    try:
        previous = load_variants(settings.api_contract_file)
    except VariantsFileError as exc:
        log.warning("%s; the doctor writes a new one from the assumed readings", exc)
        previous = ApiVariants()
    result = run_doctor(
        api,
        clubs,
        max_tokens=max_tokens,
        previous=previous,
        transport=transport,
        now=now,
        show_plan=show_plan,
        use_export=settings.use_export,
    )
    written = None
    if result.aborted is None:
        write_settings(settings.api_contract_file, result, api.base_url)
        written = settings.api_contract_file
    stored = None
    if conninfo:
        stored = store_findings(conninfo, run_id, result, api.base_url)
    return DoctorOutcome(result, run_id, written, stored)
