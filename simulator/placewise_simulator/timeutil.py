"""Time parsing, formatting and interval buckets.

Buckets are aligned on the wall clock of a club's own timezone (a ``1d`` bucket starts at local
midnight, ``1w`` on Monday, ``1mo`` on the 1st), because the API stores events in the customer's
timezone so that cross-customer comparisons line up. Internally every instant is an integer or
float of Unix seconds; wall-clock times are naive ``datetime`` objects.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

INTERVALS = ("5m", "1h", "1d", "1w", "1mo")
RETENTION_DAYS: dict[str, int | None] = {"5m": 14, "1h": 183, "1d": 730, "1w": None, "1mo": None}


class TimeError(ValueError):
    """A time value in a request cannot be understood."""


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """Cached ``ZoneInfo`` lookup; zones are looked up for every bucket."""
    return ZoneInfo(name)


def parse_time(text: object) -> datetime:
    """Parse an ISO 8601 body time; the result is naive when the text carries no offset."""
    if not isinstance(text, str) or not text:
        raise TimeError(f"invalid time: {text!r}")
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise TimeError(f"invalid time: {text!r}") from exc


def wall_to_epoch(wall: datetime, tz_name: str) -> float:
    """Instant of a wall-clock time in a zone (first occurrence when the clock repeats)."""
    return wall.replace(tzinfo=zone(tz_name), fold=0).timestamp()


def to_epoch(value: datetime, tz_name: str) -> float:
    """Instant of a parsed body time: naive values are wall-clock time in ``tz_name``."""
    if value.tzinfo is None:
        return wall_to_epoch(value, tz_name)
    return value.timestamp()


def epoch_to_wall(epoch: float, tz_name: str) -> datetime:
    """Naive wall-clock time of an instant in a zone."""
    return datetime.fromtimestamp(epoch, zone(tz_name)).replace(tzinfo=None)


def format_local(epoch: float, tz_name: str) -> str:
    """``2024-04-08T00:00:00.000-06:00``: the single-timezone style of the API."""
    return datetime.fromtimestamp(epoch, zone(tz_name)).isoformat(timespec="milliseconds")


def format_wall(wall: datetime) -> str:
    """``2024-04-30T00:00:00.000``: the ``"local"`` style, wall-clock time without offset."""
    return wall.isoformat(timespec="milliseconds")


def format_utc_micro(epoch: float) -> str:
    """``2025-04-11T08:00:00.000000Z``: the style of ``history_ranges`` and ``updated_at``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_utc_iso(epoch: float) -> str:
    """``2025-04-11T08:13:05.000Z``: record timestamps such as ``created_at``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + "000Z"


def floor_wall(wall: datetime, interval: str) -> datetime:
    """Start of the interval bucket holding a wall-clock time."""
    if interval == "5m":
        return wall.replace(minute=wall.minute - wall.minute % 5, second=0, microsecond=0)
    if interval == "1h":
        return wall.replace(minute=0, second=0, microsecond=0)
    day = wall.replace(hour=0, minute=0, second=0, microsecond=0)
    if interval == "1d":
        return day
    if interval == "1w":
        return day - timedelta(days=day.weekday())
    if interval == "1mo":
        return day.replace(day=1)
    raise TimeError(f"unknown interval {interval!r}")


def next_wall(wall: datetime, interval: str) -> datetime:
    """Start of the bucket after the one starting at ``wall``."""
    if interval == "5m":
        return wall + timedelta(minutes=5)
    if interval == "1h":
        return wall + timedelta(hours=1)
    if interval == "1d":
        return wall + timedelta(days=1)
    if interval == "1w":
        return wall + timedelta(days=7)
    if interval == "1mo":
        if wall.month == 12:
            return wall.replace(year=wall.year + 1, month=1)
        return wall.replace(month=wall.month + 1)
    raise TimeError(f"unknown interval {interval!r}")


class Buckets:
    """The aligned buckets of one club touching a window ``[start, end)``.

    ``starts`` holds bucket start instants (ascending) and ``walls`` their wall-clock labels.
    Wall times that do not exist (the hour skipped at a spring DST change) give no bucket; the
    repeated hour in autumn falls into the bucket of its first occurrence.
    """

    def __init__(self, start: float, end: float, tz_name: str, interval: str) -> None:
        self.tz_name = tz_name
        self.interval = interval
        self.start = start
        self.end = end
        self.starts: list[float] = []
        self.walls: list[datetime] = []
        if end <= start:
            return
        wall = floor_wall(epoch_to_wall(start, tz_name), interval)
        last = -math.inf
        while True:
            epoch = wall_to_epoch(wall, tz_name)
            if epoch >= end:
                break
            if epoch > last and epoch_to_wall(epoch, tz_name) == wall:
                self.starts.append(epoch)
                self.walls.append(wall)
                last = epoch
            wall = next_wall(wall, interval)
        if self.starts and self.starts[0] > start:
            # The aligned start fell into a skipped DST hour: the window opens a bucket of its own.
            self.starts.insert(0, start)
            self.walls.insert(0, epoch_to_wall(start, tz_name))

    def __len__(self) -> int:
        return len(self.starts)

    def index(self, epoch: float) -> int:
        """Bucket index of an instant inside the window (callers check the window)."""
        return bisect_right(self.starts, epoch) - 1

    def bucket_end(self, index: int) -> float:
        """Instant at which bucket ``index`` ends."""
        if index + 1 < len(self.starts):
            return self.starts[index + 1]
        return wall_to_epoch(next_wall(self.walls[index], self.interval), self.tz_name)


def auto_interval(seconds: float) -> str:
    """The documented ``auto`` rule: up to 12 h -> 5m, up to 3 days -> 1h, else 1d."""
    if seconds <= 12 * 3600:
        return "5m"
    if seconds <= 3 * 86400:
        return "1h"
    return "1d"
