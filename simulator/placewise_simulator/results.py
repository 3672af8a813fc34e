"""Turns a validated query into the documented result shapes.

The same per-club computations feed the query endpoint (built in memory, then paged or capped)
and the exports (streamed piece by piece, never holding more than one club's series). The
streamed text is exactly what ``json.dumps`` of the equivalent in-memory result gives, so a query
under the limits and its export are byte-identical.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import tempfile
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from placewise_simulator.errors import ApiError
from placewise_simulator.filters import Predicate
from placewise_simulator.reports import COUNT_DIMS, Aggregation, Report, count_rows
from placewise_simulator.timeutil import (
    Buckets,
    epoch_to_wall,
    floor_wall,
    format_local,
    format_wall,
    next_wall,
    to_epoch,
    wall_to_epoch,
)
from placewise_simulator.variants import resolve_variants
from placewise_simulator.world import EVENT_TYPES, Club, World

QUERY_POINT_CAP = 1000
QUERY_BUCKET_LIMIT = 150
CHUNK_CHARS = 64 * 1024

Label = tuple[Any, ...]


def dumps(value: object) -> str:
    """The one JSON serializer of every response, so equal content gives equal bytes."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@dataclass
class Query:
    """A validated query body plus the selected clubs."""

    report: Report
    aggregation: Aggregation
    predicate: Predicate | None
    interval: str | None
    start: datetime | None
    end: datetime | None
    limit: int
    after: tuple[int, tuple[Any, ...]] | None
    clubs: list[Club]
    cross: bool
    now: float
    variants: dict[str, str] = field(default_factory=lambda: resolve_variants({}))

    @property
    def naive_zone_is_utc(self) -> bool:
        """True when body times without offset mean UTC (variant ``multi_tz_window=utc`` with
        customers in more than one timezone)."""
        return (
            self.variants["multi_tz_window"] == "utc"
            and len({club.timezone for club in self.clubs}) > 1
        )

    @property
    def bucketed(self) -> bool:
        """True when the answer has time buckets (timeseries, or bucketed statistics)."""
        return self.report.result_type == "timeseries" or (
            self.report.result_type == "statistics"
            and self.variants["statistics_shape"] == "buckets"
        )

    def window(self, club: Club) -> tuple[float, float]:
        """``[from, to)`` as instants for one club (naive body times are its wall clock, or
        UTC under ``multi_tz_window=utc`` across timezones)."""
        assert self.start is not None and self.end is not None
        zone = "UTC" if self.naive_zone_is_utc else club.timezone
        return to_epoch(self.start, zone), to_epoch(self.end, zone)

    def bucket_window(self, club: Club) -> tuple[float, float]:
        """The instants the buckets of one club cover.

        Under ``window_end=bucket_at_to`` a timeseries whose ``to`` falls on a bucket boundary
        of the club's zone also holds the whole bucket starting at ``to``, as in the docs'
        member_balance example; statistics windows always stay ``[from, to)``.
        """
        start, end = self.window(club)
        if self.report.result_type != "timeseries" or self.variants["window_end"] != "bucket_at_to":
            return start, end
        assert self.interval is not None
        wall = epoch_to_wall(end, club.timezone)
        if floor_wall(wall, self.interval) == wall and wall_to_epoch(wall, club.timezone) == end:
            end = wall_to_epoch(next_wall(wall, self.interval), club.timezone)
        return start, end


