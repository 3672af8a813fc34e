"""Shared fixtures: a real PostgreSQL for every test that needs one.

``WAREHOUSE_URL`` names a server to use (any database on it; each test module gets its own fresh
database there). Without it, one embedded PostgreSQL (pgserver's binaries) is started for the
session in a temp directory and stopped at the end, so the suite needs nothing but pip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from placewise.local.embedded_postgres import EmbeddedPostgres, drop_database, ensure_database


@pytest.fixture(scope="session")
def warehouse_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a PostgreSQL server (its maintenance database) for the whole test session."""
    configured = os.environ.get("WAREHOUSE_URL")
    if configured:
        yield configured
        return
    server = EmbeddedPostgres(Path(tmp_path_factory.mktemp("embedded-pg")))
    server.start()
    try:
        yield server.url()
    finally:
        server.stop()


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
