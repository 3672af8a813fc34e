"""DAG builders: the wiring of placewise_nightly, placewise_backfill and placewise_replay.

The files in ``dags/`` only call these builders. Building a DAG does no I/O except checking that
the dbt manifest exists: configuration, Connections and the club registry are read inside tasks,
so parsing stays fast and never fails because a service is down.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import Asset, Param, dag, get_current_context, task
from airflow.timetables.trigger import CronTriggerTimetable
from placewise.airflow import docs
from placewise.airflow.connections import api_settings, warehouse_conninfo
from placewise.airflow.dbt import dbt_task_group, grant_bi_access
from placewise.airflow.tasks import (
    check_outcomes,
    estimate_backfill,
    failure_payload,
    nightly_days,
    register_clubs,
    run_club,
    run_replay,
    run_tenants,
    select_clubs,
    summary_payload,
)
from placewise.api.catalog import CATALOG
from placewise.config import REPO_ROOT, PipelineSettings
from placewise.sync import SyncSummary

OWNER = "data-platform"
TAGS = ["placewise", "warehouse"]
START_DATE = datetime(2026, 1, 1, tzinfo=UTC)
DEFAULT_CRON = "30 2 * * *"

RAW_ASSET = Asset(name="placewise_raw", uri="postgres://warehouse:5432/warehouse/placewise_raw/all")
MARTS_ASSET = Asset(
    name="placewise_marts", uri="postgres://warehouse:5432/warehouse/placewise_marts/all"
)


def default_args(priority_weight: int = 10) -> dict[str, Any]:
    """Retries with backoff, a timeout and an owner on every task."""
    return {
        "owner": OWNER,
        "retries": int(os.environ.get("PLACEWISE_TASK_RETRIES", "2")),
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
        "execution_timeout": timedelta(hours=3),
        "priority_weight": priority_weight,
    }


def _dag_settings(
    dag_id: str, schedule: Any, *, priority_weight: int, doc_md: str, tag: str
) -> dict[str, Any]:
    """What every Placewise DAG declares explicitly: no catchup, one run at a time, owner,
    retries and timeouts via default_args, tags and a triage runbook."""
    return {
        "dag_id": dag_id,
        "schedule": schedule,
        "start_date": START_DATE,
        "catchup": False,
        "max_active_runs": 1,
        "default_args": default_args(priority_weight=priority_weight),
        "tags": [*TAGS, tag],
        "doc_md": doc_md,
    }


def _dbt_project_dir() -> Path:
    return Path(os.environ.get("PLACEWISE_DBT_PROJECT_DIR", str(REPO_ROOT / "dbt_project")))


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


@task(task_id="plan", doc_md="Read the club registry and work out the local days to sync.")
def _plan_nightly(data_interval_start: datetime | None = None, dag_run: Any = None) -> list:
    settings = PipelineSettings.from_env()
    is_backfill = str(getattr(dag_run, "run_type", "")).endswith("backfill")
    restatement = 0 if is_backfill else settings.restatement_days
    assert data_interval_start is not None
    first, last = nightly_days(data_interval_start.date(), restatement)
    register_clubs(warehouse_conninfo(), settings)
    return _work_items(select_clubs(settings), first, last)


def _work_items(clubs: list[dict], first: date, last: date) -> list[dict]:
    """One ``{club, window}`` item per club: the mapped sync tasks expand over this list."""
    window = {"first_day": first.isoformat(), "last_day": last.isoformat()}
    return [{"club": club, "window": window} for club in clubs]


def _run_and_report(ti: Any, label: str, work: Any) -> dict:
    """Run ``work()``; push its summary as the ``outcome`` XCom even when it fails, then fail
    the task if any slice failed (so the summary task can name every failed slice)."""
    try:
        payload = work()
    except Exception as exc:
        payload = failure_payload(label, exc)
        ti.xcom_push(key="outcome", value=payload)
        raise
    ti.xcom_push(key="outcome", value=payload)
    check_outcomes([payload])
    return payload


def _sync_club_task(backfill: bool) -> Any:
    @task(
        map_index_template="{{ club_label }}",
        doc_md="Extract -> land -> load every report of one club (one mapped task per club).",
    )
    def sync_club(
        club: dict,
        window: dict,
        params: dict | None = None,
        run_id: str | None = None,
        ti: Any = None,
    ) -> dict:
        get_current_context()["club_label"] = f"{club['id']} {club['name']}"
        settings = PipelineSettings.from_env()
        reserve, reports = 0, None
        if backfill and params:
            level = {"low": 2, "normal": 1, "high": 0}[params.get("priority", "normal")]
            reserve = level * settings.backfill_token_reserve
            reports = params.get("reports") or None
        # A retry (or any backfill) resumes: slices loaded by the same request are skipped.
        skip_loaded = backfill or ti.try_number > 1
        return _run_and_report(
            ti,
            f"club {club['id']} ({club['name']})",
            lambda: run_club(
                club,
                _day(window["first_day"]),
                _day(window["last_day"]),
                settings=settings,
                api=api_settings(),
                conninfo=warehouse_conninfo(),
                run_id=run_id or "",
                reports=reports,
                skip_loaded=skip_loaded,
                reserve=reserve,
            ),
        )

    return sync_club


def _sync_tenants_task(backfill: bool) -> Any:
    @task(doc_md="Cross-club tenants exports: the API's own total_* figures to reconcile with.")
    def sync_tenants(
        items: list, params: dict | None = None, run_id: str | None = None, ti: Any = None
    ) -> dict:
        settings = PipelineSettings.from_env()
        if not items:
            return _run_and_report(
                ti, "tenants", lambda: summary_payload("tenants (no clubs)", SyncSummary())
            )
        club_ids = [item["club"]["id"] for item in items]
        window = items[0]["window"]
        wanted = (params or {}).get("reports") if backfill else None
        if wanted and "sendings_stats" not in wanted:
            return _run_and_report(
                ti, "tenants", lambda: summary_payload("tenants (not requested)", SyncSummary())
            )
        return _run_and_report(
            ti,
            "tenants",
            lambda: run_tenants(
                club_ids,
                _day(window["first_day"]),
                _day(window["last_day"]),
                settings=settings,
                api=api_settings(),
                conninfo=warehouse_conninfo(),
                run_id=run_id or "",
                skip_loaded=backfill or ti.try_number > 1,
                reserve=settings.backfill_token_reserve if backfill else 0,
            ),
        )

    return sync_tenants


@task(
    trigger_rule="all_done",
    outlets=[RAW_ASSET],
    doc_md="Gate: loads finished (some may have failed).",
)
def loads_done() -> None:
    """Let dbt run for every club that loaded, even if another club failed."""


@task(outlets=[MARTS_ASSET], doc_md=docs.SUMMARY_TASK_DOC)
def summary(items: list | None = None, ti: Any = None) -> str:
    """Fail the run, naming every failed club and slice, if anything failed.

    It runs only when dbt succeeded (a dbt failure already fails the run); the loads before dbt
    may have partly failed, which is what this task reports.
    """
    payloads: list[dict | None] = []
    for task_id in ("sync_club", "sync_tenants", "replay_slices"):
        pulled = ti.xcom_pull(task_ids=task_id, key="outcome")
        if pulled is None:
            continue
        payloads.extend(pulled if isinstance(pulled, list) else [pulled])
    club_outcomes = [p for p in payloads if p and str(p.get("label", "")).startswith("club ")]
    if items is not None and len(club_outcomes) < len(items):
        missing = len(items) - len(club_outcomes)
        payloads.append(
            failure_payload("clubs", RuntimeError(f"{missing} club task(s) ended without a report"))
        )
    return check_outcomes(payloads)


def _sync_and_build(items: Any, *, backfill: bool) -> None:
    """Per-club syncs and the tenants exports, then dbt, the BI grants and the summary."""
    clubs = _sync_club_task(backfill=backfill).expand_kwargs(items)
    tenants = _sync_tenants_task(backfill=backfill)(items)
    gate = loads_done()
    [clubs, tenants] >> gate
    project = _dbt_project_dir()
    gate >> dbt_task_group(project) >> grant_bi_access(project) >> summary(items)


def build_nightly() -> Any:
    """``placewise_nightly``: every enabled club, the run's day plus the restatement window."""
    cron = os.environ.get("PLACEWISE_NIGHTLY_CRON", DEFAULT_CRON)

    @dag(
        **_dag_settings(
            "placewise_nightly",
            CronTriggerTimetable(cron, timezone="UTC", interval=timedelta(days=1)),
            priority_weight=10,
            doc_md=docs.NIGHTLY_DOC,
            tag="nightly",
        ),
        dagrun_timeout=timedelta(hours=6),
    )
    def placewise_nightly() -> None:
        _sync_and_build(_plan_nightly(), backfill=False)

    return placewise_nightly()


