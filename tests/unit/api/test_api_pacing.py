import threading

import pytest
from placewise.api.pacing import InMemoryPacer


class FakeClock:
    def __init__(self):
        self.t = 0.0
        self.sleeps: list[float] = []

    def now(self):
        return self.t

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.t += seconds


def make(capacity=10, refill=2.0, reserve=0):
    clock = FakeClock()
    pacer = InMemoryPacer(
        capacity=capacity, refill_per_s=refill, clock=clock.now, sleep=clock.sleep, reserve=reserve
    )
    return pacer, clock


def test_a_full_bucket_serves_its_capacity_without_waiting():
    pacer, clock = make(capacity=10)
    assert [pacer.acquire("b", 2) for _ in range(5)] == [0.0] * 5
    assert clock.sleeps == []
    assert pacer.tokens("b") == 0


def test_an_empty_bucket_waits_exactly_for_the_refill():
    pacer, clock = make(capacity=10, refill=2.0)
    pacer.acquire("b", 10)
    waited = pacer.acquire("b", 3)
    assert waited == pytest.approx(1.5)
    assert clock.t == pytest.approx(1.5)
    assert pacer.tokens("b") == pytest.approx(0)


def test_refill_is_capped_at_capacity():
    pacer, clock = make(capacity=10, refill=2.0)
    pacer.acquire("b", 4)
    clock.t += 100
    assert pacer.tokens("b") == 10


def test_buckets_are_independent():
    pacer, _clock = make(capacity=5)
    pacer.acquire("Customer:1:Reporting", 5)
    assert pacer.acquire("Customer:2:Reporting", 5) == 0.0


def test_sustained_rate_matches_refill():
    pacer, clock = make(capacity=6, refill=3.0)
    for _ in range(30):
        pacer.acquire("b", 1)
    # 6 from the full bucket, 24 more at 3 per second
    assert clock.t == pytest.approx(8.0)


def test_server_remaining_lowers_the_local_view_only():
    pacer, _ = make(capacity=10)
    pacer.observe("b", remaining=15, cost=2, retry_after_s=None)
    assert pacer.tokens("b") == 10
    pacer.observe("b", remaining=-4, cost=2, retry_after_s=None)
    assert pacer.tokens("b") == -4


def test_retry_after_blocks_everyone_until_then():
    pacer, _clock = make(capacity=10, refill=2.0)
    pacer.observe("b", remaining=None, cost=0, retry_after_s=5)
    waited = pacer.acquire("b", 1)
    assert waited >= 5.0
    assert waited == pytest.approx(5.5)


def test_reserve_is_left_for_others():
    pacer, _clock = make(capacity=10, refill=1.0, reserve=4)
    assert pacer.acquire("b", 6) == 0.0
    # 4 tokens left: a reserved pacer must wait until 4 + cost are there
    assert pacer.acquire("b", 1) == pytest.approx(1.0)


def test_a_call_dearer_than_capacity_waits_for_a_full_bucket():
    pacer, _clock = make(capacity=10, refill=5.0)
    pacer.acquire("b", 10)
    assert pacer.acquire("b", 25) == pytest.approx(2.0)
    assert pacer.tokens("b") == pytest.approx(-15)


def test_invalid_parameters_are_rejected():
    with pytest.raises(ValueError):
        InMemoryPacer(capacity=0)
    with pytest.raises(ValueError):
        InMemoryPacer(capacity=10, reserve=10)


def test_threads_never_take_more_than_capacity_plus_refill():
    import time

    pacer = InMemoryPacer(capacity=5, refill_per_s=50.0)
    taken: list[float] = []
    lock = threading.Lock()
    start = time.monotonic()

    def worker():
        for _ in range(10):
            pacer.acquire("b", 1)
            with lock:
                taken.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for count, when in enumerate(sorted(taken), start=1):
        assert count <= 5 + 50.0 * (when - start) + 1e-6
