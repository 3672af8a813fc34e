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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import IO, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from placewise.api.catalog import ReportSpec, get_report
from placewise.api.contract import RANGE_TIMEZONE_LOCAL
from placewise.api.errors import ResultShapeError
from placewise.extract.windows import Window
from placewise.formats.results import iter_records, parse_statistics, parse_timeseries

CLUB_LABEL_KEY = "loyalty_club_id"

#: Per report: the fields with known enum values (what ``PayloadStats.note_enum`` checks).
_ENUM_FIELDS: dict[str, dict[str, frozenset[str]]] = {}
_ABSENT = object()
#: Label/record shapes (key tuples) kept per load before the cache is dropped and rebuilt.
_MAX_RECORD_SHAPES = 64


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


def _json_number(value: Any) -> Any:
    """Encode the parsers' ``Decimal`` (non-integral JSON numbers) as a JSON number again."""
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _compact_json_encoder() -> Callable[[Any], str]:
    """``json.dumps(value, separators=(",", ":"))`` for labels and records, built once.

    ``json.dumps`` sets up a new C encoder on every call, which costs more than encoding a small
    label; this keeps one (the output is the same; bodies parsed from JSON cannot be circular, so
    the circular-reference bookkeeping is left out).
    """
    encoder = json.JSONEncoder(separators=(",", ":"), default=_json_number)
    if c_make_encoder is None:  # pragma: no cover - CPython always has the C encoder
        return encoder.encode
    chunks = c_make_encoder(
        None, _json_number, encode_basestring_ascii, None, ":", ",", False, False, True
    )

    def encode(value: Any) -> str:
        return "".join(chunks(value, 0))

    return encode


_compact_json = _compact_json_encoder()


def _enum_fields(report: ReportSpec) -> dict[str, frozenset[str]]:
    """The report's fields that have known enum values, computed once per report.

    Rows are checked against it for every label or record, so the lookup must be one dict access
    rather than a walk through the catalog.
    """
    fields = _ENUM_FIELDS.get(report.name)
    if fields is None:
        fields = {
            name: frozenset(spec.enum_values)
            for name, spec in report.fields.items()
            if spec.enum_values
        }
        _ENUM_FIELDS[report.name] = fields
    return fields


def _note_enums(
    stats: PayloadStats, fields: dict[str, frozenset[str]], items: Iterable[tuple[str, Any]]
) -> None:
    """``stats.note_enum`` for several (key, value) pairs, with the report's enum fields at hand."""
    for key, value in items:
        known = fields.get(key)
        if known is not None and value is not None and str(value) not in known:
            stats.unknown_enum_values[f"{key}={value}"] += 1


class _EnumKeys:
    """The keys of a label or record that name enum fields, remembered per key set.

    Labels and records of one body nearly always have the same keys in the same order, so the
    filtering is done once per shape instead of once per key of every row.
    """

    def __init__(self, enum_fields: dict[str, frozenset[str]]) -> None:
        self._fields = enum_fields
        self._shapes: dict[tuple[str, ...], tuple[str, ...]] = {}

    def of(self, mapping: dict[str, Any]) -> tuple[str, ...]:
        shape = tuple(mapping)
        keys = self._shapes.get(shape)
        if keys is None:
            if len(self._shapes) >= _MAX_RECORD_SHAPES:
                self._shapes.clear()
            keys = self._shapes[shape] = tuple(k for k in shape if k in self._fields)
        return keys


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
    _note_enums(stats, _enum_fields(ctx.spec), label.items())
    return _compact_json(label)


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
    aggregation, start, end = ctx.aggregation, ctx.window.start, ctx.window.end
    stat_date = start.date()
    range_timezone = header.range_timezone
    enum_fields = _enum_fields(ctx.spec)
    enum_keys = _EnumKeys(enum_fields)
    clubs = frozenset(ctx.club_ids)
    zones_seen: set[str] = set()
    # The checks below are those of _count, _club_of_label and _zone; the common valid case is
    # decided inline and anything else goes through those functions for their error messages.
    for index, (label, series_timezone, value) in enumerate(series):
        if value is None:
            continue
        if type(value) is not int or value < 0:
            value = _count(value, f"{where} series {index}")
        club = label.get(CLUB_LABEL_KEY, _ABSENT)
        if club is _ABSENT:
            club = label.get("community_id")
        if type(club) is not int or (clubs and club not in clubs):
            club = _club_of_label(ctx, label, f"{where} series {index}")
        timezone = series_timezone if is_local else range_timezone
        if timezone is not None and timezone not in zones_seen:
            _zone(timezone, f"{where} series {index}")
            zones_seen.add(timezone)
            stats.timezones.add(timezone)
        stats.rows += 1
        for key in enum_keys.of(label):
            known = label[key]
            if known is not None and str(known) not in enum_fields[key]:
                stats.unknown_enum_values[f"{key}={known}"] += 1
        yield (
            club,
            aggregation,
            start,
            end,
            stat_date,
            timezone if club is not None else None,
            _compact_json(label),
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
    enum_fields = _enum_fields(spec)
    clubs = frozenset(ctx.club_ids)
    club_field = spec.club_field
    key_fields = spec.record_key
    single_key = key_fields[0] if len(key_fields) == 1 else None
    # per record shape (its keys in order): the keys to check as counts and as enums
    shapes: dict[tuple[str, ...], tuple[list[str], list[str]]] = {}
    stream = iter_records(fp, keep_raw=True)
    for index, record in enumerate(stream):
        club: int | None
        if club_field in record:
            club = record[club_field]
            if type(club) is not int or (clubs and club not in clubs):
                club = _club_of_label(
                    ctx, {CLUB_LABEL_KEY: record[club_field]}, f"{where} record {index}"
                )
        elif ctx.is_multi and ctx.aggregation != "none":
            club = None
        else:
            raise BadPayloadError(f"{where} record {index}: record has no {club_field}")
        shape = tuple(record)
        checks = shapes.get(shape)
        if checks is None:
            if len(shapes) >= _MAX_RECORD_SHAPES:
                shapes.clear()
            checks = shapes[shape] = (
                [k for k in shape if k.endswith("_count")],
                [k for k in shape if k in enum_fields],
            )
        count_keys, enum_keys = checks
        for key in count_keys:
            value = record[key]
            if value is not None and (type(value) is not int or value < 0):
                _count(value, f"{where} record {index} {key}")
        for key in enum_keys:
            known = record[key]
            if known is not None and str(known) not in enum_fields[key]:
                stats.unknown_enum_values[f"{key}={known}"] += 1
        if single_key is not None:
            value = record.get(single_key)
            key = "" if value is None else str(value)
        else:
            key = "|".join("" if record.get(k) is None else str(record.get(k)) for k in key_fields)
        stats.rows += 1
        text = stream.raw
        yield club, ctx.aggregation, key, text if text is not None else _compact_json(record)


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
