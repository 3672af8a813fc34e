"""PostgresPacer against a real PostgreSQL (the suite's embedded server, or WAREHOUSE_URL's)."""

import multiprocessing
import time
import uuid

import psycopg
import pytest
from placewise.api.pacing import APPLICATION_NAME, TABLE, PostgresPacer
from placewise.warehouse.schema import WarehouseNotMigratedError, migrate_warehouse

WAREHOUSE_URL = ""

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True, scope="module")
def _database(module_database):
    """Point the module at a fresh, migrated database of the suite's PostgreSQL."""
    global WAREHOUSE_URL
    WAREHOUSE_URL = module_database
    migrate_warehouse(module_database)


class WouldWait(Exception):
    pass


def refuse_to_wait(seconds):
    raise WouldWait(seconds)


@pytest.fixture
def bucket():
    name = f"test:{uuid.uuid4().hex}:Reporting"
    yield name
    with psycopg.connect(WAREHOUSE_URL, autocommit=True) as conn:
        conn.execute(f"DELETE FROM {TABLE} WHERE bucket = %s", (name,))


def test_an_unmigrated_warehouse_fails_with_a_hint_to_run_placewise_migrate(fresh_database):
    pacer = PostgresPacer(fresh_database, capacity=8, refill_per_s=1, sleep=refuse_to_wait)
    with pytest.raises(WarehouseNotMigratedError) as info:
        pacer.acquire("test:unmigrated:Reporting", 1)
    assert f"{TABLE} missing" in str(info.value)
    assert "run `placewise migrate`" in str(info.value)
    with psycopg.connect(fresh_database) as conn:  # the pacer created nothing by itself
        assert conn.execute("select to_regclass(%s)", (TABLE,)).fetchone() == (None,)


def test_table_is_created_idempotently_and_a_new_bucket_starts_full(bucket):
    migrate_warehouse(WAREHOUSE_URL)
    PostgresPacer(WAREHOUSE_URL, capacity=8, refill_per_s=1).tokens(bucket)
    pacer = PostgresPacer(WAREHOUSE_URL, capacity=8, refill_per_s=1, sleep=refuse_to_wait)
    assert pacer.acquire(bucket, 3) == 0.0
    assert pacer.tokens(bucket) == pytest.approx(5, abs=0.05)


def test_migrating_again_keeps_the_buckets(bucket):
    pacer = PostgresPacer(WAREHOUSE_URL, capacity=8, refill_per_s=0.001, sleep=refuse_to_wait)
    assert pacer.acquire(bucket, 3) == 0.0
    migrate_warehouse(WAREHOUSE_URL)
    assert pacer.tokens(bucket) == pytest.approx(5, abs=0.05)


def test_empty_bucket_waits_the_computed_time(bucket):
    pacer = PostgresPacer(WAREHOUSE_URL, capacity=4, refill_per_s=0.01, sleep=refuse_to_wait)
    pacer.acquire(bucket, 4)
    with pytest.raises(WouldWait) as info:
        pacer.acquire(bucket, 2)
    assert info.value.args[0] == pytest.approx(200, rel=0.01)


def test_reserve_leaves_tokens_for_the_nightly_run(bucket):
    backfill = PostgresPacer(
        WAREHOUSE_URL, capacity=10, refill_per_s=0.001, reserve=6, sleep=refuse_to_wait
    )
    nightly = PostgresPacer(WAREHOUSE_URL, capacity=10, refill_per_s=0.001, sleep=refuse_to_wait)
    assert backfill.acquire(bucket, 4) == 0.0
    with pytest.raises(WouldWait):
        backfill.acquire(bucket, 1)
    assert nightly.acquire(bucket, 6) == 0.0


def _observed_then_read(pacer, bucket, **observed):
    """Observe, read the view back, and return it with the seconds both took (refill time)."""
    started = time.monotonic()
    pacer.observe(bucket, cost=2, **observed)
    tokens = pacer.tokens(bucket)
    return tokens, time.monotonic() - started


def test_server_feedback_lowers_the_shared_view(bucket):
    # The bucket refills at 2 tokens/s while the calls run, so the view read back is the
    # corrected value plus at most 2 tokens per second the two calls took (a loaded machine
    # may take a while); it is never below the corrected value.
    pacer = PostgresPacer(WAREHOUSE_URL, capacity=10, refill_per_s=2)
    tokens, _ = _observed_then_read(pacer, bucket, remaining=30, retry_after_s=None)
    assert tokens == pytest.approx(10, abs=0.01)
    tokens, elapsed = _observed_then_read(pacer, bucket, remaining=3, retry_after_s=None)
    assert 3 - 1e-6 <= tokens <= 3 + 2 * elapsed + 1e-6
    tokens, elapsed = _observed_then_read(pacer, bucket, remaining=None, retry_after_s=4)
    assert -8 - 1e-6 <= tokens <= -8 + 2 * elapsed + 1e-6


