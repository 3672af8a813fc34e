"""Shared fixtures: a real PostgreSQL for every test that needs one.

``WAREHOUSE_URL`` names a server to use (any database on it; each test module gets its own fresh
database there). Without it, one embedded PostgreSQL (pgserver's binaries) is started for the
session in a temp directory and stopped at the end, so the suite needs nothing but pip.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from placewise.local.embedded_postgres import EmbeddedPostgres, drop_database, ensure_database
from placewise.local.processes import SimulatorProcess, start_simulator


@pytest.fixture(scope="session")
def warehouse_server_url() -> Iterator[str]:
    """URL of a PostgreSQL server (its maintenance database) for the whole test session.

    The embedded server's data lives in its own temp directory, not under pytest's numbered
    base temp: pytest prunes old numbered directories, which another session running at the
    same time could do under a live server.
    """
    configured = os.environ.get("WAREHOUSE_URL")
    if configured:
        yield configured
        return
    server = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="placewise-test-pg-")))
    server.start()
    try:
        yield server.url()
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def database_factory(warehouse_server_url: str) -> Iterator[Callable[[str], str]]:
    """Create uniquely named empty databases; all are dropped at the end of the session."""
    created: list[str] = []

    def make(prefix: str = "pw_test") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        created.append(name)
        return ensure_database(warehouse_server_url, name)

    yield make
    for name in created:
        drop_database(warehouse_server_url, name)


@pytest.fixture(scope="module")
def module_database(database_factory: Callable[[str], str]) -> str:
    """A fresh empty database shared by the tests of one module."""
    return database_factory("pw_test")


@pytest.fixture
def fresh_database(database_factory: Callable[[str], str]) -> str:
    """A fresh empty database for one test."""
    return database_factory("pw_test")


#: The simulator's frozen clock for the whole suite: results are byte-identical run to run.
SIMULATOR_NOW = "2026-11-28T06:00:00+00:00"


@pytest.fixture(scope="session")
def simulator_clock() -> datetime:
    """The frozen clock of ``simulator_factory``'s simulators (``SIMULATOR_NOW``) as an instant:
    the clock a client falls back to where an answer has no ``Date`` header."""
    return datetime.fromisoformat(SIMULATOR_NOW)


#: Generous rate limits so the suite is not paced by the simulator's default token bucket.
FAST_RATE_ARGS = ["--rate-capacity", "100000", "--rate-refill", "100000"]


@pytest.fixture(scope="session")
def simulator_factory() -> Iterator[Callable[..., SimulatorProcess]]:
    """Start simulator processes (frozen clock by default); all are stopped at session end."""
    started: list[SimulatorProcess] = []

    def start(*args: str, now: str = SIMULATOR_NOW, fast: bool = True) -> SimulatorProcess:
        sim = start_simulator([*args, "--now", now, *(FAST_RATE_ARGS if fast else [])])
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture(scope="session")
def simulator(simulator_factory: Callable[..., SimulatorProcess]) -> SimulatorProcess:
    """The default world: seed 42, 3 clubs in different timezones, 60 days of history."""
    return simulator_factory("--seed", "42", "--clubs", "3", "--history-days", "60")
