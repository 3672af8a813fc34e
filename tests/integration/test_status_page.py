"""The status page over HTTP (the Airflow plugin's app), ``placewise status`` and ``--html``,
over a warehouse loaded from the simulator and built by dbt, with one slice quarantined.

Every number the tests look for on the page is queried from the warehouse by the test itself.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from placewise import service
from placewise.api.client import PlacewiseClient
from placewise.api.pacing import InMemoryPacer
from placewise.api.settings import ApiSettings
from placewise.config import REPO_ROOT
from placewise.extract.plan import plan_club, plan_tenants
from placewise.landing.store import LandingStore, SliceManifest, utc_now_iso
from placewise.local.dbt_profile import dbt_profile_env
from placewise.status.queries import read_only_connection, read_status
from placewise.sync import sync_slices
from placewise.warehouse.load import QuarantinedError, load_manifest
from placewise.warehouse.schema import connect

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FIRST, LAST = date(2026, 11, 8), date(2026, 11, 20)
CLUBS = {1001: "Oslo", 1002: "Manhattan", 1003: "Shibuya"}
RUN_ID = "status-test-run"
SECTIONS = ("clubs", "trends", "runs", "reconciliation", "quarantine")


def dbt_build(url: str, tmp: Path) -> None:
    env = dbt_profile_env(url, tmp / "logs")
    project = str(REPO_ROOT / "dbt_project")
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"),
            "build",
            "--project-dir",
            project,
            "--profiles-dir",
            project,
            "--target-path",
            str(tmp / "target"),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-5000:]


def quarantine_a_tampered_copy(url: str, store: LandingStore) -> SliceManifest:
    """Land a copy of a loaded sendings_stats answer with a negative count, and load it."""
    original = next(
        m
        for m in store.latest_manifests("sendings_stats").values()
        if m.scope == "club:1002" and m.aggregation == "none"
    )
    with store.open_part(original.parts[0]) as raw:
        body = json.loads(raw.read())
    body["series"][0]["value"] = -7
    parts: list = []
    with store.open_sink(parts) as sink:
        sink.write(json.dumps(body).encode())
    tampered = SliceManifest(**{**original.__dict__, "parts": parts, "fetched_at": utc_now_iso()})
    store.write_manifest(tampered)
    with connect(url) as conn, pytest.raises(QuarantinedError, match="negative count"):
        load_manifest(conn, store, tampered, run_id="status-test-tampered")
    return tampered


@pytest.fixture(scope="module")
def warehouse(simulator, module_database, tmp_path_factory) -> str:
    store = LandingStore(tmp_path_factory.mktemp("landing"))
    service.migrate(module_database)
    specs = [s for club in CLUBS for s in plan_club(club, FIRST, LAST)]
    specs += plan_tenants(list(CLUBS), FIRST, LAST)
    settings = ApiSettings(base_url=simulator.url, token="dev-token")
    with PlacewiseClient(
        settings, pacer=InMemoryPacer(capacity=100000, refill_per_s=100000)
    ) as client:
        summary = sync_slices(
            specs, client=client, store=store, conninfo=module_database, run_id=RUN_ID
        )
    assert summary.failures == [], summary.text()
    with psycopg.connect(module_database, autocommit=True) as conn, conn.cursor() as cur:
        cur.executemany(
            "insert into placewise_ops.clubs (loyalty_club_id, name, enabled) "
            "values (%s, %s, true)",
            list(CLUBS.items()),
        )
    dbt_build(module_database, tmp_path_factory.mktemp("dbt"))
    quarantine_a_tampered_copy(module_database, store)
    return module_database


# --- what the test expects, queried on its own ---------------------------------------------------


def expected_clubs(url: str) -> dict[int, dict[str, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """
            select split_part(s.scope, ':', 2)::int, sum(s.rows), sum(s.tokens_spent), count(*),
                   (select max(partition_date) from placewise_ops.loaded_partitions lp
                    where lp.scope = s.scope)
            from placewise_ops.slices s
            where s.scope like 'club:%%' and s.run_id = %s
            group by s.scope
            """,
            (RUN_ID,),
        ).fetchall()
    return {
        club: {
            "rows": f"{rows:,}",
            "tokens": f"{tokens:,}",
            "slices": str(slices),
            "last loaded day": last_day.isoformat(),
        }
        for club, rows, tokens, slices, last_day in rows
    }


def expected_reconciliation(url: str) -> dict[str, tuple[str, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select stat_date, count(*), count(*) filter (where status = 'match') "
            "from placewise_audit.recon_sendings_stats_totals group by 1"
        ).fetchall()
    return {day.isoformat(): (str(compared), str(match)) for day, compared, match in rows}


# --- reading the page ----------------------------------------------------------------------------


class Page(HTMLParser):
    """Sections, tables (as lists of {heading: cell}) and figures of the status page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.tables: dict[str, list[dict[str, str]]] = {}
        self.figures: dict[str, str] = {}
        self._figure: str | None = None
        self._table: str | None = None
        self._headings: list[str] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section":
            self.sections.append(a["id"] or "")
        elif tag == "figure":
            self._figure = a["id"]
        elif tag == "img" and self._figure:
            self.figures[self._figure] = a["src"] or ""
        elif tag == "table":
            self._table, self._headings = (a["id"] or "").removeprefix("table-"), []
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self._row = []
        elif tag in ("th", "td") and self._row is not None:
            self._cell = []

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "td") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
            if tag == "th":
                self._headings.append(self._row[-1])
        elif tag == "tr" and self._row is not None and self._table:
            if len(self._row) == len(self._headings) and self._row != self._headings:
                self.tables[self._table].append(dict(zip(self._headings, self._row, strict=True)))
            self._row = None
        elif tag == "table":
            self._table = None
        elif tag == "figure":
            self._figure = None


