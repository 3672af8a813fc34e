"""Every assumption about the Reporting API wire format, in one module.

CONTRACT.md marks some facts SEEN in the public docs and others DECIDED (paths of all endpoints
except ``/v1/reporting/query``, the ``page_info``/``limit`` body keys, the export endpoints and
their cost, the statistics result shape, the cost formula). When the live API disagrees with a
DECIDED item, this module is the one file to correct: endpoint paths, header names, body keys,
costs, limits, retention and the streaming result parsers all live here.

The parsers read a body in bounded chunks and decode one item at a time with the C scanner of the
standard ``json`` module, so an export of any size is parsed in constant memory: records one at a
time, timeseries/statistics series one at a time.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from json import scanner as _json_scanner
from typing import IO, TYPE_CHECKING, Any, NamedTuple

from placewise.api.catalog import ReportSpec
from placewise.api.customer import CustomerSelector
from placewise.api.filters import filter_cost

if TYPE_CHECKING:
    from placewise.api.settings import ApiSettings
    from placewise.api.variants import ApiVariants

# --- endpoints (SEEN: /v1/reporting/query; DECIDED: the rest) -----------------------------------

API_PREFIX = "/v1/reporting"


class Endpoint(StrEnum):
    """The Reporting API endpoints; the value is the path below the base URL."""

    QUERY = f"{API_PREFIX}/query"
    EXPORT = f"{API_PREFIX}/query/export"
    TENANTS_EXPORT = f"{API_PREFIX}/tenants/query/export"
    METADATA = f"{API_PREFIX}/metadata"
    FIELD_METADATA = f"{API_PREFIX}/field_metadata"


EXPORT_ENDPOINTS = frozenset({Endpoint.EXPORT, Endpoint.TENANTS_EXPORT})
METADATA_ENDPOINTS = frozenset({Endpoint.METADATA, Endpoint.FIELD_METADATA})

# --- headers (SEEN) ------------------------------------------------------------------------------

HEADER_AUTHORIZATION = "X-Client-Authorization"
HEADER_USER_AGENT = "X-User-Agent"
HEADER_PRODUCT_NAME = "X-Product-Name"
HEADER_CUSTOMER = "X-Customer"
HEADER_RATELIMIT_BUCKET = "ratelimit-bucket"
HEADER_RATELIMIT_REMAINING = "ratelimit-remaining"
HEADER_RATELIMIT_COST = "ratelimit-cost"
HEADER_RETRY_AFTER = "Retry-After"
CONTENT_TYPE_JSON = "application/json"

# --- authorization (SEEN: X-Client-Authorization; variant ``auth``: a user token) -----------------

AUTH_CLIENT_TOKEN = "client_token"
AUTH_USER_TOKEN = "user_token"
#: Per scheme: the header that carries the credential and how its value is written.
AUTH_SCHEMES: Mapping[str, tuple[str, str]] = {
    AUTH_CLIENT_TOKEN: (HEADER_AUTHORIZATION, "{token}"),
    AUTH_USER_TOKEN: ("Authorization", "Bearer {token}"),
}

# Header names whose values must never be logged or put into an exception (the configured
# ``auth_header`` of a setting is added to these by ``secret_headers``).
SECRET_HEADERS = frozenset(header.lower() for header, _ in AUTH_SCHEMES.values())


def auth_header(settings: ApiSettings, variants: ApiVariants | None = None) -> tuple[str, str]:
    """The credential header (name, value) for ``settings``; contains the token.

    The scheme is the settings' ``auth_scheme``, else the ``auth`` variant of the configured
    API (``client_token`` when nothing says otherwise); ``auth_header``/``auth_format`` of the
    settings override the scheme's header name and value format.
    """
    scheme = settings.auth_scheme or (variants.auth if variants is not None else AUTH_CLIENT_TOKEN)
    header, template = AUTH_SCHEMES[scheme]
    return settings.auth_header or header, (settings.auth_format or template).replace(
        "{token}", settings.token
    )


def secret_headers(settings: ApiSettings) -> frozenset[str]:
    """Lower-case names of every header whose value is a secret for ``settings``."""
    if settings.auth_header:
        return SECRET_HEADERS | {settings.auth_header.lower()}
    return SECRET_HEADERS


# --- statuses (SEEN, REFERENCE.md section 5) -----------------------------------------------------

STATUS_MISSING_HEADER = 470
STATUS_BAD_HEADER = 471
STATUS_RATE_LIMITED = 429
RETRYABLE_SERVER_STATUSES = frozenset({500, 502, 503, 504})

# --- body keys (SEEN except page_info and limit, DECIDED) ----------------------------------------

KEY_REPORT = "report"
KEY_FILTER = "filter"
KEY_AGGREGATE_BY = "aggregate_by"
KEY_INTERVAL = "interval"
KEY_FROM = "from"
KEY_TO = "to"
KEY_PAGE_INFO = "page_info"
#: The body keys a records cursor may go back under (variant ``cursor_key``; first = assumed).
CURSOR_KEYS: tuple[str, ...] = (KEY_PAGE_INFO, "next_page_info", "cursor")
KEY_LIMIT = "limit"
KEY_FIELD = "field"
INTERVALS: tuple[str, ...] = ("5m", "1h", "1d", "1w", "1mo")
INTERVAL_AUTO = "auto"

# --- costs and limits ----------------------------------------------------------------------------

EXPORT_COST_MULTIPLIER = 5  # DECIDED
METADATA_COST = 1  # SEEN for Metadata; DECIDED for Field metadata
DEFAULT_PAGE_LIMIT = 100  # DECIDED
MAX_PAGE_LIMIT = 1000  # DECIDED
MAX_TIMESERIES_BUCKETS = 150  # SEEN: more -> 422
#: Buckets a planned query window may span: one fewer than the limit, because an answer may
#: also carry the bucket starting at ``to`` (variant ``window_end=bucket_at_to``, the docs'
#: own example), which the API counts toward the 150. Planned so under every reading: it costs
#: one extra request per 149 days of a 1d backfill and nothing on nightly windows.
MAX_PLANNED_BUCKETS = MAX_TIMESERIES_BUCKETS - 1
MAX_QUERY_DATA_POINTS = 1000  # SEEN: more are silently capped
RETENTION: Mapping[str, timedelta | None] = {
    "5m": timedelta(days=14),
    "1h": timedelta(days=183),
    "1d": timedelta(days=730),
    "1w": None,
    "1mo": None,
}

# --- result shapes (SEEN for records/timeseries, DECIDED for statistics) -------------------------

RESULT_RECORDS = "records"
RESULT_TIMESERIES = "timeseries"
RESULT_STATISTICS = "statistics"
RANGE_TIMEZONE_LOCAL = "local"
KEY_RECORDS = "records"
KEY_PAGINATION = "pagination"
KEY_NEXT_PAGE_INFO = "next_page_info"
KEY_TIME_BUCKETS = "time_buckets"
KEY_SERIES = "series"
KEY_LABEL = "label"
KEY_VALUES = "values"
KEY_VALUE = "value"
KEY_TIMEZONE = "timezone"
KEY_DATA_POINTS = "data_points"
KEY_RANGE_TIMEZONE = "range_timezone"
KEY_RESULT_TYPE = "result_type"
KEY_ERROR = "error"
KEY_CLUB_LABEL = "loyalty_club_id"  # DECIDED: cross-club series carry their club in the label

# --- rate-limit buckets (SEEN: owner x type; DECIDED: the key spelling) --------------------------


def bucket_key(customer: CustomerSelector, organization: str) -> str:
    """The rate-limit bucket a call is charged to: Customer for one club, else Organization."""
    if not customer.is_multi and customer.club_ids:
        return f"Customer:{customer.club_ids[0]}:Reporting"
    return f"Organization:{organization}:Reporting"


def call_cost(
    endpoint: Endpoint,
    report_spec: ReportSpec | None,
    filter: dict[str, Any] | None,
) -> int:
    """Tokens a call costs: report cost + filter nodes, x5 for exports, 1 for metadata."""
    if endpoint in METADATA_ENDPOINTS:
        return METADATA_COST
    if report_spec is None:
        raise ValueError(f"a report spec is needed to cost a call to {endpoint.value}")
    cost = report_spec.token_cost + filter_cost(filter)
    if endpoint in EXPORT_ENDPOINTS:
        cost *= EXPORT_COST_MULTIPLIER
    return cost


def request_headers(
    settings: ApiSettings, customer: CustomerSelector, variants: ApiVariants | None = None
) -> dict[str, str]:
    """The headers of every request. Contains the token: never log the result."""
    name, value = auth_header(settings, variants)
    return {
        name: value,
        HEADER_USER_AGENT: settings.user_agent,
        HEADER_PRODUCT_NAME: settings.product_name,
        HEADER_CUSTOMER: customer.header_value,
        "Content-Type": CONTENT_TYPE_JSON,
        "Accept": CONTENT_TYPE_JSON,
    }


# --- request bodies ------------------------------------------------------------------------------


def format_time(value: datetime | date | str) -> str:
    """ISO 8601 for a body's ``from``/``to``, millisecond precision.

    An aware datetime is an instant and keeps its offset. A naive datetime (or a date) is a
    wall-clock time, sent without an offset, which the API applies in each club's own timezone.
    A string is passed through unchanged.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds")
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day).isoformat(timespec="milliseconds")
    raise TypeError(f"from/to must be a datetime, date or ISO string, got {type(value).__name__}")


