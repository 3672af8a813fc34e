"""Client-side token buckets, so a healthy sync sees at most a handful of 429s.

The API meters calls with a token bucket per (owner, type); its capacity and refill rate are not
public, so the pacer keeps its own view of each bucket with configurable capacity and refill,
takes a call's cost before sending it, and lets the server correct that view: a lower
``ratelimit-remaining`` lowers it, and a 429's ``Retry-After`` empties it until that time.

``InMemoryPacer`` serves one process (threads). ``PostgresPacer`` keeps the buckets in a table, so
every task and process of a run shares them; a low-priority backfill can use a ``reserve`` so
that it never spends the last tokens the nightly run needs. The table belongs to the warehouse
schema (``placewise.warehouse.schema``, created by ``placewise migrate``); this module only runs
its statements against it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from placewise.warehouse.schema import (
    TOKEN_BUCKETS_TABLE,
    WarehouseNotMigratedError,
    not_migrated_message,
)

DEFAULT_CAPACITY = 60.0
DEFAULT_REFILL_PER_S = 6.0
# Refill arithmetic in floating point can leave a bucket a hair short of a whole token after
# sleeping exactly the computed time; without this slack the pacer would spin on tiny sleeps.
_EPSILON = 1e-6
TABLE = TOKEN_BUCKETS_TABLE


class Pacer(Protocol):
    """What the client needs from a pacer."""

    def acquire(self, bucket: str, cost: int) -> float:
        """Block until ``cost`` tokens are taken from ``bucket``; return the seconds waited."""
        ...

    def observe(
        self,
        bucket: str,
        *,
        remaining: int | None,
        cost: int | None,
        retry_after_s: float | None,
    ) -> None:
        """Correct the local view of ``bucket`` with what the server reported."""
        ...


def _validate(capacity: float, refill_per_s: float, reserve: float = 0) -> None:
    if capacity <= 0 or refill_per_s <= 0:
        raise ValueError("capacity and refill_per_s must be positive")
    if reserve < 0 or reserve >= capacity:
        raise ValueError("reserve must be at least 0 and below capacity")


def _required(cost: int, reserve: float, capacity: float) -> float:
    """Tokens that must be present before ``cost`` may be taken.

    A call dearer than the bucket can ever hold would otherwise wait forever; it waits for a full
    bucket instead and drives the balance negative, as the server's own bucket does.
    """
    return min(cost + reserve, capacity)


def _after_observation(
    tokens: float, refill_per_s: float, remaining: int | None, retry_after_s: float | None
) -> float:
    if remaining is not None and remaining < tokens:
        tokens = float(remaining)
    if retry_after_s is not None and retry_after_s > 0:
        tokens = min(tokens, -refill_per_s * retry_after_s)
    return tokens


@dataclass
class _State:
    tokens: float
    updated: float


class InMemoryPacer:
    """A thread-safe token bucket per bucket name, for one process."""

    def __init__(
        self,
        capacity: float = DEFAULT_CAPACITY,
        refill_per_s: float = DEFAULT_REFILL_PER_S,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        reserve: float = 0,
    ) -> None:
        _validate(capacity, refill_per_s, reserve)
        self.capacity = float(capacity)
        self.refill_per_s = float(refill_per_s)
        self.reserve = reserve
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._buckets: dict[str, _State] = {}

    def _refilled(self, bucket: str) -> _State:
        now = self._clock()
        state = self._buckets.get(bucket)
        if state is None:
            state = self._buckets[bucket] = _State(self.capacity, now)
        else:
            elapsed = max(0.0, now - state.updated)
            state.tokens = min(self.capacity, state.tokens + elapsed * self.refill_per_s)
            state.updated = now
        return state

    def tokens(self, bucket: str) -> float:
        """The current local view of ``bucket`` (refilled to now)."""
        with self._lock:
            return self._refilled(bucket).tokens

    def acquire(self, bucket: str, cost: int) -> float:
        """Take ``cost`` tokens, sleeping (outside the lock) until the bucket holds enough."""
        required = _required(cost, self.reserve, self.capacity)
        waited = 0.0
        while True:
            with self._lock:
                state = self._refilled(bucket)
                if state.tokens >= required - _EPSILON:
                    state.tokens -= cost
                    return waited
                wait = (required - state.tokens) / self.refill_per_s
            self._sleep(wait)
            waited += wait

    def observe(
        self,
        bucket: str,
        *,
        remaining: int | None,
        cost: int | None,
        retry_after_s: float | None,
    ) -> None:
        """Lower the local view to the server's ``remaining``; empty it for ``retry_after_s``."""
        with self._lock:
            state = self._refilled(bucket)
            state.tokens = _after_observation(
                state.tokens, self.refill_per_s, remaining, retry_after_s
            )


