"""Every reading of the docs' open points, end to end: the same world gives the same marts.

For each value of each variant (``api.variants.VARIANTS``) a simulator serves that reading
(``--variant NAME=VALUE``), ``placewise doctor`` probes it and writes the API settings file the
pipeline is configured with (the reading it finds must be the one served),
syncs three clubs in three timezones over ten days through the service layer and runs
``dbt build``. Every table of ``placewise_marts`` must then hold exactly what it holds in the
default world (built once per module), and the reconciliation against the API's own cross-club
totals must match on every settled day.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path

import psycopg
import pytest
from placewise import service
from placewise.api.settings import ApiSettings
from placewise.api.variants import VARIANTS, ApiVariants, load_variants
from placewise.config import REPO_ROOT, PipelineSettings
from placewise.local.dbt_profile import dbt_profile_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FIRST, LAST = date(2026, 11, 17), date(2026, 11, 26)  # ten days; the first three settled
HISTORY_DAYS = "14"
#: The simulator's default world: three clubs, three timezones.
REGISTRY = """clubs:
  - {id: 1001, name: Club 1001 Oslo City, timezone: Europe/Oslo}
  - {id: 1002, name: Club 1002 Manhattan Mall, timezone: America/New_York}
  - {id: 1003, name: Club 1003 Shibuya Plaza, timezone: Asia/Tokyo}
