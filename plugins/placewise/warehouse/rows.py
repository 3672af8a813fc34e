"""Turning a landed response body into raw-table rows, checking it on the way.

A payload is never loaded on trust: the shape is checked by the streaming parsers of
``placewise.formats`` and the content here (club ids that belong to the request, non-negative
counts, known timezones). A bucket outside the slice's own days is not loaded but dropped and
counted (``PayloadStats.dropped_buckets``): a slice owns its window's days. Anything wrong raises
``BadPayloadError``, which makes the loader roll back and quarantine the slice. Enum values the
catalog does not know are *kept* and counted, so a new value in the API never breaks a nightly run
and never silently disappears.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import IO, Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from placewise.api.catalog import ReportSpec, get_report
from placewise.api.contract import KEY_CLUB_LABEL, RANGE_TIMEZONE_LOCAL
from placewise.api.errors import ResultShapeError
from placewise.extract.plan import NO_AGGREGATION
from placewise.extract.windows import Window
from placewise.formats.results import iter_records, parse_statistics, parse_timeseries

#: Record fields whose name ends so are counts: null or a non-negative number.
_COUNT_SUFFIX = "_count"
#: Label/record shapes (key tuples) kept per body before the cache is dropped and rebuilt.
_MAX_SHAPES = 64
_ABSENT = object()


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
    #: Buckets of the answer outside the slice's own days, dropped rather than loaded: a
    #: timeseries may carry the bucket starting at ``to`` (variant ``window_end=bucket_at_to``),
    #: which belongs to the next window's days.
    dropped_buckets: int = 0


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


class _Shape(NamedTuple):
    """The keys of one label/record shape that the content rules look at."""

    enum_keys: tuple[str, ...]
    count_keys: tuple[str, ...]


class _ContentRules:
    """The content rules of one body, each written once, for every result type.

    Built once per body, so that what the rules need from the request and the catalog (the
    request's clubs, the report's club field and enum fields) is looked up once, not per row.
    Each rule accepts the common valid value with its first test; only a value that fails it goes
    on to the branches that pick a default or the error naming what is wrong and where. That keeps
    checking every row about as cheap as the test itself.
    """

    def __init__(self, ctx: SliceContext, stats: PayloadStats) -> None:
        spec = ctx.spec
        self.where = f"{ctx.report} {ctx.scope}"
        self._ctx = ctx
        self._stats = stats
        self._clubs = frozenset(ctx.club_ids)
        self._club_field = spec.club_field
        self._enum_fields = {
            name: frozenset(f.enum_values) for name, f in spec.fields.items() if f.enum_values
        }
        self._shapes: dict[tuple[str, ...], _Shape] = {}
        self._zones: dict[str, ZoneInfo] = {}

    def at(self, what: str, index: int, detail: str = "") -> str:
        """Where in the body a row comes from, for error messages (``series 3 bucket ...``)."""
        return f"{self.where} {what} {index} {detail}" if detail else f"{self.where} {what} {index}"

    # -- counts -----------------------------------------------------------------------------------

    def count(self, value: Any, what: str, index: int, detail: str = "") -> int | float:
        """A count as it is stored: a non-negative number (null is handled by the caller)."""
        if type(value) is int and value >= 0:
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BadPayloadError(
                f"{self.at(what, index, detail)}: value {value!r} is not a number"
            )
        if value < 0:
            raise BadPayloadError(f"{self.at(what, index, detail)}: negative count {value!r}")
        return value

    # -- clubs ------------------------------------------------------------------------------------

    def club(self, raw: Any, key: str, what: str, index: int) -> int | None:
        """The club of a row whose body names it ``raw`` under ``key`` (None: names no club).

        A named club must be an integer and one of the request's clubs.
        """
        clubs = self._clubs
        if type(raw) is int and (raw in clubs or not clubs):
            return raw
        if raw is None:
            return self.no_club(key, what, index)
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise BadPayloadError(f"{self.at(what, index)}: {key} {raw!r} is not an integer")
        raise BadPayloadError(
            f"{self.at(what, index)}: {what} of club {raw} does not belong to the request "
            f"({self._ctx.scope})"
        )

    def no_club(self, key: str, what: str, index: int) -> int | None:
        """The club of a row that names none.

        In a single-club answer, the club asked for. Across clubs, none if the aggregation sums
        over clubs (the catalog's ``AggregationSpec.drops_club``: ``total_*`` and the like), and
        none for a series without aggregation: customers sharing a timezone may be answered one
        merged series (variant ``same_tz_merge=merged``), which is the cross-club total. Any
        other cross-club row must name its club. The catalog takes the API's own Metadata first
        (``placewise.api.live_catalog``), so an aggregation the API offers and the docs did not
        show is known; one neither describes is a bad payload naming it, not a crash.
        """
        ctx = self._ctx
        if not ctx.is_multi:
            return ctx.single_club
        if what == "series" and ctx.aggregation == NO_AGGREGATION:
            return None
        if ctx.aggregation != NO_AGGREGATION:
            agg = ctx.spec.aggregations.get(ctx.aggregation)
            if agg is None:
                raise BadPayloadError(
                    f"{self.at(what, index)}: cross-club {what} without {key} for aggregation "
                    f"{ctx.aggregation!r}, which neither the catalog nor the API's cached "
                    "Metadata describes: run `placewise doctor` to refresh the Metadata, then "
                    "replay the slice"
                )
            if agg.drops_club:
                return None
        raise BadPayloadError(f"{self.at(what, index)}: cross-club {what} without {key}")

    # -- timezones --------------------------------------------------------------------------------

    def zone(self, name: str | None, what: str, index: int) -> ZoneInfo:
        """The zone of a series' timezone; each name is looked up and counted once per body."""
        zone = self._zones.get(name or "")
        if zone is None:
            zone = _zone(name, self.at(what, index))
            self._zones[zone.key] = zone
            self._stats.timezones.add(zone.key)
        return zone

    # -- enums and counts by shape ----------------------------------------------------------------

    def shape(self, mapping: dict[str, Any]) -> _Shape:
        """The enum and count keys of a label/record, remembered per key set (in order).

        Labels and records of one body nearly always have the same keys in the same order, so the
        filtering is done once per shape instead of once per key of every row.
        """
        keys = tuple(mapping)
        shape = self._shapes.get(keys)
        if shape is None:
            if len(self._shapes) >= _MAX_SHAPES:
                self._shapes.clear()
            shape = self._shapes[keys] = _Shape(
                tuple(k for k in keys if k in self._enum_fields),
                tuple(k for k in keys if k.endswith(_COUNT_SUFFIX)),
            )
        return shape

    def note_enums(self, mapping: dict[str, Any]) -> _Shape:
        """Count the enum values the catalog does not know (kept, never refused); the shape."""
        shape = self.shape(mapping)
        if shape.enum_keys:
            fields = self._enum_fields
            for key in shape.enum_keys:
                value = mapping[key]
                if value is not None and str(value) not in fields[key]:
                    self._stats.unknown_enum_values[f"{key}={value}"] += 1
        return shape

    def label(self, label: dict[str, Any], index: int) -> int | None:
        """Check a series label: its club (returned) and its enum values.

        A series names its club under the contract's club label key (``loyalty_club_id``) or, in
        the members family, under the report's club field (``ReportSpec.club_field``).
        """
        key = KEY_CLUB_LABEL
        raw = label.get(key)
        if raw is None and self._club_field in label:
            key = self._club_field
            raw = label[key]
        club = self.club(raw, key, "series", index)
        self.note_enums(label)
        return club

    def record(self, record: dict[str, Any], index: int) -> int | None:
        """Check a record: its club (returned), its counts and its enum values.

        A record always carries the report's club field; null there names no club, as in a label.
        """
        raw = record.get(self._club_field, _ABSENT)
        if raw is _ABSENT:
            if not self._ctx.is_multi:
                raise BadPayloadError(
                    f"{self.at('record', index)}: record has no {self._club_field}"
                )
            raw = None
        club = self.club(raw, self._club_field, "record", index)
        for key in self.note_enums(record).count_keys:
            value = record[key]
            if value is not None:
                self.count(value, "record", index, key)
        return club


StatisticsRow = tuple[int | None, str, datetime, datetime, date, str | None, str, int | float]


def statistics_rows(
    ctx: SliceContext, fp: IO[bytes], stats: PayloadStats
) -> Iterator[StatisticsRow]:
    """Rows of ``placewise_raw.<statistics report>``: one per series with a value."""
    header, series = parse_statistics(fp)
    rules = _ContentRules(ctx, stats)
    where = rules.where
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
    count, label_rules, zone = rules.count, rules.label, rules.zone
    inside = (
        None if header.time_buckets is None else _buckets_inside(header.time_buckets, ctx.window)
    )
    if inside is not None:
        stats.dropped_buckets += inside.count(False)
    for index, (label, series_timezone, value) in enumerate(series):
        if inside is not None and type(value) is list:  # a bucketed series: its values
            value = _window_total(value, inside, rules, index)
        if value is None:
            continue
        value = count(value, "series", index)
        club = label_rules(label, index)
        timezone = series_timezone if is_local else range_timezone
        if timezone is not None:
            zone(timezone, "series", index)
        stats.rows += 1
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


def _buckets_inside(time_buckets: list[str], window: Window) -> list[bool]:
    """Per bucket of a bucketed statistics answer: does it start inside the slice's window?"""
    return [window.start <= parse_api_time(b)[0] < window.end for b in time_buckets]


def _window_total(
    values: list[Any], inside: list[bool], rules: _ContentRules, index: int
) -> int | float | None:
    """The total of a bucketed statistics series over the slice's window: the sum of its
    values in the buckets inside it (None when it has none there)."""
    total: int | float | None = None
    for position, (value, keep) in enumerate(zip(values, inside, strict=True)):
        if value is None or not keep:
            continue
        value = rules.count(value, "series", index, f"bucket {position}")
        total = value if total is None else total + value
    return total


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
    rules = _ContentRules(ctx, stats)
    where = rules.where
    is_local = header.range_timezone == RANGE_TIMEZONE_LOCAL
    range_zone = None if is_local else _zone(header.range_timezone, where)
    if header.interval and ctx.interval and header.interval != ctx.interval:
        raise BadPayloadError(f"{where}: interval {header.interval!r}, asked {ctx.interval!r}")
    buckets = [parse_api_time(b) for b in header.time_buckets]
    # A slice owns its window's days. A bucket outside them (the bucket starting at `to` that
    # window_end=bucket_at_to answers, as the docs' own example does) belongs to the days of
    # another window: it is dropped and counted, so adjacent windows never load a day twice.
    owned = [
        ctx.window is None or ctx.window.start <= local < ctx.window.end for local, _ in buckets
    ]
    stats.dropped_buckets += owned.count(False)
    # per owned bucket: its position, local time, date, instant if the body gave one, its name
    columns = [
        (position, local, local.date(), instant, f"bucket {local.isoformat()}")
        for position, ((local, instant), keep) in enumerate(zip(buckets, owned, strict=True))
        if keep
    ]
    interval = header.interval or ctx.interval
    aggregation = ctx.aggregation
    count = rules.count
    for index, item in enumerate(series):
        club = rules.label(item.label, index)
        if is_local:
            zone = rules.zone(item.timezone, "series", index)
            timezone: str | None = item.timezone
        else:
            zone = range_zone
            timezone = header.range_timezone
            if timezone:
                stats.timezones.add(timezone)
        label = _compact_json(item.label)
        values = item.values
        for position, local, day, instant, name in columns:
            value = values[position]
            if value is None:
                continue
            value = count(value, "series", index, name)
            stats.rows += 1
            yield (
                club,
                aggregation,
                interval,
                local,
                instant if instant is not None else local.replace(tzinfo=zone),
                day,
                timezone,
                label,
                value,
            )


RecordsRow = tuple[int | None, str, str, str]


def records_rows(ctx: SliceContext, fp: IO[bytes], stats: PayloadStats) -> Iterator[RecordsRow]:
    """Rows of ``placewise_raw.<records report>``: one per record, keyed by the catalog's key."""
    rules = _ContentRules(ctx, stats)
    key_fields = ctx.spec.record_key
    single_key = key_fields[0] if len(key_fields) == 1 else None
    aggregation = ctx.aggregation
    record_rules = rules.record
    stream = iter_records(fp, keep_raw=True)
    for index, record in enumerate(stream):
        club = record_rules(record, index)
        if single_key is not None:
            value = record.get(single_key)
            key = "" if value is None else str(value)
        else:
            key = "|".join("" if record.get(k) is None else str(record.get(k)) for k in key_fields)
        stats.rows += 1
        text = stream.raw
        yield club, aggregation, key, text if text is not None else _compact_json(record)


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
