"""The rule by which requesters share one token bucket, whatever their costs and priorities.

Without a rule, whoever asks most often wins: a backfill whose calls cost 10 tokens takes the
bucket every time it reaches 10, and a nightly call that needs 15 waits as long as the backfill
runs. Here every request takes a *ticket* and only the first ticket in line may take tokens, so
no request overtakes another once it has waited its turn:

* **Order.** Tickets are ordered by a finish tag, self-clocked weighted fair queueing: a ticket of
  priority ``p`` gets ``tag = max(V, last tag of p) + cost / weight(p)``, where ``V`` is the tag
  of the last ticket served. Tickets of one priority are therefore served in arrival order (FIFO),
  and when several priorities wait, each is served tokens in proportion to its weight, whatever
  its request costs: a dear request is not starved by a stream of cheap ones, nor the reverse.
* **Floor.** A ticket may also carry a floor: the tokens it must leave in the bucket (a backfill
  leaves some for the nightly run, even at priority ``high``). The first ticket is served when
  the bucket holds ``cost + floor`` (capped at the capacity, so a call dearer than the bucket is
  served from a full bucket and drives the balance negative, as the server's bucket does).
* **Leases.** A requester alone in line may take more than it asked for, a *lease* of tokens it
  spends without asking again. A lease is bounded (at most ``lease_up_to`` and half of what is
  above the floor), short-lived (``LEASE_TTL_S``), counted against the capacity until it is
  returned or expires, so the bucket is never overdrawn, and granted only when no one waits.

The state is plain data (``BucketState``) so that one process can keep it in memory and many can
keep it in a database row; every function takes the current time, so tests drive it with a fake
clock.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: Share of the bucket each priority is served when several wait (relative weights).
PRIORITY_WEIGHTS: dict[str, float] = {"nightly": 32.0, "high": 4.0, "normal": 2.0, "low": 1.0}
#: The priority of the scheduled nightly run; the others are a backfill's (``low`` .. ``high``).
NIGHTLY = "nightly"
#: Seconds a lease may be spent from after it was granted; unspent tokens then go back.
LEASE_TTL_S = 2.0
#: Seconds past its announced next poll after which a ticket counts as abandoned (its process
#: died) and is dropped, so a dead requester cannot hold the line.
TICKET_GRACE_S = 5.0
#: Longest sleep of a ticket that is not first in line: the line ahead of it may move faster.
WAITING_POLL_MAX_S = 1.0
#: Shortest sleep between polls, so a waiter never spins.
MIN_POLL_S = 0.005
# Refill arithmetic in floating point can leave a bucket a hair short of a whole token after
# sleeping exactly the computed time; without this slack a waiter would spin on tiny sleeps.
EPSILON = 1e-6


def priority_weight(priority: str) -> float:
    """The weight of ``priority``; an unknown name is refused with the valid ones."""
    try:
        return PRIORITY_WEIGHTS[priority]
    except KeyError:
        raise ValueError(
            f"unknown pacing priority {priority!r}; use one of {', '.join(PRIORITY_WEIGHTS)}"
        ) from None


@dataclass
class Ticket:
    """One waiting request."""

    id: int
    holder: str
    priority: str
    cost: int
    floor: float
    tag: float
    due: float


@dataclass
class Lease:
    """Tokens granted to one holder in advance, counted against the capacity until settled."""

    tokens: float
    expires: float


@dataclass
class BucketState:
    """Everything the rule needs to know about one bucket."""

    tokens: float
    updated: float
    vtime: float = 0.0
    next_id: int = 1
    queue: list[Ticket] = field(default_factory=list)
    last_tags: dict[str, float] = field(default_factory=dict)
    leases: dict[str, Lease] = field(default_factory=dict)

    def leased(self) -> float:
        """Tokens out on lease (spent or not: the holders do not say until they settle)."""
        return sum(lease.tokens for lease in self.leases.values())

    def extra(self) -> dict[str, Any]:
        """The state beyond ``tokens``/``updated``, as JSON-ready data."""
        return {
            "vtime": self.vtime,
            "next_id": self.next_id,
            "queue": [asdict(t) for t in self.queue],
            "last_tags": dict(self.last_tags),
            "leases": {h: asdict(lease) for h, lease in self.leases.items()},
        }

    @classmethod
    def from_parts(cls, tokens: float, updated: float, extra: dict[str, Any]) -> BucketState:
        """Rebuild a state from ``tokens``, ``updated`` and what ``extra()`` returned."""
        return cls(
            tokens=float(tokens),
            updated=float(updated),
            vtime=float(extra.get("vtime", 0.0)),
            next_id=int(extra.get("next_id", 1)),
            queue=[Ticket(**t) for t in extra.get("queue", [])],
            last_tags={k: float(v) for k, v in extra.get("last_tags", {}).items()},
            leases={h: Lease(**lease) for h, lease in extra.get("leases", {}).items()},
        )


@dataclass(frozen=True)
class Poll:
    """The answer to a ticket's poll: granted (with a lease, maybe) or how long to sleep."""

    granted: bool
    wait_s: float = 0.0
    lease: float = 0.0