def build_query_body(
    report: str,
    *,
    filter: dict[str, Any] | None = None,
    aggregate_by: str | None = None,
    interval: str | None = None,
    from_: datetime | date | str | None = None,
    to: datetime | date | str | None = None,
    page_info: str | None = None,
    limit: int | None = None,
    cursor_key: str = KEY_PAGE_INFO,
) -> dict[str, Any]:
    """A query/export body with keys in the documented order.

    ``filter`` and ``aggregate_by`` are always present (``null`` when unused, as in the docs'
    examples); ``interval``, ``from``, ``to``, ``page_info`` and ``limit`` are left out when None.
    The records cursor goes back under ``cursor_key`` (variant ``cursor_key``: ``page_info``
    unless the API settings file says otherwise).
    """
    if cursor_key not in CURSOR_KEYS:
        raise ValueError(f"cursor_key must be one of {', '.join(CURSOR_KEYS)}, got {cursor_key!r}")
    if interval is not None and interval not in (*INTERVALS, INTERVAL_AUTO):
        raise ValueError(
            f"interval must be one of {', '.join(INTERVALS)} or auto, got {interval!r}"
        )
    if limit is not None and not (1 <= limit <= MAX_PAGE_LIMIT):
        raise ValueError(f"limit must be between 1 and {MAX_PAGE_LIMIT}, got {limit}")
    body: dict[str, Any] = {KEY_REPORT: report, KEY_FILTER: filter, KEY_AGGREGATE_BY: aggregate_by}
    if interval is not None:
        body[KEY_INTERVAL] = interval
    if from_ is not None:
        body[KEY_FROM] = format_time(from_)
    if to is not None:
        body[KEY_TO] = format_time(to)
    if page_info is not None:
        body[cursor_key] = page_info
    if limit is not None:
        body[KEY_LIMIT] = limit
    return body


