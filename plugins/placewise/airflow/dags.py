"""DAG builders: the wiring of placewise_nightly, placewise_backfill and placewise_replay.

The files in ``dags/`` only call these builders. Building a DAG does no I/O except reading the
``PLACEWISE_*`` settings (retries, the nightly schedule, the dbt project) and checking that the
dbt manifest exists: Connections and the club registry are read inside tasks, so parsing stays
fast and never fails because a service is down. Every DAG starts with ``migrate``, so the tasks
after it find the warehouse's tables; the work of each task is in ``placewise.airflow.tasks``
(payloads) and ``placewise.service`` (the operations).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import Asset, Param, dag, get_current_context, task
from airflow.timetables.trigger import CronTriggerTimetable
from placewise import service
from placewise.airflow import docs, tasks
from placewise.airflow.connections import api_settings, warehouse_conninfo
from placewise.airflow.dbt import dbt_task_group, grant_bi_access
from placewise.airflow.tasks import (
    BackfillParams,
    OutcomeKind,
    OutcomePayload,
    ReplayParams,
    WorkItem,
)
from placewise.api.fairness import NIGHTLY
from placewise.config import PipelineSettings
from placewise.sync import SyncSummary

OWNER = "data-platform"
TAGS = ["placewise", "warehouse"]
START_DATE = datetime(2026, 1, 1, tzinfo=UTC)

RAW_ASSET = Asset(name="placewise_raw", uri="postgres://warehouse:5432/warehouse/placewise_raw/all")
MARTS_ASSET = Asset(
    name="placewise_marts", uri="postgres://warehouse:5432/warehouse/placewise_marts/all"
)


def default_args(settings: PipelineSettings, priority_weight: int = 10) -> dict[str, Any]:
    """Retries (``PLACEWISE_TASK_RETRIES``) with backoff, a timeout and an owner on every task."""
    return {
        "owner": OWNER,
        "retries": settings.task_retries,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
        "execution_timeout": timedelta(hours=3),
        "priority_weight": priority_weight,
    }


def _dag_settings(
    dag_id: str,
    schedule: Any,
    *,
    priority_weight: int,
    doc_md: str,
    tag: str,
    settings: PipelineSettings,
) -> dict[str, Any]:
    """What every Placewise DAG declares explicitly: no catchup, one run at a time, owner,
    retries and timeouts via default_args, tags and a triage runbook."""
    return {
        "dag_id": dag_id,
        "schedule": schedule,
        "start_date": START_DATE,
        "catchup": False,
        "max_active_runs": 1,
        "default_args": default_args(settings, priority_weight=priority_weight),
        "tags": [*TAGS, tag],
        "doc_md": doc_md,
    }


def _outcome_pusher(ti: Any) -> Any:
    """Push an outcome as the task's ``outcome`` XCom (read by the summary task)."""
    return lambda payload: ti.xcom_push(key="outcome", value=payload)


@task(task_id="migrate", doc_md=docs.MIGRATE_TASK_DOC)
def migrate_warehouse() -> None:
    """Create or update the warehouse's schemas and tables before anything reads or writes them."""
    service.migrate(warehouse_conninfo())


@task(task_id="plan", doc_md="Read the club registry and work out the local days to sync.")
def _plan_nightly(data_interval_start: datetime | None = None, dag_run: Any = None) -> list:
    if data_interval_start is None:
        raise RuntimeError("placewise_nightly needs a data interval: run it on its schedule")
    is_backfill = str(getattr(dag_run, "run_type", "")).endswith("backfill")
    return list(
        tasks.plan_nightly(
            PipelineSettings.from_env(),
            warehouse_conninfo(),
            data_interval_start.date(),
            is_backfill=is_backfill,
        )
    )


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
    ) -> OutcomePayload:
        get_current_context()["club_label"] = f"{club['id']} {club['name']}"
        item: WorkItem = {"club": club, "window": window}  # type: ignore[typeddict-item]
        settings = PipelineSettings.from_env()
        backfill_params: BackfillParams | None = params if backfill else None  # type: ignore[assignment]
        return tasks.run_and_report(
            _outcome_pusher(ti),
            OutcomeKind.CLUB,
            tasks.club_label(item["club"]),
            lambda: tasks.sync_club(
                item,
                settings=settings,
                api=api_settings(),
                conninfo=warehouse_conninfo(),
                run_id=run_id or "",
                # A retry (or any backfill) resumes: slices loaded by the same request are skipped.
                skip_loaded=backfill or ti.try_number > 1,
                backfill=backfill_params,
            ),
        )

    return sync_club


