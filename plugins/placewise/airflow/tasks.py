"""The Airflow side of the DAGs' tasks: XCom payloads in, ``placewise.service`` calls, payloads out.

``placewise.airflow.dags`` wraps these in TaskFlow tasks; the operations themselves live in
``placewise.service`` (shared with the CLI and the demo). What is here only exists because of
Airflow: values passed between tasks are small JSON-able ``TypedDict``s (XCom, dynamic task
mapping), every unit of work reports a typed outcome, and a run with failed slices raises so
Airflow marks it failed. Nothing here imports Airflow itself; the task context arrives as
arguments.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from enum import StrEnum
from typing import NotRequired, TypedDict

from placewise import service
from placewise.api.fairness import NIGHTLY
from placewise.api.settings import ApiSettings
from placewise.config import PipelineSettings
from placewise.doctor import render_table
from placewise.progress import ProgressReporter
from placewise.registry import Club
from placewise.service import BackfillEstimate
from placewise.sync import OutcomeStatus, SyncSummary

log = logging.getLogger(__name__)


class SyncFailedError(RuntimeError):
    """Some slices failed; the message names each of them."""


# --- payloads -------------------------------------------------------------------------------------


class OutcomeKind(StrEnum):
    """Which unit of work an outcome reports on (the summary task counts the ``club`` ones)."""

    CLUB = "club"
    TENANTS = "tenants"
    REPLAY = "replay"
    RUN = "run"  # the run as a whole (e.g. mapped club tasks that never reported)


class ClubPayload(TypedDict):
    """A registry club as XCom / dynamic-task-mapping data."""

    id: int
    name: str
    timezone: str | None
    enabled: bool
    reports: list[str]


class DaysPayload(TypedDict):
    """Club-local days, inclusive, as ISO dates."""

    first_day: str
    last_day: str


class WorkItem(TypedDict):
    """One mapped ``sync_club`` task's arguments."""

    club: ClubPayload
    window: DaysPayload


class FailedSlice(TypedDict):
    """One failed slice (or a unit that failed as a whole: then only the last three keys)."""

    slice_key: NotRequired[str]
    rows: NotRequired[int]
    tokens: NotRequired[int]
    status: str
    description: str
    error: str | None


class OutcomePayload(TypedDict):
    """What one task did: counts per status, the failed slices and the summary text."""

    kind: OutcomeKind
    label: str
    loaded: int
    unchanged: int
    skipped: int
    failed: int
    quarantined: int
    rows: int
    tokens: int
    failures: list[FailedSlice]
    text: str


class BackfillParams(TypedDict, total=False):
    """``placewise_backfill``'s params (empty dates: the last 30 days before the run)."""

    start_date: str | None
    end_date: str | None
    clubs: list[int | str]
    reports: list[str]
    priority: str


class ReplayParams(TypedDict, total=False):
    """``placewise_replay``'s params (empty = everything landed)."""

    start_date: str | None
    end_date: str | None
    clubs: list[int | str]
    reports: list[str]


def club_payload(club: Club) -> ClubPayload:
    """A club as a small dict for XCom / dynamic task mapping."""
    return {
        "id": club.id,
        "name": club.name,
        "timezone": club.timezone,
        "enabled": club.enabled,
        "reports": list(club.reports),
    }


def club_from_payload(payload: ClubPayload) -> Club:
    """The club a mapped task was given."""
    return Club(
        payload["id"],
        payload["name"],
        payload["timezone"],
        payload["enabled"],
        tuple(payload["reports"]),
    )


def work_items(clubs: Iterable[Club], first: date, last: date) -> list[WorkItem]:
    """One ``{club, window}`` item per club: the mapped sync tasks expand over this list."""
    window: DaysPayload = {"first_day": first.isoformat(), "last_day": last.isoformat()}
    return [{"club": club_payload(club), "window": window} for club in clubs]


def club_label(club: ClubPayload) -> str:
    return f"club {club['id']} ({club['name']})"