def encode_cursor(club_id: int, key: tuple[Any, ...]) -> str:
    """Opaque ``next_page_info``: the last record's club and key."""
    raw = dumps([club_id, list(key)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: object, key: str = "page_info") -> tuple[int, tuple[Any, ...]] | None:
    """Inverse of ``encode_cursor``; a malformed cursor is a 422 naming the body ``key``."""
    if text is None:
        return None
    if not isinstance(text, str) or not text:
        raise ApiError(422, f"{key} must be a string or null")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        club_id, key_values = json.loads(raw)
        return int(club_id), tuple(key_values)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise ApiError(422, f"invalid {key}") from exc


def _value_sort(key: str, value: Any) -> tuple[int, Any, str]:
    if value is None:
        return (0, 0, "")
    if key == "event_type" and value in EVENT_TYPES:
        return (1, EVENT_TYPES.index(value), "")
    if isinstance(value, (int, float)):
        return (1, value, "")
    return (2, 0, str(value))


def label_order(keys: tuple[str, ...]) -> Any:
    """Sort key for labels: by each key in order, nulls first, event types in enum order."""
    return lambda label: tuple(_value_sort(k, v) for k, v in zip(keys, label, strict=True))


class Engine:
    """Computes reports from one world."""

    def __init__(self, world: World) -> None:
        self.world = world

    # -- per-club numbers ----------------------------------------------------------------

    def _label_reader(self, q: Query) -> tuple[list[int], bool]:
        dims = q.report.dims
        try:
            index = [2 + dims.index(k) for k in q.aggregation.keys]
        except ValueError as exc:
            raise ApiError(422, f"aggregation {q.aggregation.name} is not available") from exc
        return index, q.aggregation.net

    def club_totals(self, q: Query, club: Club) -> dict[Label, int]:
        """Statistics of one club over its window: label -> sum (non-zero only)."""
        start, end = q.window(club)
        if q.report.snapshot:
            counts = self._member_counts(q, club, [min(end, q.now - q.report.lag_seconds)])
            return {label: values[0] for label, values in counts.items() if values[0]}
        index, net = self._label_reader(q)
        pred = q.predicate
        sums: dict[Label, int] = {}
        assert q.report.facts is not None
        for fact in q.report.facts(self.world, club, start, end, q.now):
            if pred is not None and not pred(fact):
                continue
            label = tuple(fact[i] for i in index)
            value = -fact[1] if net and fact[2] == "out" else fact[1]
            sums[label] = sums.get(label, 0) + value
        return {label: value for label, value in sums.items() if value != 0}

    def club_buckets(self, q: Query, club: Club) -> Buckets:
        """The aligned buckets of a club's window."""
        start, end = q.bucket_window(club)
        assert q.interval is not None
        return Buckets(start, end, club.timezone, q.interval)

    def club_series(self, q: Query, club: Club, buckets: Buckets) -> dict[Label, dict[int, int]]:
        """Timeseries of one club: label -> {bucket index: value} (only buckets with data)."""
        if q.report.snapshot:
            return self._count_history(q, club, buckets)
        index, net = self._label_reader(q)
        pred = q.predicate
        series: dict[Label, dict[int, int]] = {}
        assert q.report.facts is not None
        for fact in q.report.facts(self.world, club, buckets.start, buckets.end, q.now):
            if pred is not None and not pred(fact):
                continue
            label = tuple(fact[i] for i in index)
            value = -fact[1] if net and fact[2] == "out" else fact[1]
            slot = series.setdefault(label, {})
            bucket = buckets.index(fact[0])
            slot[bucket] = slot.get(bucket, 0) + value
        return series

    def _count_history(self, q: Query, club: Club, buckets: Buckets) -> dict[Label, dict[int, int]]:
        """Member count at each bucket end (or at the data cut-off for the current bucket).

        The cut-off is ``now`` minus the report's data lag: members who joined in the newest
        ``lag_seconds`` are not counted yet, and buckets starting after it hold no data.
        """
        cutoff = q.now - q.report.lag_seconds
        usable = [i for i in range(len(buckets)) if buckets.starts[i] <= cutoff]
        ends = [min(buckets.bucket_end(i), cutoff) for i in usable]
        series: dict[Label, dict[int, int]] = {}
        for label, counts in self._member_counts(q, club, ends).items():
            values = {bucket: n for bucket, n in zip(usable, counts, strict=True) if n}
            if values:
                series[label] = values
        return series

    def _member_counts(self, q: Query, club: Club, ends: list[float]) -> dict[Label, list[int]]:
        """Members counted at each instant of ``ends`` (ascending), per label.

        A member is in the count at ``t`` when they joined before ``t`` and had not left by
        then. With grouping types in play a member has one row per grouping type; they count
        once for every distinct label among their rows that pass the filter.
        """
        if not ends:
            return {}
        index = [2 + COUNT_DIMS.index(k) for k in q.aggregation.keys]
        pred = q.predicate
        grouped = pred is not None or any(k.startswith("grouping_") for k in q.aggregation.keys)
        diffs: dict[Label, list[int]] = {}
        world = self.world
        last_day = world.ordinal_of(club, min(ends[-1], q.now))
        first_day = world.first_ordinal(club, q.now)
        for ordinal in range(first_day, min(last_day, world.today_ordinal(club, q.now)) + 1):
            for m in world.day_members(club, ordinal):
                first = bisect_left(ends, m.joined)
                stop = len(ends) if m.left is None else bisect_left(ends, m.left)
                if first >= stop:
                    continue
                labels = {
                    tuple(row[i] for i in index)
                    for row in count_rows(m, grouped)
                    if pred is None or pred(row)
                }
                for label in labels:
                    diff = diffs.setdefault(label, [0] * (len(ends) + 1))
                    diff[first] += 1
                    diff[stop] -= 1
        counts: dict[Label, list[int]] = {}
        for label, diff in diffs.items():
            running = 0
            values = []
            for position in range(len(ends)):
                running += diff[position]
                values.append(running)
            counts[label] = values
        return counts

    # -- shared shaping ----------------------------------------------------------------------

    def _mode(self, q: Query) -> str:
        zones = {club.timezone for club in q.clubs}
        return zones.pop() if len(zones) == 1 else "local"

    def _echo(self, q: Query, mode: str) -> tuple[str, str]:
        assert q.start is not None and q.end is not None
        if mode != "local":
            start, end = q.window(q.clubs[0])
            return format_local(start, mode), format_local(end, mode)
        if q.naive_zone_is_utc:
            start, end = q.window(q.clubs[0])
            return format_local(start, "UTC"), format_local(end, "UTC")
        return (
            q.start.isoformat(timespec="milliseconds"),
            q.end.isoformat(timespec="milliseconds"),
        )

    def _label_json(self, q: Query, club: Club | None, label: Label) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if club is not None:
            out["loyalty_club_id"] = club.id
        out.update(zip(q.aggregation.keys, label, strict=True))
        return out

    def _series_head(self, q: Query, club: Club | None, label: Label, mode: str) -> dict[str, Any]:
        head: dict[str, Any] = {}
        if club is not None and mode == "local":
            head["timezone"] = club.timezone
        head["label"] = self._label_json(q, club, label)
        return head

    def _summed(self, q: Query) -> bool:
        """True when one series per label sums every club: ``total_*`` aggregations across
        customers, and customers sharing one timezone under ``same_tz_merge=merged``."""
        if not q.cross:
            return False
        if q.aggregation.total:
            return True
        return (
            q.variants["same_tz_merge"] == "merged"
            and len(q.clubs) > 1
            and len({club.timezone for club in q.clubs}) == 1
        )

    def _labelled_club(self, q: Query, club: Club) -> Club | None:
        """The club to name in labels: none on single-club queries and on summed series."""
        return club if q.cross and not self._summed(q) else None

    # -- statistics ------------------------------------------------------------------------------

    def statistics(self, q: Query) -> Iterator[str]:
        """Statistics result as JSON text pieces (exports stream these)."""
        mode = self._mode(q)
        start, end = self._echo(q, mode)
        yield dumps({"range_timezone": mode, "from": start, "to": end})[:-1] + ',"series":['
        order = label_order(q.aggregation.keys)
        count = 0
        if self._summed(q):
            totals: dict[Label, int] = {}
            for club in q.clubs:
                for label, value in self.club_totals(q, club).items():
                    totals[label] = totals.get(label, 0) + value
            groups: Iterator[tuple[Club | None, dict[Label, int]]] = iter([(None, totals)])
        else:
            groups = ((self._labelled_club(q, c), self.club_totals(q, c)) for c in q.clubs)
        for club, sums in groups:
            for label in sorted(sums, key=order):
                if sums[label] == 0:
                    continue
                item = self._series_head(q, club, label, mode)
                item["value"] = sums[label]
                yield ("," if count else "") + dumps(item)
                count += 1
        yield f'],"data_points":{count},"result_type":"statistics"}}'

    def statistics_query(self, q: Query) -> dict[str, Any]:
        """In-memory statistics for the query endpoint, capped at 1000 series."""
        result = json.loads("".join(self.statistics(q)))
        if len(result["series"]) > QUERY_POINT_CAP:
            result["series"] = result["series"][:QUERY_POINT_CAP]
            result["data_points"] = QUERY_POINT_CAP
        return result

    # -- timeseries ----------------------------------------------------------------------------

    def _bucket_key(self, buckets: Buckets, index: int, mode: str) -> Any:
        return buckets.walls[index] if mode == "local" else buckets.starts[index]

    def _format_key(self, key: Any, mode: str) -> str:
        return format_wall(key) if mode == "local" else format_local(key, mode)

    def timeseries(self, q: Query) -> Iterator[str]:
        """Timeseries result as JSON text pieces.

        The bucket list must be written before any series, but it is only known once every
        club is computed. Rather than keep all clubs' series in memory (or compute them twice),
        a multi-club result spills each club's series to a temporary file, one line per club,
        and reads them back while writing; memory holds one club plus the bucket keys. Totals
        are summed in memory, keyed by label and bucket.
        """
        mode = self._mode(q)
        order = label_order(q.aggregation.keys)
        totalled = self._summed(q)
        keys: set[Any] = set()
        totals: dict[Label, dict[Any, int]] = {}
        single: dict[Label, dict[Any, int]] = {}
        spilling = len(q.clubs) > 1 and not totalled
        with tempfile.TemporaryFile("w+") if spilling else contextlib.nullcontext() as spill:
            for club in q.clubs:
                buckets = self.club_buckets(q, club)
                series = {
                    label: {self._bucket_key(buckets, i, mode): v for i, v in values.items()}
                    for label, values in self.club_series(q, club, buckets).items()
                }
                for label, values in series.items():
                    keys.update(values)
                    if totalled:
                        slot = totals.setdefault(label, {})
                        for key, value in values.items():
                            slot[key] = slot.get(key, 0) + value
                if spill is not None:
                    spill.write(_spill_line(series, mode))
                elif not totalled:
                    single = series
            yield from self._write_timeseries(q, mode, order, keys, totals, single, spill)

    def _write_timeseries(
        self,
        q: Query,
        mode: str,
        order: Any,
        keys: set[Any],
        totals: dict[Label, dict[Any, int]],
        single: dict[Label, dict[Any, int]],
        spill: IO[str] | None,
    ) -> Iterator[str]:
        ordered = sorted(keys)
        position = {key: i for i, key in enumerate(ordered)}
        head: dict[str, Any] = {"interval": q.interval, "range_timezone": mode}
        if q.report.result_type == "statistics":
            head["from"], head["to"] = self._echo(q, mode)
        head["time_buckets"] = [self._format_key(k, mode) for k in ordered]
        yield dumps(head)[:-1] + ',"series":['
        count = 0
        first = True

        def render(club: Club | None, label: Label, values: dict[Any, int]) -> str:
            nonlocal count, first
            row: list[int | None] = [None] * len(ordered)
            for key, value in values.items():
                row[position[key]] = value
            count += len(values)
            item = self._series_head(q, club, label, mode)
            item["values"] = row
            text = ("" if first else ",") + dumps(item)
            first = False
            return text

        if self._summed(q):
            for label in sorted(totals, key=order):
                yield render(None, label, totals[label])
        else:
            if spill is not None:
                spill.seek(0)
            for club in q.clubs:
                series = single if spill is None else _read_spill_line(spill.readline(), mode)
                labelled = self._labelled_club(q, club)
                for label in sorted(series, key=order):
                    yield render(labelled, label, series[label])
        yield f'],"data_points":{count},"result_type":"{q.report.result_type}"}}'

    def timeseries_query(self, q: Query) -> dict[str, Any]:
        """In-memory timeseries for the query endpoint, silently capped at 1000 points."""
        result = json.loads("".join(self.timeseries(q)))
        if result["data_points"] <= QUERY_POINT_CAP:
            return result
        series = result["series"]
        kept = 0
        for bucket in range(len(result["time_buckets"])):
            for item in series:
                if item["values"][bucket] is None:
                    continue
                if kept < QUERY_POINT_CAP:
                    kept += 1
                else:
                    item["values"][bucket] = None
        alive = [
            b
            for b in range(len(result["time_buckets"]))
            if any(item["values"][b] is not None for item in series)
        ]
        result["time_buckets"] = [result["time_buckets"][b] for b in alive]
        for item in series:
            item["values"] = [item["values"][b] for b in alive]
        result["series"] = [s for s in series if any(v is not None for v in s["values"])]
        result["data_points"] = kept
        return result

    # -- records ---------------------------------------------------------------------------------

    def _club_records(
        self, q: Query, club: Club, after: tuple[Any, ...] | None
    ) -> Iterator[tuple[tuple[Any, ...], dict]]:
        pred = q.predicate
        assert q.report.records is not None
        for key, row, record in q.report.records(self.world, club, q.now, after):
            if pred is None or pred(row):
                yield key, record

    def _aggregated_records(self, q: Query) -> list[tuple[tuple[Any, ...], dict]]:
        sums: dict[tuple[Any, ...], int] = {}
        for club in q.clubs:
            for key, record in self._club_records(q, club, None):
                sums[key] = sums.get(key, 0) + record["members_count"]
        return [
            (key, {"grouping_type": key[0], "grouping_value": key[1], "members_count": sums[key]})
            for key in sorted(sums)
        ]

    def record_stream(self, q: Query) -> Iterator[tuple[int, tuple[Any, ...], dict]]:
        """All matching records of the selected clubs after the cursor, in stable order."""
        if q.aggregation.name:
            after = q.after[1] if q.after else None
            for key, record in self._aggregated_records(q):
                if after is None or key > after:
                    yield 0, key, record
            return
        for club in q.clubs:
            after = None
            if q.after is not None:
                if club.id < q.after[0]:
                    continue
                if club.id == q.after[0]:
                    after = q.after[1]
            for key, record in self._club_records(q, club, after):
                yield club.id, key, record

    def records_page(self, q: Query) -> dict[str, Any]:
        """One page of records and the cursor of the next."""
        page: list[dict] = []
        last: tuple[int, tuple[Any, ...]] | None = None
        more = False
        for club_id, key, record in self.record_stream(q):
            if len(page) == q.limit:
                more = True
                break
            page.append(record)
            last = (club_id, key)
        cursor = encode_cursor(*last) if more and last is not None else None
        return {"records": page, "pagination": {"next_page_info": cursor}, "result_type": "records"}

    def records(self, q: Query) -> Iterator[str]:
        """Every record as JSON text pieces (exports)."""
        yield '{"records":['
        first = True
        for _, _, record in self.record_stream(q):
            yield ("" if first else ",") + dumps(record)
            first = False
        yield '],"pagination":{"next_page_info":null},"result_type":"records"}'


def _spill_line(series: dict[Label, dict[Any, int]], mode: str) -> str:
    """One club's series as a JSON line (bucket keys as ISO wall times or Unix seconds)."""
    local = mode == "local"
    rows = [
        [list(label), [[k.isoformat() if local else k, v] for k, v in values.items()]]
        for label, values in series.items()
    ]
    return dumps(rows) + "\n"


def _read_spill_line(line: str, mode: str) -> dict[Label, dict[Any, int]]:
    """Inverse of ``_spill_line``."""
    local = mode == "local"
    return {
        tuple(label): {(datetime.fromisoformat(k) if local else k): v for k, v in values}
        for label, values in json.loads(line)
    }


def chunked(pieces: Iterator[str], size: int = CHUNK_CHARS) -> Iterator[bytes]:
    """Group small JSON pieces into chunks of about ``size`` characters for streaming."""
    buffer: list[str] = []
    length = 0
    for piece in pieces:
        buffer.append(piece)
        length += len(piece)
        if length >= size:
            yield "".join(buffer).encode()
            buffer = []
            length = 0
    if buffer:
        yield "".join(buffer).encode()
