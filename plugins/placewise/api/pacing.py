"""Client-side token buckets, so a healthy sync sees no 429s and no requester starves another.

The API meters calls with a token bucket per (owner, type); its capacity and refill rate are not
public, so the pacer keeps its own view of each bucket with configurable capacity and refill,
takes a call's cost before sending it, and lets the server correct that view: a lower
``ratelimit-remaining`` lowers it, and a 429's ``Retry-After`` empties it until that time.

Requesters of one bucket take turns by the rule of ``placewise.api.fairness``: a line per bucket,
first come first served within a priority, weighted between priorities (the nightly run far above
any backfill), whatever the costs; a backfill's ``reserve`` is the floor of tokens it leaves for
the nightly run. ``InMemoryPacer`` serves one process (threads). ``PostgresPacer`` keeps the
buckets in a table, so every task, process and host of a run shares them. The table belongs to
the warehouse schema (``placewise.warehouse.schema``, created by ``placewise migrate``); this
module only runs its statements against it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from placewise.api.fairness import (
    EPSILON,
    LEASE_TTL_S,
    NIGHTLY,
    BucketState,
    FairBucket,
    Poll,
    priority_weight,
)
from placewise.warehouse.schema import (
    TOKEN_BUCKETS_TABLE,
    WarehouseNotMigratedError,
    not_migrated_message,
)

DEFAULT_CAPACITY = 60.0
DEFAULT_REFILL_PER_S = 6.0
TABLE = TOKEN_BUCKETS_TABLE
_T = TypeVar("_T")


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


class InMemoryPacer:
    """Fair token buckets for one process (threads), by the rule of ``placewise.api.fairness``."""

    def __init__(
        self,
        capacity: float = DEFAULT_CAPACITY,
        refill_per_s: float = DEFAULT_REFILL_PER_S,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        reserve: float = 0,
        priority: str = NIGHTLY,
    ) -> None:
        _validate(capacity, refill_per_s, reserve)
        priority_weight(priority)
        self.capacity = float(capacity)
        self.refill_per_s = float(refill_per_s)
        self.reserve = reserve
        self.priority = priority
        self._rule = FairBucket(capacity, refill_per_s)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._buckets: dict[str, BucketState] = {}

    def _state(self, bucket: str) -> BucketState:
        now = self._clock()
        state = self._buckets.get(bucket)
        if state is None:
            state = self._buckets[bucket] = self._rule.new_state(now)
        self._rule.refill(state, now)
        return state

    def tokens(self, bucket: str) -> float:
        """The current local view of ``bucket`` (refilled to now)."""
        with self._lock:
            return self._state(bucket).tokens

    def acquire(self, bucket: str, cost: int) -> float:
        """Take ``cost`` tokens in turn, sleeping (outside the lock) until it is served."""
        waited = 0.0
        ticket: int | None = None
        try:
            while True:
                with self._lock:
                    state = self._state(bucket)
                    now = self._clock()
                    if ticket is None or self._rule.ticket(state, ticket) is None:
                        ticket = self._rule.enqueue(
                            state,
                            now,
                            holder="local",
                            cost=cost,
                            priority=self.priority,
                            floor=self.reserve,
                        )
                    poll = self._rule.poll(state, now, ticket)
                    if poll.granted:
                        ticket = None
                        return waited
                self._sleep(poll.wait_s)
                waited += poll.wait_s
        finally:
            if ticket is not None:
                with self._lock:
                    self._rule.cancel(self._state(bucket), ticket)

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
            self._rule.correct(
                self._state(bucket),
                holder="local",
                remaining=remaining,
                holder_unspent=0.0,
                retry_after_s=retry_after_s,
            )


# --- the shared pacer -----------------------------------------------------------------------------

#: ``application_name`` of the pacer's connections (visible in ``pg_stat_activity``).
APPLICATION_NAME = "placewise-pacer"
#: Seconds a holder stops spending a lease before the database counts it expired: the holder
#: measures from before it asked, the database from when it granted, so this only adds margin.
_LEASE_MARGIN_S = 0.1
# The row, locked, with the database clock: every process agrees on elapsed time.
_LOCK = f"""
SELECT tokens, extract(epoch FROM updated_at), state, extract(epoch FROM clock_timestamp())
FROM {TABLE} WHERE bucket = %(bucket)s FOR UPDATE
"""
_CREATE = f"""
INSERT INTO {TABLE} (bucket, tokens, updated_at, state)
VALUES (%(bucket)s, %(capacity)s, clock_timestamp(), '{{}}')
ON CONFLICT (bucket) DO NOTHING
"""
_STORE = f"""
UPDATE {TABLE} SET tokens = %(tokens)s, updated_at = to_timestamp(%(updated)s), state = %(state)s
WHERE bucket = %(bucket)s
"""


@dataclass
class _Held:
    """What this process knows of one bucket between round trips.

    ``granted``/``unspent``: its lease (spent locally, no round trip, until ``expires`` by the
    local clock). ``view``/``view_at``: tokens plus leases of the shared row at the last round
    trip, an upper bound of the row from which refill alone can raise it.
    """

    granted: float = 0.0
    unspent: float = 0.0
    expires: float = 0.0
    view: float | None = None
    view_at: float = 0.0

    def usable(self, now: float) -> bool:
        return self.unspent > 0 and now < self.expires

    def drop_lease(self) -> None:
        self.granted = self.unspent = self.expires = 0.0


class PostgresPacer:
    """Fair token buckets in ``placewise_ops.api_token_buckets``, shared by processes and hosts.

    The rule is ``placewise.api.fairness``: one line per bucket in the row's ``state``, served in
    weighted fair order, a ``reserve`` (the floor) left by backfills, and leases. One
    long-lived connection per process (reopened after a fork or when it drops) carries short
    transactions that hold the row lock; while a lease lasts, ``acquire`` spends it locally and
    ``observe`` only calls the database when the server reports fewer tokens than the shared
    view can hold, so a sync with tokens to spare costs about one round trip per lease.
    """

    def __init__(
        self,
        conninfo: str,
        capacity: float = DEFAULT_CAPACITY,
        refill_per_s: float = DEFAULT_REFILL_PER_S,
        reserve: float = 0,
        sleep: Callable[[float], None] = time.sleep,
        *,
        priority: str = NIGHTLY,
        lease_up_to: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        _validate(capacity, refill_per_s, reserve)
        priority_weight(priority)
        self.conninfo = conninfo
        self.capacity = float(capacity)
        self.refill_per_s = float(refill_per_s)
        self.reserve = reserve
        self.priority = priority
        #: The largest lease taken at once (a quarter of the bucket unless told otherwise).
        self.lease_up_to = self.capacity / 4 if lease_up_to is None else float(lease_up_to)
        if self.lease_up_to < 0:
            raise ValueError("lease_up_to must be at least 0")
        self._rule = FairBucket(capacity, refill_per_s)
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self._conn: Any = None
        self._pid = 0
        self._holder = ""
        self._held: dict[str, _Held] = {}
        # Connections inherited over a fork: never closed (closing would end the parent's
        # session on the shared socket), only kept from being collected.
        self._inherited: list[Any] = []

    def __repr__(self) -> str:
        return (
            f"PostgresPacer(capacity={self.capacity}, refill_per_s={self.refill_per_s}, "
            f"reserve={self.reserve}, priority={self.priority!r})"
        )

    # -- connection -------------------------------------------------------------------------------

    def _connection(self) -> Any:
        import psycopg

        pid = os.getpid()
        if pid != self._pid:
            if self._conn is not None:
                self._inherited.append(self._conn)
            self._conn, self._pid, self._held = None, pid, {}
            self._holder = f"{socket.gethostname()}:{pid}:{uuid.uuid4().hex[:12]}"
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(
                self.conninfo, autocommit=True, application_name=APPLICATION_NAME
            )
        return self._conn

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def _transact(self, bucket: str, step: Callable[[BucketState, float], _T]) -> tuple[_T, float]:
        """Run ``step`` on the locked, refilled row of ``bucket`` and store the result.

        Call with ``self._lock`` held. A dropped connection is reopened and the step retried
        once (its transaction was rolled back, so nothing was taken twice).
        """
        import psycopg
        from psycopg.types.json import Jsonb

        for attempt in (1, 2):
            conn = self._connection()
            try:
                with conn.transaction(), conn.cursor() as cur:
                    params = {"bucket": bucket, "capacity": self.capacity}
                    cur.execute(_LOCK, params)
                    row = cur.fetchone()
                    if row is None:
                        cur.execute(_CREATE, params)
                        cur.execute(_LOCK, params)
                        row = cur.fetchone()
                    if row is None:
                        raise RuntimeError(f"bucket {bucket!r} vanished from {TABLE} while locked")
                    tokens, updated, extra, now = row
                    state = BucketState.from_parts(tokens, updated, extra or {})
                    now = float(now)
                    self._rule.refill(state, now)
                    result = step(state, now)
                    cur.execute(
                        _STORE,
                        {
                            "bucket": bucket,
                            "tokens": state.tokens,
                            "updated": state.updated,
                            "state": Jsonb(state.extra()),
                        },
                    )
                    view = state.tokens + state.leased()
                return result, view
            except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn) as exc:
                raise WarehouseNotMigratedError(not_migrated_message([TABLE])) from exc
            except (psycopg.OperationalError, psycopg.InterfaceError):
                self._drop_connection()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _remember(self, held: _Held, view: float, at: float) -> None:
        held.view, held.view_at = view, at

    # -- the pacer --------------------------------------------------------------------------------

    def tokens(self, bucket: str) -> float:
        """Tokens this pacer could take now: the shared row plus its own unspent lease."""
        with self._lock:
            started = self._clock()
            held = self._held_for(bucket)
            tokens, view = self._transact(bucket, lambda state, now: state.tokens)
            self._remember(held, view, started)
            return tokens + (held.unspent if held.usable(self._clock()) else 0.0)

    def _held_for(self, bucket: str) -> _Held:
        if os.getpid() != self._pid:
            self._connection()
        return self._held.setdefault(bucket, _Held())

    def acquire(self, bucket: str, cost: int) -> float:
        """Take ``cost`` tokens in turn; from the lease when it covers them, else from the row."""
        with self._lock:
            held = self._held_for(bucket)
            if held.usable(self._clock()) and held.unspent >= cost - EPSILON:
                held.unspent -= cost
                return 0.0
        waited = 0.0
        ticket: int | None = None
        try:
            while True:
                with self._lock:
                    started = self._clock()
                    held = self._held_for(bucket)
                    unspent = held.unspent if held.usable(started) else 0.0
                    (poll, ticket_now), view = self._transact(
                        bucket,
                        lambda state, now, t=ticket, u=unspent: self._take(state, now, t, u, cost),
                    )
                    if ticket_now != ticket:
                        held.drop_lease()  # a new ticket: the lease was settled with it
                    ticket = ticket_now
                    self._remember(held, view, started)
                    if poll.granted:
                        ticket = None
                        if poll.lease > 0:
                            held.granted = held.unspent = poll.lease
                            held.expires = started + LEASE_TTL_S - _LEASE_MARGIN_S
                        return waited
                self._sleep(poll.wait_s)
                waited += poll.wait_s
        finally:
            if ticket is not None:
                self._cancel(bucket, ticket)

    def _take(
        self, state: BucketState, now: float, ticket: int | None, unspent: float, cost: int
    ) -> tuple[Poll, int]:
        """Poll ``ticket`` (a new one, first settling this holder's lease, if it has none)."""
        if ticket is None or self._rule.ticket(state, ticket) is None:
            self._rule.settle(state, self._holder, unspent)
            ticket = self._rule.enqueue(
                state,
                now,
                holder=self._holder,
                cost=cost,
                priority=self.priority,
                floor=self.reserve,
            )
        return self._rule.poll(state, now, ticket, lease_up_to=self.lease_up_to), ticket

    def _cancel(self, bucket: str, ticket: int) -> None:
        with self._lock, contextlib.suppress(Exception):
            self._transact(bucket, lambda state, now: self._rule.cancel(state, ticket))

    def observe(
        self,
        bucket: str,
        *,
        remaining: int | None,
        cost: int | None,
        retry_after_s: float | None,
    ) -> None:
        """Lower the shared view to the server's ``remaining``; empty it for ``retry_after_s``.

        Without a ``Retry-After``, the database is only asked when ``remaining`` is below what
        the shared row and this pacer's lease can hold by now. Even a fraction of a token
        counts: a full server bucket does not refill between the pacer's grant and the call's
        arrival while the pacer's view already does, and only this correction takes that back.
        """
        retry = retry_after_s is not None and retry_after_s > 0
        if remaining is None and not retry:
            return
        with self._lock:
            started = self._clock()
            held = self._held_for(bucket)
            usable = held.usable(started)
            unspent = held.unspent if usable else 0.0
            if not retry and held.view is not None and remaining is not None:
                ceiling = min(
                    self.capacity, held.view + self.refill_per_s * (started - held.view_at)
                )
                granted = held.granted if usable else 0.0
                if ceiling - granted + unspent <= remaining + EPSILON:
                    return

            def step(state: BucketState, now: float) -> None:
                self._rule.correct(
                    state,
                    holder=self._holder,
                    remaining=remaining,
                    holder_unspent=unspent,
                    retry_after_s=retry_after_s,
                )

            _, view = self._transact(bucket, step)
            if retry:
                held.drop_lease()
            self._remember(held, view, started)

    def close(self) -> None:
        """Give every unspent lease back and close the connection (a new one opens on use)."""
        with self._lock:
            if os.getpid() == self._pid:
                now = self._clock()
                for bucket, held in list(self._held.items()):
                    if held.granted > 0:
                        unspent = held.unspent if held.usable(now) else 0.0
                        with contextlib.suppress(Exception):
                            self._transact(
                                bucket,
                                lambda state, _now, u=unspent: self._rule.settle(
                                    state, self._holder, u
                                ),
                            )
                        held.drop_lease()
                self._drop_connection()
            elif self._conn is not None:
                self._inherited.append(self._conn)
                self._conn = None

    def __enter__(self) -> PostgresPacer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
