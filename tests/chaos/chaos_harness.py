"""Running syncs through the chaos proxy and comparing what they left with a clean run.

One *run* is a small sync (two clubs, three club-local days, every default report plus the
tenants exports) through the service layer, with the proxy in front of the simulator. The clean
run has no rules; a *batch* run corrupts one different slice per mode, so many modes are checked
by one sync and one ``dbt build``. Modes are placed on slices greedily (narrow modes first), and a
new batch is opened only when no free slice of the right kind is left.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import psycopg.conninfo
import psycopg.sql
from chaos_modes import Mode
from chaos_proxy import ChaosProxy, Exchange, RequestKey, Rule
from placewise import service
from placewise.api.catalog import get_report
from placewise.api.contract import Endpoint
from placewise.api.settings import ApiSettings
from placewise.config import REPO_ROOT, PipelineSettings
from placewise.extract.plan import SliceSpec
from placewise.landing.store import LandingStore
from placewise.local.dbt_profile import dbt_profile_env
from placewise.sync import OutcomeStatus, SliceOutcome, SyncSummary
from placewise.warehouse.rows import COLUMNS

CLUBS = (1001, 1002)
FIRST_DAY, LAST_DAY = date(2026, 11, 24), date(2026, 11, 26)
TOKEN = "dev-token"
#: The outcome the harness records for a slice whose sync raised instead of reporting it.
CRASHED = "crashed (the sync raised)"
#: Mart columns that say when or by which load a row was built, not what the API sent.
VOLATILE_COLUMN = re.compile(r"^_|loaded_at|synced|^dbt_|refreshed|built_at")
#: Date columns of the marts that place a row on a club-local day.
DAY_COLUMNS = ("stat_date", "bucket_date")


def settings_for(landing: Path) -> PipelineSettings:
    return PipelineSettings.from_env(
        {
            "PLACEWISE_CLUBS_FILE": str(REPO_ROOT / "config" / "clubs.yml"),
            "PLACEWISE_LANDING_ROOT": str(landing),
            "PLACEWISE_RATE_CAPACITY": "100000",
            "PLACEWISE_RATE_REFILL_PER_S": "100000",
        }
    )


def plan_specs(settings: PipelineSettings) -> list[SliceSpec]:
    plan = service.plan_sync(settings, FIRST_DAY, LAST_DAY, club_ids=list(CLUBS), tenants=True)
    return plan.specs


def request_key(spec: SliceSpec) -> RequestKey:
    """The request an export slice makes (exports are one request per slice)."""
    return RequestKey.of(spec.endpoint.value, spec.customer.header_value, spec.body())


def spec_kind(spec: SliceSpec) -> str:
    if spec.endpoint is Endpoint.TENANTS_EXPORT:
        return "tenants"
    return spec.result_type


def fits(mode: Mode, spec: SliceSpec) -> bool:
    return (
        spec_kind(spec) == mode.kind
        and (mode.report is None or spec.report == mode.report)
        and (mode.aggregation is None or spec.aggregation_name == mode.aggregation)
    )


def plan_batches(modes: Iterable[Mode], specs: Sequence[SliceSpec]) -> list[dict[str, Mode]]:
    """Place every mode on its own slice: a list of batches, each slice_key -> mode."""
    batches: list[dict[str, Mode]] = []
    for mode in sorted(modes, key=lambda m: -m.constraint):
        for batch in [*batches, {}]:
            spec = next((s for s in specs if s.slice_key not in batch and fits(mode, s)), None)
            if spec is not None:
                batch[spec.slice_key] = mode
                if not any(batch is b for b in batches):
                    batches.append(batch)
                break
        else:
            raise AssertionError(f"no slice of the plan fits mode {mode.name}")
    return batches


# -- what a run left behind ----------------------------------------------------------------------


Row = tuple[str, ...]


@dataclass
class RunResult:
    """Everything a test checks after one run."""

    database: str
    landing: Path
    specs: list[SliceSpec]
    summary: SyncSummary
    exchanges: list[Exchange]
    quarantine_reasons: dict[str, list[str]]
    raw: dict[str, Counter[Row]]
    marts: dict[str, tuple[list[str], Counter[Row]]] = field(default_factory=dict)
    dbt_models_failed: list[str] = field(default_factory=list)
    dbt_tests_failed: list[str] = field(default_factory=list)
    assignment: dict[str, Mode] = field(default_factory=dict)

    def spec(self, slice_key: str) -> SliceSpec:
        return next(s for s in self.specs if s.slice_key == slice_key)

    def status(self, slice_key: str) -> OutcomeStatus:
        return next(o.status for o in self.summary.outcomes if o.slice_key == slice_key)

    def sent(self, spec: SliceSpec) -> list[Exchange]:
        key = request_key(spec)
        return [e for e in self.exchanges if e.key == key]

    def landed_bodies(self, spec: SliceSpec) -> list[bytes]:
        """The bodies of the newest landed manifest of ``spec`` (empty if nothing landed)."""
        store = LandingStore(self.landing)
        manifest = store.latest_manifests(spec.report).get(spec.slice_key)
        if manifest is None:
            return []
        bodies = []
        for part in manifest.parts:
            with store.open_part(part) as fp:
                bodies.append(fp.read())
        return bodies


def raw_snapshot(url: str, reports: Iterable[str]) -> dict[str, Counter[Row]]:
    """Every raw table's rows without lineage columns, as text tuples (``_scope`` first)."""
    snapshot: dict[str, Counter[Row]] = {}
    with psycopg.connect(url) as conn:
        for report in sorted(set(reports)):
            columns = ("_scope", *COLUMNS[get_report(report).result_type])
            rows = conn.execute(
                f"select {', '.join(columns)} from placewise_raw.{report}"
            ).fetchall()
            snapshot[report] = Counter(tuple(_text(v) for v in row) for row in rows)
    return snapshot