def summary_payload(kind: OutcomeKind, label: str, summary: SyncSummary) -> OutcomePayload:
    """A run summary as a small dict (XCom), with the failed slices spelled out."""
    return {
        "kind": kind,
        "label": label,
        "loaded": summary.count(OutcomeStatus.LOADED),
        "unchanged": summary.count(OutcomeStatus.UNCHANGED),
        "skipped": summary.count(OutcomeStatus.SKIPPED),
        "failed": summary.count(OutcomeStatus.FAILED),
        "quarantined": summary.count(OutcomeStatus.QUARANTINED),
        "rows": summary.rows,
        "tokens": summary.tokens,
        "failures": [
            {
                "slice_key": o.slice_key,
                "description": o.description,
                "status": str(o.status),
                "rows": o.rows,
                "tokens": o.tokens,
                "error": o.error,
            }
            for o in summary.failures
        ],
        "text": summary.text(),
    }


def failure_payload(kind: OutcomeKind, label: str, exc: BaseException) -> OutcomePayload:
    """A summary for a unit of work that failed as a whole (bad token, registry error, ...)."""
    error = f"{type(exc).__name__}: {exc}"
    return {
        "kind": kind,
        "label": label,
        "loaded": 0,
        "unchanged": 0,
        "skipped": 0,
        "failed": 1,
        "quarantined": 0,
        "rows": 0,
        "tokens": 0,
        "failures": [{"status": str(OutcomeStatus.FAILED), "description": label, "error": error}],
        "text": f"{label} failed: {error}",
    }


def check_outcomes(payloads: Iterable[OutcomePayload | None]) -> str:
    """Combine the summaries of a run; raise with every failed slice named if any failed."""
    lines: list[str] = []
    failed: list[str] = []
    for payload in payloads:
        if not payload:
            continue
        lines.append(f"{payload['label']}: {payload['text'].splitlines()[0]}")
        failed.extend(
            f"{payload['label']}: {f['status']} {f['description']}: {f['error']}"
            for f in payload["failures"]
        )
    text = "\n".join(lines)
    if failed:
        raise SyncFailedError(
            f"{len(failed)} slice(s) failed:\n" + "\n".join(failed) + "\n\nRun summary:\n" + text
        )
    return text


def summarise_run(
    payloads: Iterable[OutcomePayload | None], items: Sequence[WorkItem] | None
) -> str:
    """The summary task: every outcome of the run, plus a failure for each mapped club task
    that ended without reporting one (killed worker, upstream failure); raises if any failed."""
    collected = [p for p in payloads if p]
    if items is not None:
        reported = sum(1 for p in collected if p["kind"] == OutcomeKind.CLUB)
        if reported < len(items):
            missing = len(items) - reported
            collected.append(
                failure_payload(
                    OutcomeKind.RUN,
                    "clubs",
                    RuntimeError(f"{missing} club task(s) ended without a report"),
                )
            )
    return check_outcomes(collected)


def run_and_report(
    push: Callable[[OutcomePayload], None],
    kind: OutcomeKind,
    label: str,
    work: Callable[[], SyncSummary],
) -> OutcomePayload:
    """Run ``work()``; ``push`` its outcome (the ``outcome`` XCom) even when it fails, then raise
    if any slice failed, so the task fails and the summary task can name every failed slice."""
    try:
        payload = summary_payload(kind, label, work())
    except Exception as exc:
        push(failure_payload(kind, label, exc))
        raise
    push(payload)
    check_outcomes([payload])
    return payload


# --- the work of each task ------------------------------------------------------------------------


def task_progress(label: str, settings: PipelineSettings) -> ProgressReporter:
    """Progress lines in the task log, one every ``PLACEWISE_PROGRESS_EVERY`` slices."""
    return ProgressReporter.for_log(log.info, label=label, every=settings.progress_every)


def parse_day(value: object, name: str) -> date:
    """A param or XCom day (ISO text or a date); a bad one names the param."""
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{name} must be a date (YYYY-MM-DD), got {value!r}") from None