def build_metadata_body(report: str) -> dict[str, Any]:
    """The Metadata body (DECIDED): ``{"report": NAME}``."""
    return {KEY_REPORT: report}


def build_field_metadata_body(
    report: str, field_name: str, from_: datetime | date | str, to: datetime | date | str
) -> dict[str, Any]:
    """The Field metadata body (DECIDED): ``{"report", "field", "from", "to"}``."""
    return {
        KEY_REPORT: report,
        KEY_FIELD: field_name,
        KEY_FROM: format_time(from_),
        KEY_TO: format_time(to),
    }


# --- streaming result parsers --------------------------------------------------------------------


class ResultShapeError(ValueError):
    """A response body that does not have the shape the contract promises."""


class _NotJsonError(ValueError):
    """A token the ``json`` module accepts but JSON does not (``NaN``, ``Infinity``)."""


def _reject_constant(name: str) -> Any:
    raise _NotJsonError(f"{name} is not a JSON value")


#: Bytes read from a body at a time (more only while one item is larger than that).
_READ_CHUNK = 1 << 18
_WHITESPACE = re.compile(r"[ \t\n\r]*")
#: What a body that is not an object starts with, named as the event of a JSON parser.
_START_EVENTS = {
    "[": "start_array",
    '"': "string",
    "t": "boolean",
    "f": "boolean",
    "n": "null",
    **dict.fromkeys("-0123456789", "number"),
}