def test_a_dropped_connection_is_reopened_transparently(bucket):
    pacer = PostgresPacer(
        WAREHOUSE_URL, capacity=10, refill_per_s=0.001, lease_up_to=0, sleep=refuse_to_wait
    )
    assert pacer.acquire(bucket, 3) == 0.0
    with psycopg.connect(WAREHOUSE_URL, autocommit=True) as admin:
        killed = admin.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity"
            " where application_name = %s and datname = current_database()",
            (APPLICATION_NAME,),
        ).fetchall()
    assert (True,) in killed
    assert pacer.acquire(bucket, 3) == 0.0
    assert pacer.tokens(bucket) == pytest.approx(4, abs=0.05)


def test_a_lease_is_spent_without_the_database_and_given_back_on_close(bucket):
    holder = PostgresPacer(WAREHOUSE_URL, capacity=60, refill_per_s=0.001, sleep=refuse_to_wait)
    other = PostgresPacer(WAREHOUSE_URL, capacity=60, refill_per_s=0.001, sleep=refuse_to_wait)
    assert holder.acquire(bucket, 10) == 0.0
    # 50 left, a lease of a quarter of the bucket (15) is out: the others see 35.
    assert other.tokens(bucket) == pytest.approx(35, abs=0.05)
    with psycopg.connect(WAREHOUSE_URL, autocommit=True) as admin:
        admin.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity"
            " where application_name = %s and datname = current_database()",
            (APPLICATION_NAME,),
        )
    # Spent from the lease: no database needed (its connection is gone and stays unused).
    assert [holder.acquire(bucket, 5) for _ in range(2)] == [0.0] * 2
    assert other.tokens(bucket) == pytest.approx(35, abs=0.05)
    holder.close()  # over a new connection: the 5 tokens it did not spend come back
    assert other.tokens(bucket) == pytest.approx(40, abs=0.05)
    other.close()


def _acquire_in_child(pacer, bucket):
    pacer.acquire(bucket, 1)
    pacer.close()


def test_a_pacer_inherited_over_fork_leaves_the_parent_connection_alone(bucket, monkeypatch):
    opened: list[str] = []
    real_connect = psycopg.connect

    def connect(conninfo="", **kwargs):
        opened.append(conninfo)
        return real_connect(conninfo, **kwargs)

    monkeypatch.setattr(psycopg, "connect", connect)
    pacer = PostgresPacer(
        WAREHOUSE_URL, capacity=100, refill_per_s=0.001, lease_up_to=0, sleep=refuse_to_wait
    )
    assert pacer.acquire(bucket, 1) == 0.0
    child = multiprocessing.get_context("fork").Process(
        target=_acquire_in_child, args=(pacer, bucket)
    )
    child.start()
    child.join(timeout=30)
    assert child.exitcode == 0
    # The child opened its own connection and never closed the parent's: no reconnect here.
    assert pacer.acquire(bucket, 1) == 0.0
    assert pacer.tokens(bucket) == pytest.approx(97, abs=0.05)
    assert opened == [WAREHOUSE_URL]


def _worker(conninfo, bucket, count, queue):
    pacer = PostgresPacer(conninfo, capacity=5, refill_per_s=10.0)
    for _ in range(count):
        pacer.acquire(bucket, 1)
        queue.put(time.time())


def test_two_processes_never_exceed_capacity_plus_refill(bucket):
    # Create the table and the (full) bucket before timing; the bound below still holds.
    PostgresPacer(WAREHOUSE_URL, capacity=5, refill_per_s=10.0).tokens(bucket)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    start = time.time()
    workers = [
        context.Process(target=_worker, args=(WAREHOUSE_URL, bucket, 12, queue)) for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    taken = sorted(queue.get(timeout=30) for _ in range(24))
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    for count, when in enumerate(taken, start=1):
        assert count <= 5 + 10.0 * (when - start) + 0.5
    # 24 tokens from a bucket of 5 refilled at 10/s cannot be taken in under 1.9 s
    assert taken[-1] - start >= 1.8