def assert_page_shows_the_warehouse(text: str, url: str) -> None:
    page = Page(text)
    assert page.sections == list(SECTIONS)
    clubs = {int(r["club"]): r for r in page.tables["clubs"]}
    expected = expected_clubs(url)
    assert set(clubs) == set(CLUBS)
    for club, values in expected.items():
        row = clubs[club]
        assert row["name"] == CLUBS[club]
        assert row["last loaded day"] == values["last loaded day"] == LAST.isoformat()
        assert row["lag"].endswith(" h") and row["data as of (API)"].endswith(" UTC")
        if club != 1002:
            assert row["last run"] == RUN_ID
            assert {k: row[k] for k in ("rows", "tokens", "slices")} == {
                k: values[k] for k in ("rows", "tokens", "slices")
            }
    # 1002's last run is the load of the tampered answer: one slice, quarantined, no rows.
    assert (clubs[1002]["last run"], clubs[1002]["slices"], clubs[1002]["rows"]) == (
        "status-test-tampered",
        "1",
        "0",
    )
    assert clubs[1002]["open quarantine"] == "1"
    assert clubs[1001]["open quarantine"] == "0"

    runs = {r["run"]: r for r in page.tables["runs"]}
    with psycopg.connect(url) as conn:
        rows, tokens, slices = conn.execute(
            "select sum(rows), sum(tokens_spent), count(*) from placewise_ops.slices "
            "where run_id = %s",
            (RUN_ID,),
        ).fetchone()
    assert (runs[RUN_ID]["rows"], runs[RUN_ID]["tokens"], runs[RUN_ID]["slices"]) == (
        f"{rows:,}",
        f"{tokens:,}",
        str(slices),
    )
    assert runs["status-test-tampered"]["quarantined"] == "1"

    recon = {r["day"]: r for r in page.tables["reconciliation"]}
    assert {d: (r["compared"], r["match"]) for d, r in recon.items()} == expected_reconciliation(
        url
    )
    assert {r["status"] for r in recon.values()} == {"match"}

    (entry,) = page.tables["quarantine"]
    assert entry["scope"] == "club:1002" and entry["report"] == "sendings_stats"
    assert "negative count" in entry["reason"]
    assert Path(entry["landed body"]).exists()

    assert set(page.figures) == {"plot-tokens", "plot-lag", "plot-recon"}
    for uri in page.figures.values():
        prefix = "data:image/svg+xml;base64,"
        assert uri.startswith(prefix)
        assert b"<svg" in base64.b64decode(uri.removeprefix(prefix))[:500]


# --- the tests -----------------------------------------------------------------------------------


def test_the_plugin_page_over_http_shows_every_section_with_the_warehouse_numbers(
    warehouse, monkeypatch
):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from placewise.airflow.connections import WAREHOUSE_CONN_ID
    from placewise.airflow.ui import URL_PREFIX, PlacewisePlugin, build_app

    (entry,) = PlacewisePlugin.fastapi_apps
    assert entry["url_prefix"] == URL_PREFIX
    # The api-server resolves the Connection (here from its environment variable).
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{WAREHOUSE_CONN_ID.upper()}",
        urlsplit(warehouse)._replace(scheme="postgres").geturl(),
    )
    monkeypatch.delenv("WAREHOUSE_URL", raising=False)
    server = FastAPI()
    server.mount(URL_PREFIX, entry["app"])
    from airflow.api_fastapi.core_api.security import get_user

    entry["app"].app().dependency_overrides[get_user] = lambda: "operator"
    try:
        with TestClient(server) as client:
            response = client.get(f"{URL_PREFIX}/")
            text = client.get(f"{URL_PREFIX}/status.txt")
    finally:
        entry["app"].app().dependency_overrides.clear()
    assert response.status_code == 200, response.text[:2000]
    assert response.headers["content-type"].startswith("text/html")
    assert_page_shows_the_warehouse(response.text, warehouse)
    assert text.status_code == 200 and "== Open quarantine entries ==" in text.text

    # Without an Airflow login the page is refused.
    with TestClient(build_app(lambda: warehouse)) as client:
        assert client.get("/").status_code == 401