class _JsonReader:
    """A body read in bounded chunks, one JSON value at a time, errors as ``ResultShapeError``.

    The top level and the arrays of records/series are walked here; every value inside them (one
    record, one series, one header value) is decoded whole by the C scanner of the standard
    ``json`` module. That keeps memory bounded by the chunk size plus the largest single item, and
    costs one C call per item instead of a Python step per token.

    Numbers follow the contract: integers and integral decimals (``1.0``, ``1e2``) become ``int``,
    other decimals ``Decimal``; ``NaN``/``Infinity`` are not JSON and are refused.
    """

    def __init__(self, fp: IO[bytes]) -> None:
        self._fp = fp
        self._text = codecs.getincrementaldecoder("utf-8")()
        self._buf = ""
        self._pos = 0
        self._start = 0
        self._eof = False
        self._chunk = _READ_CHUNK
        #: How many numbers with a fraction or exponent were decoded so far: an item whose raw
        #: text had none decodes to exactly the value that was built from it.
        self.inexact_numbers = 0
        decoder = json.JSONDecoder(parse_float=self._decimal, parse_constant=_reject_constant)
        self._scan = _json_scanner.make_scanner(decoder)

    def _decimal(self, text: str) -> int | Decimal:
        self.inexact_numbers += 1
        return _number(Decimal(text))

    def _fill(self) -> bool:
        """Append the next chunk of the body to the buffer; False once the body is exhausted."""
        if self._eof:
            return False
        data = self._fp.read(max(self._chunk, len(self._buf) - self._pos))
        try:
            text = self._text.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            raise ResultShapeError(f"the body is not valid JSON: {exc}") from exc
        self._eof = not data
        self._buf = self._buf[self._pos :] + text
        self._pos = 0
        return True

    def _peek(self) -> str:
        """The next character that is not whitespace (not consumed); '' at the end of the body."""
        while True:
            self._pos = _WHITESPACE.match(self._buf, self._pos).end()
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._fill():
                return ""

    def _expect(self, allowed: str, what: str) -> str:
        char = self._peek()
        if not char:
            raise ResultShapeError("the body ended before the JSON value was complete")
        if char not in allowed:
            raise ResultShapeError(
                f"the body is not valid JSON: expecting {what} at char {self._pos}, got {char!r}"
            )
        self._pos += 1
        return char

    def _value(self) -> Any:
        """Decode the value that starts at the current position (reading more as needed)."""
        try:
            value, end = self._scan(self._buf, self._pos)
        except (StopIteration, json.JSONDecodeError, _NotJsonError, RecursionError):
            pass
        else:
            if end < len(self._buf):  # ends inside the buffer: complete whatever it is
                self._start, self._pos = self._pos, end
                return value
        if not self._peek():
            raise ResultShapeError("the body ended before the JSON value was complete")
        while True:
            try:
                value, end = self._scan(self._buf, self._pos)
            except StopIteration as stop:
                if self._near_end(stop.value) and self._fill():
                    continue
                raise ResultShapeError(
                    f"the body is not valid JSON: expecting a value at char {stop.value}"
                ) from None
            except json.JSONDecodeError as exc:
                if (self._near_end(exc.pos) or exc.msg.startswith("Unterminated")) and self._fill():
                    continue
                raise ResultShapeError(f"the body is not valid JSON: {exc}") from exc
            except _NotJsonError as exc:
                raise ResultShapeError(f"the body is not valid JSON: {exc}") from exc
            except RecursionError:
                raise ResultShapeError("the body nests values too deeply to be parsed") from None
            if end >= len(self._buf) and self._fill():
                continue  # a number at the end of the buffer may go on in the next chunk
            self._start, self._pos = self._pos, end
            return value

    def _near_end(self, position: int) -> bool:
        """True if an error at ``position`` may only mean that the value goes on in the next
        chunk (a token cut by the chunk boundary is reported within a few characters of it)."""
        return not self._eof and position >= len(self._buf) - 32

    def top_level_keys(self) -> Iterator[str]:
        """Yield each key of the top-level object; the caller consumes the key's value."""
        first = self._peek()
        if first != "{":
            if first in _START_EVENTS:
                raise ResultShapeError(
                    f"the body is not a JSON object (starts with {_START_EVENTS[first]})"
                )
            self._expect("{", "an object")
        self._pos += 1
        if self._peek() == "}":
            self._pos += 1
        else:
            while True:
                if self._peek() != '"':
                    self._expect('"', "a property name in double quotes")
                key = self._value()
                self._expect(":", "':'")
                yield key
                if self._expect(",}", "',' or '}'") == "}":
                    break

    def read_value(self) -> Any:
        """Read one complete JSON value (scalar or container)."""
        if not self._peek():
            raise ResultShapeError("the body ended before the JSON value was complete")
        return self._value()

    def iter_array(self, what: str, raw: bool = False) -> Iterator[Any]:
        """Yield the items of the array that starts next, each built in memory on its own.

        With ``raw`` each item comes as ``(item, text)``: ``text`` is the item's JSON exactly as
        in the body when it holds no fraction or exponent (so it decodes to the same value as a
        re-serialisation would), else None.
        """
        first = self._peek()
        if first != "[":
            got = "an object" if first == "{" else repr(self.read_value())
            raise ResultShapeError(f"{what} must be an array, got {got}")
        self._pos += 1
        if self._peek() == "]":
            self._pos += 1
            return
        while True:
            if raw:
                inexact = self.inexact_numbers
                item = self._value()
                text = (
                    self._buf[self._start : self._pos] if self.inexact_numbers == inexact else None
                )
                yield item, text
            else:
                # _value's fast path, inlined: an item that ends inside the buffer
                try:
                    item, end = self._scan(self._buf, self._pos)
                except (StopIteration, json.JSONDecodeError, _NotJsonError, RecursionError):
                    end = -1
                if 0 <= end < len(self._buf):
                    self._start, self._pos = self._pos, end
                else:
                    item = self._value()
                yield item
            char = self._buf[self._pos] if self._pos < len(self._buf) else ""
            if char == "," or char == "]":
                self._pos += 1
            else:  # whitespace, the end of the buffer, or not JSON
                char = self._expect(",]", "',' or ']'")
            if char == "]":
                return


