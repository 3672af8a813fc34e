"""The status page's sections as display tables, shared by the HTML page and the terminal.

Both renderers show the same sections with the same columns and the same formatted values, so
what an operator reads in ``placewise status`` is what the Airflow page shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from placewise.status.queries import StatusReport

MISSING = "-"


@dataclass(frozen=True)
class Section:
    """One titled table of the page; ``empty`` says why a table has no rows."""

    section_id: str
    title: str
    table: pd.DataFrame
    empty: str
    note: str = ""


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, NaT, pd.NA
    except (TypeError, ValueError):
        return False


def fmt_time(value: Any) -> str:
    """A timestamp to the minute in UTC (naive ones are club-local wall clock, shown as is)."""
    if _missing(value):
        return MISSING
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def fmt_hours(value: Any) -> str:
    """A lag in hours as ``5.2 h`` or, past two days, ``3 d 4 h``."""
    if _missing(value):
        return MISSING
    hours = float(value)
    if hours < 48:
        return f"{hours:.1f} h"
    days = math.floor(hours / 24)
    return f"{days} d {round(hours - 24 * days)} h"


def fmt_int(value: Any) -> str:
    """An integer with thousands separators."""
    if _missing(value):
        return MISSING
    return f"{int(value):,}"


def fmt_text(value: Any) -> str:
    if _missing(value):
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _display(frame: pd.DataFrame, columns: dict[str, tuple[str, Any]]) -> pd.DataFrame:
    """Rename and format the chosen columns (``{source: (heading, formatter)}``) as text."""
    import pandas as pd

    data = {
        heading: [formatter(v) for v in frame[source].tolist()]
        for source, (heading, formatter) in columns.items()
    }
    return pd.DataFrame(data, columns=[h for h, _ in columns.values()])


def clubs_section(report: StatusReport) -> Section:
    table = _display(
        report.clubs,
        {
            "club_id": ("club", fmt_text),
            "club": ("name", fmt_text),
            "last_loaded_day": ("last loaded day", fmt_time),
            "lag_hours": ("lag", fmt_hours),
            "data_as_of": ("data as of (API)", fmt_time),
            "last_run": ("last run", fmt_text),
            "last_run_slices": ("slices", fmt_int),
            "last_run_rows": ("rows", fmt_int),
            "last_run_tokens": ("tokens", fmt_int),
            "open_quarantine": ("open quarantine", fmt_int),
        },
    )
    return Section(
        "clubs",
        "Clubs",
        table,
        "No club is registered or loaded yet.",
        "Lag: age of the API's as-of of the club's stalest report. Rows and tokens: what the "
        "club's last run recorded (unchanged re-fetches record nothing); when each run ran is "
        "under Recent runs.",
    )


def runs_section(report: StatusReport) -> Section:
    table = _display(
        report.runs,
        {
            "run_id": ("run", fmt_text),
            "started_at": ("started", fmt_time),
            "finished_at": ("finished", fmt_time),
            "scopes": ("scopes", fmt_text),
            "slices": ("slices", fmt_int),
            "quarantined": ("quarantined", fmt_int),
            "rows": ("rows", fmt_int),
            "tokens": ("tokens", fmt_int),
        },
    )
    return Section("runs", "Recent runs", table, "No run has recorded a slice yet.")


def reconciliation_section(report: StatusReport) -> Section:
    table = _display(
        report.reconciliation,
        {
            "stat_date": ("day", fmt_time),
            "status": ("status", fmt_text),
            "settled": ("settled", fmt_text),
            "compared": ("compared", fmt_int),
            "match": ("match", fmt_int),
            "unsettled": ("unsettled", fmt_int),
            "incomplete": ("incomplete", fmt_int),
            "difference": ("difference", fmt_int),
            "abs_difference": ("|difference| events", fmt_int),
        },
    )
    empty = (
        "No tenants export has been reconciled yet (it needs two clubs and a dbt build)."
        if report.audit_built
        else "placewise_audit is not built yet: run dbt (the DAGs' dbt tasks or `dbt build`)."
    )
    return Section(
        "reconciliation",
        "Reconciliation by day",
        table,
        empty,
        "Rebuilt cross-club totals against the API's own total_* figures "
        "(placewise_audit.recon_sendings_stats_totals). A difference on an unsettled day is "
        "expected while late events arrive; 'incomplete' means a club's partition of that day is "
        "not loaded (see the quarantine below); on a settled day with every club loaded a "
        "difference fails the dbt tests.",
    )


def quarantine_section(report: StatusReport) -> Section:
    table = _display(
        report.quarantine,
        {
            "quarantine_id": ("id", fmt_text),
            "quarantined_at": ("quarantined at", fmt_time),
            "scope": ("scope", fmt_text),
            "report": ("report", fmt_text),
            "window_start": ("window start", fmt_time),
            "window_end": ("window end", fmt_time),
            "reason": ("reason", fmt_text),
            "landed_paths": ("landed body", fmt_text),
        },
    )
    return Section(
        "quarantine",
        "Open quarantine entries",
        table,
        "Nothing is quarantined.",
        "Payloads that failed validation and have not been loaded since "
        "(placewise_ops.quarantine); the landed body is kept for inspection and replay.",
    )


def sections(report: StatusReport) -> list[Section]:
    """Every table of the status page, in page order."""
    return [
        clubs_section(report),
        runs_section(report),
        reconciliation_section(report),
        quarantine_section(report),
    ]