def plan_nightly(
    settings: PipelineSettings, conninfo: str, interval_start: date, *, is_backfill: bool
) -> list[WorkItem]:
    """Register the clubs and plan the nightly days (Airflow backfill runs: one day each)."""
    restatement = 0 if is_backfill else settings.restatement_days
    first, last = service.nightly_days(interval_start, restatement)
    service.register_clubs(conninfo, settings)
    return work_items(service.select_clubs(settings), first, last)


def backfill_days(params: BackfillParams, today: date) -> tuple[date, date]:
    """The backfill's days from its params; empty dates mean the last 30 days before today."""
    default_first, default_last = service.default_backfill_days(today)
    start, end = params.get("start_date"), params.get("end_date")
    first = parse_day(start, "start_date") if start else default_first
    last = parse_day(end, "end_date") if end else default_last
    if last < first:
        raise ValueError(f"end_date {last} is before start_date {first}")
    if last >= today:
        raise ValueError(f"end_date {last} must be before today (UTC)")
    return first, last


def _club_ids(values: Sequence[int | str] | None, name: str) -> list[int] | None:
    try:
        return [int(c) for c in values or []] or None
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a list of club ids, got {values!r}") from None


def plan_backfill(
    settings: PipelineSettings, conninfo: str, params: BackfillParams, today: date
) -> tuple[list[WorkItem], BackfillEstimate]:
    """Register the clubs, plan the backfill's windows and estimate its cost; no API call."""
    first, last = backfill_days(params, today)
    service.token_floor(params.get("priority", "normal"), settings)  # fail before spending
    service.register_clubs(conninfo, settings)
    clubs = service.select_clubs(settings, _club_ids(params.get("clubs"), "clubs"))
    service.use_live_catalog(conninfo)  # a report the API's Metadata adds is a known name
    service.check_report_names(params.get("reports"), clubs)
    estimate = service.estimate_backfill(clubs, first, last, settings, params.get("reports"))
    return work_items(clubs, first, last), estimate


def sync_club(
    item: WorkItem,
    *,
    settings: PipelineSettings,
    api: ApiSettings,
    conninfo: str,
    run_id: str,
    skip_loaded: bool,
    backfill: BackfillParams | None = None,
) -> SyncSummary:
    """Extract -> land -> load every slice of one club (a backfill: its reports and priority)."""
    service.use_live_catalog(conninfo)
    club = club_from_payload(item["club"])
    reports = (backfill or {}).get("reports") or None
    priority = backfill.get("priority", "normal") if backfill is not None else NIGHTLY
    specs = service.plan_for_club(
        club,
        parse_day(item["window"]["first_day"], "first_day"),
        parse_day(item["window"]["last_day"], "last_day"),
        settings,
        reports,
    )
    return service.sync(
        specs,
        settings=settings,
        api=api,
        conninfo=conninfo,
        run_id=run_id,
        skip_loaded=skip_loaded,
        priority=priority,
        progress=task_progress(club_label(item["club"]), settings),
    )


def tenants_label(
    items: Sequence[WorkItem],
    reports: Sequence[str] | None,
    settings: PipelineSettings | None = None,
) -> tuple[str, bool]:
    """The tenants task's label, and whether it has slices to sync (with ``settings``: also
    whether the configured API serves cross-club totals at all)."""
    club_ids = [item["club"]["id"] for item in items]
    skipped = service.tenants_skip_reason(club_ids, reports, settings)
    if skipped is not None:
        return f"tenants (skipped: {skipped})", False
    return f"tenants {sorted(club_ids)}", True


def sync_tenants(
    items: Sequence[WorkItem],
    *,
    settings: PipelineSettings,
    api: ApiSettings,
    conninfo: str,
    run_id: str,
    skip_loaded: bool,
    priority: str,
) -> SyncSummary:
    """The cross-club tenants exports that carry the API's own ``total_*`` figures."""
    window = items[0]["window"]
    specs = service.plan_cross_club(
        [club_from_payload(item["club"]) for item in items],
        parse_day(window["first_day"], "first_day"),
        parse_day(window["last_day"], "last_day"),
        settings,
    )
    return service.sync(
        specs,
        settings=settings,
        api=api,
        conninfo=conninfo,
        run_id=run_id,
        skip_loaded=skip_loaded,
        priority=priority,
        progress=task_progress("tenants", settings),
    )


