"""Airflow's own plugin loader finds the "Placewise" page in the repository's plugins folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from placewise.config import REPO_ROOT

PROBE = textwrap.dedent(
    """
    import json, sys
    from airflow import plugins_manager

    plugins, errors = plugins_manager._get_plugins()
    info = [p for p in plugins_manager.get_plugin_info() if p["name"] == "placewise"]
    views, _ = plugins_manager._get_ui_plugins()
    heavy = [m for m in ("pandas", "matplotlib", "placewise.status.queries") if m in sys.modules]
    print("PROBE " + json.dumps({
        "errors": errors,
        "info": info,
        "views": views,
        "heavy": heavy,
        "placewise_modules": sorted(
            str(p.source) for p in plugins if p.name == "placewise"
        ),
    }, default=str))
    """
)


def test_the_plugin_loader_registers_the_page_and_its_nav_entry_without_heavy_imports(tmp_path):
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}",
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("PROBE "))
    probe = json.loads(line.removeprefix("PROBE "))
    assert probe["errors"] == {}
    # Loaded once, from the small registration file (the package itself is .airflowignore'd).
    assert len(probe["placewise_modules"]) == 1
    assert "placewise_ui_plugin.py" in probe["placewise_modules"][0]
    (info,) = probe["info"]
    assert [(a["url_prefix"], a["name"]) for a in info["fastapi_apps"]] == [
        ("/placewise", "Placewise status")
    ]
    assert probe["views"] == [
        {
            "name": "Placewise",
            "href": "placewise/",
            "url_route": "placewise",
            "destination": "nav",
            "nav_top_level": True,
        }
    ]
    assert probe["heavy"] == []
