"""Progress of a long sync or replay: slices done / total, tokens spent, failures and an ETA.

The engine loop (``placewise.sync``) calls one observer per finished slice; this module's
``ProgressReporter`` is that observer. It has two ways to speak, chosen by whoever builds it:

* on a terminal, one bar redrawn in place (``\\r``) after every slice;
* otherwise (a pipe, a file, an Airflow task log), one plain line every ``every`` slices and a
  last one when the run ends, so a log shows how far a run got without a line per slice.

The ETA is the mean time per finished slice so far times the slices left: good enough to tell
minutes from hours, and honest about being an estimate.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol, TextIO

#: Slices between two progress lines when not on a terminal (``PLACEWISE_PROGRESS_EVERY``).
DEFAULT_EVERY = 25
BAR_WIDTH = 24
#: ANSI "erase to end of line": a redrawn bar shorter than the last one leaves nothing behind.
CLEAR_TO_END = "\x1b[K"


class FinishedSlice(Protocol):
    """What the reporter reads of a slice's outcome (``placewise.sync.SliceOutcome``)."""

    status: str
    tokens: int
    rows: int


def format_duration(seconds: float) -> str:
    """``42s``, ``3m05s`` or ``2h07m``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class ProgressReporter:
    """Counts finished slices and reports them as a bar (terminal) or as periodic lines.

    ``write`` receives, in bar mode, the raw text to put on the terminal (carriage returns
    included); in line mode, one complete line without its newline.
    """

    def __init__(
        self,
        total: int = 0,
        *,
        label: str,
        write: Callable[[str], None],
        bar: bool = False,
        every: int = DEFAULT_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if every <= 0:
            raise ValueError(f"every must be positive, got {every}")
        self.label = label
        self.every = every
        self.bar = bar
        self._write = write
        self._clock = clock
        self.start(total)

    def start(self, total: int) -> None:
        """Begin counting a run of ``total`` slices (the clock of the ETA starts now)."""
        if total < 0:
            raise ValueError(f"total must not be negative, got {total}")
        self.total = total
        self._started = self._clock()
        self.done = 0
        self.tokens = 0
        self.rows = 0
        self.failed = 0
        self._finished = False

    # --- constructors ---------------------------------------------------------------------------

    @classmethod
    def for_stream(
        cls,
        stream: TextIO,
        total: int = 0,
        *,
        label: str,
        every: int = DEFAULT_EVERY,
        isatty: Callable[[], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> ProgressReporter:
        """A bar when ``stream`` is a terminal, periodic lines otherwise (e.g. the CLI's stderr)."""
        on_terminal = (isatty or getattr(stream, "isatty", lambda: False))()

        def write(text: str) -> None:
            stream.write(text if on_terminal else text + "\n")
            stream.flush()

        return cls(total, label=label, write=write, bar=on_terminal, every=every, clock=clock)

    @classmethod
    def for_log(
        cls,
        log: Callable[[str], None],
        total: int = 0,
        *,
        label: str,
        every: int = DEFAULT_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> ProgressReporter:
        """Periodic lines through a logging call (an Airflow task's log: ``log.info``)."""
        return cls(total, label=label, write=log, every=every, clock=clock)

    # --- what the engine calls ------------------------------------------------------------------

    def __call__(self, outcome: FinishedSlice) -> None:
        """Count one finished slice and report if it is time to."""
        self.done += 1
        self.tokens += outcome.tokens
        self.rows += outcome.rows
        if str(outcome.status) in ("failed", "quarantined"):
            self.failed += 1
        if self.bar:
            self._write("\r" + self.bar_text() + CLEAR_TO_END)
        elif self.done % self.every == 0 and self.done < self.total:
            self._write(self.line())

    def interrupt(self) -> None:
        """The run stopped on an error: end a drawn bar's line so the error reads on its own;
        in line mode say nothing (the error is the last word). Idempotent with ``finish``."""
        if self._finished:
            return
        self._finished = True
        if self.bar and self.done:
            self._write("\n")

    def finish(self) -> None:
        """The last report: ends the bar's line, or writes the final plain line. Idempotent."""
        if self._finished:
            return
        self._finished = True
        if self.bar:
            self._write("\r" + self.bar_text() + CLEAR_TO_END + "\n")
        else:
            self._write(self.line())

    # --- text -----------------------------------------------------------------------------------

    def eta_seconds(self) -> float | None:
        """Seconds left at the mean pace so far; None before the first slice or when done."""
        if self.done == 0 or self.done >= self.total:
            return None
        elapsed = self._clock() - self._started
        return elapsed / self.done * (self.total - self.done)

    def _counts(self) -> str:
        percent = 100 * self.done // self.total if self.total else 100
        text = (
            f"{self.done}/{self.total} slices ({percent}%), {self.tokens} tokens, {self.rows} rows"
        )
        if self.failed:
            text += f", {self.failed} failed"
        return text

    def _timing(self) -> str:
        elapsed = format_duration(self._clock() - self._started)
        eta = self.eta_seconds()
        if eta is None:
            return f"elapsed {elapsed}"
        return f"elapsed {elapsed}, ETA {format_duration(eta)}"

    def line(self) -> str:
        """The plain progress line: ``sync: 50/200 slices (25%), 310 tokens, ... ETA 3m06s``."""
        return f"{self.label}: {self._counts()}; {self._timing()}"

    def bar_text(self) -> str:
        """The terminal bar: ``sync [######------------------] 50/200 slices ... ETA 3m06s``."""
        filled = BAR_WIDTH * self.done // self.total if self.total else BAR_WIDTH
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        return f"{self.label} [{bar}] {self._counts()}; {self._timing()}"
