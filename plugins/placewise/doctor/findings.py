"""What the doctor found, one row per assumption, and the table it prints and logs.

A row says what the pipeline assumes, what the API did, and whether that holds. A difference
is either absorbed (the settings file tells the client which reading this API has, or the live
catalog takes the API's own Metadata) or it is a *blocker*: something the pipeline cannot work
around, with one line saying what to change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class Verdict(StrEnum):
    """Whether an assumption holds against the API."""

    HOLDS = "holds"
    DIFFERS = "differs"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Finding:
    """One row of the doctor's table.

    ``variant``/``value``: the open reading (``placewise.api.variants``) this row settles and
    the value found (None when the probe could not tell). ``blocker``: the one-line advice when
    the difference is one the pipeline cannot absorb.
    """

    assumption: str
    we_assume: str
    api_does: str
    verdict: Verdict
    tokens: int = 0
    variant: str | None = None
    value: str | None = None
    blocker: str | None = None


COLUMNS = ("assumption", "we assume", "the API does", "holds / differs / unknown", "tokens")
#: Widest a text column gets before it wraps onto the next line of the same row.
MAX_COLUMN_WIDTH = {"assumption": 32, "we assume": 38, "the API does": 52}


def _wrap(text: str, width: int) -> list[str]:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return lines


def render_table(findings: Sequence[Finding]) -> str:
    """The findings as a plain-text table with the five columns of ``COLUMNS``."""
    rows = [
        (f.assumption, f.we_assume, f.api_does, f.verdict.value, str(f.tokens)) for f in findings
    ]
    widths = []
    for index, title in enumerate(COLUMNS):
        natural = max([len(title), *(len(row[index]) for row in rows)])
        widths.append(min(natural, MAX_COLUMN_WIDTH.get(title, natural)))
    lines = [
        " | ".join(title.ljust(width) for title, width in zip(COLUMNS, widths, strict=True)),
        "-+-".join("-" * width for width in widths),
    ]
    for row in rows:
        cells = [_wrap(cell, width) for cell, width in zip(row, widths, strict=True)]
        for depth in range(max(len(c) for c in cells)):
            parts = [
                (c[depth] if depth < len(c) else "").ljust(w)
                for c, w in zip(cells, widths, strict=True)
            ]
            lines.append(" | ".join(parts).rstrip())
    return "\n".join(lines)