def _text(value: object) -> str:
    return "\\N" if value is None else str(value)


def partition_of(report: str, row: Row) -> tuple[str, ...]:
    """The partition a raw row belongs to: (scope, aggregation[, day])."""
    result_type = get_report(report).result_type
    columns = ("_scope", *COLUMNS[result_type])
    scope, aggregation = row[0], row[columns.index("aggregation")]
    if result_type == "records":
        return (scope, aggregation)
    day_column = "stat_date" if result_type == "statistics" else "bucket_date"
    return (scope, aggregation, row[columns.index(day_column)])


def partitions_of(spec: SliceSpec) -> set[tuple[str, ...]]:
    if spec.window is None:
        return {(spec.scope, spec.aggregation_name)}
    return {(spec.scope, spec.aggregation_name, str(d)) for d in spec.window.day_list()}


def rows_outside(
    raw: dict[str, Counter[Row]], excluded: dict[str, set[tuple[str, ...]]]
) -> dict[str, Counter[Row]]:
    """The raw rows not in the excluded partitions (report -> partitions)."""
    return {
        report: Counter(
            {
                r: n
                for r, n in rows.items()
                if partition_of(report, r) not in excluded.get(report, set())
            }
        )
        for report, rows in raw.items()
    }


def rows_inside(
    raw: dict[str, Counter[Row]], report: str, partitions: set[tuple[str, ...]]
) -> Counter[Row]:
    return Counter({r: n for r, n in raw[report].items() if partition_of(report, r) in partitions})


def mart_snapshot(url: str) -> dict[str, tuple[list[str], Counter[Row]]]:
    """Every placewise_marts table/view (but the calendar) without volatile columns."""
    snapshot: dict[str, tuple[list[str], Counter[Row]]] = {}
    with psycopg.connect(url) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "select table_name from information_schema.tables "
                "where table_schema = 'placewise_marts' order by 1"
            ).fetchall()
            if name != "metricflow_time_spine"
        ]
        for table in tables:
            columns = [
                name
                for (name,) in conn.execute(
                    "select column_name from information_schema.columns where table_schema = "
                    "'placewise_marts' and table_name = %s order by ordinal_position",
                    (table,),
                ).fetchall()
                if not VOLATILE_COLUMN.search(name)
            ]
            rows = conn.execute(
                f"select {', '.join(columns)} from placewise_marts.{table}"
            ).fetchall()
            snapshot[table] = (columns, Counter(tuple(_text(v) for v in row) for row in rows))
    return snapshot


# -- running ------------------------------------------------------------------------------------


