"""Fixtures for the dbt project tests: a fresh warehouse holding the synthetic world of
``dbt_world``, before and after one ``dbt build``.

``module_database`` (tests/conftest.py) gives each test module its own database.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from dbt_world import DbtWarehouse, build_world, dbt_env, load_world


@pytest.fixture(scope="module")
def loaded_warehouse(
    module_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DbtWarehouse]:
    """A fresh database holding the synthetic world, not yet built by dbt."""
    world = build_world()
    with psycopg.connect(module_database) as conn:
        load_world(conn, world)
    work = tmp_path_factory.mktemp("dbt")
    yield DbtWarehouse(
        url=module_database,
        world=world,
        target_path=work / "target",
        env=dbt_env(module_database, work / "logs"),
    )


@pytest.fixture(scope="module")
def built_warehouse(loaded_warehouse: DbtWarehouse) -> DbtWarehouse:
    """The synthetic warehouse after one successful ``dbt build``."""
    loaded_warehouse.dbt("build")
    return loaded_warehouse
