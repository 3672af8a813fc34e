"""The environment of a local Airflow (demo, ``make airflow``, end-to-end tests).

Airflow reads its configuration and Connections from environment variables, so one function
builds them for every local entry point: SQLite metadata in ``AIRFLOW_HOME``, the repository's
``dags/`` and ``plugins/``, the two Connections, and the pipeline settings.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from placewise.config import REPO_ROOT

OPENLINEAGE_NAMESPACE = "placewise-warehouse"


def warehouse_connection_uri(warehouse_url: str) -> str:
    """An Airflow ``postgres://`` Connection URI for a libpq URL (Airflow wants that scheme)."""
    parts = urlsplit(warehouse_url)
    return parts._replace(scheme="postgres").geturl()


def api_connection_json(api_url: str, token: str, organization: str | None = None) -> str:
    """The ``placewise_api`` Connection as Airflow's JSON form (token in the password field);
    ``organization`` names the Organization rate-limit bucket (extra ``organization``)."""
    extra = {"user_agent": "placewise-warehouse", "product_name": "placewise-warehouse"}
    if organization:
        extra["organization"] = organization
    return json.dumps({"conn_type": "http", "host": api_url, "password": token, "extra": extra})


def airflow_environment(
    home: Path,
    *,
    warehouse_url: str,
    api_url: str,
    api_token: str,
    clubs_file: Path,
    landing_root: Path | str,
    extra: Mapping[str, str] | None = None,
    api_organization: str | None = None,
) -> dict[str, str]:
    """A copy of ``os.environ`` set up for a local Airflow against the given services."""
    home.mkdir(parents=True, exist_ok=True)
    venv_bin = str(Path(sys.executable).parent)
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__PARALLELISM": str(max(2, 2 * (os.cpu_count() or 1))),
            "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "60",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
            "AIRFLOW__COSMOS__PROPAGATE_LOGS": "False",
            # The namespace OpenLineage events would carry; Cosmos reads it on import and warns
            # when the [openlineage] section is missing (the provider is not installed).
            "AIRFLOW__OPENLINEAGE__NAMESPACE": OPENLINEAGE_NAMESPACE,
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DO_NOT_TRACK": "1",
            "AIRFLOW_CONN_PLACEWISE_WAREHOUSE": warehouse_connection_uri(warehouse_url),
            "AIRFLOW_CONN_PLACEWISE_API": api_connection_json(api_url, api_token, api_organization),
            "PLACEWISE_CLUBS_FILE": str(clubs_file),
            "PLACEWISE_LANDING_ROOT": str(landing_root),
            "PLACEWISE_DBT_PROJECT_DIR": str(REPO_ROOT / "dbt_project"),
            "PATH": venv_bin + os.pathsep + env.get("PATH", ""),
            "PYTHONPATH": os.pathsep.join(
                p for p in [str(REPO_ROOT / "plugins"), env.get("PYTHONPATH", "")] if p
            ),
        }
    )
    env.pop("WAREHOUSE_URL", None)
    env.update(extra or {})
    return env