# Refill by the database clock so that every process agrees on elapsed time.
_LOCK_AND_REFILL = f"""
SELECT least(%(capacity)s,
             tokens + %(rate)s * greatest(0, extract(epoch FROM clock_timestamp() - updated_at)))
FROM {TABLE} WHERE bucket = %(bucket)s FOR UPDATE
"""
_UPSERT = f"""
INSERT INTO {TABLE} (bucket, tokens, updated_at)
VALUES (%(bucket)s, %(capacity)s, clock_timestamp())
ON CONFLICT (bucket) DO NOTHING
"""
_STORE = f"""
UPDATE {TABLE} SET tokens = %(tokens)s, updated_at = clock_timestamp() WHERE bucket = %(bucket)s
"""


class PostgresPacer:
    """Token buckets in ``placewise_ops.api_token_buckets``, shared by all processes of a run.

    Each ``acquire``/``observe`` is one short transaction holding the bucket's row lock, on a
    short-lived connection, so the object is safe to use from threads and forked processes alike.
    """

    def __init__(
        self,
        conninfo: str,
        capacity: float = DEFAULT_CAPACITY,
        refill_per_s: float = DEFAULT_REFILL_PER_S,
        reserve: int = 0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        _validate(capacity, refill_per_s, reserve)
        self.conninfo = conninfo
        self.capacity = float(capacity)
        self.refill_per_s = float(refill_per_s)
        self.reserve = reserve
        self._sleep = sleep

    def __repr__(self) -> str:
        return (
            f"PostgresPacer(capacity={self.capacity}, refill_per_s={self.refill_per_s}, "
            f"reserve={self.reserve})"
        )

    def _connect(self):  # noqa: ANN202 - psycopg is imported lazily, only when this pacer is used
        import psycopg

        return psycopg.connect(self.conninfo, autocommit=False)

    def _locked_tokens(self, cur, bucket: str) -> float:  # noqa: ANN001
        import psycopg

        params = {"bucket": bucket, "capacity": self.capacity, "rate": self.refill_per_s}
        try:
            cur.execute(_UPSERT, params)
        except psycopg.errors.UndefinedTable as exc:
            raise WarehouseNotMigratedError(not_migrated_message([TABLE])) from exc
        cur.execute(_LOCK_AND_REFILL, params)
        row = cur.fetchone()
        if row is None:
            raise RuntimeError(f"bucket {bucket!r} vanished from {TABLE} while locked")
        return float(row[0])

    def tokens(self, bucket: str) -> float:
        """The current shared view of ``bucket`` (refilled to now, not stored)."""
        with self._connect() as conn, conn.transaction(), conn.cursor() as cur:
            return self._locked_tokens(cur, bucket)

    def acquire(self, bucket: str, cost: int) -> float:
        """Take ``cost`` tokens leaving ``reserve``; sleep (no lock held) until there are enough."""
        required = _required(cost, self.reserve, self.capacity)
        waited = 0.0
        with self._connect() as conn:
            while True:
                with conn.transaction(), conn.cursor() as cur:
                    tokens = self._locked_tokens(cur, bucket)
                    if tokens >= required - _EPSILON:
                        cur.execute(_STORE, {"bucket": bucket, "tokens": tokens - cost})
                        return waited
                    cur.execute(_STORE, {"bucket": bucket, "tokens": tokens})
                wait = (required - tokens) / self.refill_per_s
                self._sleep(wait)
                waited += wait

    def observe(
        self,
        bucket: str,
        *,
        remaining: int | None,
        cost: int | None,
        retry_after_s: float | None,
    ) -> None:
        """Lower the shared view to the server's ``remaining``; empty it for ``retry_after_s``."""
        if remaining is None and not retry_after_s:
            return
        with self._connect() as conn, conn.transaction(), conn.cursor() as cur:
            tokens = self._locked_tokens(cur, bucket)
            corrected = _after_observation(tokens, self.refill_per_s, remaining, retry_after_s)
            cur.execute(_STORE, {"bucket": bucket, "tokens": corrected})
