"""placewise_nightly on the CeleryExecutor with two workers, against a paced simulator.

The run goes through the real services, as in a multi-host deployment: Redis as the broker, a
PostgreSQL metadata database, the api-server's execution API, the scheduler, the dag-processor
and two Celery workers with names of their own. It shows that the clubs are synced on both
workers, that the token bucket they share through the warehouse never lets the API refuse a
call, and that the marts equal those of a single-process ``dag.test()`` run of the same date.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from placewise.local.airflow_cluster import (
    ClusterError,
    airflow_cluster,
    cluster_environment,
    redis_reachable,
)
from placewise.local.airflow_env import airflow_environment
from placewise.local.embedded_postgres import free_port
from placewise.local.processes import SimulatorProcess
from placewise.local.run_dag import run_in_child
from placewise.registry import Club, render_registry

pytestmark = [pytest.mark.distributed, pytest.mark.slow, pytest.mark.timeout(1800)]

#: The machine's Redis; a database number of its own keeps this broker apart from other users.
REDIS_URL = os.environ.get("PLACEWISE_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
NIGHTLY_DATE = "2026-11-28"  # the simulator's frozen day: loads 2026-11-24 .. 2026-11-27
RESTATEMENT_DAYS = "3"
ORGANIZATION = "placewise-dev"  # the simulator's default organization
#: Three clubs and the tenants exports: four sync tasks for two workers with two slots each.
WORLD = ("--seed", "42", "--clubs", "3", "--history-days", "30")
#: The simulator's default bucket: every club's nightly spends several bucketfuls.
#: A small bucket: a club's nightly (73 tokens on the query endpoint) needs more than twice
#: what it holds, so the two workers' tasks must pace through the shared rows.
CAPACITY, REFILL_PER_S = 30, 3.0
RUN_TIMEOUT_S = 900


@dataclass
class DistributedRun:
    state: str
    run_id: str
    hostnames: dict[str, set[str]]
    stats: dict
    seconds: float
    warehouse_url: str


def registry_for(sim: SimulatorProcess, path: Path) -> Path:
    """A club registry naming exactly the simulator's clubs."""
    path.write_text(render_registry([Club(c["id"], c["name"]) for c in sim.clubs()]))
    return path


def pipeline_env(home: Path, warehouse_url: str, sim: SimulatorProcess, **rate: str) -> dict:
    return airflow_environment(
        home,
        warehouse_url=warehouse_url,
        api_url=sim.url,
        api_token="dev-token",
        clubs_file=registry_for(sim, home / "clubs.yml"),
        landing_root=home / "landing",
        api_organization=ORGANIZATION,  # the simulator's, so every bucket is shared by name
        extra={
            "PLACEWISE_TASK_RETRIES": "0",
            "PLACEWISE_RESTATEMENT_DAYS": RESTATEMENT_DAYS,
            **rate,
        },
    )


def mart_checksums(url: str) -> dict[str, tuple[int, str]]:
    """Row count and md5 of every mart table's business columns (order-independent).

    The lineage columns (``_loaded_at``, ``_slice_id``, ...) name the load that wrote a row, so
    they differ between two warehouses by design and are left out.
    """
    with psycopg.connect(url) as conn:
        columns: dict[str, list[str]] = {}
        for table, column in conn.execute(
            "select c.table_name, c.column_name from information_schema.columns c "
            "join information_schema.tables t using (table_schema, table_name) "
            "where c.table_schema = 'placewise_marts' and t.table_type = 'BASE TABLE' "
            "and c.column_name not like '\\_%%' order by c.table_name, c.ordinal_position"
        ).fetchall():
            columns.setdefault(table, []).append(column)
        result = {}
        for table, cols in columns.items():
            row = "(" + ", ".join(f'"{c}"::text' for c in cols) + ")::text"
            result[table] = conn.execute(
                f"select count(*), md5(coalesce(string_agg({row}, '|' order by {row}), '')) "
                f"from placewise_marts.{table}"
            ).fetchone()
    return result


@pytest.fixture(scope="module")
def redis_url() -> str:
    if not redis_reachable(REDIS_URL):
        pytest.skip(f"no Redis answers at {REDIS_URL} (set PLACEWISE_TEST_REDIS_URL)")
    return REDIS_URL


