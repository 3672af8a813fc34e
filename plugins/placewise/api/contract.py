"""Every assumption about the Reporting API wire format, in one module.

CONTRACT.md marks some facts SEEN in the public docs and others DECIDED (paths of all endpoints
except ``/v1/reporting/query``, the ``page_info``/``limit`` body keys, the export endpoints and
their cost, the statistics result shape, the cost formula). When the live API disagrees with a
DECIDED item, this module is the one file to correct: endpoint paths, header names, body keys,
costs, limits, retention and the streaming result parsers all live here.

The parsers read a body with ijson (C backend) so an export of any size is parsed in constant
memory: records one at a time, timeseries/statistics series one at a time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import IO, TYPE_CHECKING, Any, NamedTuple

import ijson
from ijson.common import ObjectBuilder

from placewise.api.catalog import ReportSpec
from placewise.api.customer import CustomerSelector
from placewise.api.filters import filter_cost

if TYPE_CHECKING:
    from placewise.api.settings import ApiSettings

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

# Header names whose values must never be logged or put into an exception.
SECRET_HEADERS = frozenset({HEADER_AUTHORIZATION.lower()})

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


def request_headers(settings: ApiSettings, customer: CustomerSelector) -> dict[str, str]:
    """The headers of every request. Contains the token: never log the result."""
    return {
        HEADER_AUTHORIZATION: settings.token,
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
) -> dict[str, Any]:
    """A query/export body with keys in the documented order.

    ``filter`` and ``aggregate_by`` are always present (``null`` when unused, as in the docs'
    examples); ``interval``, ``from``, ``to``, ``page_info`` and ``limit`` are left out when None.
    """
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
        body[KEY_PAGE_INFO] = page_info
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


class _Events:
    """ijson's event stream of a body, with its errors turned into ``ResultShapeError``."""

    def __init__(self, fp: IO[bytes]) -> None:
        self._it = ijson.parse(fp, use_float=False)

    def __iter__(self) -> _Events:
        return self

    def __next__(self) -> tuple[str, str, Any]:
        try:
            prefix, event, value = next(self._it)
        except StopIteration:
            raise ResultShapeError("the body ended before the JSON value was complete") from None
        except ijson.JSONError as exc:
            raise ResultShapeError(f"the body is not valid JSON: {exc}") from exc
        if event == "number":
            value = _number(value)
        return prefix, event, value

    def top_level_keys(self) -> Iterator[str]:
        """Yield each key of the top-level object; the caller consumes the key's value."""
        _, event, _ = next(self)
        if event != "start_map":
            raise ResultShapeError(f"the body is not a JSON object (starts with {event})")
        while True:
            prefix, event, value = next(self)
            if event == "map_key":
                yield value
            elif event == "end_map" and prefix == "":
                return
            else:  # pragma: no cover - ijson never emits anything else here
                raise ResultShapeError(f"unexpected {event} at the top level")

    def read_value(self) -> Any:
        """Read one complete JSON value (scalar or container) from the stream."""
        _, event, value = next(self)
        return self._build(event, value)

    def _build(self, event: str, value: Any) -> Any:
        if event not in ("start_map", "start_array"):
            return value
        builder = ObjectBuilder()
        builder.event(event, value)
        depth = 1
        while depth:
            _, event, value = next(self)
            if event in ("start_map", "start_array"):
                depth += 1
            elif event in ("end_map", "end_array"):
                depth -= 1
            builder.event(event, value)
        return builder.value

    def iter_array(self, what: str) -> Iterator[Any]:
        """Yield the items of the array that starts next, each built in memory on its own."""
        _, event, value = next(self)
        if event != "start_array":
            raise ResultShapeError(f"{what} must be an array, got {_describe(event, value)}")
        while True:
            _, event, value = next(self)
            if event == "end_array":
                return
            yield self._build(event, value)


def _number(value: Any) -> Any:
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return value


def _describe(event: str, value: Any) -> str:
    return {"start_map": "an object", "start_array": "an array"}.get(event, repr(value))


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

    def __init__(self, fp: IO[bytes]) -> None:
        self.next_page_info: str | None = None
        self.count = 0
        self._gen = self._parse(_Events(fp))

    def __iter__(self) -> RecordsStream:
        return self

    def __next__(self) -> dict[str, Any]:
        return next(self._gen)

    def _parse(self, events: _Events) -> Iterator[dict[str, Any]]:
        seen_records = False
        result_type = None
        for key in events.top_level_keys():
            if key == KEY_RECORDS:
                for record in events.iter_array(KEY_RECORDS):
                    if not isinstance(record, dict):
                        raise ResultShapeError(f"record {self.count} is not an object: {record!r}")
                    self.count += 1
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


def iter_records(fp: IO[bytes]) -> RecordsStream:
    """Stream the records of a records body (query page or export) from a binary file."""
    return RecordsStream(fp)


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


def _read_header_key(events: _Events, header: Any, key: str, expected_type: str) -> None:
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
    events = _Events(fp)
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
    events: _Events, keys: Iterator[str], header: TimeseriesHeader
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
    events = _Events(fp)
    header = StatisticsHeader()
    keys = events.top_level_keys()
    for key in keys:
        if key == KEY_SERIES:
            return header, _statistics_series(events, keys, header)
        _read_header_key(events, header, key, RESULT_STATISTICS)
    _finish(header, RESULT_STATISTICS, series_seen=False)
    raise AssertionError("unreachable")  # pragma: no cover


def _statistics_series(
    events: _Events, keys: Iterator[str], header: StatisticsHeader
) -> Iterator[StatisticsSeries]:
    for index, item in enumerate(events.iter_array(KEY_SERIES)):
        label, timezone = _series_parts(item, index, header)
        if KEY_VALUE not in item:
            raise ResultShapeError(f"series {index} has no value")
        value = item[KEY_VALUE]
        if value is not None and not _is_number(value):
            raise ResultShapeError(f"series {index} has a non-numeric value {value!r}")
        yield StatisticsSeries(label, timezone, value)
    for key in keys:
        _read_header_key(events, header, key, RESULT_STATISTICS)
    _finish(header, RESULT_STATISTICS, series_seen=True)
