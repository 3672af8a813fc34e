"""The progress reporter: a bar on a terminal, periodic plain lines elsewhere, the same counts."""

from __future__ import annotations

import io
import os
import pty
from dataclasses import dataclass

import pytest
from placewise.progress import ProgressReporter, format_duration


@dataclass
class Finished:
    status: str = "loaded"
    tokens: int = 10
    rows: int = 2


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def feed(reporter: ProgressReporter, clock: FakeClock, n: int, **outcome: object) -> None:
    for _ in range(n):
        clock.now += 1.0
        reporter(Finished(**outcome))  # type: ignore[arg-type]


def test_line_mode_writes_one_line_every_n_slices_and_a_last_one():
    clock, stream = FakeClock(), io.StringIO()
    reporter = ProgressReporter.for_stream(
        stream, 60, label="sync", every=25, isatty=lambda: False, clock=clock
    )
    feed(reporter, clock, 60)
    reporter.finish()
    assert stream.getvalue().splitlines() == [
        "sync: 25/60 slices (41%), 250 tokens, 50 rows; elapsed 25s, ETA 35s",
        "sync: 50/60 slices (83%), 500 tokens, 100 rows; elapsed 50s, ETA 10s",
        "sync: 60/60 slices (100%), 600 tokens, 120 rows; elapsed 1m00s",
    ]
    assert "\r" not in stream.getvalue()


def test_finish_is_written_once():
    stream = io.StringIO()
    reporter = ProgressReporter.for_stream(stream, 3, label="replay", isatty=lambda: False)
    reporter.finish()
    reporter.finish()
    assert stream.getvalue().count("\n") == 1


def test_failed_and_quarantined_slices_are_counted_in_the_line():
    clock, stream = FakeClock(), io.StringIO()
    reporter = ProgressReporter.for_stream(
        stream, 4, label="sync", every=2, isatty=lambda: False, clock=clock
    )
    feed(reporter, clock, 1, status="failed", tokens=0, rows=0)
    feed(reporter, clock, 1, status="quarantined", tokens=5, rows=0)
    feed(reporter, clock, 2)
    reporter.finish()
    assert stream.getvalue().splitlines() == [
        "sync: 2/4 slices (50%), 5 tokens, 0 rows, 2 failed; elapsed 2s, ETA 2s",
        "sync: 4/4 slices (100%), 25 tokens, 4 rows, 2 failed; elapsed 4s",
    ]


def test_terminal_mode_redraws_a_bar_in_place_with_eta_and_ends_the_line():
    clock, stream = FakeClock(), io.StringIO()
    reporter = ProgressReporter.for_stream(
        stream, 4, label="sync", isatty=lambda: True, clock=clock
    )
    feed(reporter, clock, 1)
    first = stream.getvalue()
    assert first == (
        "\rsync [######------------------] 1/4 slices (25%), 10 tokens, 2 rows; "
        "elapsed 1s, ETA 3s\x1b[K"
    )
    feed(reporter, clock, 3)
    reporter.finish()
    text = stream.getvalue()
    assert text.count("\r") == 5 and text.endswith("\n") and text.count("\n") == 1
    assert text.rsplit("\r", 1)[1] == (
        "sync [########################] 4/4 slices (100%), 40 tokens, 8 rows; elapsed 4s\x1b[K\n"
    )


def read_all(master: int) -> str:
    """Everything written to a pseudo-terminal whose other end is closed (Linux: EIO at end)."""
    chunks = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode()


def test_a_pseudo_terminal_gets_the_bar():
    master, slave = pty.openpty()
    try:
        with os.fdopen(slave, "w", closefd=True) as stream:
            reporter = ProgressReporter.for_stream(stream, 2, label="sync")
            assert reporter.bar
            reporter(Finished())
            reporter(Finished())
            reporter.finish()
        output = read_all(master)
    finally:
        os.close(master)
    assert "\rsync [############------------] 1/2 slices (50%)" in output
    assert "2/2 slices (100%), 20 tokens, 4 rows" in output


def test_a_pipe_gets_plain_lines():
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "w") as stream:
        reporter = ProgressReporter.for_stream(stream, 2, label="replay", every=1)
        assert not reporter.bar
        reporter(Finished(tokens=0))
        reporter(Finished(tokens=0))
        reporter.finish()
    with os.fdopen(read_end) as pipe:
        lines = pipe.read().splitlines()
    assert [line.split(";")[0] for line in lines] == [
        "replay: 1/2 slices (50%), 0 tokens, 2 rows",
        "replay: 2/2 slices (100%), 0 tokens, 4 rows",
    ]


def test_log_mode_sends_lines_without_newlines_to_the_logger():
    clock, lines = FakeClock(), []
    reporter = ProgressReporter.for_log(lines.append, 5, label="club 1001", every=2, clock=clock)
    feed(reporter, clock, 5)
    reporter.finish()
    assert lines == [
        "club 1001: 2/5 slices (40%), 20 tokens, 4 rows; elapsed 2s, ETA 3s",
        "club 1001: 4/5 slices (80%), 40 tokens, 8 rows; elapsed 4s, ETA 1s",
        "club 1001: 5/5 slices (100%), 50 tokens, 10 rows; elapsed 5s",
    ]


def test_nothing_planned_finishes_at_100_percent():
    lines: list[str] = []
    reporter = ProgressReporter.for_log(lines.append, 0, label="sync")
    reporter.finish()
    assert lines[0].startswith("sync: 0/0 slices (100%), 0 tokens, 0 rows; elapsed ")


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (59.4, "59s"), (185, "3m05s"), (7620, "2h07m")]
)
def test_durations_read_as_seconds_minutes_or_hours(seconds, text):
    assert format_duration(seconds) == text


def test_bad_arguments_are_refused_with_the_value():
    with pytest.raises(ValueError, match="every must be positive, got 0"):
        ProgressReporter.for_log(print, 3, label="x", every=0)
    with pytest.raises(ValueError, match="total must not be negative, got -1"):
        ProgressReporter.for_log(print, -1, label="x")


def test_an_interrupted_bar_ends_its_line_and_an_interrupted_log_says_nothing():
    clock, terminal = FakeClock(), io.StringIO()
    bar = ProgressReporter.for_stream(terminal, 5, label="sync", isatty=lambda: True, clock=clock)
    feed(bar, clock, 2)
    bar.interrupt()
    bar.finish()  # already ended: nothing more
    assert terminal.getvalue().endswith("\x1b[K\n") and terminal.getvalue().count("\n") == 1

    lines: list[str] = []
    log = ProgressReporter.for_log(lines.append, 5, label="sync", every=10, clock=clock)
    feed(log, clock, 2)
    log.interrupt()
    log.finish()
    assert lines == []


def test_start_resets_the_counts_for_a_new_run():
    clock, lines = FakeClock(), []
    reporter = ProgressReporter.for_log(lines.append, label="replay", every=100, clock=clock)
    reporter.start(2)
    feed(reporter, clock, 2)
    reporter.finish()
    reporter.start(1)
    feed(reporter, clock, 1, tokens=3, rows=1)
    reporter.finish()
    assert [line.split(";")[0] for line in lines] == [
        "replay: 2/2 slices (100%), 20 tokens, 4 rows",
        "replay: 1/1 slices (100%), 3 tokens, 1 rows",
    ]
