"""Credentials come from the Airflow Connections, else from the environment (child process, so
Airflow's import-time configuration stays out of the test process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

PROBE = (
    "from placewise.airflow.connections import api_settings, warehouse_conninfo;"
    "s = api_settings(); print(s.base_url, repr(s), warehouse_conninfo())"
)


def run_probe(tmp_path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "PLACEWISE_"))
    }
    clean.pop("WAREHOUSE_URL", None)
    clean.update(AIRFLOW_HOME=str(tmp_path), **env)
    return subprocess.run(
        [sys.executable, "-c", PROBE], env=clean, capture_output=True, text=True, check=False
    )


def test_connections_provide_the_api_and_warehouse_and_the_token_never_shows(tmp_path):
    api = {"conn_type": "http", "host": "https://api.example", "password": "s3cret-token"}
    result = run_probe(
        tmp_path,
        AIRFLOW_CONN_PLACEWISE_API=json.dumps(api),
        AIRFLOW_CONN_PLACEWISE_WAREHOUSE="postgres://bi:pw@db.example:5433/warehouse",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout.strip().splitlines()[-1]
    assert out.startswith("https://api.example ApiSettings(")
    assert out.endswith("postgresql://bi:pw@db.example:5433/warehouse")
    assert "s3cret-token" not in result.stdout + result.stderr


def test_without_connections_the_environment_is_used(tmp_path):
    result = run_probe(
        tmp_path,
        PLACEWISE_API_URL="http://127.0.0.1:8765",
        PLACEWISE_API_TOKEN="dev-token",
        WAREHOUSE_URL="postgresql://postgres@127.0.0.1:5432/warehouse",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    line = result.stdout.strip().splitlines()[-1]
    assert line.startswith("http://127.0.0.1:8765 ")
    assert line.endswith("postgresql://postgres@127.0.0.1:5432/warehouse")


def test_without_any_warehouse_the_error_names_both_ways_to_configure_it(tmp_path):
    result = run_probe(tmp_path, PLACEWISE_API_URL="http://x", PLACEWISE_API_TOKEN="t")
    assert result.returncode != 0
    assert "placewise_warehouse" in result.stderr and "WAREHOUSE_URL" in result.stderr
