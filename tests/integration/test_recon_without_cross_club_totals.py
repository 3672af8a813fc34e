"""An API with neither cross-customer queries nor exports: the totals step is skipped, and the
reconciliation reports those days as not checked, never as differences."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import psycopg
import pytest
from placewise import service
from placewise.api.settings import ApiSettings
from placewise.api.variants import ApiVariants, dump_variants
from placewise.config import REPO_ROOT, PipelineSettings
from placewise.local.dbt_profile import dbt_profile_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NEITHER = ApiVariants(cross_customer_query="refused", exports="absent")
FIRST, LAST = date(2026, 11, 17), date(2026, 11, 18)
REGISTRY = """clubs:
  - {id: 1001, name: Club 1001 Oslo City, timezone: Europe/Oslo}
  - {id: 1002, name: Club 1002 Manhattan Mall, timezone: America/New_York}
"""


def test_days_without_cross_club_totals_are_reported_as_not_checked(
    simulator_factory, fresh_database, tmp_path
):
    simulator = simulator_factory(
        "--history-days",
        "14",
        "--variant",
        "cross_customer_query=refused",
        "--variant",
        "exports=absent",
    )
    (tmp_path / "clubs.yml").write_text(REGISTRY)
    dump_variants(NEITHER, tmp_path / "api-contract.yml")
    settings = PipelineSettings(
        landing_root=str(tmp_path / "landing"),
        clubs_file=tmp_path / "clubs.yml",
        dbt_project_dir=REPO_ROOT / "dbt_project",
        rate_capacity=100000,
        rate_refill_per_s=100000.0,
        api_contract_file=tmp_path / "api-contract.yml",
    )
    service.migrate(fresh_database)
    service.register_clubs(fresh_database, settings)
    plan = service.plan_sync(settings, FIRST, LAST, tenants=True)
    assert plan.tenants_skipped is not None
    assert "cross_customer_query=refused" in plan.tenants_skipped
    assert "exports=absent" in plan.tenants_skipped
    assert all(s.scope.startswith("club:") for s in plan.specs)
    summary = service.sync(
        plan.specs,
        settings=settings,
        api=ApiSettings(base_url=simulator.url, token="dev-token"),
        conninfo=fresh_database,
        run_id="recon-not-checked",
    )
    assert summary.failures == [], summary.text()

    project = str(REPO_ROOT / "dbt_project")
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"),
            "build",
            "--exclude",
            "test_type:unit",
            "--project-dir",
            project,
            "--profiles-dir",
            project,
            "--target-path",
            str(tmp_path / "target"),
        ],
        env=dbt_profile_env(fresh_database, tmp_path / "logs"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-5000:]
    with psycopg.connect(fresh_database) as conn:
        recon = conn.execute(
            "select status, count(*), count(difference) "
            "from placewise_audit.recon_sendings_stats_totals group by 1"
        ).fetchall()
        states = conn.execute(
            "select scope, reconciliation_state, recon_not_checked, recon_differences "
            "from placewise_audit.sync_status where report = 'sendings_stats' order by 1"
        ).fetchall()
    # 2 clubs x 2 days x 5 aggregations, none compared
    assert recon == [("not_checked", 2 * 2 * 5, 0)]
    assert states == [("club:1001", "not_checked", 10, 0), ("club:1002", "not_checked", 10, 0)]