def _sync_tenants_task(backfill: bool) -> Any:
    @task(doc_md="Cross-club tenants exports: the API's own total_* figures to reconcile with.")
    def sync_tenants(
        items: list, params: dict | None = None, run_id: str | None = None, ti: Any = None
    ) -> OutcomePayload:
        settings = PipelineSettings.from_env()
        wanted = (params or {}).get("reports") if backfill else None
        label, has_work = tasks.tenants_label(items, wanted, settings)
        if not has_work:
            return tasks.run_and_report(
                _outcome_pusher(ti), OutcomeKind.TENANTS, label, SyncSummary
            )
        return tasks.run_and_report(
            _outcome_pusher(ti),
            OutcomeKind.TENANTS,
            label,
            lambda: tasks.sync_tenants(
                items,
                settings=settings,
                api=api_settings(),
                conninfo=warehouse_conninfo(),
                run_id=run_id or "",
                skip_loaded=backfill or ti.try_number > 1,
                priority=(params or {}).get("priority", "normal") if backfill else NIGHTLY,
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
    payloads: list[OutcomePayload | None] = []
    for task_id in ("sync_club", "sync_tenants", "replay_slices"):
        pulled = ti.xcom_pull(task_ids=task_id, key="outcome")
        if pulled is None:
            continue
        payloads.extend(pulled if isinstance(pulled, list) else [pulled])
    return tasks.summarise_run(payloads, items)


def _sync_and_build(items: Any, *, backfill: bool, settings: PipelineSettings) -> None:
    """Per-club syncs and the tenants exports, then dbt, the BI grants and the summary."""
    clubs = _sync_club_task(backfill=backfill).expand_kwargs(items)
    tenants = _sync_tenants_task(backfill=backfill)(items)
    gate = loads_done()
    [clubs, tenants] >> gate
    project = settings.dbt_project_dir
    gate >> dbt_task_group(project) >> grant_bi_access(project) >> summary(items)


def build_nightly() -> Any:
    """``placewise_nightly``: every enabled club, the run's day plus the restatement window."""
    settings = PipelineSettings.from_env()

    @dag(
        **_dag_settings(
            "placewise_nightly",
            CronTriggerTimetable(settings.nightly_cron, timezone="UTC", interval=timedelta(days=1)),
            priority_weight=10,
            doc_md=docs.NIGHTLY_DOC,
            tag="nightly",
            settings=settings,
        ),
        dagrun_timeout=timedelta(hours=6),
    )
    def placewise_nightly() -> None:
        items = _plan_nightly()
        migrate_warehouse() >> items
        _sync_and_build(items, backfill=False, settings=settings)

    return placewise_nightly()


def build_backfill() -> Any:
    """``placewise_backfill``: operator-triggered, resumable, newest first, yields to nightly."""
    settings = PipelineSettings.from_env()

    @dag(
        **_dag_settings(
            "placewise_backfill",
            None,
            priority_weight=1,
            doc_md=docs.BACKFILL_DOC,
            tag="backfill",
            settings=settings,
        ),
        params={
            # No dated defaults: they would be the day the file was parsed. Empty dates mean the
            # last 30 days before the run, worked out by plan_backfill when the run starts.
            "start_date": Param(
                None,
                type=["null", "string"],
                format="date",
                description="First club-local day to load (inclusive); empty = 30 days ago.",
            ),
            "end_date": Param(
                None,
                type=["null", "string"],
                format="date",
                description="Last club-local day to load (inclusive); empty = yesterday (UTC).",
            ),
            "clubs": Param([], type="array", description="Club ids; empty = every enabled club."),
            "reports": Param(
                [],
                type="array",
                items={"type": "string"},
                description=(
                    "Reports; empty = each club's registered reports. Any report the catalog, "
                    "the API's Metadata or the registry names; an unknown name fails the plan "
                    "task, naming the known ones."
                ),
            ),
            "priority": Param(
                "normal",
                enum=["low", "normal", "high"],
                description=(
                    "Turn in the shared API token bucket beside the nightly run, and the tokens "
                    "left for it (low leaves most; high still leaves the nightly floor)."
                ),
            ),
        },
    )
    def placewise_backfill() -> None:
        @task(doc_md="Plan windows; log token cost and ETA (also XCom 'estimate'); no API call.")
        def plan_backfill(params: dict | None = None, ti: Any = None) -> list:
            if params is None:
                raise RuntimeError("plan_backfill ran without the DAG's params")
            items, estimate = tasks.plan_backfill(
                PipelineSettings.from_env(),
                warehouse_conninfo(),
                params,  # type: ignore[arg-type]
                datetime.now(UTC).date(),
            )
            print(tasks.describe_estimate(estimate))
            ti.xcom_push(key="estimate", value=estimate)
            return list(items)

        items = plan_backfill()
        migrate_warehouse() >> items
        _sync_and_build(items, backfill=True, settings=settings)

    return placewise_backfill()


def build_replay() -> Any:
    """``placewise_replay``: reload slices from the landing root and rebuild; no API call."""
    settings = PipelineSettings.from_env()

    @dag(
        **_dag_settings(
            "placewise_replay",
            None,
            priority_weight=5,
            doc_md=docs.REPLAY_DOC,
            tag="replay",
            settings=settings,
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
        ) -> OutcomePayload:
            replay_params: ReplayParams = params or {}  # type: ignore[assignment]
            settings = PipelineSettings.from_env()
            return tasks.run_and_report(
                _outcome_pusher(ti),
                OutcomeKind.REPLAY,
                "replay",
                lambda: tasks.replay_slices(
                    replay_params,
                    settings=settings,
                    conninfo=warehouse_conninfo(),
                    run_id=run_id or "",
                ),
            )

        project = settings.dbt_project_dir
        (
            migrate_warehouse()
            >> replay_slices()
            >> loads_done()
            >> dbt_task_group(project)
            >> grant_bi_access(project)
            >> summary()
        )

    return placewise_replay()


def build_doctor() -> Any:
    """``placewise_doctor``: probe the API within a token budget and log what holds."""
    settings = PipelineSettings.from_env()

    @dag(
        **_dag_settings(
            "placewise_doctor",
            None,
            priority_weight=5,
            doc_md=docs.DOCTOR_DOC,
            tag="doctor",
            settings=settings,
        ),
        params={
            "max_tokens": Param(
                service.DEFAULT_MAX_TOKENS,
                type="integer",
                minimum=0,
                description="Most API tokens the probes may spend; what does not fit is unknown.",
            ),
        },
    )
    def placewise_doctor() -> None:
        @task(
            doc_md="Probe the API, log the plan and the findings table, store the findings and "
            "the report Metadata, write the API settings file; fail on what cannot be absorbed."
        )
        def doctor(params: dict | None = None, run_id: str | None = None) -> dict:
            payload = tasks.run_doctor(
                params or {},  # type: ignore[arg-type]
                settings=PipelineSettings.from_env(),
                api=api_settings(),
                conninfo=warehouse_conninfo(),
                run_id=run_id or "",
                log_line=print,
            )
            return dict(payload)

        migrate_warehouse() >> doctor()

    return placewise_doctor()
