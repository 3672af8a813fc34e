"""dbt targets and schema names: production targets write the pipeline's schemas, any other
target (a developer's ``dev``) writes prefixed copies and leaves the production schemas alone."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from dbt_world import DBT_BIN, DBT_PROJECT, REPO_ROOT, DbtWarehouse, dbt_env

PRODUCTION_SCHEMAS = {
    "stg_placewise__sendings": "placewise_staging",
    "fct_sendings_stats": "placewise_marts",
    "sync_status": "placewise_audit",
}


def parse_schemas(
    env: dict[str, str], work: Path, *args: str, profiles_dir: Path = DBT_PROJECT
) -> dict[str, str]:
    """``dbt parse`` (no database needed) and the schema of every model in the manifest."""
    target_path = work / "target"
    result = subprocess.run(
        [
            str(DBT_BIN),
            "parse",
            *args,
            "--project-dir",
            str(DBT_PROJECT),
            "--profiles-dir",
            str(profiles_dir),
            "--target-path",
            str(target_path),
        ],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    nodes = json.loads((target_path / "manifest.json").read_text())["nodes"]
    return {n["name"]: n["schema"] for n in nodes.values() if n["resource_type"] == "model"}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    parse_env = dbt_env("postgresql://postgres@127.0.0.1:1/unused", tmp_path / "logs")
    parse_env.pop("PLACEWISE_DBT_DEV_SCHEMA", None)
    return parse_env


def profiles_with_target(tmp_path: Path, name: str) -> Path:
    """A copy of the project's profile whose production output is named ``name``."""
    profile = yaml.safe_load((DBT_PROJECT / "profiles.yml").read_text())
    outputs = profile["placewise_warehouse"]["outputs"]
    profile["placewise_warehouse"] = {"target": name, "outputs": {name: outputs["prod"]}}
    directory = tmp_path / f"profiles-{name}"
    directory.mkdir()
    (directory / "profiles.yml").write_text(yaml.safe_dump(profile))
    return directory


def test_the_default_target_writes_the_production_schema_names(env, tmp_path):
    schemas = parse_schemas(env, tmp_path)
    assert {name: schemas[name] for name in PRODUCTION_SCHEMAS} == PRODUCTION_SCHEMAS
    assert set(schemas.values()) == {
        "placewise_staging",
        "placewise_marts",
        "placewise_audit",
    }


def test_the_airflow_target_of_the_cosmos_profile_writes_the_production_schema_names(env, tmp_path):
    from placewise.airflow.dbt import _profile_config

    assert _profile_config().target_name == "airflow"
    schemas = parse_schemas(env, tmp_path, profiles_dir=profiles_with_target(tmp_path, "airflow"))
    assert {name: schemas[name] for name in PRODUCTION_SCHEMAS} == PRODUCTION_SCHEMAS


def test_the_dev_target_prefixes_every_schema_with_its_own(env, tmp_path):
    schemas = parse_schemas(env, tmp_path, "--target", "dev")
    assert {name: schemas[name] for name in PRODUCTION_SCHEMAS} == {
        "stg_placewise__sendings": "dev_placewise_staging",
        "fct_sendings_stats": "dev_placewise_marts",
        "sync_status": "dev_placewise_audit",
    }
    assert all(s.startswith("dev_placewise_") for s in schemas.values()), schemas


def test_a_dev_run_builds_into_the_dev_schemas_named_by_the_environment_only(
    loaded_warehouse: DbtWarehouse,
):
    loaded_warehouse.env["PLACEWISE_DBT_DEV_SCHEMA"] = "dev_bob"
    loaded_warehouse.dbt(
        "run", "--target", "dev", "--select", "stg_placewise__sendings", "dim_sendings"
    )
    with loaded_warehouse.connect() as conn:
        relations = set(
            conn.execute(
                "select table_schema, table_name from information_schema.tables "
                "where table_name in ('stg_placewise__sendings', 'dim_sendings')"
            ).fetchall()
        )
        compiled = conn.execute(
            "select definition from pg_views where schemaname = 'dev_bob_placewise_staging'"
        ).fetchall()
    assert relations == {
        ("dev_bob_placewise_staging", "stg_placewise__sendings"),
        ("dev_bob_placewise_marts", "dim_sendings"),
    }
    assert compiled and "placewise_raw" in compiled[0][0]