"""
#: Every value that is not a variant's assumed one.
OTHER_READINGS = [(spec.name, value) for spec in VARIANTS for value in spec.values[1:]]
#: Columns that say when or from which slice a row was loaded, not what it holds.
LINEAGE_COLUMNS = {"_slice_id", "_loaded_at", "updated_at"}


#: Variants the doctor cannot tell against ``REGISTRY``: no two of its clubs share a timezone,
#: so no request of this world is ever answered merged, and the reading does not matter here.
UNTOLD_BY_THIS_REGISTRY = {"same_tz_merge"}


@pytest.fixture(scope="module")
def api_contract_for(simulator_clock) -> Callable[[str, ApiVariants, Path], Path]:
    """The one source of the pipeline's API settings file for a simulator: ``placewise doctor``
    probes the simulator at ``api_url`` and writes what it found to ``path``; the reading the
    simulator was started with must be what it found."""

    def write(api_url: str, reading: ApiVariants, path: Path) -> Path:
        (path.parent / "doctor-clubs.yml").write_text(REGISTRY)
        settings = PipelineSettings(
            landing_root=str(path.parent / "doctor-landing"),
            clubs_file=path.parent / "doctor-clubs.yml",
            dbt_project_dir=REPO_ROOT / "dbt_project",
            api_contract_file=path,
        )
        outcome = service.doctor(
            settings,
            ApiSettings(base_url=api_url, token="dev-token"),
            conninfo=None,
            run_id="e2e-doctor",
            now=lambda: simulator_clock,
        )
        result = outcome.result
        assert result.ok, result.blockers
        assert set(result.unknown) <= UNTOLD_BY_THIS_REGISTRY, result.unknown
        found = load_variants(path)
        told = {
            name: value
            for name, value in reading.as_mapping().items()
            if name not in result.unknown
        }
        assert {name: getattr(found, name) for name in told} == told
        return path

    return write


def dbt_build(url: str, target: Path) -> subprocess.CompletedProcess[str]:
    env = dbt_profile_env(url, target / "logs")
    project = str(REPO_ROOT / "dbt_project")
    # dbt's unit tests check the SQL on fixed inputs, not this world's data (tests/dbt runs them)
    command = [
        str(Path(sys.executable).parent / "dbt"),
        "build",
        "--exclude",
        "test_type:unit",
        "--threads",
        "4",
        "--project-dir",
        project,
        "--profiles-dir",
        project,
        "--target-path",
        str(target),
    ]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False)


def mart_checksums(url: str) -> dict[str, tuple[int, str]]:
    """Per table of placewise_marts: its row count and an md5 of its sorted rows (content
    columns only)."""
    sums: dict[str, tuple[int, str]] = {}
    with psycopg.connect(url) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "select table_name from information_schema.tables "
                "where table_schema = 'placewise_marts' order by 1"
            )
        ]
        for table in tables:
            columns = [
                name
                for (name,) in conn.execute(
                    "select column_name from information_schema.columns "
                    "where table_schema = 'placewise_marts' and table_name = %s "
                    "order by ordinal_position",
                    (table,),
                )
                if name not in LINEAGE_COLUMNS
            ]
            row = ", ".join(f'"{c}"' for c in columns)
            count, digest = conn.execute(
                f"select count(*), md5(coalesce(string_agg(r, E'\\n' order by r), '')) "
                f"from (select ({row})::text as r from placewise_marts.{table}) as t"
            ).fetchone()
            sums[table] = (count, digest)
    return sums


def recon_statuses(url: str) -> dict[tuple[bool, str], int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select is_settled, status, count(*) from placewise_audit.recon_sendings_stats_totals "
            "group by 1, 2"
        ).fetchall()
    return {(settled, status): n for settled, status, n in rows}


def build_world(
    simulator_factory,
    database_factory,
    api_contract_for,
    tmp: Path,
    reading: ApiVariants,
) -> tuple[dict[str, tuple[int, str]], dict[tuple[bool, str], int]]:
    """Sync the world a simulator serving ``reading`` holds and build the marts."""
    args = ["--history-days", HISTORY_DAYS]
    for name, value in reading.differences().items():
        args += ["--variant", f"{name}={value}"]
    simulator = simulator_factory(*args)
    try:
        database = database_factory("pw_variant")
        (tmp / "clubs.yml").write_text(REGISTRY)
        settings = PipelineSettings(
            landing_root=str(tmp / "landing"),
            clubs_file=tmp / "clubs.yml",
            dbt_project_dir=REPO_ROOT / "dbt_project",
            rate_capacity=100000,
            rate_refill_per_s=100000.0,
            api_contract_file=api_contract_for(simulator.url, reading, tmp / "api-contract.yml"),
        )
        service.migrate(database)
        service.register_clubs(database, settings)
        plan = service.plan_sync(settings, FIRST, LAST, tenants=True)
        summary = service.sync(
            plan.specs,
            settings=settings,
            api=ApiSettings(base_url=simulator.url, token="dev-token"),
            conninfo=database,
            run_id=f"e2e-{'-'.join(reading.differences()) or 'default'}",
        )
    finally:
        simulator.stop()
    assert summary.failures == [], summary.text()
    result = dbt_build(database, tmp / "target")
    assert result.returncode == 0, result.stdout[-5000:]
    return mart_checksums(database), recon_statuses(database)


@pytest.fixture(scope="module")
def default_world(simulator_factory, database_factory, api_contract_for, tmp_path_factory):
    return build_world(
        simulator_factory,
        database_factory,
        api_contract_for,
        tmp_path_factory.mktemp("default"),
        ApiVariants(),
    )


#: Facts the default plan fills (the others hold reports it does not load).
LOADED_FACTS = (
    "fct_sendings_stats",
    "fct_sendings_events_history",
    "fct_links_visits_history",
    "fct_member_balance",
    "fct_members_count_history",
    "fct_members_count_snapshot",
    "fct_sendings_links_stats",
    "fct_members_grouped_count",
    "agg_sendings_stats_total",
)


def test_the_default_world_reconciles_on_its_settled_days(default_world):
    marts, recon = default_world
    assert {name: marts[name][0] > 0 for name in LOADED_FACTS} == dict.fromkeys(LOADED_FACTS, True)
    assert recon.get((True, "match"), 0) > 0, recon
    assert recon.get((True, "difference"), 0) == 0, recon


@pytest.mark.parametrize(
    ("name", "value"), OTHER_READINGS, ids=[f"{n}={v}" for n, v in OTHER_READINGS]
)
def test_every_reading_gives_the_marts_of_the_default_world(
    name, value, default_world, simulator_factory, database_factory, api_contract_for, tmp_path
):
    marts, recon = build_world(
        simulator_factory,
        database_factory,
        api_contract_for,
        tmp_path,
        ApiVariants().with_values(**{name: value}),
    )
    default_marts, _ = default_world
    differing = sorted(
        t for t in default_marts.keys() | marts.keys() if marts.get(t) != default_marts.get(t)
    )
    assert differing == [], differing
    assert recon.get((True, "match"), 0) > 0, recon
    assert recon.get((True, "difference"), 0) == 0, recon
