"""What the DAGs' tasks do, as plain functions of plain arguments.

The DAG builders in ``placewise.airflow.dags`` wrap these in TaskFlow tasks; keeping the work here
makes every step callable (and testable) without a scheduler. Values passed between tasks are
small JSON-able dicts (XCom), never data.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import date, timedelta
from typing import Any

from placewise.api.client import PlacewiseClient
from placewise.api.pacing import PostgresPacer
from placewise.config import PipelineSettings
from placewise.extract.plan import SliceSpec, plan_club, plan_tenants, total_cost
from placewise.landing.store import LandingStore
from placewise.registry import Club, enabled_clubs, load_registry
from placewise.sync import SyncSummary, replay, select_manifests, sync_slices
from placewise.warehouse.schema import OPS_SCHEMA, connect

log = logging.getLogger(__name__)


class SyncFailedError(RuntimeError):
    """Some slices failed; the message names each of them."""


def club_payload(club: Club) -> dict[str, Any]:
    """A club as a small dict for XCom / dynamic task mapping."""
    return {
        "id": club.id,
        "name": club.name,
        "timezone": club.timezone,
        "enabled": club.enabled,
        "reports": list(club.reports),
    }


def nightly_days(interval_start: date, restatement_days: int) -> tuple[date, date]:
    """Local days a nightly run covers: its data interval's day plus the restatement window."""
    return interval_start - timedelta(days=restatement_days), interval_start


def select_clubs(
    settings: PipelineSettings, club_ids: Sequence[int] | None = None
) -> list[dict[str, Any]]:
    """Enabled clubs of the registry (or the listed ones, which must exist in it)."""
    clubs = load_registry(settings.clubs_file)
    if club_ids:
        by_id = {c.id: c for c in clubs}
        missing = [c for c in club_ids if c not in by_id]
        if missing:
            raise ValueError(f"clubs {missing} are not in the registry {settings.clubs_file}")
        chosen = [by_id[c] for c in club_ids]
    else:
        chosen = enabled_clubs(clubs)
    return [club_payload(c) for c in chosen]


def register_clubs(conninfo: str, settings: PipelineSettings) -> int:
    """Mirror the registry into ``placewise_ops.clubs`` (read by dbt's ``dim_loyalty_clubs``)."""
    clubs = load_registry(settings.clubs_file)
    with connect(conninfo) as conn, conn.transaction(), conn.cursor() as cur:
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


def _client(settings: PipelineSettings, conninfo: str, api: Any, reserve: int) -> PlacewiseClient:
    pacer = PostgresPacer(
        conninfo,
        capacity=settings.rate_capacity,
        refill_per_s=settings.rate_refill_per_s,
        reserve=reserve,
    )
    return PlacewiseClient(api, pacer=pacer)


def _sync(
    label: str,
    specs: list[SliceSpec],
    settings: PipelineSettings,
    api: Any,
    conninfo: str,
    run_id: str,
    skip_loaded: bool,
    reserve: int,
) -> dict[str, Any]:
    """Run planned slices through the engine with a shared pacer; return the summary payload."""
    store = LandingStore(settings.landing_root)
    with _client(settings, conninfo, api, reserve) as client:
        summary = sync_slices(
            specs,
            client=client,
            store=store,
            conninfo=conninfo,
            run_id=run_id,
            skip_loaded=skip_loaded,
        )
    payload = summary_payload(label, summary)
    log.info("%s", payload["text"])
    return payload


def summary_payload(label: str, summary: SyncSummary) -> dict[str, Any]:
    """A run summary as a small dict (XCom), with the failed slices spelled out."""
    return {
        "label": label,
        "loaded": summary.count("loaded"),
        "skipped": summary.count("skipped"),
        "failed": summary.count("failed"),
        "quarantined": summary.count("quarantined"),
        "rows": summary.rows,
        "tokens": summary.tokens,
        "failures": [asdict(o) for o in summary.failures],
        "text": summary.text(),
    }