def run_sync(
    *,
    upstream: str,
    make_database: Callable[[str], str],
    landing: Path,
    assignment: dict[str, Mode],
    run_id: str,
    database: str | None = None,
) -> RunResult:
    """One sync of the chaos plan through a proxy that applies ``assignment``.

    Into a new warehouse, or into ``database`` (a copy of the clean run's, to see what a
    corrupted answer does to partitions that already hold a version).
    """
    settings = settings_for(landing)
    specs = plan_specs(settings)
    database = database or make_database("pw_chaos")
    service.migrate(database)
    service.register_clubs(database, settings)
    by_key = {s.slice_key: s for s in specs}
    with ChaosProxy(upstream) as proxy:
        for slice_key, mode in assignment.items():
            proxy.add(Rule(request_key(by_key[slice_key]), corrupt=mode.corrupt))
        api = ApiSettings(base_url=proxy.url, token=TOKEN)
        summary = SyncSummary()
        for spec in specs:  # one call per slice, so a crash on one slice cannot hide the rest
            try:
                one = service.sync(
                    [spec], settings=settings, api=api, conninfo=database, run_id=run_id
                )
            except Exception as exc:  # the finding is the crash itself: record it, go on
                one = SyncSummary(
                    [SliceOutcome(spec.slice_key, spec.description, CRASHED, error=repr(exc))]
                )
            summary.outcomes.extend(one.outcomes)
        exchanges = list(proxy.exchanges)
    reasons: dict[str, list[str]] = {}
    with psycopg.connect(database) as conn:
        for slice_key, reason in conn.execute(
            "select slice_key, reason from placewise_ops.quarantine order by quarantine_id"
        ).fetchall():
            reasons.setdefault(slice_key, []).append(reason)
    return RunResult(
        database=database,
        landing=landing,
        specs=specs,
        summary=summary,
        exchanges=exchanges,
        quarantine_reasons=reasons,
        raw=raw_snapshot(database, {s.report for s in specs}),
        assignment=dict(assignment),
    )


def dbt_build(result: RunResult, work: Path) -> None:
    """``dbt build`` over the run's warehouse; record failed models/tests and the marts."""
    env = dbt_profile_env(result.database, work / "logs")
    project = str(REPO_ROOT / "dbt_project")
    target = work / "target"
    command = [
        str(Path(sys.executable).parent / "dbt"),
        "build",
        "--project-dir",
        project,
        "--profiles-dir",
        project,
        "--target-path",
        str(target),
    ]
    results_file = target / "run_results.json"
    results_file.unlink(missing_ok=True)  # the target directory is shared by the session's runs
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, check=False, timeout=900
    )
    if not results_file.exists():  # dbt could not run at all; the mart tests report it
        output = " ".join(done.stdout[-2000:].split())
        result.dbt_models_failed.append(f"dbt build exited {done.returncode}: {output}")
        return
    results = json.loads(results_file.read_text())["results"]
    for item in results:
        uid, status = item["unique_id"], item["status"]
        if uid.startswith("model.") and status != "success":
            message = " ".join(str(item.get("message") or "").split())
            result.dbt_models_failed.append(f"{uid}: {status}: {message}"[:400])
        if uid.startswith("test.") and status not in ("pass", "warn"):
            result.dbt_tests_failed.append(f"{uid}: {status}")
    result.marts = mart_snapshot(result.database)


def chaos_batches(modes: Iterable[Mode], scratch: Path) -> list[dict[str, Mode]]:
    """The batches of the chaos plan (planning needs no API, warehouse or landing root)."""
    return plan_batches(modes, plan_specs(settings_for(scratch)))


def copy_database(server_url: str, source_url: str, name: str) -> str:
    """A copy of the database at ``source_url`` named ``name`` (``create database ... template``).

    PostgreSQL copies a template only while nobody is connected to it; the runs' connections are
    closed by then, and any left over (a pool's idle connection) are ended first.
    """
    source = psycopg.conninfo.conninfo_to_dict(source_url)["dbname"]
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity "
            "where datname = %s and pid <> pg_backend_pid()",
            (source,),
        )
        conn.execute(
            psycopg.sql.SQL("create database {} template {}").format(
                psycopg.sql.Identifier(name), psycopg.sql.Identifier(source)
            )
        )
    return urlunsplit(urlsplit(source_url)._replace(path=f"/{name}"))
