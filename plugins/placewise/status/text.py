"""The status page's tables for a terminal (``placewise status``): one titled table a section."""

from __future__ import annotations

from placewise.status.queries import StatusReport
from placewise.status.sections import fmt_time, sections


def render_text(report: StatusReport) -> str:
    """Every section as a plain-text table (the plots are on the HTML page only)."""
    lines = [f"Placewise Warehouse status: {report.database} at {fmt_time(report.generated_at)}"]
    for section in sections(report):
        lines += ["", f"== {section.title} =="]
        if section.table.empty:
            lines.append(section.empty)
        else:
            lines.append(section.table.to_string(index=False))
    return "\n".join(lines) + "\n"