def failure_payload(label: str, exc: BaseException) -> dict[str, Any]:
    """A summary for a unit of work that failed as a whole (bad token, registry error, ...)."""
    error = f"{type(exc).__name__}: {exc}"
    return {
        "label": label,
        "loaded": 0,
        "skipped": 0,
        "failed": 1,
        "quarantined": 0,
        "rows": 0,
        "tokens": 0,
        "failures": [{"status": "failed", "description": label, "error": error}],
        "text": f"{label} failed: {error}",
    }


def plan_for_club(
    club: dict[str, Any],
    first_day: date,
    last_day: date,
    settings: PipelineSettings,
    reports: Sequence[str] | None = None,
) -> list[SliceSpec]:
    """The slices of one club, limited to the reports it is registered for (and asked for)."""
    wanted = [r for r in club["reports"] if not reports or r in reports]
    return plan_club(
        club["id"], first_day, last_day, reports=wanted, use_export=settings.use_export
    )


def run_club(
    club: dict[str, Any],
    first_day: date,
    last_day: date,
    *,
    settings: PipelineSettings,
    api: Any,
    conninfo: str,
    run_id: str,
    reports: Sequence[str] | None = None,
    skip_loaded: bool = False,
    reserve: int = 0,
) -> dict[str, Any]:
    """Extract -> land -> load every slice of one club for the given local days."""
    specs = plan_for_club(club, first_day, last_day, settings, reports)
    label = f"club {club['id']} ({club['name']})"
    return _sync(label, specs, settings, api, conninfo, run_id, skip_loaded, reserve)


def run_tenants(
    club_ids: Sequence[int],
    first_day: date,
    last_day: date,
    *,
    settings: PipelineSettings,
    api: Any,
    conninfo: str,
    run_id: str,
    skip_loaded: bool = False,
    reserve: int = 0,
) -> dict[str, Any]:
    """The cross-club tenants exports that carry the API's own ``total_*`` figures."""
    if len(club_ids) < 2:
        return summary_payload("tenants (skipped: fewer than two clubs)", SyncSummary())
    specs = plan_tenants(club_ids, first_day, last_day)
    label = f"tenants {sorted(club_ids)}"
    return _sync(label, specs, settings, api, conninfo, run_id, skip_loaded, reserve)


def run_replay(
    *,
    settings: PipelineSettings,
    conninfo: str,
    run_id: str,
    reports: Sequence[str] | None,
    club_ids: Sequence[int] | None,
    first_day: date | None,
    last_day: date | None,
) -> dict[str, Any]:
    """Reload chosen slices from the landing root; no API call is made."""
    store = LandingStore(settings.landing_root)
    manifests = select_manifests(
        store, reports=reports, club_ids=club_ids, first_day=first_day, last_day=last_day
    )
    if not manifests:
        raise ValueError(
            f"nothing to replay in {settings.landing_root} for reports={reports} "
            f"clubs={club_ids} days={first_day}..{last_day}"
        )
    summary = replay(manifests, store=store, conninfo=conninfo, run_id=run_id)
    payload = summary_payload("replay", summary)
    log.info("%s", payload["text"])
    return payload


def estimate_backfill(
    clubs: Iterable[dict[str, Any]],
    first_day: date,
    last_day: date,
    settings: PipelineSettings,
    reports: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Token cost and a rough ETA of a backfill, computed before anything is spent.

    The ETA assumes the API refills each bucket at the configured rate and that per-club buckets
    drain in parallel (clubs have their own Customer bucket), minus the reserve left to nightly.
    """
    clubs = list(clubs)
    per_club = {
        c["id"]: total_cost(plan_for_club(c, first_day, last_day, settings, reports)) for c in clubs
    }
    tenants = (
        total_cost(plan_tenants([c["id"] for c in clubs], first_day, last_day))
        if len(clubs) > 1
        else 0
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


def check_outcomes(payloads: Iterable[dict[str, Any] | None]) -> str:
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
