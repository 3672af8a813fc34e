"""Validation of headers and bodies into ``Query`` objects.

All 4xx decisions about a request's content live here, before any token is charged or any data
is generated, so a rejected request is cheap and an accepted one cannot fail half-way through a
streamed export for a reason the client could have been told up front.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from placewise_simulator.config import TokenGrant
from placewise_simulator.errors import ApiError
from placewise_simulator.filters import compile_filter, filter_cost
from placewise_simulator.reports import REPORTS, Aggregation, Report, club_members, count_rows
from placewise_simulator.results import QUERY_BUCKET_LIMIT, Query, decode_cursor
from placewise_simulator.timeutil import (
    INTERVALS,
    RETENTION_DAYS,
    Buckets,
    TimeError,
    auto_interval,
    parse_time,
    to_epoch,
)
from placewise_simulator.variants import resolve_variants
from placewise_simulator.world import Club, World

MAX_CUSTOMER_IDS = 40
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
ATTRIBUTES = ("chain", "country")
_IDS = re.compile(r"^\d+(_\d+)*$")
LONGEST_BUCKET = {
    "5m": 300,
    "1h": 7200,
    "1d": 90000,
    "1w": 7 * 86400 + 3600,
    "1mo": 31 * 86400 + 3600,
}
"""Upper bounds of bucket lengths (DST included): a window longer than 151 of these certainly
touches more than 150 buckets, so it is refused before the buckets are enumerated."""


def check_text_header(name: str, value: str | None) -> str:
    """Required free-text header: missing -> 470, empty or control characters -> 471."""
    if value is None:
        raise ApiError(470, f"missing required header {name}")
    if not value.strip() or len(value) > 512 or any(ord(c) < 32 for c in value):
        raise ApiError(471, f"invalid value of header {name}")
    return value


def select_clubs(header: str | None, world: World, grant: TokenGrant) -> list[Club]:
    """Clubs named by ``X-Customer`` (ids, ``all=all`` or attribute selection)."""
    if header is None:
        raise ApiError(470, "missing required header X-Customer")
    value = header.strip()
    if value == "all=all":
        return [c for c in world.clubs if grant.allows_club(c.id)]
    ids_text = value[3:] if value.startswith("id=") else value
    if _IDS.match(ids_text):
        ids = sorted({int(part) for part in ids_text.split("_")})
        if len(ids_text.split("_")) > MAX_CUSTOMER_IDS:
            raise ApiError(471, f"X-Customer names more than {MAX_CUSTOMER_IDS} customers")
        clubs = []
        for club_id in ids:
            club = world.by_id.get(club_id)
            if club is None or not grant.allows_club(club_id):
                raise ApiError(403, f"customer {club_id} is not available to this token")
            clubs.append(club)
        return clubs
    wanted: dict[str, str] = {}
    for part in value.split(";"):
        key, sep, wanted_value = part.partition("=")
        if not sep or key.strip() not in ATTRIBUTES or not wanted_value.strip():
            raise ApiError(471, "invalid X-Customer header")
        wanted[key.strip()] = wanted_value.strip()
    clubs = [
        c
        for c in world.clubs
        if grant.allows_club(c.id) and all(getattr(c, k) == v for k, v in wanted.items())
    ]
    if not clubs:
        raise ApiError(403, "no customer available to this token matches X-Customer")
    return clubs


def lookup_report(
    body: dict[str, Any], grant: TokenGrant, variants: Mapping[str, str] | None = None
) -> Report:
    """The body's report, checking that it exists (422) and that the token may read it (403).

    Reports named only in the docs' menu exist under ``menu_only_reports=served``.
    """
    name = body.get("report")
    if not isinstance(name, str) or name not in REPORTS:
        raise ApiError(422, f"unknown report {name!r}")
    variants = variants or resolve_variants({})
    if REPORTS[name].menu_only and variants["menu_only_reports"] != "served":
        raise ApiError(422, f"unknown report {name!r}")
    if not grant.allows_report(name):
        raise ApiError(403, f"token lacks permit {REPORTS[name].permit}")
    return REPORTS[name]


def fact_key(report: Report) -> Any:
    """Row key of a field in the report's fact tuples ``(time, value, *dims)``."""

    def key_of(name: str) -> int:
        return 2 + report.dims.index(name)

    return key_of


def _aggregation(report: Report, body: dict[str, Any]) -> Aggregation:
    name = body.get("aggregate_by")
    if name is not None and not isinstance(name, str):
        raise ApiError(422, "aggregate_by must be a string or null")
    try:
        return report.aggregation(name)
    except KeyError as exc:
        raise ApiError(422, f"unknown aggregation {name!r} for report {report.name}") from exc


def _time(body: dict[str, Any], key: str) -> Any:
    if body.get(key) is None:
        raise ApiError(422, f"{key} is required for this report")
    try:
        return parse_time(body[key])
    except TimeError as exc:
        raise ApiError(422, str(exc)) from exc


