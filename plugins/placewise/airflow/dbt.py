"""dbt inside Airflow with astronomer-cosmos, rendered from a manifest.

Rendering from ``target/manifest.json`` means parsing a DAG file never runs dbt (``dbt ls`` would
cost seconds per parse). The manifest is produced by ``dbt parse`` at install time (``make``,
the Docker image, the test session; ``python -m placewise.airflow.dbt`` for the project in
``PLACEWISE_DBT_PROJECT_DIR``); if it is missing, the DAG fails to import with a message that
says how to create it.

The dbt profile comes from the ``placewise_warehouse`` Connection through a Cosmos profile
mapping, so the warehouse credentials live in one place.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from cosmos import DbtTaskGroup, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import LoadMode, TestBehavior
from cosmos.operators.local import DbtRunOperationLocalOperator
from cosmos.profiles.postgres.user_pass import PostgresUserPasswordProfileMapping
from placewise.airflow.connections import WAREHOUSE_CONN_ID
from placewise.airflow.dbt_execution import execution_config, wire_watcher_group
from placewise.config import PipelineSettings

DBT_PROFILE = "placewise_warehouse"
#: Models one ``dbt build`` runs at a time (watcher mode; a per-model run uses one).
DBT_THREADS = 4


class PlacewisePostgresProfileMapping(PostgresUserPasswordProfileMapping):
    """The stock Postgres mapping, but a password is optional (trust/peer auth, embedded server)."""

    required_fields = ["host", "user", "dbname"]

    def get_dbt_value(self, name: str) -> Any:
        value = super().get_dbt_value(name)
        if name == "password" and value is None:
            return ""
        return value


def manifest_path(project_dir: Path) -> Path:
    return project_dir / "target" / "manifest.json"


def dbt_executable() -> str:
    """The dbt next to the running Python (the project's venv), else the one on PATH."""
    candidate = Path(sys.executable).parent / "dbt"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("dbt")
    if not found:
        raise RuntimeError("dbt is not installed in this environment")
    return found


def ensure_manifest(project_dir: Path) -> Path:
    """Create the manifest with ``dbt parse`` (install-time step, never called at parse time)."""
    # dbt parse does not connect; the profile's env vars only need to resolve. The child gets
    # this process's environment as is (PATH, the venv); no setting is read from it here.
    env = {
        "PLACEWISE_PG_DBNAME": "warehouse",
        **os.environ,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    subprocess.run(
        [
            dbt_executable(),
            "parse",
            "--project-dir",
            str(project_dir),
            "--profiles-dir",
            str(project_dir),
            "--quiet",
        ],
        check=True,
        env=env,
        cwd=project_dir,
    )
    return manifest_path(project_dir)


def _profile_config() -> ProfileConfig:
    return ProfileConfig(
        profile_name=DBT_PROFILE,
        target_name="airflow",
        profile_mapping=PlacewisePostgresProfileMapping(
            conn_id=WAREHOUSE_CONN_ID,
            profile_args={"schema": "placewise_staging", "threads": DBT_THREADS},
        ),
    )


def grant_bi_access(project_dir: Path) -> DbtRunOperationLocalOperator:
    """``dbt run-operation grant_bi_role``: read-only BI access to marts and audit.

    dbt's on-run-end hook does the same for command-line runs; Cosmos' local mode runs one model
    per task, where that hook does not fire, so the DAGs run the grants once after the models
    (the watcher mode's single build fires it too; granting twice is harmless).
    """
    return DbtRunOperationLocalOperator(
        task_id="grant_bi_role",
        macro_name="grant_bi_role",
        project_dir=str(project_dir),
        profile_config=_profile_config(),
        dbt_executable_path=dbt_executable(),
        install_deps=False,
        doc_md="Grant the read-only BI role SELECT on placewise_marts and placewise_audit.",
    )


#: dbt resources the task group leaves out (Cosmos has no operator for them).
UNRENDERED_NODES = ("resource_type:analysis", "resource_type:operation")


def dbt_task_group(
    project_dir: Path, group_id: str = "dbt", execution: str | None = None, **kwargs: Any
) -> DbtTaskGroup:
    """The dbt models as Airflow tasks (one task per model), then every test at once.

    ``execution`` is ``watcher`` (one ``dbt build`` feeding the model tasks) or ``local`` (one
    dbt run per model task); by default ``PLACEWISE_DBT_EXECUTION``. See ``dbt_execution``.

    Tests run after all models because several of them span models (relationships, the
    reconciliation, the consistency checks), which a per-model build would run too early.

    The incremental models rebuild only the partitions whose slices the load replaced, so the
    same group serves the nightly run, backfills and replays.
    """
    manifest = manifest_path(project_dir)
    if not manifest.exists():
        raise FileNotFoundError(
            f"{manifest} is missing: run `make venv` (or `dbt parse --project-dir {project_dir} "
            f"--profiles-dir {project_dir}`) to create it"
        )
    mode = execution or PipelineSettings.from_env().dbt_execution
    group = DbtTaskGroup(
        group_id=group_id,
        project_config=ProjectConfig(
            dbt_project_path=project_dir,
            manifest_path=manifest,
            project_name="placewise_warehouse",
        ),
        profile_config=_profile_config(),
        execution_config=execution_config(mode, dbt_executable()),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            test_behavior=TestBehavior.AFTER_ALL,
            emit_datasets=False,
            # Analyses are compiled, never run, and the on-run-end hook runs with every dbt
            # command: neither is a task, and Cosmos warns about each node it cannot convert.
            exclude=list(UNRENDERED_NODES),
        ),
        operator_args={"install_deps": False},
        **kwargs,
    )
    wire_watcher_group(group)
    return group


if __name__ == "__main__":
    from placewise.config import PipelineSettings

    print(ensure_manifest(PipelineSettings.from_env().dbt_project_dir))
