"""Reading the shape of an API answer, as far as the doctor needs to tell readings apart.

These look at small parsed bodies (one day, one page, ``limit`` 1); the pipeline's streaming
parsers in ``placewise.formats`` stay the judge of a body that is loaded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from placewise.api import contract


def shape_of(data: Any) -> str:
    """``records``, ``timeseries``, ``statistics`` (totals), ``statistics+buckets`` or what
    the body is instead (``not an object``, ``unknown shape``)."""
    if not isinstance(data, dict):
        return "not an object"
    if isinstance(data.get(contract.KEY_RECORDS), list):
        return contract.RESULT_RECORDS
    series = data.get(contract.KEY_SERIES)
    if not isinstance(series, list):
        return "unknown shape"
    if isinstance(data.get(contract.KEY_TIME_BUCKETS), list):
        if data.get(contract.KEY_RESULT_TYPE) == contract.RESULT_STATISTICS:
            return "statistics+buckets"
        return contract.RESULT_TIMESERIES
    return contract.RESULT_STATISTICS


def wall_clock(text: str) -> datetime | None:
    """The wall-clock part of an ISO time (its offset dropped), None if unparseable."""
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)
    except (TypeError, ValueError):
        return None


def has_offset(text: str) -> bool:
    """True when an ISO time carries a UTC offset (``+00:00``, ``Z``, ``-05:00``)."""
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).tzinfo is not None
    except (TypeError, ValueError):
        return False


def series_labels(data: Any) -> list[dict[str, Any]]:
    """The ``label`` of every series of a timeseries or statistics answer."""
    if not isinstance(data, dict) or not isinstance(data.get(contract.KEY_SERIES), list):
        return []
    return [
        item.get(contract.KEY_LABEL) or {}
        for item in data[contract.KEY_SERIES]
        if isinstance(item, dict)
    ]


def series_zones(data: Any) -> dict[int, str]:
    """Club -> timezone, as a cross-club answer tells them.

    A ``"local"`` answer names each club's zone on its series; an answer over clubs sharing one
    zone names it as ``range_timezone``.
    """
    zones: dict[int, str] = {}
    if not isinstance(data, dict):
        return zones
    range_zone = data.get(contract.KEY_RANGE_TIMEZONE)
    for item in data.get(contract.KEY_SERIES) or []:
        if not isinstance(item, dict):
            continue
        club = (item.get(contract.KEY_LABEL) or {}).get(contract.KEY_CLUB_LABEL)
        if isinstance(club, bool) or not isinstance(club, int):
            continue
        zone = item.get(contract.KEY_TIMEZONE)
        if zone is None and range_zone != contract.RANGE_TIMEZONE_LOCAL:
            zone = range_zone
        if isinstance(zone, str) and zone:
            zones[club] = zone
    return zones


def next_cursor(data: Any) -> str | None:
    """``pagination.next_page_info`` of a records page."""
    if not isinstance(data, dict):
        return None
    pagination = data.get(contract.KEY_PAGINATION)
    if not isinstance(pagination, dict):
        return None
    cursor = pagination.get(contract.KEY_NEXT_PAGE_INFO)
    return cursor if isinstance(cursor, str) and cursor else None


def first_record(data: Any) -> Any:
    """The first record of a records page (None when it has none)."""
    records = data.get(contract.KEY_RECORDS) if isinstance(data, dict) else None
    return records[0] if isinstance(records, list) and records else None