def _number(value: Any) -> Any:
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return value


_MISSING = object()


def _is_number(value: Any) -> bool:
    return isinstance(value, int | Decimal | float) and not isinstance(value, bool)


def _check_result_type(value: Any, expected: str) -> str:
    if value != expected:
        raise ResultShapeError(f"expected result_type {expected!r}, got {value!r}")
    return value


class RecordsStream(Iterator[dict[str, Any]]):
    """The records of a records body, one at a time.

    After the stream is exhausted ``next_page_info`` holds the cursor of the next page (None on
    the last page or in an export) and the whole body has been checked.
    """

    def __init__(self, fp: IO[bytes], *, keep_raw: bool = False) -> None:
        self.next_page_info: str | None = None
        self.count = 0
        #: With ``keep_raw``: the JSON text of the record just yielded, as it is in the body, when
        #: it decodes to exactly that record (no fraction or exponent in it); else None.
        self.raw: str | None = None
        self._keep_raw = keep_raw
        self._gen = self._parse(_JsonReader(fp))

    def __iter__(self) -> RecordsStream:
        return self

    def __next__(self) -> dict[str, Any]:
        return next(self._gen)

    def _parse(self, events: _JsonReader) -> Iterator[dict[str, Any]]:
        seen_records = False
        result_type = None
        for key in events.top_level_keys():
            if key == KEY_RECORDS:
                for record, raw in events.iter_array(KEY_RECORDS, raw=True):
                    if not isinstance(record, dict):
                        raise ResultShapeError(f"record {self.count} is not an object: {record!r}")
                    self.count += 1
                    if self._keep_raw:
                        self.raw = raw
                    yield record
                seen_records = True
            elif key == KEY_RESULT_TYPE:
                result_type = _check_result_type(events.read_value(), RESULT_RECORDS)
            elif key == KEY_PAGINATION:
                pagination = events.read_value()
                if not isinstance(pagination, dict):
                    raise ResultShapeError(f"pagination must be an object, got {pagination!r}")
                cursor = pagination.get(KEY_NEXT_PAGE_INFO)
                if cursor is not None and not isinstance(cursor, str):
                    raise ResultShapeError(f"next_page_info must be a string, got {cursor!r}")
                self.next_page_info = cursor
            else:
                events.read_value()
        if not seen_records:
            raise ResultShapeError("records body has no 'records' key")
        if result_type is None:
            raise ResultShapeError("records body has no 'result_type' key")


