"""Reports only the API's Metadata describes: named in the registry, landed and loaded into the
generic raw tables with no code change, end to end through the CLI against the simulator
(``--variant menu_only_reports=served``)."""

from __future__ import annotations

import psycopg
import pytest
import yaml
from placewise.api import catalog
from placewise.cli import main
from placewise.local.processes import running_simulator
from placewise.service import migrate

pytestmark = pytest.mark.integration

NOW = "2026-11-28T06:00:00+00:00"
DAYS = ["--from", "2026-11-25", "--to", "2026-11-26"]
#: Every report the docs' menu names without a public page, by the generic table it lands in.
GENERIC = {
    "generic_records": ("offers", "offers_collections"),
    "generic_series": ("offers_events_history", "offers_usages_history"),
    "generic_statistics": ("offers_events_stats", "offers_usages_stats", "members_count"),
}
MENU_ONLY = [report for reports in GENERIC.values() for report in reports]


@pytest.fixture(autouse=True)
def static_catalog_after():
    """The CLI installs the live catalog in this process; leave the static one behind."""
    yield
    catalog.install_live_specs({})


@pytest.fixture
def generic_env(monkeypatch, tmp_path, fresh_database):
    clubs = {
        "clubs": [
            {"id": 1001, "name": "Oslo City", "reports": [*MENU_ONLY, "sendings_stats"]},
            {"id": 1002, "name": "Manhattan Mall", "reports": ["offers", "members_count"]},
        ]
    }
    (tmp_path / "clubs.yml").write_text(yaml.safe_dump(clubs, sort_keys=False))
    monkeypatch.setenv("PLACEWISE_CLUBS_FILE", str(tmp_path / "clubs.yml"))
    monkeypatch.setenv("PLACEWISE_API_CONTRACT_FILE", str(tmp_path / "api-contract.yml"))
    monkeypatch.setenv("PLACEWISE_LANDING_ROOT", str(tmp_path / "landing"))
    monkeypatch.setenv("PLACEWISE_RATE_CAPACITY", "100000")
    monkeypatch.setenv("PLACEWISE_RATE_REFILL_PER_S", "100000")
    monkeypatch.setenv("PLACEWISE_API_TOKEN", "dev-token")
    monkeypatch.setenv("WAREHOUSE_URL", fresh_database)
    migrate(fresh_database)
    args = ["--seed", "42", "--clubs", "2", "--history-days", "30", "--now", NOW]
    args += ["--rate-capacity", "100000", "--rate-refill", "100000"]
    with running_simulator([*args, "--variant", "menu_only_reports=served"]) as sim:
        monkeypatch.setenv("PLACEWISE_API_URL", sim.url)
        yield fresh_database


def generic_rows(url: str) -> dict[str, dict[str, int]]:
    """Rows per generic table and report."""
    out: dict[str, dict[str, int]] = {}
    with psycopg.connect(url) as conn:
        for table in GENERIC:
            out[table] = dict(
                conn.execute(
                    f"select report, count(*) from placewise_raw.{table} group by report"
                ).fetchall()
            )
    return out


def test_a_report_the_catalog_lacks_is_unknown_until_the_doctor_caches_its_metadata(
    generic_env, capsys
):
    assert main(["plan", *DAYS]) == 2
    err = capsys.readouterr().err
    assert "unknown report(s) ['offers'" in err and "placewise doctor" in err
    assert main(["doctor"]) == 0
    capsys.readouterr()
    assert main(["plan", *DAYS]) == 0
    out = capsys.readouterr().out
    for report in MENU_ONLY:
        assert f" {report} agg=none club 1001" in out


def test_menu_only_reports_land_and_load_into_the_generic_tables_idempotently(generic_env, capsys):
    assert main(["doctor"]) == 0
    assert main(["sync", *DAYS]) == 0, capsys.readouterr()
    first = generic_rows(generic_env)
    for table, reports in GENERIC.items():
        for report in reports:
            assert first[table].get(report, 0) > 0, (table, report)
    assert set().union(*(set(rows) for rows in first.values())) == set(MENU_ONLY)
    with psycopg.connect(generic_env) as conn:
        # lineage: every generic row points at the loaded slice of its own report
        [(orphans,)] = conn.execute(
            """
            select count(*) from placewise_raw.generic_series g
            left join placewise_ops.slices s
              on s.slice_id = g._slice_id and s.report = g.report and s.status = 'loaded'
            where s.slice_id is null
            """
        ).fetchall()
        club_rows = dict(
            conn.execute(
                "select loyalty_club_id, count(*) from placewise_raw.generic_records "
                "where report = 'offers' group by loyalty_club_id"
            ).fetchall()
        )
        [(typed,)] = conn.execute("select count(*) from placewise_raw.sendings_stats").fetchall()
    assert orphans == 0
    assert set(club_rows) == {1001, 1002}
    assert typed > 0  # the static report of the same club still lands in its own table

    # a second sync replaces every slice: the same rows, no duplicates
    assert main(["sync", *DAYS]) == 0
    assert generic_rows(generic_env) == first