class FairBucket:
    """The rule for buckets of one capacity and refill rate (the state lives elsewhere)."""

    def __init__(self, capacity: float, refill_per_s: float) -> None:
        if capacity <= 0 or refill_per_s <= 0:
            raise ValueError("capacity and refill_per_s must be positive")
        self.capacity = float(capacity)
        self.refill_per_s = float(refill_per_s)

    def new_state(self, now: float) -> BucketState:
        """A full bucket with no one in line."""
        return BucketState(tokens=self.capacity, updated=now)

    def refill(self, state: BucketState, now: float) -> None:
        """Bring ``state`` to ``now``: drop expired leases and abandoned tickets, then refill.

        Refill stops at the capacity minus what is out on lease, so tokens plus leases never
        exceed what the server's bucket can hold.
        """
        state.leases = {h: lease for h, lease in state.leases.items() if lease.expires > now}
        state.queue = [t for t in state.queue if t.due + TICKET_GRACE_S >= now]
        elapsed = max(0.0, now - state.updated)
        ceiling = self.capacity - state.leased()
        if state.tokens < ceiling:
            state.tokens = min(ceiling, state.tokens + elapsed * self.refill_per_s)
        state.updated = max(state.updated, now)

    def enqueue(
        self, state: BucketState, now: float, *, holder: str, cost: int, priority: str, floor: float
    ) -> int:
        """Give a request its ticket (call after ``refill``); return the ticket's id."""
        if cost < 0:
            raise ValueError(f"a request cannot cost {cost} tokens")
        if floor < 0 or floor >= self.capacity:
            raise ValueError("a floor must be at least 0 and below the capacity")
        weight = priority_weight(priority)
        tag = max(state.vtime, state.last_tags.get(priority, state.vtime)) + cost / weight
        state.last_tags[priority] = tag
        ticket = Ticket(state.next_id, holder, priority, cost, floor, tag, now)
        state.next_id += 1
        state.queue.append(ticket)
        return ticket.id

    def ticket(self, state: BucketState, ticket_id: int) -> Ticket | None:
        """The ticket ``ticket_id`` if it is still in line."""
        return next((t for t in state.queue if t.id == ticket_id), None)

    def required(self, cost: int, floor: float) -> float:
        """Tokens the bucket must hold before ``cost`` may be taken leaving ``floor``."""
        return min(cost + floor, self.capacity)

    def poll(
        self, state: BucketState, now: float, ticket_id: int, *, lease_up_to: float = 0.0
    ) -> Poll:
        """Serve ticket ``ticket_id`` if it is first in line and the bucket holds enough.

        Call after ``refill``. Raises ``KeyError`` when the ticket is no longer in line (it was
        dropped as abandoned); the caller takes a new one.
        """
        ticket = self.ticket(state, ticket_id)
        if ticket is None:
            raise KeyError(ticket_id)
        line = sorted(state.queue, key=lambda t: (t.tag, t.id))
        position = line.index(ticket)
        required = self.required(ticket.cost, ticket.floor)
        if position == 0 and state.tokens >= required - EPSILON:
            state.queue.remove(ticket)
            state.tokens -= ticket.cost
            state.vtime = ticket.tag
            lease = self._lease(state, now, ticket, lease_up_to)
            return Poll(granted=True, lease=lease)
        ahead = sum(t.cost for t in line[:position])
        wait = (ahead + required - state.tokens) / self.refill_per_s
        if position > 0:
            wait = min(wait, WAITING_POLL_MAX_S)
        wait = max(wait, MIN_POLL_S)
        ticket.due = now + wait
        return Poll(granted=False, wait_s=wait)

    def _lease(self, state: BucketState, now: float, ticket: Ticket, lease_up_to: float) -> float:
        if lease_up_to <= 0 or state.queue:
            return 0.0
        surplus = state.tokens - ticket.floor
        amount = min(lease_up_to, surplus / 2)
        if amount < 1:
            return 0.0
        state.tokens -= amount
        held = state.leases.get(ticket.holder)
        total = amount + (held.tokens if held else 0.0)
        state.leases[ticket.holder] = Lease(total, now + LEASE_TTL_S)
        return amount

    def cancel(self, state: BucketState, ticket_id: int) -> None:
        """Take ticket ``ticket_id`` out of line (its request gave up)."""
        state.queue = [t for t in state.queue if t.id != ticket_id]

    def settle(self, state: BucketState, holder: str, unspent: float) -> None:
        """End ``holder``'s lease, giving back the ``unspent`` tokens (call after ``refill``)."""
        lease = state.leases.pop(holder, None)
        if lease is None:
            return  # expired: its tokens are already counted as spent
        back = max(0.0, min(unspent, lease.tokens))
        state.tokens = min(self.capacity - state.leased(), state.tokens + back)

    def correct(
        self,
        state: BucketState,
        *,
        holder: str,
        remaining: int | None,
        holder_unspent: float,
        retry_after_s: float | None,
    ) -> None:
        """Lower the view to what the server reported (call after ``refill``).

        ``remaining`` counts every token still in the server's bucket, leased ones included, so
        the tokens of the bucket are at most ``remaining`` minus every lease not yet spent (this
        holder's ``holder_unspent``, the others' whole leases). A ``Retry-After`` empties the
        bucket until then and ends ``holder``'s lease.
        """
        if remaining is not None:
            held = state.leases.get(holder)
            others = state.leased() - (held.tokens if held else 0.0)
            state.tokens = min(state.tokens, remaining - others - holder_unspent)
        if retry_after_s is not None and retry_after_s > 0:
            state.leases.pop(holder, None)
            state.tokens = min(state.tokens, -self.refill_per_s * retry_after_s)
