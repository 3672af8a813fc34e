"""Time windows in a club's own wall-clock time.

The API interprets ``from``/``to`` without an offset as wall-clock time in each club's timezone
(docs/api-contract.md, section 5b), so every window here is a pair of *naive* datetimes meaning
"local time of the club". That keeps one plan valid for clubs in any timezone and across DST
changes: a local day is always ``[D 00:00, D+1 00:00)`` even when it lasts 23 or 25 hours.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

INTERVALS: tuple[str, ...] = ("5m", "1h", "1d", "1w", "1mo")


@dataclass(frozen=True, order=True)
class Window:
    """A half-open local wall-clock window ``[start, end)``."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("a Window holds local wall-clock (naive) datetimes")
        if self.end <= self.start:
            raise ValueError(f"empty window: {self.start} .. {self.end}")

    @classmethod
    def days(cls, first: date, last: date) -> Window:
        """The window covering local days ``first``..``last`` inclusive."""
        if last < first:
            raise ValueError(f"last day {last} is before first day {first}")
        return cls(_midnight(first), _midnight(last + timedelta(days=1)))

    def day_list(self) -> list[date]:
        """Local days touched by the window (its partitions in the warehouse)."""
        days = []
        day = self.start.date()
        while _midnight(day) < self.end:
            days.append(day)
            day += timedelta(days=1)
        return days

    def label(self) -> str:
        """Compact text for messages and keys: ``2026-11-27`` or ``2026-11-20..2026-11-28``."""
        if self.start.time() == datetime.min.time() and self.end.time() == datetime.min.time():
            last = self.end.date() - timedelta(days=1)
            if last == self.start.date():
                return self.start.date().isoformat()
            return f"{self.start.date().isoformat()}..{last.isoformat()}"
        return f"{self.start.isoformat()}..{self.end.isoformat()}"


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


def daily_windows(first: date, last: date) -> list[Window]:
    """One window per local day, newest first (so the freshest data lands first)."""
    if last < first:
        raise ValueError(f"last day {last} is before first day {first}")
    count = (last - first).days + 1
    return [Window.days(last - timedelta(days=i), last - timedelta(days=i)) for i in range(count)]


def floor_to_interval(moment: datetime, interval: str) -> datetime:
    """Align ``moment`` down to the start of its bucket (weeks start on Monday)."""
    if interval == "5m":
        return moment.replace(minute=moment.minute - moment.minute % 5, second=0, microsecond=0)
    if interval == "1h":
        return moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if interval == "1d":
        return day
    if interval == "1w":
        return day - timedelta(days=day.weekday())
    if interval == "1mo":
        return day.replace(day=1)
    raise ValueError(f"unknown interval {interval!r}; expected one of {', '.join(INTERVALS)}")


def next_bucket(start: datetime, interval: str) -> datetime:
    """Start of the bucket after the one starting at ``start``."""
    if interval == "5m":
        return start + timedelta(minutes=5)
    if interval == "1h":
        return start + timedelta(hours=1)
    if interval == "1d":
        return start + timedelta(days=1)
    if interval == "1w":
        return start + timedelta(weeks=1)
    if interval == "1mo":
        return (
            start.replace(year=start.year + 1, month=1)
            if start.month == 12
            else start.replace(month=start.month + 1)
        )
    raise ValueError(f"unknown interval {interval!r}; expected one of {', '.join(INTERVALS)}")


def iter_buckets(window: Window, interval: str) -> Iterator[datetime]:
    """Bucket starts of every aligned bucket that touches ``window``."""
    bucket = floor_to_interval(window.start, interval)
    while bucket < window.end:
        yield bucket
        bucket = next_bucket(bucket, interval)


def bucket_count(window: Window, interval: str) -> int:
    """How many aligned buckets a query over ``window`` spans (what the 150-bucket rule counts)."""
    return sum(1 for _ in iter_buckets(window, interval))


def auto_interval(window: Window) -> str:
    """The interval the API picks for ``interval: "auto"`` (<=12 h: 5m, <=3 days: 1h, else 1d)."""
    span = window.end - window.start
    if span <= timedelta(hours=12):
        return "5m"
    if span <= timedelta(days=3):
        return "1h"
    return "1d"


def split_by_buckets(window: Window, interval: str, max_buckets: int) -> list[Window]:
    """Cut ``window`` at bucket boundaries into pieces of at most ``max_buckets`` buckets.

    Pieces are aligned so that no bucket is split between two requests (a split bucket would be
    counted twice by the API, once per request).
    """
    if max_buckets < 1:
        raise ValueError("max_buckets must be at least 1")
    pieces: list[Window] = []
    start = window.start
    count = 0
    for bucket in iter_buckets(window, interval):
        if count == max_buckets:
            pieces.append(Window(start, bucket))
            start, count = bucket, 0
        count += 1
    pieces.append(Window(start, window.end))
    return pieces


def halve(window: Window, interval: str) -> tuple[Window, Window] | None:
    """Split ``window`` at the bucket boundary nearest its middle; None if it is one bucket."""
    buckets = list(iter_buckets(window, interval))
    if len(buckets) < 2:
        return None
    middle = buckets[len(buckets) // 2]
    return Window(window.start, middle), Window(middle, window.end)
