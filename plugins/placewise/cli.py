"""``placewise``: the operator's command line for the pipeline, without Airflow.

Credentials come only from the environment (``WAREHOUSE_URL``, ``PLACEWISE_API_URL``,
``PLACEWISE_API_TOKEN``); everything else from ``PipelineSettings.from_env()``. Subcommands:

* ``plan``     the slices of a sync and their token cost (no API call, no database);
* ``sync``     fetch -> land -> load those slices (``--resume`` skips slices already loaded);
* ``replay``   reload landed slices into the warehouse (no API call);
* ``migrate``  create or update the warehouse schemas and tables (needed once before the first
  ``sync``/``replay``, and after an upgrade; ``sync`` and ``replay`` never migrate by themselves);
* ``clubs``    validate and print the club registry;
* ``doctor``   probe an API before the first sync within a token budget, print what holds and
  what differs, and write the readings found to the API settings file (``--check``: validate
  that file, no API call). Exit 1 when a difference is one the pipeline cannot absorb.
* ``status``   the operators' status page as terminal tables, or (``--html FILE``) the very page
  the Airflow UI shows under "Placewise", as one self-contained file (read-only).

``sync`` and ``replay`` report progress on stderr: a bar (slices, tokens, ETA) on a terminal,
one plain line every ``PLACEWISE_PROGRESS_EVERY`` slices otherwise.

Every operation is a call into ``placewise.service``, the same one the Airflow tasks make.

Exit codes: 0 done, 1 some slice failed (or the API refused the run), 2 a usage or configuration
error, reported as one line on stderr.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import NoReturn

import psycopg

from placewise import service
from placewise.api.catalog import known_reports
from placewise.api.errors import PlacewiseApiError
from placewise.api.live_catalog import MetadataError
from placewise.api.settings import ApiSettings, SettingsError
from placewise.api.variants import VariantsFileError
from placewise.config import PipelineSettings
from placewise.doctor import DEFAULT_MAX_TOKENS, check_settings_file, render_table
from placewise.progress import ProgressReporter
from placewise.registry import RegistryError, load_registry
from placewise.status.queries import DEFAULT_DAYS, DEFAULT_RUNS
from placewise.sync import FATAL_ERRORS, SyncSummary
from placewise.warehouse.schema import OPS_SCHEMA, RAW_SCHEMA, WarehouseNotMigratedError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

log = logging.getLogger("placewise.cli")


class CliError(Exception):
    """A usage or configuration problem; its message is printed as one line (exit 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad date {text!r}: expected YYYY-MM-DD") from None


def _club_id(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"bad club id {text!r}: expected a positive integer")
    return value


_REPORT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _report(text: str) -> str:
    """A report name; whether the catalog (or the API's cached Metadata) knows it is checked
    once the live catalog is installed (``_check_reports``)."""
    if not _REPORT_NAME.match(text):
        raise argparse.ArgumentTypeError(
            f"unknown report {text!r}; known: {', '.join(known_reports())}"
        )
    return text


def _check_reports(names: list[str] | None) -> None:
    known = known_reports()
    unknown = [n for n in names or [] if n not in known]
    if unknown:
        raise CliError(f"unknown report {unknown[0]!r}; known: {', '.join(known)}")


def _live_catalog(env: Mapping[str, str], *, required: bool) -> None:
    """Install the API's cached report Metadata when a warehouse is configured.

    ``plan`` and ``clubs`` need no warehouse: without one (or when it cannot be read) they use
    the static catalog, and say so when the warehouse was configured but unreadable.
    """
    conninfo = env.get("WAREHOUSE_URL", "").strip()
    if not conninfo:
        if required:
            _warehouse_url(env)
        return
    try:
        service.use_live_catalog(conninfo)
    except psycopg.OperationalError as exc:
        if required:
            raise
        print(
            "note: the warehouse cannot be read, so reports only the API's Metadata describes "
            f"are unknown here: {_one_line(str(exc))[:160]}",
            file=sys.stderr,
        )


def _require_env(env: Mapping[str, str], name: str, example: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise CliError(f"{name} is not set (e.g. {example})")
    return value


def _warehouse_url(env: Mapping[str, str]) -> str:
    return _require_env(env, "WAREHOUSE_URL", "postgresql://user:password@host:5432/warehouse")


def _api_settings(env: Mapping[str, str]) -> ApiSettings:
    _require_env(env, "PLACEWISE_API_URL", "https://api.mpc.placewise.com")
    _require_env(env, "PLACEWISE_API_TOKEN", "the client token issued by Placewise")
    return ApiSettings.from_env(env)


def _check_days(args: argparse.Namespace) -> None:
    first, last = getattr(args, "first_day", None), getattr(args, "last_day", None)
    if first is not None and last is not None and last < first:
        raise CliError(f"--to {last} is before --from {first}")


def _planned(args: argparse.Namespace, settings: PipelineSettings) -> service.SyncPlan:
    """The slices of the chosen clubs (and the tenants slices with ``--tenants``)."""
    _check_days(args)
    _check_reports(args.report)
    plan = service.plan_sync(
        settings,
        args.first_day,
        args.last_day,
        club_ids=args.club,
        reports=args.report,
        tenants=getattr(args, "tenants", False),
    )
    if plan.tenants_skipped:
        print(f"tenants slices skipped: {plan.tenants_skipped}", file=sys.stderr)
    return plan


def _run_id(command: str) -> str:
    return f"cli-{command}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"


def _finish(summary: SyncSummary) -> int:
    print(summary.text())
    return EXIT_FAILED if summary.failures else EXIT_OK


# --- subcommands ---------------------------------------------------------------------------------


def cmd_plan(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    settings = PipelineSettings.from_env(env)
    _live_catalog(env, required=False)
    plan = _planned(args, settings)
    for spec in plan.specs:
        print(f"{spec.token_cost():>5}  {spec.endpoint.name.lower():<14}  {spec.description}")
    print(
        f"{len(plan.specs)} slices for clubs {', '.join(map(str, plan.club_ids))}, "
        f"{args.first_day}..{args.last_day}: {plan.tokens} tokens"
    )
    return EXIT_OK


def cmd_sync(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    conninfo = _warehouse_url(env)
    api = _api_settings(env)
    settings = PipelineSettings.from_env(env)
    _live_catalog(env, required=True)
    plan = _planned(args, settings)
    summary = service.sync(
        plan.specs,
        settings=settings,
        api=api,
        conninfo=conninfo,
        run_id=_run_id("sync"),
        skip_loaded=args.resume,
        priority=args.priority,
        progress=_progress("sync", settings),
    )
    return _finish(summary)


def cmd_replay(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    conninfo = _warehouse_url(env)
    settings = PipelineSettings.from_env(env)
    _check_days(args)
    try:
        summary = service.replay_landed(
            settings=settings,
            conninfo=conninfo,
            run_id=_run_id("replay"),
            reports=args.report or None,
            club_ids=args.club or None,
            first_day=args.first_day,
            last_day=args.last_day,
            progress=_progress("replay", settings),
        )
    except service.NothingToReplayError:
        raise CliError(
            f"nothing to replay in {settings.landing_root} for the given filters"
        ) from None
    return _finish(summary)


def _progress(command: str, settings: PipelineSettings) -> ProgressReporter:
    return ProgressReporter.for_stream(sys.stderr, label=command, every=settings.progress_every)


def cmd_status(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from placewise.status.queries import WarehouseNotReadyError, read_status

    conninfo = _warehouse_url(env)
    try:
        report = read_status(conninfo, runs=args.runs, days=args.days)
    except WarehouseNotReadyError as exc:
        raise CliError(str(exc)) from None
    if args.html is None:
        from placewise.status.text import render_text

        sys.stdout.write(render_text(report))
        return EXIT_OK
    from placewise.status.render import render_html

    page = render_html(report)
    try:
        with open(args.html, "w", encoding="utf-8") as out:
            out.write(page)
    except OSError as exc:
        raise CliError(f"cannot write {args.html}: {exc.strerror}") from None
    print(f"wrote {args.html} ({len(page.encode()):,} bytes): open it in a browser")
    return EXIT_OK


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"bad count {text!r}: expected a positive integer")
    return value


def cmd_migrate(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    service.migrate(_warehouse_url(env))
    print(f"schemas {RAW_SCHEMA} and {OPS_SCHEMA} are up to date")
    return EXIT_OK


def cmd_clubs(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    settings = PipelineSettings.from_env(env)
    _live_catalog(env, required=False)
    clubs = load_registry(settings.clubs_file)
    for club in clubs:
        state = "enabled" if club.enabled else "disabled"
        zone = club.timezone or "API timezone"
        print(f"{club.id}  {club.name}  [{state}, {zone}]  reports: {', '.join(club.reports)}")
    enabled = sum(1 for c in clubs if c.enabled)
    print(f"{len(clubs)} clubs ({enabled} enabled) in {settings.clubs_file}")
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    settings = PipelineSettings.from_env(env)
    path = settings.api_contract_file
    if args.check:
        try:
            variants = check_settings_file(path)
        except VariantsFileError as exc:
            _error("doctor --check", str(exc))
            return EXIT_FAILED
        differences = variants.differences()
        shown = ", ".join(f"{k}={v}" for k, v in differences.items()) or "none"
        print(f"{path} is valid; readings that differ from the assumed ones: {shown}")
        return EXIT_OK
    if args.max_tokens < 0:
        raise CliError(f"--max-tokens must not be negative, got {args.max_tokens}")
    api = _api_settings(env)
    conninfo = env.get("WAREHOUSE_URL", "").strip() or None
    outcome = service.doctor(
        settings,
        api,
        conninfo=conninfo,
        run_id=_run_id("doctor"),
        max_tokens=args.max_tokens,
        show_plan=print,
    )
    result = outcome.result
    print()
    print(render_table(result.findings))
    print()
    print(f"{result.tokens_spent} of at most {result.max_tokens} tokens spent")
    if outcome.settings_file is not None:
        kept = f" ({', '.join(result.unknown)} unknown: kept as before)" if result.unknown else ""
        print(f"readings written to {outcome.settings_file}{kept}")
    if outcome.findings_stored is not None:
        print(
            f"{outcome.findings_stored} findings stored in {OPS_SCHEMA}.api_findings "
            f"(run {outcome.run_id}); report Metadata in {OPS_SCHEMA}.report_metadata"
        )
    for blocker in result.blockers:
        print(f"cannot absorb: {blocker}")
    return EXIT_OK if result.ok else EXIT_FAILED


# --- parser --------------------------------------------------------------------------------------


def _add_selection(parser: argparse.ArgumentParser, *, days_required: bool) -> None:
    parser.add_argument(
        "--from",
        dest="first_day",
        type=_day,
        required=days_required,
        metavar="YYYY-MM-DD",
        help="first club-local day",
    )
    parser.add_argument(
        "--to",
        dest="last_day",
        type=_day,
        required=days_required,
        metavar="YYYY-MM-DD",
        help="last club-local day (inclusive)",
    )
    parser.add_argument(
        "--club",
        type=_club_id,
        action="append",
        metavar="ID",
        help="club id from the registry (repeatable; default: every enabled club)",
    )
    parser.add_argument(
        "--report",
        type=_report,
        action="append",
        metavar="REPORT",
        help="report name (repeatable; default: every report the club is registered for)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="placewise",
        description="Operate the Placewise Reporting API -> PostgreSQL pipeline.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    plan = sub.add_parser("plan", help="print the slices of a sync and their token cost")
    _add_selection(plan, days_required=True)
    plan.add_argument("--tenants", action="store_true", help="include the tenants slices")
    plan.set_defaults(handler=cmd_plan)

    sync = sub.add_parser("sync", help="fetch, land and load the slices of a sync")
    _add_selection(sync, days_required=True)
    sync.add_argument(
        "--tenants", action="store_true", help="also sync the cross-club tenants slices"
    )
    sync.add_argument(
        "--resume", action="store_true", help="skip slices already loaded from the same request"
    )
    sync.add_argument(
        "--priority",
        choices=list(service.BACKFILL_RESERVE_LEVELS),
        default="normal",
        help="its turn in the shared API token bucket beside the nightly run (default: normal)",
    )
    sync.set_defaults(handler=cmd_sync)

    replay_parser = sub.add_parser("replay", help="reload landed slices (no API call)")
    _add_selection(replay_parser, days_required=False)
    replay_parser.set_defaults(handler=cmd_replay)

    migrate = sub.add_parser(
        "migrate", help="create or update the warehouse schemas and tables (before the first sync)"
    )
    migrate.set_defaults(handler=cmd_migrate)

    clubs = sub.add_parser("clubs", help="validate and print the club registry")
    clubs.set_defaults(handler=cmd_clubs)

    doctor = sub.add_parser(
        "doctor",
        help="check an API before the first sync (bounded tokens) and write its settings file",
    )
    doctor.add_argument(
        "--max-tokens",
        type=int,
        default=DEFAULT_MAX_TOKENS,
        metavar="N",
        help=f"most tokens to spend (default {DEFAULT_MAX_TOKENS}); probes that do not fit are "
        "skipped and reported unknown",
    )
    doctor.add_argument(
        "--check",
        action="store_true",
        help="validate the API settings file (PLACEWISE_API_CONTRACT_FILE) without any API call",
    )
    doctor.set_defaults(handler=cmd_doctor)

    status = sub.add_parser(
        "status", help="the status page: per club, runs, reconciliation, quarantine (read-only)"
    )
    status.add_argument(
        "--html",
        metavar="FILE",
        help="write the page (with its plots) as one self-contained HTML file instead",
    )
    status.add_argument(
        "--runs",
        type=_positive,
        default=DEFAULT_RUNS,
        metavar="N",
        help=f"recent runs listed (default {DEFAULT_RUNS})",
    )
    status.add_argument(
        "--days",
        type=_positive,
        default=DEFAULT_DAYS,
        metavar="N",
        help=f"days of reconciliation and trends shown (default {DEFAULT_DAYS})",
    )
    status.set_defaults(handler=cmd_status)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``placewise`` console script; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    handler: Callable[[argparse.Namespace, Mapping[str, str]], int] = args.handler
    try:
        return handler(args, os.environ)
    except (
        CliError,
        RegistryError,
        SettingsError,
        MetadataError,
        ValueError,
        WarehouseNotMigratedError,
    ) as exc:
        _error(args.command, str(exc))
        return EXIT_USAGE
    except FATAL_ERRORS as exc:
        _error(args.command, str(exc))
        return EXIT_USAGE
    except PlacewiseApiError as exc:
        _error(args.command, str(exc))
        return EXIT_FAILED
    except psycopg.OperationalError as exc:
        _error(args.command, f"cannot use the warehouse: {_one_line(str(exc))}")
        return EXIT_USAGE


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _error(command: str, message: str) -> None:
    print(f"placewise {command}: error: {_one_line(message)}", file=sys.stderr)


__all__ = ["build_parser", "main"]
