"""The sharing rule of one bucket (placewise.api.fairness), driven by a fake clock.

``run`` is a small discrete-event loop: every requester keeps one request in line at a time
(as one sync process does), polls when the rule told it to, and the loop records each grant
with the time and the tokens left.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest
from placewise.api.fairness import (
    LEASE_TTL_S,
    PRIORITY_WEIGHTS,
    TICKET_GRACE_S,
    FairBucket,
)
from placewise.api.pacing import InMemoryPacer


@dataclass
class Requester:
    name: str
    priority: str
    costs: list[int]
    floor: float = 0.0
    start: float = 0.0
    ticket: int | None = None
    next_poll: float = 0.0
    asked_at: float = 0.0
    waits: list[float] = field(default_factory=list)

    def __post_init__(self):
        self.next_poll = self.start


@dataclass
class Grant:
    at: float
    name: str
    cost: int
    tokens_after: float


def run(rule: FairBucket, requesters: list[Requester], *, state=None, until=1e9) -> list[Grant]:
    state = state or rule.new_state(0.0)
    grants: list[Grant] = []
    while True:
        active = [r for r in requesters if r.costs]
        if not active:
            return grants
        r = min(active, key=lambda x: x.next_poll)
        now = r.next_poll
        if now > until:
            return grants
        rule.refill(state, now)
        if r.ticket is None:
            r.ticket = rule.enqueue(
                state, now, holder=r.name, cost=r.costs[0], priority=r.priority, floor=r.floor
            )
            r.asked_at = now
        poll = rule.poll(state, now, r.ticket)
        if poll.granted:
            grants.append(Grant(now, r.name, r.costs.pop(0), state.tokens))
            r.waits.append(now - r.asked_at)
            r.ticket = None
        else:
            r.next_poll = now + poll.wait_s


def tokens_of(grants: list[Grant], name: str, before: float = 1e9) -> int:
    return sum(g.cost for g in grants if g.name == name and g.at < before)


def test_a_cheap_stream_no_longer_starves_a_dearer_request():
    # What happened on main: a backfill of 10-token calls took the bucket each time it reached
    # 10, and the nightly's 15-token call waited as long as the backfill ran.
    rule = FairBucket(60, 6)
    backfill = Requester("backfill", "normal", [10] * 60)
    nightly = Requester("nightly", "normal", [15] * 10, start=1.0)
    grants = run(rule, [backfill, nightly], state=rule.new_state(0.0))
    assert len(nightly.waits) == 10
    # Same priority: the nightly waits at most for one backfill call and its own refill.
    assert max(nightly.waits) <= (10 + 15) / 6 + 1e-6
    assert [g.name for g in grants if g.at > 12][:6] in (
        ["nightly", "backfill"] * 3,
        ["backfill", "nightly"] * 3,
    )


def test_one_priority_is_served_first_come_first_served_whatever_the_costs():
    rule = FairBucket(10, 1)
    state = rule.new_state(0.0)
    state.tokens = 0.0
    order = [("a", 9), ("b", 1), ("c", 10), ("d", 1), ("e", 1)]
    tickets = {}
    for i, (name, cost) in enumerate(order):
        rule.refill(state, i * 0.01)
        tickets[name] = rule.enqueue(
            state, i * 0.01, holder=name, cost=cost, priority="normal", floor=0
        )
    served = []
    now = 0.05
    while len(served) < len(order):
        rule.refill(state, now)
        for name, _ in order:
            if name not in served and rule.poll(state, now, tickets[name]).granted:
                served.append(name)
        now += 0.25
    assert served == ["a", "b", "c", "d", "e"]


def test_a_dear_request_waits_its_turn_not_forever_behind_cheap_ones():
    rule = FairBucket(60, 6)
    cheap = [Requester(f"cheap{i}", "normal", [1] * 400) for i in range(3)]
    dear = Requester("dear", "normal", [50], start=5.0)
    run(rule, [*cheap, dear], until=60)
    (wait,) = dear.waits
    # Ahead of it: at most one request of each cheap requester, then its own 50 tokens.
    assert wait <= (3 * 1 + 50) / 6 + 1e-6


def test_a_cheap_request_waits_its_turn_not_forever_behind_dear_ones():
    rule = FairBucket(60, 6)
    dear = [Requester(f"dear{i}", "normal", [50] * 20) for i in range(2)]
    cheap = Requester("cheap", "normal", [1], start=5.0)
    run(rule, [*dear, cheap], until=200)
    (wait,) = cheap.waits
    assert wait <= (2 * 50 + 1) / 6 + 1e-6


@pytest.mark.parametrize(
    ("nightly_costs", "backfill_costs"),
    [([15], [10]), ([1], [40]), ([40], [1]), ([3, 30, 7], [25, 2, 11])],
)
@pytest.mark.parametrize("backfill_priority", ["low", "normal", "high"])
def test_backlogged_priorities_share_the_tokens_by_weight_whatever_the_costs(
    nightly_costs, backfill_costs, backfill_priority
):
    rule = FairBucket(60, 6)
    # Enough requests that both stay backlogged for the whole run (60 + 6/s * 120 s tokens).
    nightly = Requester("nightly", "nightly", nightly_costs * (1000 // sum(nightly_costs) + 1))
    backfill = Requester(
        "backfill", backfill_priority, backfill_costs * (1000 // sum(backfill_costs) + 1)
    )
    grants = run(rule, [nightly, backfill], until=120)
    assert nightly.costs and backfill.costs
    # After the first full bucket, tokens flow at 6/s.
    window = [g for g in grants if 20 <= g.at < 120]
    nightly_tokens = sum(g.cost for g in window if g.name == "nightly")
    backfill_tokens = sum(g.cost for g in window if g.name == "backfill")
    share = nightly_tokens / (nightly_tokens + backfill_tokens)
    weights = PRIORITY_WEIGHTS["nightly"], PRIORITY_WEIGHTS[backfill_priority]
    expected = weights[0] / sum(weights)
    slack = 2 * max(nightly_costs + backfill_costs) / (nightly_tokens + backfill_tokens)
    assert share == pytest.approx(expected, abs=slack)


def test_the_nightly_share_exceeds_three_quarters_even_beside_a_high_backfill():
    high = PRIORITY_WEIGHTS["high"]
    nightly = PRIORITY_WEIGHTS["nightly"]
    assert nightly / (nightly + high) >= 0.75
    assert PRIORITY_WEIGHTS["low"] < PRIORITY_WEIGHTS["normal"] < high < nightly


def test_a_backfill_at_high_priority_still_leaves_the_nightly_its_floor():
    rule = FairBucket(60, 6)
    backfill = Requester("backfill", "high", [7, 12, 3] * 100, floor=10)
    nightly = Requester("nightly", "nightly", [10], start=30.0)
    grants = run(rule, [backfill, nightly], until=60)
    assert all(g.tokens_after >= 10 - 1e-6 for g in grants if g.name == "backfill")
    # The nightly's first call finds its floor waiting: no wait at all.
    assert nightly.waits == [0.0]


def test_the_bucket_is_never_overdrawn_by_any_mix_of_costs_and_priorities():
    rng = random.Random(7)
    rule = FairBucket(60, 6)
    requesters = [
        Requester(
            f"r{i}",
            rng.choice(list(PRIORITY_WEIGHTS)),
            [rng.randint(1, 45) for _ in range(60)],
            floor=rng.choice([0, 0, 5, 10]),
            start=rng.uniform(0, 20),
        )
        for i in range(5)
    ]
    grants = run(rule, requesters, until=400)
    assert grants
    for grant in grants:
        assert grant.tokens_after >= -1e-6
    for grant in grants:
        spent = sum(g.cost for g in grants if g.at <= grant.at)
        assert spent <= 60 + 6 * grant.at + 1e-6


def test_a_request_dearer_than_the_bucket_is_served_from_a_full_one_and_drives_it_negative():
    rule = FairBucket(10, 5)
    state = rule.new_state(0.0)
    state.tokens = 0.0
    ticket = rule.enqueue(state, 0.0, holder="x", cost=25, priority="normal", floor=0)
    poll = rule.poll(state, 0.0, ticket)
    assert not poll.granted and poll.wait_s == pytest.approx(2.0)
    rule.refill(state, 2.0)
    assert rule.poll(state, 2.0, ticket).granted
    assert state.tokens == pytest.approx(-15)


def test_a_lease_is_granted_only_to_a_requester_alone_in_line_and_bounded():
    rule = FairBucket(60, 6)
    state = rule.new_state(0.0)
    a = rule.enqueue(state, 0.0, holder="a", cost=10, priority="normal", floor=0)
    b = rule.enqueue(state, 0.0, holder="b", cost=5, priority="normal", floor=0)
    assert rule.poll(state, 0.0, a, lease_up_to=30).lease == 0.0  # b waits
    granted = rule.poll(state, 0.0, b, lease_up_to=30)
    # Alone now: half of the 45 tokens left, at most 30.
    assert granted.granted and granted.lease == pytest.approx(22.5)
    assert state.tokens == pytest.approx(22.5)
    c = rule.enqueue(state, 0.0, holder="c", cost=1, priority="normal", floor=0)
    assert rule.poll(state, 0.0, c, lease_up_to=5).lease == pytest.approx(5)


def test_leased_tokens_count_against_the_capacity_until_settled_or_expired():
    rule = FairBucket(60, 6)
    state = rule.new_state(0.0)
    t = rule.enqueue(state, 0.0, holder="a", cost=10, priority="normal", floor=0)
    assert rule.poll(state, 0.0, t, lease_up_to=15).lease == 15
    assert state.tokens == pytest.approx(35)
    rule.refill(state, LEASE_TTL_S - 0.01)
    # Refill stops at the capacity minus the lease: the holder may not have spent it yet.
    assert state.tokens == pytest.approx(45) and state.leased() == 15
    rule.settle(state, "a", unspent=4)
    assert state.leased() == 0 and state.tokens == pytest.approx(49)
    # An expired lease is dropped without giving anything back: the holder may have spent it.
    t = rule.enqueue(state, LEASE_TTL_S, holder="a", cost=1, priority="normal", floor=0)
    rule.refill(state, LEASE_TTL_S)
    assert rule.poll(state, LEASE_TTL_S, t, lease_up_to=10).lease == 10
    before = state.tokens
    assert before == pytest.approx(49 + 0.06 - 1 - 10)
    later = 2 * LEASE_TTL_S + 0.001
    rule.refill(state, later)
    assert state.leased() == 0
    assert state.tokens == pytest.approx(before + 6 * (later - LEASE_TTL_S))
    rule.settle(state, "a", unspent=10)  # too late: nothing comes back
    assert state.tokens == pytest.approx(before + 6 * (later - LEASE_TTL_S))


def test_the_server_count_lowers_the_view_by_what_others_hold_on_lease():
    rule = FairBucket(60, 6)
    state = rule.new_state(0.0)
    t = rule.enqueue(state, 0.0, holder="other", cost=10, priority="normal", floor=0)
    rule.poll(state, 0.0, t, lease_up_to=15)
    rule.correct(state, holder="me", remaining=30, holder_unspent=2, retry_after_s=None)
    assert state.tokens == pytest.approx(30 - 15 - 2)
    rule.correct(state, holder="me", remaining=None, holder_unspent=0, retry_after_s=3)
    assert state.tokens == pytest.approx(-18)


def test_an_abandoned_ticket_stops_holding_the_line():
    rule = FairBucket(10, 1)
    state = rule.new_state(0.0)
    state.tokens = 0.0
    dead = rule.enqueue(state, 0.0, holder="dead", cost=5, priority="normal", floor=0)
    assert rule.poll(state, 0.0, dead).wait_s == pytest.approx(5)  # then it never polls again
    alive = rule.enqueue(state, 0.0, holder="alive", cost=5, priority="normal", floor=0)
    dropped_at = 5.0 + TICKET_GRACE_S
    now = 0.0
    while now < dropped_at - 0.5:  # the live requester keeps polling; the dead one holds it up
        rule.refill(state, now)
        poll = rule.poll(state, now, alive)
        assert not poll.granted
        now += poll.wait_s
    rule.refill(state, dropped_at + 0.1)
    assert rule.ticket(state, dead) is None
    assert rule.poll(state, dropped_at + 0.1, alive).granted


def test_an_unknown_priority_names_the_choices():
    with pytest.raises(ValueError, match="unknown pacing priority 'urgent'; use one of nightly"):
        InMemoryPacer(priority="urgent")
    rule = FairBucket(10, 1)
    with pytest.raises(ValueError, match="unknown pacing priority"):
        rule.enqueue(rule.new_state(0), 0, holder="x", cost=1, priority="urgent", floor=0)


def test_the_in_memory_pacer_serves_threads_in_turn():
    import threading
    import time

    pacer = InMemoryPacer(capacity=20, refill_per_s=100.0)
    pacer.acquire("b", 20)
    order: list[str] = []
    lock = threading.Lock()

    def ask(name, cost, delay):
        time.sleep(delay)
        pacer.acquire("b", cost)
        with lock:
            order.append(name)

    threads = [
        threading.Thread(target=ask, args=("dear", 15, 0.0)),
        threading.Thread(target=ask, args=("cheap", 1, 0.05)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # The cheap call arrived later; on a bucket refilling past 1 token first it still waits.
    assert order == ["dear", "cheap"]
