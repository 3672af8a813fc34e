"""The status page's trend plots, drawn by matplotlib as SVG and embedded as data URIs.

SVG keeps the page one self-contained file (no JavaScript, no asset to serve) that prints and
screenshots as it looks. The object-oriented API (``Figure`` without ``pyplot``) draws without
a GUI backend and without global state, so concurrent requests of the plugin do not interfere.
matplotlib is imported inside these functions: importing the page's modules stays cheap.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

STATUS_COLOURS = {
    "match": "#2e7d32",
    "unsettled": "#f9a825",
    "incomplete": "#ef6c00",
    "difference": "#c62828",
}


@dataclass(frozen=True)
class Plot:
    """One embedded plot: an id for the page, a caption and the SVG as a data URI."""

    plot_id: str
    title: str
    data_uri: str


def _figure() -> Figure:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.0), dpi=100, layout="constrained")
    return fig


def _data_uri(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _dates(ax, days: pd.Series | pd.DatetimeIndex) -> None:  # noqa: ANN001 - a matplotlib Axes
    """Date ticks that read well from one day to a few months (a lone day gets a margin)."""
    import matplotlib.dates as mdates
    import pandas as pd

    first, last = pd.Timestamp(min(days)), pd.Timestamp(max(days))
    ax.set_xlim(first - pd.Timedelta(days=1), last + pd.Timedelta(days=1))
    locator = mdates.AutoDateLocator(minticks=2, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.grid(axis="y", alpha=0.3)


def tokens_per_night(frame: pd.DataFrame) -> Plot | None:
    """Stacked bars: API tokens spent per UTC night, one colour per club (and the tenants)."""
    if frame.empty:
        return None
    import pandas as pd

    table = frame.pivot_table(
        index="night", columns="scope", values="tokens", aggfunc="sum", fill_value=0
    ).sort_index()
    nights = pd.to_datetime(table.index)
    fig = _figure()
    ax = fig.subplots()
    bottom = None
    for scope in table.columns:
        values = table[scope].astype(float).to_numpy()
        ax.bar(nights, values, bottom=bottom, label=str(scope), width=0.8)
        bottom = values if bottom is None else bottom + values
    ax.set_ylabel("tokens")
    ax.set_ylim(bottom=0, top=max(float(bottom.max()), 1.0) * 1.3)  # room for the legend
    ax.legend(fontsize="small", ncols=min(len(table.columns), 4), loc="upper left")
    _dates(ax, nights)
    return Plot("plot-tokens", "API tokens spent per night (UTC)", _data_uri(fig))


def lag_per_club(frame: pd.DataFrame) -> Plot | None:
    """Lines: per club, days between each load night and the newest day loaded by then."""
    if frame.empty:
        return None
    import pandas as pd

    fig = _figure()
    ax = fig.subplots()
    nights = pd.to_datetime(frame["night"])
    for club_id, rows in frame.groupby("club_id", sort=True):
        ax.plot(
            pd.to_datetime(rows["night"]),
            rows["lag_days"].astype(float),
            marker="o",
            label=f"club {club_id}",
        )
    ax.set_ylabel("days behind")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize="small")
    _dates(ax, nights)
    return Plot("plot-lag", "Lag per club: load night minus newest loaded day", _data_uri(fig))


def reconciliation_differences(frame: pd.DataFrame) -> Plot | None:
    """Bars: summed absolute difference (rebuilt - API) per day, coloured by the day's status."""
    if frame.empty:
        return None
    import pandas as pd

    ordered = frame.sort_values("stat_date")
    fig = _figure()
    ax = fig.subplots()
    days = pd.to_datetime(ordered["stat_date"])
    colours = [STATUS_COLOURS.get(s, "#607d8b") for s in ordered["status"]]
    values = ordered["abs_difference"].astype(float)
    ax.bar(days, values, color=colours, width=0.8)
    # Days that match have no bar; a marker on the axis shows they were compared.
    matched = ordered["status"] == "match"
    ax.scatter(days[matched], [0] * int(matched.sum()), color=STATUS_COLOURS["match"], s=12)
    ax.set_ylabel("|rebuilt - API| events")
    ax.set_ylim(bottom=0, top=max(float(values.max()), 1.0) * 1.15)
    handles = [
        ax.scatter([], [], color=colour, label=status) for status, colour in STATUS_COLOURS.items()
    ]
    ax.legend(handles=handles, fontsize="small")
    _dates(ax, days)
    return Plot(
        "plot-recon", "Reconciliation: absolute differences per day, by status", _data_uri(fig)
    )