def replay_slices(
    params: ReplayParams, *, settings: PipelineSettings, conninfo: str, run_id: str
) -> SyncSummary:
    """Reload chosen slices from the landing root; no API call is made."""
    start, end = params.get("start_date"), params.get("end_date")
    return service.replay_landed(
        settings=settings,
        conninfo=conninfo,
        run_id=run_id,
        reports=params.get("reports") or None,
        club_ids=_club_ids(params.get("clubs"), "clubs"),
        first_day=parse_day(start, "start_date") if start else None,
        last_day=parse_day(end, "end_date") if end else None,
        progress=task_progress("replay", settings),
    )


def describe_estimate(estimate: BackfillEstimate) -> str:
    """The plan line a backfill logs before it spends anything."""
    return (
        f"Backfill plan: {estimate['days']} days x {estimate['clubs']} clubs, "
        f"{estimate['tokens_total']} API tokens, ETA ~{estimate['eta_seconds']} s "
        f"(newest day first; slices already loaded by the same request are skipped)"
    )


# --- the doctor -----------------------------------------------------------------------------------


class DoctorParams(TypedDict, total=False):
    """The ``placewise_doctor`` DAG's params."""

    max_tokens: int


class DoctorPayload(TypedDict):
    """What a doctor run found, as XCom: spent tokens, the readings and what blocks."""

    run_id: str
    tokens_spent: int
    max_tokens: int
    differences: dict[str, str]
    unknown: list[str]
    blockers: list[str]
    settings_file: str | None


class DoctorBlockedError(RuntimeError):
    """The API differs in a way the pipeline cannot absorb; the message says what to change."""


def run_doctor(
    params: DoctorParams,
    *,
    settings: PipelineSettings,
    api: ApiSettings,
    conninfo: str,
    run_id: str,
    log_line: Callable[[str], None] = log.info,
) -> DoctorPayload:
    """``placewise doctor`` as a task: log the plan and the table, store the findings, write the
    settings file; raise ``DoctorBlockedError`` (after logging) when something cannot be
    absorbed."""
    raw = params.get("max_tokens", service.DEFAULT_MAX_TOKENS)
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise ValueError(f"max_tokens must be a whole number of tokens >= 0, got {raw!r}")
    outcome = service.doctor(
        settings, api, conninfo=conninfo, run_id=run_id, max_tokens=raw, show_plan=log_line
    )
    result = outcome.result
    log_line(render_table(result.findings))
    log_line(f"{result.tokens_spent} of at most {result.max_tokens} tokens spent")
    if outcome.settings_file is not None:
        log_line(
            f"readings written to {outcome.settings_file} on this worker "
            "(PLACEWISE_API_CONTRACT_FILE; point it at storage every worker reads)"
        )
    for blocker in result.blockers:
        log_line(f"cannot absorb: {blocker}")
    if result.blockers:
        raise DoctorBlockedError("; ".join(result.blockers))
    return {
        "run_id": outcome.run_id,
        "tokens_spent": result.tokens_spent,
        "max_tokens": result.max_tokens,
        "differences": result.variants.differences(),
        "unknown": list(result.unknown),
        "blockers": list(result.blockers),
        "settings_file": str(outcome.settings_file) if outcome.settings_file else None,
    }


__all__ = [
    "BackfillParams",
    "ClubPayload",
    "DoctorBlockedError",
    "DoctorParams",
    "DoctorPayload",
    "OutcomeKind",
    "OutcomePayload",
    "ReplayParams",
    "SyncFailedError",
    "WorkItem",
    "check_outcomes",
    "club_payload",
    "failure_payload",
    "summarise_run",
    "summary_payload",
]