def iter_records(fp: IO[bytes], *, keep_raw: bool = False) -> RecordsStream:
    """Stream the records of a records body (query page or export) from a binary file."""
    return RecordsStream(fp, keep_raw=keep_raw)


class TimeseriesSeries(NamedTuple):
    """One timeseries series: its label, its own timezone (``"local"`` results) and values."""

    label: dict[str, Any]
    timezone: str | None
    values: list[Any]


class StatisticsSeries(NamedTuple):
    """One statistics series: its label, its own timezone (``"local"`` results) and total."""

    label: dict[str, Any]
    timezone: str | None
    value: Any


@dataclass
class TimeseriesHeader:
    """The parts of a timeseries body outside ``series``.

    ``interval``, ``range_timezone`` and ``time_buckets`` precede the series in the body and are
    set when ``parse_timeseries`` returns; ``data_points`` and ``result_type`` follow them and are
    set once the series iterator is exhausted (``complete`` becomes True).
    """

    interval: str | None = None
    range_timezone: str | None = None
    time_buckets: list[str] = field(default_factory=list)
    from_: str | None = None
    to: str | None = None
    data_points: int | None = None
    result_type: str | None = None
    complete: bool = False


@dataclass
class StatisticsHeader:
    """The parts of a statistics body outside ``series`` (see ``TimeseriesHeader``)."""

    range_timezone: str | None = None
    from_: str | None = None
    to: str | None = None
    data_points: int | None = None
    result_type: str | None = None
    complete: bool = False


def _read_header_key(events: _JsonReader, header: Any, key: str, expected_type: str) -> None:
    if key == KEY_RESULT_TYPE:
        header.result_type = _check_result_type(events.read_value(), expected_type)
    elif key == KEY_RANGE_TIMEZONE:
        header.range_timezone = _expect_str(events.read_value(), key)
    elif key == KEY_INTERVAL and hasattr(header, "interval"):
        header.interval = _expect_str(events.read_value(), key)
    elif key in (KEY_FROM, KEY_TO):
        setattr(header, "from_" if key == KEY_FROM else "to", _expect_str(events.read_value(), key))
    elif key == KEY_DATA_POINTS:
        points = events.read_value()
        if not isinstance(points, int) or isinstance(points, bool):
            raise ResultShapeError(f"data_points must be an integer, got {points!r}")
        header.data_points = points
    else:
        events.read_value()


