"""Token buckets per (owner, Reporting), refilled continuously.

The real capacity and refill rate are not public; the simulator's defaults (60 tokens,
6 tokens/s) are the project's assumption (docs/api-contract.md, section 1) and configurable, so
clients can be tested against both a generous and a starved server.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from threading import Lock


@dataclass
class Decision:
    """Outcome of one charge attempt."""

    allowed: bool
    remaining: int
    cost: int
    retry_after: int = 0


class RateLimiter:
    """All buckets of one server.

    A request is allowed when its bucket holds at least its cost, or when the bucket is full
    (so that a request dearer than the capacity can still run once, driving the bucket
    negative, as the docs say ``ratelimit-remaining`` may be). Refused requests cost nothing.
    """

    def __init__(
        self, capacity: float, refill: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.capacity = capacity
        self.refill = refill
        self.clock = clock
        self._tokens: dict[str, tuple[float, float]] = {}
        self._lock = Lock()

    def _level(self, name: str, now: float) -> float:
        tokens, updated = self._tokens.get(name, (self.capacity, now))
        return min(self.capacity, tokens + (now - updated) * self.refill)

    def charge(self, name: str, cost: int) -> Decision:
        """Take ``cost`` tokens from bucket ``name`` if possible."""
        with self._lock:
            now = self.clock()
            level = self._level(name, now)
            if level >= cost or level >= self.capacity:
                level -= cost
                self._tokens[name] = (level, now)
                return Decision(True, math.floor(level), cost)
            self._tokens[name] = (level, now)
            needed = min(cost, self.capacity) - level
            retry = max(1, math.ceil(needed / self.refill))
            return Decision(False, max(0, math.floor(level)), cost, retry)

    def remaining(self, name: str) -> int:
        """Tokens currently in a bucket, for responses that charge nothing."""
        with self._lock:
            return math.floor(self._level(name, self.clock()))

    def reset(self) -> None:
        """Refill every bucket (admin reset)."""
        with self._lock:
            self._tokens.clear()