def build_backfill() -> Any:
    """``placewise_backfill``: operator-triggered, resumable, newest first, yields to nightly."""

    @dag(
        **_dag_settings(
            "placewise_backfill", None, priority_weight=1, doc_md=docs.BACKFILL_DOC, tag="backfill"
        ),
        params={
            "start_date": Param(
                (date.today() - timedelta(days=30)).isoformat(),
                type="string",
                format="date",
                description="First club-local day to load (inclusive).",
            ),
            "end_date": Param(
                (date.today() - timedelta(days=1)).isoformat(),
                type="string",
                format="date",
                description="Last club-local day to load (inclusive).",
            ),
            "clubs": Param([], type="array", description="Club ids; empty = every enabled club."),
            "reports": Param(
                [],
                type="array",
                items={"type": "string", "enum": sorted(CATALOG)},
                description="Reports; empty = each club's registered reports.",
            ),
            "priority": Param(
                "normal",
                enum=["low", "normal", "high"],
                description="How many API tokens to leave for the nightly run (low leaves most).",
            ),
        },
    )
    def placewise_backfill() -> None:
        @task(doc_md="Plan windows; log token cost and ETA (also XCom 'estimate'); no API call.")
        def plan_backfill(params: dict | None = None, ti: Any = None) -> list:
            assert params is not None
            settings = PipelineSettings.from_env()
            first, last = _day(params["start_date"]), _day(params["end_date"])
            if last < first:
                raise ValueError(f"end_date {last} is before start_date {first}")
            if last >= datetime.now(UTC).date():
                raise ValueError(f"end_date {last} must be before today (UTC)")
            register_clubs(warehouse_conninfo(), settings)
            clubs = select_clubs(settings, [int(c) for c in params.get("clubs") or []] or None)
            estimate = estimate_backfill(clubs, first, last, settings, params.get("reports"))
            print(
                f"Backfill plan: {estimate['days']} days x {estimate['clubs']} clubs, "
                f"{estimate['tokens_total']} API tokens, ETA ~{estimate['eta_seconds']} s "
                f"(newest day first; slices already loaded by the same request are skipped)"
            )
            ti.xcom_push(key="estimate", value=estimate)
            return _work_items(clubs, first, last)

        _sync_and_build(plan_backfill(), backfill=True)

    return placewise_backfill()