def _expect_str(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise ResultShapeError(f"{key} must be a string, got {value!r}")
    return value


def _series_parts(item: Any, index: int, header: Any) -> tuple[dict[str, Any], str | None]:
    if not isinstance(item, dict):
        raise ResultShapeError(f"series {index} is not an object: {item!r}")
    label = item.get(KEY_LABEL)
    if not isinstance(label, dict):
        raise ResultShapeError(f"series {index} has no label object: {item.get(KEY_LABEL)!r}")
    timezone = item.get(KEY_TIMEZONE)
    if timezone is not None and not isinstance(timezone, str):
        raise ResultShapeError(f"series {index} timezone must be a string, got {timezone!r}")
    # A per-club series of a "local" result needs its club's zone to place its buckets; a
    # cross-club total (total_* aggregations drop the club id, DECIDED) has no single zone.
    if (
        header.range_timezone == RANGE_TIMEZONE_LOCAL
        and timezone is None
        and (KEY_CLUB_LABEL in label)
    ):
        raise ResultShapeError(f"series {index} of a 'local' result has no timezone")
    return label, timezone


def _finish(header: Any, expected_type: str, series_seen: bool) -> None:
    if not series_seen:
        raise ResultShapeError(f"{expected_type} body has no 'series' key")
    if header.result_type is None:
        raise ResultShapeError(f"{expected_type} body has no 'result_type' key")
    if header.range_timezone is None:
        raise ResultShapeError(f"{expected_type} body has no 'range_timezone' key")
    header.complete = True


def parse_timeseries(fp: IO[bytes]) -> tuple[TimeseriesHeader, Iterator[TimeseriesSeries]]:
    """Stream a timeseries body: the header at once, then the series one at a time.

    The buckets are collected first (they precede ``series`` in the body; their number is bounded
    by the query), then each series is checked against them as it is read, so memory does not
    grow with the number of series. A body whose ``series`` come before ``time_buckets`` cannot
    be checked that way and is rejected.
    """
    events = _JsonReader(fp)
    header = TimeseriesHeader()
    keys = events.top_level_keys()
    buckets_seen = False
    for key in keys:
        if key == KEY_TIME_BUCKETS:
            for i, bucket in enumerate(events.iter_array(KEY_TIME_BUCKETS)):
                if not isinstance(bucket, str):
                    raise ResultShapeError(f"time bucket {i} is not a string: {bucket!r}")
                header.time_buckets.append(bucket)
            buckets_seen = True
        elif key == KEY_SERIES:
            if not buckets_seen:
                raise ResultShapeError("timeseries body has no 'time_buckets' before 'series'")
            return header, _timeseries_series(events, keys, header)
        else:
            _read_header_key(events, header, key, RESULT_TIMESERIES)
    if not buckets_seen:
        raise ResultShapeError("timeseries body has no 'time_buckets' key")
    _finish(header, RESULT_TIMESERIES, series_seen=False)
    raise AssertionError("unreachable")  # pragma: no cover


def _timeseries_series(
    events: _JsonReader, keys: Iterator[str], header: TimeseriesHeader
) -> Iterator[TimeseriesSeries]:
    width = len(header.time_buckets)
    for index, item in enumerate(events.iter_array(KEY_SERIES)):
        label, timezone = _series_parts(item, index, header)
        values = item.get(KEY_VALUES)
        if not isinstance(values, list):
            raise ResultShapeError(f"series {index} has no values list")
        if len(values) != width:
            raise ResultShapeError(
                f"series {index} has {len(values)} values for {width} time buckets"
            )
        for value in values:
            if value is not None and not _is_number(value):
                raise ResultShapeError(f"series {index} has a non-numeric value {value!r}")
        yield TimeseriesSeries(label, timezone, values)
    for key in keys:
        _read_header_key(events, header, key, RESULT_TIMESERIES)
    _finish(header, RESULT_TIMESERIES, series_seen=True)


def parse_statistics(fp: IO[bytes]) -> tuple[StatisticsHeader, Iterator[StatisticsSeries]]:
    """Stream a statistics body (DECIDED shape): the header at once, then each series' total."""
    events = _JsonReader(fp)
    header = StatisticsHeader()
    keys = events.top_level_keys()
    for key in keys:
        if key == KEY_SERIES:
            return header, _statistics_series(events, keys, header)
        _read_header_key(events, header, key, RESULT_STATISTICS)
    _finish(header, RESULT_STATISTICS, series_seen=False)
    raise AssertionError("unreachable")  # pragma: no cover


def _statistics_series(
    events: _JsonReader, keys: Iterator[str], header: StatisticsHeader
) -> Iterator[StatisticsSeries]:
    local = header.range_timezone == RANGE_TIMEZONE_LOCAL
    for index, item in enumerate(events.iter_array(KEY_SERIES)):
        # the checks of _series_parts, decided inline for a well-formed series (it raises)
        label = item.get(KEY_LABEL) if type(item) is dict else None
        timezone = item.get(KEY_TIMEZONE) if label is not None else None
        if (
            type(label) is not dict
            or (timezone is not None and type(timezone) is not str)
            or (local and timezone is None and KEY_CLUB_LABEL in label)
        ):
            label, timezone = _series_parts(item, index, header)
        value = item.get(KEY_VALUE, _MISSING)
        if value is _MISSING:
            raise ResultShapeError(f"series {index} has no value")
        if value is not None and type(value) is not int and not _is_number(value):
            raise ResultShapeError(f"series {index} has a non-numeric value {value!r}")
        yield StatisticsSeries(label, timezone, value)
    for key in keys:
        _read_header_key(events, header, key, RESULT_STATISTICS)
    _finish(header, RESULT_STATISTICS, series_seen=True)