def _interval(report: Report, body: dict[str, Any], seconds: float) -> str:
    interval = body.get("interval") or "auto"
    if interval == "auto":
        chosen = auto_interval(seconds)
        for candidate in INTERVALS[INTERVALS.index(chosen) :]:
            if candidate in report.intervals:
                return candidate
        return report.intervals[-1]
    if interval not in INTERVALS:
        raise ApiError(422, f"unknown interval {interval!r}")
    if interval not in report.intervals:
        raise ApiError(422, f"interval {interval} is not available for {report.name}")
    return interval


def build_query(
    body: dict[str, Any],
    grant: TokenGrant,
    clubs: list[Club],
    *,
    cross: bool,
    paged: bool,
    now: float,
    variants: Mapping[str, str] | None = None,
) -> tuple[Query, int]:
    """Validate a query body; returns the query and its token cost (before any export factor).

    ``paged`` marks the query endpoint, where the 150-bucket rule and paging apply; exports
    ignore ``limit`` and the cursor so that a client can send the same body to both. The
    cursor is read from the body key named by the ``cursor_key`` variant; any other key is
    ignored, so a client using the wrong one is answered page 1 again.
    """
    variants = variants or resolve_variants({})
    report = lookup_report(body, grant, variants)
    aggregation = _aggregation(report, body)
    if report.result_type == "records":
        key_of: Any = lambda name: name  # noqa: E731
    else:
        key_of = fact_key(report)
    predicate = compile_filter(body.get("filter"), report.field_map, report.club_field, key_of)
    cost = report.token_cost + filter_cost(body.get("filter"))
    limit = body.get("limit")
    if limit is None or not paged:
        limit = DEFAULT_LIMIT
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ApiError(422, f"limit must be an integer from 1 to {MAX_LIMIT}")
    cursor_key = variants["cursor_key"]
    after = decode_cursor(body.get(cursor_key), cursor_key) if paged else None
    query = Query(
        report,
        aggregation,
        predicate,
        None,
        None,
        None,
        limit,
        after,
        clubs,
        cross,
        now,
        dict(variants),
    )
    if report.result_type == "records":
        return query, cost
    query.start = _time(body, "from")
    query.end = _time(body, "to")
    windows = [query.window(club) for club in clubs]
    if any(end <= start for start, end in windows):
        raise ApiError(422, "to must be later than from")
    longest = max(end - start for start, end in windows)
    if query.bucketed:
        interval = _interval(report, body, longest)
        query.interval = interval
        retention = RETENTION_DAYS[interval]
        earliest = min(start for start, _ in windows)
        if retention is not None and earliest < now - retention * 86400:
            raise ApiError(422, f"from is older than the {interval} retention of {retention} days")
        if paged:
            _check_buckets(query, clubs, interval, longest)
    elif body.get("interval") not in (None, "auto", *INTERVALS):
        raise ApiError(422, f"unknown interval {body.get('interval')!r}")
    return query, cost


def _check_buckets(query: Query, clubs: list[Club], interval: str, longest: float) -> None:
    """Reject query-endpoint timeseries touching more than 150 buckets (422)."""
    if longest / LONGEST_BUCKET[interval] > QUERY_BUCKET_LIMIT + 1:
        raise ApiError(422, f"query spans more than {QUERY_BUCKET_LIMIT} {interval} buckets")
    for club in clubs:
        start, end = query.bucket_window(club)
        if len(Buckets(start, end, club.timezone, interval)) > QUERY_BUCKET_LIMIT:
            raise ApiError(422, f"query spans more than {QUERY_BUCKET_LIMIT} {interval} buckets")


def field_values(
    body: dict[str, Any],
    grant: TokenGrant,
    clubs: list[Club],
    world: World,
    now: float,
    variants: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Body of the field metadata endpoint: distinct values of a field in the window."""
    report = lookup_report(body, grant, variants)
    name = body.get("field")
    if name == report.club_field:
        raise ApiError(422, f"{name} is selected by the X-Customer header")
    if not isinstance(name, str) or name not in report.field_map:
        raise ApiError(422, f"unknown field {name!r} of report {report.name}")
    seen: set[Any] = set()
    if report.result_type == "records":
        assert report.records is not None
        for club in clubs:
            for _, _, record in report.records(world, club, now, None):
                value = record.get(name)
                if isinstance(value, list):
                    seen.update(value)
                elif not isinstance(value, dict):
                    seen.add(value)
    elif name in report.dims:
        start_text = body.get("from")
        end_text = body.get("to")
        try:
            start_raw = parse_time(start_text) if start_text else None
            end_raw = parse_time(end_text) if end_text else None
        except TimeError as exc:
            raise ApiError(422, str(exc)) from exc
        index = 2 + report.dims.index(name)
        for club in clubs:
            end = to_epoch(end_raw, club.timezone) if end_raw else now
            start = to_epoch(start_raw, club.timezone) if start_raw else end - 30 * 86400
            if report.facts is None:
                for m in club_members(world, club, now):
                    if m.joined < end:
                        seen.update(row[index] for row in count_rows(m, grouped=True))
                continue
            for fact in report.facts(world, club, start, end, now):
                seen.add(fact[index])
    values = sorted(
        seen, key=lambda v: (v is not None, isinstance(v, str), v if v is not None else 0)
    )
    return {"report": report.name, "field": name, "values": values}
