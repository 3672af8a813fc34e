"""The status page as one self-contained HTML document (no script, no external asset).

The Airflow plugin serves it, ``placewise status --html FILE`` writes it; both call
``render_html``. Values are escaped (pandas' ``to_html`` escapes cells; titles go through
``html.escape``), so a quarantine reason quoting a payload cannot inject markup.
"""

from __future__ import annotations

import html

from placewise.status import plots
from placewise.status.queries import StatusReport
from placewise.status.sections import Section, fmt_time, sections

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 1.5rem;
       color: #1f2933; background: #fff; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem 0; }
h2 { font-size: 1.15rem; margin: 1.75rem 0 .5rem 0; border-bottom: 1px solid #d9e2ec; }
p.meta, p.note, p.empty { color: #52606d; font-size: .85rem; margin: .25rem 0 .5rem 0; }
table.status { border-collapse: collapse; font-size: .85rem; }
table.status th, table.status td { padding: .3rem .6rem; border-bottom: 1px solid #e4e7eb;
       text-align: left; white-space: nowrap; }
table.status td { font-variant-numeric: tabular-nums; }
table.status th { background: #f5f7fa; }
section#quarantine td:nth-child(7) { white-space: normal; max-width: 36rem; }
section#runs td:nth-child(4) { white-space: normal; max-width: 18rem; }
div.plots { display: flex; flex-wrap: wrap; gap: 1rem; }
figure { margin: 0; }
figcaption { font-size: .85rem; color: #52606d; }
figure img { width: 640px; max-width: 100%; height: auto; border: 1px solid #e4e7eb; }
"""


def _table_html(section: Section) -> str:
    if section.table.empty:
        return f'<p class="empty">{html.escape(section.empty)}</p>'
    return section.table.to_html(
        index=False, escape=True, border=0, classes="status", table_id=f"table-{section.section_id}"
    )


def _section_html(section: Section) -> str:
    note = f'<p class="note">{html.escape(section.note)}</p>' if section.note else ""
    return (
        f'<section id="{section.section_id}">'
        f"<h2>{html.escape(section.title)}</h2>{note}{_table_html(section)}</section>"
    )


def _plots_html(report: StatusReport) -> str:
    drawn = [
        plots.tokens_per_night(report.tokens_per_night),
        plots.lag_per_club(report.lag_history),
        plots.reconciliation_differences(report.reconciliation),
    ]
    figures = [
        f'<figure id="{p.plot_id}"><img alt="{html.escape(p.title)}" src="{p.data_uri}">'
        f"<figcaption>{html.escape(p.title)}</figcaption></figure>"
        for p in drawn
        if p is not None
    ]
    body = (
        f'<div class="plots">{"".join(figures)}</div>'
        if figures
        else '<p class="empty">Nothing to plot yet: no slice has been loaded.</p>'
    )
    return f'<section id="trends"><h2>Trends</h2>{body}</section>'


def render_html(report: StatusReport, *, title: str = "Placewise Warehouse status") -> str:
    """The whole page: header, the clubs, the trend plots, then the other tables."""
    tables = [_section_html(s) for s in sections(report)]
    # The clubs first, then the trends, then the detail tables.
    parts = [tables[0], _plots_html(report), *tables[1:]]
    header = (
        f"<h1>{html.escape(title)}</h1>"
        f'<p class="meta">Database {html.escape(report.database)}, read at '
        f"{html.escape(fmt_time(report.generated_at))} (read-only snapshot).</p>"
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{STYLE}</style></head><body>"
        f"{header}{''.join(parts)}</body></html>\n"
    )
