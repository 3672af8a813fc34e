import itertools
from datetime import date, datetime

import pytest
from placewise.extract.windows import (
    Window,
    auto_interval,
    bucket_count,
    daily_windows,
    halve,
    split_by_buckets,
)


def test_day_window_covers_local_midnight_to_midnight():
    w = Window.days(date(2026, 3, 29), date(2026, 3, 29))
    assert (w.start, w.end) == (datetime(2026, 3, 29), datetime(2026, 3, 30))
    assert w.day_list() == [date(2026, 3, 29)]
    assert w.label() == "2026-03-29"


def test_window_rejects_aware_datetimes_and_empty_ranges():
    from datetime import UTC

    with pytest.raises(ValueError, match="naive"):
        Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC))
    with pytest.raises(ValueError, match="empty"):
        Window(datetime(2026, 1, 2), datetime(2026, 1, 2))


def test_daily_windows_are_newest_first():
    windows = daily_windows(date(2026, 1, 1), date(2026, 1, 3))
    assert [w.start.date() for w in windows] == [
        date(2026, 1, 3),
        date(2026, 1, 2),
        date(2026, 1, 1),
    ]


def test_split_respects_the_150_bucket_rule_without_splitting_a_bucket():
    window = Window.days(date(2025, 1, 1), date(2025, 12, 31))  # 365 days
    pieces = split_by_buckets(window, "1d", 150)
    assert [bucket_count(p, "1d") for p in pieces] == [150, 150, 65]
    assert pieces[0].start == window.start and pieces[-1].end == window.end
    assert all(a.end == b.start for a, b in itertools.pairwise(pieces))


def test_split_by_hours_over_a_dst_change_counts_wall_clock_buckets():
    window = Window(datetime(2026, 3, 28), datetime(2026, 3, 31))
    pieces = split_by_buckets(window, "1h", 24)
    assert len(pieces) == 3
    assert all(bucket_count(p, "1h") == 24 for p in pieces)


def test_weekly_and_monthly_buckets_align_to_monday_and_first_of_month():
    window = Window(datetime(2026, 1, 7), datetime(2026, 3, 2))
    assert bucket_count(window, "1w") == 8  # Mondays 2026-01-05 .. 2026-02-23
    assert bucket_count(window, "1mo") == 3


def test_auto_interval_follows_the_documented_thresholds():
    assert auto_interval(Window(datetime(2026, 1, 1), datetime(2026, 1, 1, 12))) == "5m"
    assert auto_interval(Window(datetime(2026, 1, 1), datetime(2026, 1, 4))) == "1h"
    assert auto_interval(Window(datetime(2026, 1, 1), datetime(2026, 1, 5))) == "1d"


def test_halving_cuts_at_a_bucket_boundary_and_stops_at_one_bucket():
    window = Window.days(date(2026, 1, 1), date(2026, 1, 5))
    first, second = halve(window, "1d")
    assert first.end == second.start == datetime(2026, 1, 3)
    assert halve(Window.days(date(2026, 1, 1), date(2026, 1, 1)), "1d") is None