def test_the_status_reads_in_a_read_only_transaction(warehouse):
    with (
        read_only_connection(warehouse) as conn,
        pytest.raises(psycopg.errors.ReadOnlySqlTransaction),
    ):
        conn.execute("delete from placewise_ops.quarantine")
    with psycopg.connect(warehouse) as conn:
        assert conn.execute("select count(*) from placewise_ops.quarantine").fetchone()[0] == 1


def test_read_status_refuses_a_warehouse_that_was_never_migrated(fresh_database):
    from placewise.status.queries import WarehouseNotReadyError

    with pytest.raises(WarehouseNotReadyError, match="placewise migrate"):
        read_status(fresh_database)


def test_placewise_status_prints_every_section_as_a_table(warehouse, monkeypatch, capsys):
    from placewise.cli import main

    monkeypatch.setenv("WAREHOUSE_URL", warehouse)
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    titles = [line for line in out.splitlines() if line.startswith("== ")]
    assert titles == [
        "== Clubs ==",
        "== Recent runs ==",
        "== Reconciliation by day ==",
        "== Open quarantine entries ==",
    ]
    clubs = out.split("== Clubs ==")[1].split("== Recent runs ==")[0].splitlines()
    expected = expected_clubs(warehouse)
    for club in (1001, 1003):
        (row,) = [line for line in clubs if line.split()[:2] == [str(club), CLUBS[club]]]
        values = expected[club]
        for value in (values["last loaded day"], values["rows"], values["tokens"], RUN_ID):
            assert value in row.split(), (value, row)
    recon = out.split("== Reconciliation by day ==")[1].split("== Open")[0].splitlines()
    for day, (compared, match) in expected_reconciliation(warehouse).items():
        (row,) = [line for line in recon if line.split()[:1] == [day]]
        assert row.split()[:5] == [day, "match", row.split()[2], compared, match]
    quarantine = out.split("== Open quarantine entries ==")[1]
    assert "club:1002" in quarantine and "negative count" in quarantine


def test_placewise_status_html_writes_the_page_the_plugin_serves(
    warehouse, monkeypatch, capsys, tmp_path
):
    from placewise.cli import main

    monkeypatch.setenv("WAREHOUSE_URL", warehouse)
    target = tmp_path / "status.html"
    assert main(["status", "--html", str(target)]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {target} (")
    assert_page_shows_the_warehouse(target.read_text(), warehouse)
    # Self-contained: no script and nothing fetched from elsewhere.
    text = target.read_text()
    assert "<script" not in text and "http://" not in text and "https://" not in text


def test_placewise_status_errors_are_one_line(fresh_database, monkeypatch, capsys, tmp_path):
    from placewise.cli import main

    monkeypatch.delenv("WAREHOUSE_URL", raising=False)
    assert main(["status"]) == 2
    assert capsys.readouterr().err.strip() == (
        "placewise status: error: WAREHOUSE_URL is not set "
        "(e.g. postgresql://user:password@host:5432/warehouse)"
    )
    monkeypatch.setenv("WAREHOUSE_URL", fresh_database)
    assert main(["status"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("placewise status: error: the warehouse ") and "placewise migrate" in err
    assert main(["status", "--runs", "0"]) == 2
    assert "bad count '0'" in capsys.readouterr().err


def test_the_trend_data_behind_the_plots_matches_the_warehouse(warehouse):
    report = read_status(warehouse)
    with psycopg.connect(warehouse) as conn:
        night = conn.execute("select (now() at time zone 'UTC')::date").fetchone()[0]
        tokens = dict(
            conn.execute(
                "select case when scope like 'club:%%' then 'club ' || split_part(scope, ':', 2) "
                "else 'tenants' end, sum(tokens_spent) from placewise_ops.slices group by 1"
            ).fetchall()
        )
    assert {(row.night, row.scope): row.tokens for row in report.tokens_per_night.itertuples()} == {
        (night, scope): total for scope, total in tokens.items()
    }
    # Everything was loaded tonight; the newest loaded day of every club is LAST.
    assert [
        (row.club_id, row.night, row.newest_day, row.lag_days)
        for row in report.lag_history.itertuples()
    ] == [(club, night, LAST, (night - LAST).days) for club in sorted(CLUBS)]