def build_replay() -> Any:
    """``placewise_replay``: reload slices from the landing root and rebuild; no API call."""

    @dag(
        **_dag_settings(
            "placewise_replay", None, priority_weight=5, doc_md=docs.REPLAY_DOC, tag="replay"
        ),
        params={
            "start_date": Param(None, type=["null", "string"], description="First local day."),
            "end_date": Param(None, type=["null", "string"], description="Last local day."),
            "clubs": Param([], type="array", description="Club ids; empty = all landed."),
            "reports": Param([], type="array", description="Reports; empty = all landed."),
        },
    )
    def placewise_replay() -> None:
        @task(doc_md="Reload the newest landed version of every matching slice.")
        def replay_slices(
            params: dict | None = None, run_id: str | None = None, ti: Any = None
        ) -> dict:
            assert params is not None
            settings = PipelineSettings.from_env()
            return _run_and_report(
                ti,
                "replay",
                lambda: run_replay(
                    settings=settings,
                    conninfo=warehouse_conninfo(),
                    run_id=run_id or "",
                    reports=params.get("reports") or None,
                    club_ids=[int(c) for c in params.get("clubs") or []] or None,
                    first_day=_day(params["start_date"]) if params.get("start_date") else None,
                    last_day=_day(params["end_date"]) if params.get("end_date") else None,
                ),
            )

        gate = loads_done()
        (
            replay_slices()
            >> gate
            >> dbt_task_group(_dbt_project_dir())
            >> grant_bi_access(_dbt_project_dir())
            >> summary()
        )

    return placewise_replay()
