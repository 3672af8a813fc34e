"""Turning a landed response body into raw-table rows, checking it on the way.

A payload is never loaded on trust: the shape is checked by the streaming parsers of
``placewise.formats`` and the content here (club ids that belong to the request, buckets
inside the requested window and on the interval's grid, non-negative whole counts, known
timezones), plus everything the warehouse could not hold or staging could not cast: NUL
characters, numbers beyond ``bigint``, ids that are no integers, timestamps that are no
timestamps (the rules of ``placewise.warehouse.casts``). The grain of the raw table is enforced
per slice: one row per series label (statistics), per label and bucket (timeseries) and per
record key (records), each with its club, so a repeated series or record can never double a
figure. A timeseries bucket that starts at ``to`` (the docs' own example answers with one) is
not loaded but dropped and counted (``PayloadStats.dropped_buckets``): a slice owns its window's
days, and that bucket belongs to the next window's. Anything wrong raises ``BadPayloadError``,
which makes the loader roll back and quarantine the slice. Enum values the catalog does not know
are *kept* and counted, so a new value in the API never breaks a nightly run and never silently
disappears.
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
from placewise.extract.windows import Window, floor_to_interval
from placewise.formats.results import iter_records, parse_statistics, parse_timeseries
from placewise.warehouse.casts import (
    BIGINT_MAX,
    BIGINT_MIN,
    cast_problem,
    nested_timestamps,
    typed_fields,
)

#: Record fields whose name ends so are counts: null or a non-negative number.
_COUNT_SUFFIX = "_count"
#: Rows of a slice whose grain hashes are kept in memory (~140 bytes each, ~7 MB in all); a
#: larger slice has its grain checked by the database after its COPY.
GRAIN_MEMORY_ROWS = 50_000
#: Label/record shapes (key tuples) kept per body before the cache is dropped and rebuilt.
_MAX_SHAPES = 64
#: Timestamps known valid kept per body before the cache is dropped (it only caps it).
_MAX_TIMES = 4096
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

    def owned_window(self) -> Window:
        """The window whose days a statistics or timeseries slice owns; a manifest without one
        (edited by hand, or written by a broken tool) is a bad payload, quarantined."""
        if self.window is None:
            raise BadPayloadError(
                f"{self.report} {self.scope}: {self.spec.result_type} slice without a window "
                "in its manifest, so the days it replaces are unknown"
            )
        return self.window


@dataclass
class PayloadStats:
    """Counters gathered while rows stream out (reported on the slice's manifest row)."""

    rows: int = 0
    unknown_enum_values: Counter[str] = field(default_factory=Counter)
    timezones: set[str] = field(default_factory=set)
    #: The grain of the rows seen so far in the slice (shared by all its parts), one 64-bit
    #: string hash per row: a repeat is refused. A hash, not the key, so that a row costs ~140
    #: bytes (the int and its set slot) rather than ~340. Two different rows sharing a hash (about 3
    #: in 10^8 for a million-row slice, and never the same pair in the next run: Python
    #: randomises string hashes per process) would quarantine the slice as a duplicate: absent
    #: with a reason, never a wrong figure.
    grain: set[int] = field(default_factory=set)
    #: Set once the slice has more rows than ``GRAIN_MEMORY_ROWS``: how many rows came before
    #: the first one whose grain was not remembered. Every row is checked against the remembered
    #: ones, so a repeat can only hide among the rows after that; the loader checks those in the
    #: database after its COPY (``warehouse.load``), and memory stays bounded.
    spilled_after: int | None = None
    #: Per set of label keys (sorted), the first key order the slice used for it: a label with
    #: the same keys in another order is encoded in that order for its grain, so that equal
    #: labels meet whatever their key order.
    key_orders: dict[tuple[str, ...], tuple[str, ...]] = field(default_factory=dict)
    #: Buckets of the answer outside the slice's own days, dropped rather than loaded: a
    #: timeseries may carry the bucket starting at ``to`` (variant ``window_end=bucket_at_to``),
    #: which belongs to the next window's days.
    dropped_buckets: int = 0

    def first_time(self, grain: int) -> bool:
        """Whether a row of this grain hash is new to the slice (False: a repeat, refused)."""
        seen = self.grain
        if grain in seen:
            return False
        if len(seen) < GRAIN_MEMORY_ROWS:
            seen.add(grain)
        elif self.spilled_after is None:
            self.spilled_after = self.rows
        return True


def _find_nul(value: Any, path: str = "") -> str | None:
    """The key path of the first string (value or key) holding a NUL character, or None."""
    if type(value) is str:
        return (path or "value") if "\x00" in value else None
    if type(value) is dict:
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if "\x00" in key:
                return f"key {where!r}"
            found = _find_nul(item, where)
            if found is not None:
                return found
    elif type(value) is list:
        for i, item in enumerate(value):
            found = _find_nul(item, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def may_hold_nul(text: str) -> bool:
    """Whether the JSON text of a value may hold a NUL character (one substring search each);
    ``refuse_nul`` then walks the value to be sure and to name where it is."""
    return "\\u0000" in text or "\x00" in text


def refuse_nul(value: Any, where: str) -> None:
    """Refuse a NUL character anywhere in ``value``: PostgreSQL text and jsonb cannot hold it."""
    found = _find_nul(value)
    if found is not None:
        raise BadPayloadError(
            f"{where}: NUL character (\\u0000) in {found}; PostgreSQL text cannot hold it"
        )


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


def _by_outer(paths: tuple[tuple[str, ...], ...]) -> dict[str, tuple[str, ...]]:
    """Two-level key paths grouped by their first key: {"1h": ("from", "to"), ...}."""
    grouped: dict[str, list[str]] = {}
    for outer, inner in paths:
        grouped.setdefault(outer, []).append(inner)
    return {outer: tuple(inners) for outer, inners in grouped.items()}


class _Shape(NamedTuple):
    """The keys of one label/record shape that the content rules look at."""

    enum_keys: tuple[str, ...]
    count_keys: tuple[str, ...]
    #: the keys that staging casts to bigint (counts aside: ``count`` checks those)
    bigint_keys: tuple[str, ...]
    #: (key, type staging casts it to) of the other keys that staging casts
    other_keys: tuple[tuple[str, str], ...]
    #: (key, {inner key: the keys inside it that staging casts to timestamptz}) of the object
    #: keys with some (``history_ranges``: {"1h": ("from", "to"), ...})
    nested_keys: tuple[tuple[str, dict[str, tuple[str, ...]]], ...]
    #: None where a label of this key order is encoded for its grain as it comes; else the
    #: slice's first key order for the same keys (``PayloadStats.key_orders``)
    grain_order: tuple[str, ...] | None


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
        #: a request of every customer (the tenants export) names no clubs: any club id is its
        self._any_club = not self._clubs
        # A cross-club answer without aggregation is either one series per club or, for
        # customers sharing a timezone, merged series without a club; never a mix of the two.
        self._watch_merge = ctx.is_multi and ctx.aggregation == NO_AGGREGATION
        self._series_kind: str | None = None
        self._club_field = spec.club_field
        self._single_club = ctx.single_club if not ctx.is_multi else None
        self._enum_fields = {
            name: frozenset(f.enum_values) for name, f in spec.fields.items() if f.enum_values
        }
        self._typed = typed_fields(ctx.report)
        self._nested = nested_timestamps(ctx.report)
        self._valid_times: set[Any] = set()
        self._last_shape = _Shape((), (), (), (), (), None)
        self._shapes: dict[tuple[str, ...], _Shape] = {}
        self._zones: dict[str, ZoneInfo] = {}

    def at(self, what: str, index: int, detail: str = "") -> str:
        """Where in the body a row comes from, for error messages (``series 3 bucket ...``)."""
        return f"{self.where} {what} {index} {detail}" if detail else f"{self.where} {what} {index}"

    # -- counts -----------------------------------------------------------------------------------

    def count(self, value: Any, what: str, index: int, detail: str = "") -> int:
        """A count as it is stored: a non-negative whole number that fits ``bigint`` (staging
        casts counts to it; null is handled by the caller)."""
        if type(value) is int and 0 <= value <= BIGINT_MAX:
            return value
        where = self.at(what, index, detail)
        if isinstance(value, Decimal | float) and not isinstance(value, bool):
            if value < 0:
                raise BadPayloadError(f"{where}: negative count {value!r}")
            raise BadPayloadError(
                f"{where}: count {value} is not a whole number (staging would round it)"
            )
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadPayloadError(f"{where}: value {value!r} is not a number")
        if value < 0:
            raise BadPayloadError(f"{where}: negative count {value!r}")
        raise BadPayloadError(f"{where}: count {value} is beyond the warehouse's bigint range")

    def duplicate(self, what: str, index: int, name: str) -> BadPayloadError:
        """The error for a second row of the same grain key in one slice (it would double a
        figure); the builders test membership inline, as that runs for every row."""
        return BadPayloadError(f"{self.at(what, index)}: duplicate {name}")

    def typed(self, mapping: dict[str, Any], shape: _Shape, what: str, index: int) -> None:
        """Refuse a value that staging's cast for its key could not take.

        ``bigint`` keys (ids, the common case) are decided inline; timestamps already seen in
        the body are not parsed again (nested ranges repeat across records).
        """
        for key in shape.bigint_keys:
            value = mapping[key]
            if value is None or (type(value) is int and BIGINT_MIN <= value <= BIGINT_MAX):
                continue
            self._refuse(key, cast_problem("bigint", value), what, index)
        for key, pg_type in shape.other_keys:
            value = mapping[key]
            if value is not None and (type(value) is not str or value not in self._valid_times):
                self._check(key, pg_type, value, what, index)
        valid = self._valid_times
        for key, ends_of in shape.nested_keys:
            ranges = mapping[key]
            if type(ranges) is not dict:
                continue
            for outer, inner in ranges.items():
                ends = ends_of.get(outer)
                if ends is None or type(inner) is not dict:
                    continue
                for end in ends:
                    leaf = inner.get(end)
                    if leaf is not None and (type(leaf) is not str or leaf not in valid):
                        self._check(f"{key}.{outer}.{end}", "timestamptz", leaf, what, index)

    def _check(self, key: str, pg_type: str, value: Any, what: str, index: int) -> None:
        self._refuse(key, cast_problem(pg_type, value), what, index)
        if type(value) is str:
            if len(self._valid_times) >= _MAX_TIMES:
                self._valid_times.clear()
            self._valid_times.add(value)

    def _refuse(self, key: str, problem: str | None, what: str, index: int) -> None:
        if problem is not None:
            raise BadPayloadError(f"{self.at(what, index)}: {key} {problem}")

    # -- clubs ------------------------------------------------------------------------------------

    def club(self, raw: Any, key: str, what: str, index: int) -> int | None:
        """The club of a row whose body names it ``raw`` under ``key`` (None: names no club).

        A named club must be an integer and one of the request's clubs.
        """
        clubs = self._clubs
        if type(raw) is int and raw in clubs:
            if self._watch_merge and what == "series":
                self._series_are("per club", what, index)
            return raw
        if raw is None:
            return self.no_club(key, what, index)
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise BadPayloadError(f"{self.at(what, index)}: {key} {raw!r} is not an integer")
        problem = cast_problem("bigint", raw)
        if problem is not None:
            raise BadPayloadError(f"{self.at(what, index)}: {key} {problem}")
        if not clubs:
            return raw
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
            self._series_are("merged", what, index)
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

    def _series_are(self, kind: str, what: str, index: int) -> None:
        """Refuse a cross-club answer that mixes per-club series with merged ones: one of them
        would count a club's figure as the total (or the total as a club's)."""
        if self._series_kind is None:
            self._series_kind = kind
        elif self._series_kind != kind:
            raise BadPayloadError(
                f"{self.at(what, index)}: a {kind} series in an answer whose series so far were "
                f"{self._series_kind}: cross-club series without a club beside ones with it"
            )

    # -- timezones --------------------------------------------------------------------------------

    @property
    def known_zones(self) -> dict[str, ZoneInfo]:
        """The zones looked up so far, by name (a name in it needs no ``zone`` call)."""
        return self._zones

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
                # counts are checked by ``count`` and club keys by ``club`` (ranges included)
                tuple(
                    k
                    for k in keys
                    if self._typed.get(k) == "bigint"
                    and not k.endswith(_COUNT_SUFFIX)
                    and k not in (KEY_CLUB_LABEL, self._club_field)
                ),
                tuple(
                    (k, self._typed[k])
                    for k in keys
                    if k in self._typed and self._typed[k] != "bigint"
                ),
                tuple((k, _by_outer(self._nested[k])) for k in keys if k in self._nested),
                self._grain_order(keys),
            )
        return shape

    def _grain_order(self, keys: tuple[str, ...]) -> tuple[str, ...] | None:
        first = self._stats.key_orders.setdefault(tuple(sorted(keys)), keys)
        return None if first == keys else first

    def note_enums(self, mapping: dict[str, Any]) -> _Shape:
        """Count the enum values the catalog does not know (kept, never refused); the shape."""
        shape = self.shape(mapping)
        if shape.enum_keys:
            self._note_unknown(mapping, shape)
        return shape

    def _note_unknown(self, mapping: dict[str, Any], shape: _Shape) -> None:
        fields = self._enum_fields
        for key in shape.enum_keys:
            value = mapping[key]
            if value is not None and str(value) not in fields[key]:
                self._stats.unknown_enum_values[f"{key}={value}"] += 1

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
        shape = self.note_enums(label)
        self._last_shape = shape  # for series_label, the caller
        if shape.bigint_keys or shape.other_keys:
            self.typed(label, shape, "series", index)
        return club

    def series_label(
        self, label: dict[str, Any], index: int
    ) -> tuple[int | None, tuple[str, ...] | None]:
        """``label``'s checks in one pass: the series' club, and the key order its grain text
        is encoded in (None: as it comes; ``series_grain``).

        Every row of a statistics or timeseries slice comes through here, so the common case (a
        label of a shape seen before that names one of the request's clubs under the contract's
        club key, or, in one club's answer, no club) is decided inline; anything else goes
        through ``label``, whose branches name what is wrong.
        """
        shape = self._shapes.get(tuple(label))
        raw = label.get(KEY_CLUB_LABEL)
        if type(raw) is int and (
            raw in self._clubs or (self._any_club and BIGINT_MIN <= raw <= BIGINT_MAX)
        ):
            club = raw
        elif raw is None and self._single_club is not None and self._club_field not in label:
            club = self._single_club  # a single club's answer, its labels naming no club
        else:
            shape = None
        if shape is None or self._watch_merge:
            club = self.label(label, index)
            shape = self._last_shape
        else:
            if shape.enum_keys:
                self._note_unknown(label, shape)
            if shape.bigint_keys or shape.other_keys:
                self.typed(label, shape, "series", index)
        return club, shape.grain_order

    def series_grain(self, label: dict[str, Any], text: str, order: tuple[str, ...] | None) -> int:
        """The grain of a series: the hash of its label's compact JSON ``text``, encoded in the
        slice's first key order for its keys, so a label repeated with its keys in another order
        is the same series (the club is in the label, or the slice's one club). A label value
        that is an object or an array is refused: a label names its series by scalars."""
        canonical = text if order is None else _compact_json({k: label[k] for k in order})
        if "[" in canonical or canonical.find("{", 1) >= 0:  # maybe only inside a string
            nested = [(k, v) for k, v in label.items() if type(v) in (dict, list)]
            if nested:
                key, value = nested[0]
                kind = "an object" if type(value) is dict else "an array"
                raise BadPayloadError(
                    f"{self.where}: label {key} is {kind}, not a scalar: {_compact_json(value)}"
                )
        return hash(canonical)

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
        shape = self.note_enums(record)
        for key in shape.count_keys:
            value = record[key]
            # the common valid count is accepted inline; ``count`` names what is wrong otherwise
            if value is not None and not (type(value) is int and 0 <= value <= BIGINT_MAX):
                self.count(value, "record", index, key)
        if shape.bigint_keys or shape.other_keys or shape.nested_keys:
            self.typed(record, shape, "record", index)
        return club


StatisticsRow = tuple[int | None, str, datetime, datetime, date, str | None, str, int | float]


def statistics_rows(
    ctx: SliceContext, fp: IO[bytes], stats: PayloadStats
) -> Iterator[StatisticsRow]:
    """Rows of ``placewise_raw.<statistics report>``: one per series with a value."""
    header, series = parse_statistics(fp)
    rules = _ContentRules(ctx, stats)
    where = rules.where
    window = ctx.owned_window()
    if (header.from_ is None) != (header.to is None):
        given, missing = ("from", "to") if header.to is None else ("to", "from")
        raise BadPayloadError(f"{where}: answer echoes {given!r} without {missing!r}")
    if header.from_ is not None and header.to is not None:
        start, _ = parse_api_time(header.from_)
        end, _ = parse_api_time(header.to)
        if (start, end) != (window.start, window.end):
            raise BadPayloadError(
                f"{where}: answer covers {header.from_}..{header.to}, "
                f"not the requested {window.label()}"
            )
    is_local = header.range_timezone == RANGE_TIMEZONE_LOCAL
    if not is_local:
        _zone(header.range_timezone, where)
    aggregation, start, end = ctx.aggregation, window.start, window.end
    stat_date = start.date()
    range_timezone = header.range_timezone
    count, series_label, series_grain = rules.count, rules.series_label, rules.series_grain
    zones = rules.known_zones
    first_time = stats.first_time
    inside = None if header.time_buckets is None else _buckets_inside(header.time_buckets, window)
    if inside is not None:
        stats.dropped_buckets += inside.count(False)
    for index, (label, series_timezone, value) in enumerate(series):
        if inside is not None and type(value) is list:  # a bucketed series: its values
            value = _window_total(value, inside, rules, index)
        if value is None:
            continue
        # the common valid count is accepted inline; ``count`` names what is wrong otherwise
        if type(value) is not int or not 0 <= value <= BIGINT_MAX:
            value = count(value, "series", index)
        club, order = series_label(label, index)
        timezone = series_timezone if is_local else range_timezone
        if timezone is not None and timezone not in zones:
            rules.zone(timezone, "series", index)
        text = _compact_json(label)
        if may_hold_nul(text):
            refuse_nul(label, rules.at("series", index))
        if not first_time(series_grain(label, text, order)):
            raise rules.duplicate("series", index, f"series {text}")
        stats.rows += 1
        yield (
            club,
            aggregation,
            start,
            end,
            stat_date,
            timezone if club is not None else None,
            text,
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
    # A slice owns its window's days. The bucket starting at `to` (window_end=bucket_at_to, as
    # the docs' own example answers) belongs to the next window's days: it is dropped and
    # counted, so adjacent windows never load a day twice. Any other bucket outside the window
    # is an answer to another question than the one asked, and refused.
    owned = [True] * len(buckets)
    if ctx.window is not None:
        for position, (local, _) in enumerate(buckets):
            if local == ctx.window.end:
                owned[position] = False
            elif not (ctx.window.start <= local < ctx.window.end):
                raise BadPayloadError(
                    f"{where}: bucket {local.isoformat()} is outside the requested window "
                    f"{ctx.window.label()}"
                )
    stats.dropped_buckets += owned.count(False)
    _check_bucket_grid(buckets, header.interval or ctx.interval, ctx.window, where)
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
        club, order = rules.series_label(item.label, index)
        label = _compact_json(item.label)
        if may_hold_nul(label):
            refuse_nul(item.label, rules.at("series", index))
        if not stats.first_time(rules.series_grain(item.label, label, order)):
            raise rules.duplicate("series", index, f"series {label}")
        if is_local:
            zone = rules.zone(item.timezone, "series", index)
            timezone: str | None = item.timezone
        else:
            zone = range_zone
            timezone = header.range_timezone
            if timezone:
                stats.timezones.add(timezone)
        values = item.values
        if len(values) != len(buckets):
            raise BadPayloadError(
                f"{rules.at('series', index)}: {len(values)} values for {len(buckets)} buckets"
            )
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


def _check_bucket_grid(
    buckets: list[tuple[datetime, datetime | None]],
    interval: str,
    window: Window | None,
    where: str,
) -> None:
    """Refuse a repeated bucket and one off the interval's grid: each would add a second row for
    a time the other buckets already cover.

    A bucket is the wall-clock time with its offset when the body gives one (the hour that
    repeats when DST ends is two buckets). The first bucket may start at the window's start
    (a window that starts inside a week or a month).
    """
    seen: set[tuple[datetime, datetime | None]] = set()
    grid = interval in ("5m", "1h", "1d", "1w", "1mo")
    for local, instant in buckets:
        if (local, instant) in seen:
            raise BadPayloadError(f"{where}: duplicate bucket {local.isoformat()}")
        seen.add((local, instant))
        if (
            grid
            and floor_to_interval(local, interval) != local
            and (window is None or local != window.start)
        ):
            raise BadPayloadError(
                f"{where}: bucket {local.isoformat()} is not aligned to the {interval} interval"
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
    first_key = key_fields[0] if key_fields else None
    first_time, at = stats.first_time, rules.at
    for index, record in enumerate(stream):
        club = record_rules(record, index)
        if single_key is not None:
            value = record.get(single_key)
            key = "" if value is None else str(value)
        else:
            value = record.get(first_key) if first_key is not None else ""
            key = "|".join("" if record.get(k) is None else str(record.get(k)) for k in key_fields)
        if value is None:
            raise BadPayloadError(f"{at('record', index)}: record has no {first_key}")
        text = stream.raw
        if text is None:
            text = _compact_json(record)
        if may_hold_nul(text):
            refuse_nul(record, at("record", index))
        if not first_time(hash(f"{club}\x1f{key}")):  # its grain hash (``PayloadStats.grain``)
            raise rules.duplicate("record", index, f"record key {key!r}")
        stats.rows += 1
        yield club, aggregation, key, text


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