@pytest.fixture(scope="module")
def reference_marts(
    simulator_factory: Callable[..., SimulatorProcess],
    database_factory: Callable[[str], str],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict:
    """The marts of a single-process ``dag.test()`` nightly of the same date and world."""
    sim = simulator_factory(*WORLD)
    url = database_factory("pw_reference")
    home = tmp_path_factory.mktemp("reference-airflow")
    env = pipeline_env(
        home,
        url,
        sim,
        PLACEWISE_RATE_CAPACITY="100000",
        PLACEWISE_RATE_REFILL_PER_S="100000",
    )
    log = home / "nightly.log"
    result = run_in_child(env, "placewise_nightly", NIGHTLY_DATE, None, log, timeout_s=1200)
    assert result["state"] == "success", (result, log.read_text()[-6000:])
    return mart_checksums(url)


@pytest.fixture(scope="module")
def distributed_run(
    redis_url: str,
    simulator_factory: Callable[..., SimulatorProcess],
    database_factory: Callable[[str], str],
    tmp_path_factory: pytest.TempPathFactory,
) -> DistributedRun:
    sim = simulator_factory(
        *WORLD, "--rate-capacity", str(CAPACITY), "--rate-refill", str(REFILL_PER_S), fast=False
    )
    warehouse_url = database_factory("pw_distributed")
    metadata_url = database_factory("pw_airflow_meta")
    home = tmp_path_factory.mktemp("celery-airflow")
    env = cluster_environment(
        pipeline_env(
            home,
            warehouse_url,
            sim,
            PLACEWISE_RATE_CAPACITY=str(CAPACITY),
            PLACEWISE_RATE_REFILL_PER_S=str(REFILL_PER_S),
        ),
        metadata_url=metadata_url,
        redis_url=redis_url,
        api_port=free_port(),
        worker_concurrency=2,
    )
    with airflow_cluster(env, home / "service-logs", workers=2) as cluster:
        sim.reset_stats()
        started = time.monotonic()
        cluster.wait_until_parsed("placewise_nightly")
        run_id = "distributed_nightly"
        cluster.trigger("placewise_nightly", run_id, f"{NIGHTLY_DATE}T00:00:00+00:00")
        state = cluster.wait_for_run("placewise_nightly", run_id, RUN_TIMEOUT_S)
        seconds = time.monotonic() - started
        stats = sim.stats()
        rows = cluster.query(
            "select task_id, hostname, state from task_instance where run_id = %s", run_id
        )
        hostnames: dict[str, set[str]] = {}
        for task_id, hostname, _ in rows:
            if hostname:  # empty: a task the scheduler completes itself (EmptyOperator)
                hostnames.setdefault(task_id, set()).add(hostname)
        run = DistributedRun(state, run_id, hostnames, stats, seconds, warehouse_url)
        if run.state != "success":
            failed = [(t, h, s) for t, h, s in rows if s != "success"]
            raise ClusterError(f"nightly ended {run.state}; not successful: {failed}\n"
                               + cluster.diagnostics(60))  # fmt: skip
        print(f"distributed nightly: {seconds:.0f} s, hostnames {hostnames}")
        return run


def test_the_clubs_are_synced_on_both_celery_workers(distributed_run):
    assert distributed_run.hostnames["sync_club"] == {"worker1", "worker2"}
    every_host = set().union(*distributed_run.hostnames.values())
    assert every_host <= {"worker1", "worker2"}, every_host


def test_the_shared_token_bucket_is_never_overdrawn(distributed_run):
    stats = distributed_run.stats
    refused = [r for r in stats["requests"] if r["status"] == "429"]
    assert refused == [], refused
    # Pacing mattered: a bucket gave out more than it holds ...
    assert max(stats["tokens_spent"].values()) > 2 * CAPACITY, stats["tokens_spent"]
    # ... and no bucket gave out more than it holds plus what it refilled during the run.
    allowance = CAPACITY + REFILL_PER_S * distributed_run.seconds
    assert all(spent <= allowance for spent in stats["tokens_spent"].values()), stats
    # The workers' tasks paced through one shared row per bucket the API charged (the
    # organization one included: PLACEWISE_ORGANIZATION names it as the simulator does), which
    # ends the run not overdrawn.
    with psycopg.connect(distributed_run.warehouse_url) as conn:
        shared = dict(conn.execute("select bucket, tokens from placewise_ops.api_token_buckets"))
    assert set(shared) == set(stats["tokens_spent"]), shared
    assert all(tokens >= 0 for tokens in shared.values()), shared


def test_the_marts_equal_a_single_process_run(distributed_run, reference_marts):
    marts = mart_checksums(distributed_run.warehouse_url)
    assert marts == reference_marts
    assert marts["fct_sendings_stats"][0] > 0 and marts["dim_loyalty_clubs"][0] == 3
