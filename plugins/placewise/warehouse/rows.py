"""Turning a landed response body into raw-table rows, checking it on the way.

A payload is never loaded on trust: the shape is checked by the streaming parsers of
``placewise.api.contract`` and the content here (club ids that belong to the request, buckets
inside the requested window, non-negative counts, known timezones). Anything wrong raises
``BadPayloadError``, which makes the loader roll back and quarantine the slice. Enum values the
catalog does not know are *kept* and counted, so a new value in the API never breaks a nightly run
and never silently disappears.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from placewise.api.catalog import ReportSpec, get_report
from placewise.api.contract import (
    RANGE_TIMEZONE_LOCAL,
    ResultShapeError,
    iter_records,
    parse_statistics,
    parse_timeseries,
)
from placewise.extract.windows import Window

CLUB_LABEL_KEY = "loyalty_club_id"


class BadPayloadError(ValueError):
    """The body is not something we may load; the message says what is wrong and where."""


@dataclass
class SliceContext:
    """What the loader knows about the request that produced a body."""

    report: str
    scope: str
    club_ids: tuple[int, ...]
    is_multi: bool
    aggregation: str
    interval: str
    window: Window | None

    @property
    def spec(self) -> ReportSpec:
        return get_report(self.report)

    @property
    def single_club(self) -> int | None:
        return self.club_ids[0] if not self.is_multi and self.club_ids else None


@dataclass
class PayloadStats:
    """Counters gathered while rows stream out (reported on the slice's manifest row)."""

    rows: int = 0
    unknown_enum_values: Counter[str] = field(default_factory=Counter)
    timezones: set[str] = field(default_factory=set)

    def note_enum(self, report: ReportSpec, key: str, value: Any) -> None:
        spec = report.field(key)
        if spec is None or not spec.enum_values or value is None:
            return
        if str(value) not in spec.enum_values:
            self.unknown_enum_values[f"{key}={value}"] += 1


def _zone(name: str | None, where: str) -> ZoneInfo:
    if not name:
        raise BadPayloadError(f"{where}: no timezone given")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise BadPayloadError(f"{where}: unknown timezone {name!r}") from exc


def parse_api_time(text: str) -> tuple[datetime, datetime | None]:
    """Split an API timestamp into (local wall-clock time, instant or None if it has no offset)."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadPayloadError(f"unparseable timestamp {text!r}") from exc
    if moment.tzinfo is None:
        return moment, None
    return moment.replace(tzinfo=None), moment


def _count(value: Any, where: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadPayloadError(f"{where}: value {value!r} is not a number")
    if value < 0:
        raise BadPayloadError(f"{where}: negative count {value!r}")
    return value


def _club_of_label(ctx: SliceContext, label: dict[str, Any], where: str) -> int | None:
    """The club a series belongs to, refusing any club outside the request."""
    raw = label.get(CLUB_LABEL_KEY, label.get("community_id"))
    if raw is None:
        if ctx.is_multi:
            agg = ctx.spec.aggregation(None if ctx.aggregation == "none" else ctx.aggregation)
            if agg is not None and agg.drops_club:
                return None
            raise BadPayloadError(f"{where}: cross-club series without {CLUB_LABEL_KEY}")
        return ctx.single_club
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise BadPayloadError(f"{where}: {CLUB_LABEL_KEY} {raw!r} is not an integer")
    if ctx.club_ids and raw not in ctx.club_ids:
        raise BadPayloadError(
            f"{where}: series of club {raw} does not belong to the request ({ctx.scope})"
        )
    return raw


def _label_json(ctx: SliceContext, stats: PayloadStats, label: dict[str, Any]) -> str:
    for key, value in label.items():
        stats.note_enum(ctx.spec, key, value)
    return json.dumps(label, separators=(",", ":"))


StatisticsRow = tuple[int | None, str, datetime, datetime, date, str | None, str, int | float]


def statistics_rows(
    ctx: SliceContext, fp: IO[bytes], stats: PayloadStats
) -> Iterator[StatisticsRow]:
    """Rows of ``placewise_raw.<statistics report>``: one per series with a value."""
    header, series = parse_statistics(fp)
    where = f"{ctx.report} {ctx.scope}"
    if ctx.window is None:
        raise BadPayloadError(f"{where}: statistics slice without a window")
    if header.from_ is not None and header.to is not None:
        start, _ = parse_api_time(header.from_)
        end, _ = parse_api_time(header.to)
        if (start, end) != (ctx.window.start, ctx.window.end):
            raise BadPayloadError(
                f"{where}: answer covers {header.from_}..{header.to}, "
                f"not the requested {ctx.window.label()}"
            )
    is_local = header.range_timezone == RANGE_TIMEZONE_LOCAL
    if not is_local:
        _zone(header.range_timezone, where)
    stat_date = ctx.window.start.date()
    for index, item in enumerate(series):
        if item.value is None:
            continue
        at = f"{where} series {index}"
        value = _count(item.value, at)
        club = _club_of_label(ctx, item.label, at)
        timezone = item.timezone if is_local else header.range_timezone
        if timezone is not None:
            _zone(timezone, at)
            stats.timezones.add(timezone)
        stats.rows += 1
        yield (
            club,
            ctx.aggregation,
            ctx.window.start,
            ctx.window.end,
            stat_date,
            timezone if club is not None else None,
            _label_json(ctx, stats, item.label),
            value,
        )


TimeseriesRow = tuple[
    int | None, str, str, datetime, datetime | None, date, str | None, str, int | float
]


def timeseries_rows(
    ctx: SliceContext, fp: IO[bytes], stats: PayloadStats
) -> Iterator[TimeseriesRow]:
    """Rows of ``placewise_raw.<timeseries report>``: one per (series x bucket) with a value.

    Single-club buckets carry their UTC offset; ``"local"`` buckets are wall-clock times that get
    their instant from the series' own timezone, so the same local day lines up across clubs.
    """
    header, series = parse_timeseries(fp)
    where = f"{ctx.report} {ctx.scope}"
    is_local = header.range_timezone == RANGE_TIMEZONE_LOCAL
    range_zone = None if is_local else _zone(header.range_timezone, where)
    if header.interval and ctx.interval and header.interval != ctx.interval:
        raise BadPayloadError(f"{where}: interval {header.interval!r}, asked {ctx.interval!r}")
    buckets = [parse_api_time(b) for b in header.time_buckets]
    if ctx.window is not None:
        for local, _ in buckets:
            if not (ctx.window.start <= local < ctx.window.end):
                raise BadPayloadError(
                    f"{where}: bucket {local.isoformat()} is outside the requested window "
                    f"{ctx.window.label()}"
                )
    interval = header.interval or ctx.interval
    for index, item in enumerate(series):
        at = f"{where} series {index}"
        club = _club_of_label(ctx, item.label, at)
        if is_local:
            zone = _zone(item.timezone, at)
            timezone: str | None = item.timezone
        else:
            zone = range_zone
            timezone = header.range_timezone
        if timezone:
            stats.timezones.add(timezone)
        label = _label_json(ctx, stats, item.label)
        for (local, instant), value in zip(buckets, item.values, strict=True):
            if value is None:
                continue
            count = _count(value, f"{at} bucket {local.isoformat()}")
            start = instant if instant is not None else local.replace(tzinfo=zone)
            stats.rows += 1
            yield (
                club,
                ctx.aggregation,
                interval,
                local,
                start,
                local.date(),
                timezone,
                label,
                count,
            )


RecordsRow = tuple[int | None, str, str, str]


def records_rows(ctx: SliceContext, fp: IO[bytes], stats: PayloadStats) -> Iterator[RecordsRow]:
    """Rows of ``placewise_raw.<records report>``: one per record, keyed by the catalog's key."""
    spec = ctx.spec
    where = f"{ctx.report} {ctx.scope}"
    for index, record in enumerate(iter_records(fp)):
        at = f"{where} record {index}"
        club: int | None
        if spec.club_field in record:
            club = _club_of_label(ctx, {CLUB_LABEL_KEY: record[spec.club_field]}, at)
        elif ctx.is_multi and ctx.aggregation != "none":
            club = None
        else:
            raise BadPayloadError(f"{at}: record has no {spec.club_field}")
        for key, value in record.items():
            if key.endswith("_count") and value is not None:
                _count(value, f"{at} {key}")
            stats.note_enum(spec, key, value)
        key = "|".join("" if record.get(k) is None else str(record.get(k)) for k in spec.record_key)
        stats.rows += 1
        yield club, ctx.aggregation, key, json.dumps(record, separators=(",", ":"))


ROW_BUILDERS = {
    "statistics": statistics_rows,
    "timeseries": timeseries_rows,
    "records": records_rows,
}

COLUMNS = {
    "statistics": (
        "loyalty_club_id",
        "aggregation",
        "window_start_local",
        "window_end_local",
        "stat_date",
        "timezone",
        "label",
        "value",
    ),
    "timeseries": (
        "loyalty_club_id",
        "aggregation",
        "interval",
        "bucket_local",
        "bucket_start",
        "bucket_date",
        "timezone",
        "label",
        "value",
    ),
    "records": ("loyalty_club_id", "aggregation", "record_key", "record"),
}

PARTITION_DATE_COLUMN = {"statistics": "stat_date", "timeseries": "bucket_date"}

__all__ = [
    "COLUMNS",
    "PARTITION_DATE_COLUMN",
    "ROW_BUILDERS",
    "BadPayloadError",
    "PayloadStats",
    "ResultShapeError",
    "SliceContext",
    "parse_api_time",
]
