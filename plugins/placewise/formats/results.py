"""The three result shapes of the Reporting API, parsed as streams: records, timeseries, statistics.

Each parser reads a binary body with ``JsonStreamReader`` and yields one record or one series at a
time, checking it against the shape docs/api-contract.md describes (the key names come from
``placewise.api.contract``), so an export of any size is parsed in constant memory. A body of the
wrong shape raises ``ResultShapeError`` naming what is wrong; nothing is skipped silently.

Numbers follow the contract: integers and integral decimals (``1.0``, ``1e2``) are ``int``, other
decimals ``Decimal``; ``NaN``/``Infinity`` are refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any, NamedTuple

from placewise.api.contract import (
    KEY_CLUB_LABEL,
    KEY_DATA_POINTS,
    KEY_FROM,
    KEY_INTERVAL,
    KEY_LABEL,
    KEY_NEXT_PAGE_INFO,
    KEY_PAGINATION,
    KEY_RANGE_TIMEZONE,
    KEY_RECORDS,
    KEY_RESULT_TYPE,
    KEY_SERIES,
    KEY_TIME_BUCKETS,
    KEY_TIMEZONE,
    KEY_TO,
    KEY_VALUE,
    KEY_VALUES,
    RANGE_TIMEZONE_LOCAL,
    RESULT_RECORDS,
    RESULT_STATISTICS,
    RESULT_TIMESERIES,
)
from placewise.api.errors import ResultShapeError
from placewise.formats.json_stream import READ_CHUNK, JsonStreamReader

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

    def __init__(
        self, fp: IO[bytes], *, keep_raw: bool = False, read_chunk: int = READ_CHUNK
    ) -> None:
        self.next_page_info: str | None = None
        self.count = 0
        #: With ``keep_raw``: the JSON text of the record just yielded, as it is in the body, when
        #: it decodes to exactly that record (no fraction or exponent in it); else None.
        self.raw: str | None = None
        self._keep_raw = keep_raw
        self._gen = self._parse(JsonStreamReader(fp, read_chunk=read_chunk))

    def __iter__(self) -> RecordsStream:
        return self

    def __next__(self) -> dict[str, Any]:
        return next(self._gen)

    def _parse(self, events: JsonStreamReader) -> Iterator[dict[str, Any]]:
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


def iter_records(
    fp: IO[bytes], *, keep_raw: bool = False, read_chunk: int = READ_CHUNK
) -> RecordsStream:
    """Stream the records of a records body (query page or export) from a binary file."""
    return RecordsStream(fp, keep_raw=keep_raw, read_chunk=read_chunk)


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


class BucketedStatisticsSeries(NamedTuple):
    """One series of a bucketed statistics answer (variant ``statistics_shape=buckets``): one
    value per time bucket, aligned with ``StatisticsHeader.time_buckets``, instead of a total."""

    label: dict[str, Any]
    timezone: str | None
    values: list[Any]


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
    """The parts of a statistics body outside ``series`` (see ``TimeseriesHeader``).

    ``time_buckets`` is None for the totals shape (DECIDED) and the bucket list for a bucketed
    answer, which is told apart by the body itself: it has ``time_buckets`` before ``series``.
    """

    interval: str | None = None
    time_buckets: list[str] | None = None
    range_timezone: str | None = None
    from_: str | None = None
    to: str | None = None
    data_points: int | None = None
    result_type: str | None = None
    complete: bool = False


def _read_header_key(events: JsonStreamReader, header: Any, key: str, expected_type: str) -> None:
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


def parse_timeseries(
    fp: IO[bytes], *, read_chunk: int = READ_CHUNK
) -> tuple[TimeseriesHeader, Iterator[TimeseriesSeries]]:
    """Stream a timeseries body: the header at once, then the series one at a time.

    The buckets are collected first (they precede ``series`` in the body; their number is bounded
    by the query), then each series is checked against them as it is read, so memory does not
    grow with the number of series. A body whose ``series`` come before ``time_buckets`` cannot
    be checked that way and is rejected.
    """
    events = JsonStreamReader(fp, read_chunk=read_chunk)
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
    events: JsonStreamReader, keys: Iterator[str], header: TimeseriesHeader
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


def parse_statistics(
    fp: IO[bytes], *, read_chunk: int = READ_CHUNK
) -> tuple[StatisticsHeader, Iterator[StatisticsSeries | BucketedStatisticsSeries]]:
    """Stream a statistics body: the header at once, then each series' total.

    Both shapes are read: totals (``value`` per series, DECIDED) and buckets (``interval``,
    ``time_buckets`` and ``values`` per series, like a timeseries); which one a body has is
    decided by its ``time_buckets`` key, not by configuration.
    """
    events = JsonStreamReader(fp, read_chunk=read_chunk)
    header = StatisticsHeader()
    keys = events.top_level_keys()
    for key in keys:
        if key == KEY_SERIES:
            return header, _statistics_series(events, keys, header)
        if key == KEY_TIME_BUCKETS:
            header.time_buckets = []
            for i, bucket in enumerate(events.iter_array(KEY_TIME_BUCKETS)):
                if not isinstance(bucket, str):
                    raise ResultShapeError(f"time bucket {i} is not a string: {bucket!r}")
                header.time_buckets.append(bucket)
            continue
        _read_header_key(events, header, key, RESULT_STATISTICS)
    _finish(header, RESULT_STATISTICS, series_seen=False)
    raise AssertionError("unreachable")  # pragma: no cover


def _statistics_series(
    events: JsonStreamReader, keys: Iterator[str], header: StatisticsHeader
) -> Iterator[StatisticsSeries | BucketedStatisticsSeries]:
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
            if KEY_VALUES in item:
                yield BucketedStatisticsSeries(label, timezone, _bucket_values(item, index, header))
                continue
            raise ResultShapeError(f"series {index} has no value")
        if value is not None and type(value) is not int and not _is_number(value):
            raise ResultShapeError(f"series {index} has a non-numeric value {value!r}")
        yield StatisticsSeries(label, timezone, value)
    for key in keys:
        _read_header_key(events, header, key, RESULT_STATISTICS)
    _finish(header, RESULT_STATISTICS, series_seen=True)


def _bucket_values(item: dict[str, Any], index: int, header: StatisticsHeader) -> list[Any]:
    """The per-bucket values of a bucketed statistics series, checked against the buckets."""
    if header.time_buckets is None:
        raise ResultShapeError(
            f"series {index} has values but the statistics body has no 'time_buckets' before "
            "'series'"
        )
    values = item[KEY_VALUES]
    if not isinstance(values, list):
        raise ResultShapeError(f"series {index} has no values list")
    if len(values) != len(header.time_buckets):
        raise ResultShapeError(
            f"series {index} has {len(values)} values for {len(header.time_buckets)} time buckets"
        )
    for value in values:
        if value is not None and not _is_number(value):
            raise ResultShapeError(f"series {index} has a non-numeric value {value!r}")
    return values
