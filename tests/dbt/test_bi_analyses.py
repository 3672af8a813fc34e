"""The BI side of the warehouse, as a BI tool sees it: a login in ``placewise_bi``.

The example questions in ``dbt_project/analyses`` are compiled by dbt and run over a fresh
connection of a login role that is only a member of ``placewise_bi``; some answers are checked
against figures computed here, in Python, from the synthetic world the fixture loaded. The
semantic-layer metrics are checked against the mart columns BI tools read directly.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from dbt_world import CLUBS, DBT_PROJECT, DbtWarehouse, World, dbt_env
from placewise.local import dbt_docs
from psycopg import sql
from psycopg.conninfo import make_conninfo

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ANALYSES = DBT_PROJECT / "analyses"
SETTLE_DAYS = 7  # dbt var settle_days (its default in dbt_project.yml)


class BiLogin:
    """A login role in placewise_bi, as a BI tool would be given one."""

    def __init__(self, url: str, name: str, password: str) -> None:
        self.name = name
        self.conninfo = make_conninfo(url, user=name, password=password)

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.conninfo, autocommit=True)


@pytest.fixture(scope="module")
def bi_login(built_warehouse: DbtWarehouse) -> Iterator[BiLogin]:
    """A uniquely named LOGIN role granted placewise_bi (roles are cluster-wide); dropped after."""
    name = f"pw_bi_login_{uuid.uuid4().hex[:10]}"
    password = uuid.uuid4().hex
    with built_warehouse.connect() as conn:
        conn.execute(
            sql.SQL("create role {} login password {}").format(
                sql.Identifier(name), sql.Literal(password)
            )
        )
        conn.execute(sql.SQL("grant placewise_bi to {}").format(sql.Identifier(name)))
    try:
        yield BiLogin(built_warehouse.url, name, password)
    finally:
        with built_warehouse.connect() as conn:
            conn.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity where usename = %s",
                (name,),
            )
            conn.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def compiled_analyses(built_warehouse: DbtWarehouse) -> dict[str, str]:
    """Analysis file stem -> the SQL dbt compiled for it."""
    built_warehouse.dbt("compile", "--select", "resource_type:analysis")
    compiled = built_warehouse.target_path / "compiled" / "placewise_warehouse" / "analyses"
    return {path.stem: path.read_text() for path in sorted(compiled.glob("*.sql"))}


@pytest.fixture(scope="module")
def answers(compiled_analyses: dict[str, str], bi_login: BiLogin) -> dict[str, list[dict]]:
    """Every compiled analysis run as the BI login: stem -> rows as dicts."""
    results: dict[str, list[dict]] = {}
    with bi_login.connect() as conn:
        assert conn.execute("select current_user").fetchone()[0] == bi_login.name
        for stem, query in compiled_analyses.items():
            cursor = conn.execute(query)
            columns = [column.name for column in cursor.description]
            results[stem] = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    return results


def settled_days(conn: psycopg.Connection, world: World) -> list[dt.date]:
    """Days whose data as-of is settle_days after the day's end in UTC-12, newest first.

    The as-of is the earliest server_date the fixture wrote into placewise_ops.slices for the
    sendings_stats slices (the world is loaded with one as-of for every slice).
    """
    as_of = conn.execute(
        "select min(server_date) from placewise_ops.slices where report = 'sendings_stats'"
    ).fetchone()[0]
    last_zone = ZoneInfo("Etc/GMT+12")
    return sorted(
        (
            day
            for day in world.days()
            if as_of
            >= dt.datetime.combine(day + dt.timedelta(days=1 + SETTLE_DAYS), dt.time(), last_zone)
        ),
        reverse=True,
    )


def test_every_analysis_names_its_question_and_reads_only_marts_and_audit(
    built_warehouse: DbtWarehouse, compiled_analyses: dict[str, str]
) -> None:
    sources = sorted(ANALYSES.glob("*.sql"))
    assert len(sources) >= 6
    assert set(compiled_analyses) == {path.stem for path in sources}
    manifest = json.loads((built_warehouse.target_path / "manifest.json").read_text())
    for path in sources:
        text = path.read_text()
        assert text.startswith("-- Question: "), path.name
        assert "{{ ref(" in text, path.name
        node = manifest["nodes"][f"analysis.placewise_warehouse.{path.stem}"]
        schemas = {manifest["nodes"][parent]["schema"] for parent in node["depends_on"]["nodes"]}
        assert schemas and schemas <= {"placewise_marts", "placewise_audit"}, (path.name, schemas)


def test_every_analysis_returns_rows_for_a_bi_login(answers: dict[str, list[dict]]) -> None:
    assert answers
    empty = [stem for stem, rows in answers.items() if not rows]
    assert empty == []


def test_delivery_and_open_rate_match_the_world_over_the_last_30_settled_days(
    built_warehouse: DbtWarehouse, answers: dict[str, list[dict]]
) -> None:
    world = built_warehouse.world
    with built_warehouse.connect() as conn:
        window = set(settled_days(conn, world)[:30])
    assert len(window) == 30
    sums: dict[tuple[int, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for sending in world.sendings:
        for day, events in sending.daily.items():
            if day in window:
                for event in ("transmitted", "delivered", "opened"):
                    sums[(sending.club, sending.channel)][event] += events[event]
    expected = {key: value for key, value in sums.items() if any(value.values())}
    rows = {
        (row["loyalty_club_id"], row["channel"]): row
        for row in answers["delivery_and_open_rate_by_club_and_channel"]
    }
    assert rows.keys() == expected.keys()
    for key, counts in expected.items():
        row = rows[key]
        assert (row["transmitted"], row["delivered"], row["opened"]) == (
            counts["transmitted"],
            counts["delivered"],
            counts["opened"],
        ), key
        if counts["transmitted"]:
            assert row["delivery_rate"] == pytest.approx(
                counts["delivered"] / counts["transmitted"]
            ), key
        else:
            assert row["delivery_rate"] is None, key


def test_cross_club_totals_agree_with_the_worlds_sum_on_the_latest_settled_day(
    built_warehouse: DbtWarehouse, answers: dict[str, list[dict]]
) -> None:
    world = built_warehouse.world
    with built_warehouse.connect() as conn:
        day = settled_days(conn, world)[0]
    expected: dict[str, int] = defaultdict(int)
    for sending in world.sendings:
        for event, value in sending.daily.get(day, {}).items():
            expected[event] += value
    rows = answers["cross_club_totals_vs_club_sum"]
    assert {row["stat_date"] for row in rows} == {day}
    got = {
        row["event_type"]: (row["total_events"], row["club_sum_events"], row["api_events"])
        for row in rows
    }
    assert got == {event: (n, n, n) for event, n in expected.items() if n}
    assert all(row["totals_agree"] for row in rows)


def test_members_trend_shows_the_worlds_daily_count_without_summing(
    built_warehouse: DbtWarehouse, answers: dict[str, list[dict]]
) -> None:
    world = built_warehouse.world
    rows = answers["members_trend_per_club"]
    for club in CLUBS:
        club_rows = [row for row in rows if row["loyalty_club_id"] == club]
        assert len(club_rows) == 30, club
        last = club_rows[-1]
        assert last["bucket_date"] == world.last_day
        # The fixture's members_count series: 1000 + 3 per day since the first day.
        assert last["members_count"] == 1000 + 3 * (world.last_day - world.first_day).days
        assert {row["change_from_previous_day"] for row in club_rows[1:]} == {3}


def test_a_bi_login_cannot_create_temp_tables(bi_login: BiLogin) -> None:
    with bi_login.connect() as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("create temp table bi_scratch (x integer)")


def test_grants_run_by_a_non_owner_leave_temp_alone_and_log_the_revoke_to_run(
    built_warehouse: DbtWarehouse, fresh_database: str, tmp_path: Path
) -> None:
    """A dbt user that does not own the database cannot revoke; the run says what to run."""
    name = f"pw_dbt_nonowner_{uuid.uuid4().hex[:10]}"
    database = fresh_database.rsplit("/", 1)[-1]
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute(sql.SQL("create role {} login").format(sql.Identifier(name)))
        try:
            runner = DbtWarehouse(
                url=fresh_database,
                world=built_warehouse.world,
                target_path=tmp_path / "target",
                env={**dbt_env(fresh_database, tmp_path / "logs"), "PLACEWISE_PG_USER": name},
            )
            result = runner.dbt("run-operation", "grant_bi_role")
            assert f'revoke temporary on database "{database}" from public;' in result.stdout
            still = conn.execute(
                "select has_database_privilege('public', current_database(), 'TEMPORARY')"
            ).fetchone()[0]
            assert still is True
        finally:
            conn.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(name)))


def test_rate_metrics_are_the_ratios_the_mart_computes(built_warehouse: DbtWarehouse) -> None:
    """delivery_rate and open_rate in the semantic layer and in the mart are one definition."""
    semantic = json.loads((built_warehouse.target_path / "semantic_manifest.json").read_text())
    metrics = {metric["name"]: metric for metric in semantic["metrics"]}
    assert {"sending_events", "delivery_rate", "open_rate", "members", "link_visits"} <= set(
        metrics
    )
    measures = {
        measure["name"]: (model["node_relation"]["alias"], measure.get("expr") or measure["name"])
        for model in semantic["semantic_models"]
        for measure in model["measures"]
    }

    def column_of(metric_name: str) -> tuple[str, str]:
        metric = metrics[metric_name]
        assert metric["type"] == "simple", metric_name
        return measures[metric["type_params"]["measure"]["name"]]

    with built_warehouse.connect() as conn:
        for rate in ("delivery_rate", "open_rate"):
            params = metrics[rate]["type_params"]
            assert metrics[rate]["type"] == "ratio"
            num_table, numerator = column_of(params["numerator"]["name"])
            den_table, denominator = column_of(params["denominator"]["name"])
            assert num_table == den_table == "mart_sendings_daily_performance"
            checked, differing = conn.execute(
                sql.SQL(
                    "select count({rate}), count(*) filter (where {rate} is distinct from"
                    " {num}::double precision / nullif({den}, 0))"
                    " from placewise_marts.mart_sendings_daily_performance"
                ).format(
                    rate=sql.Identifier(rate),
                    num=sql.Identifier(numerator),
                    den=sql.Identifier(denominator),
                )
            ).fetchone()
            assert checked > 0 and differing == 0, rate


def test_make_docs_generates_the_site_with_marts_and_metrics(
    built_warehouse: DbtWarehouse, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    dbt_docs.generate(built_warehouse.url, site, tmp_path / "logs")
    assert (site / "index.html").exists()
    catalog = json.loads((site / "catalog.json").read_text())
    assert "model.placewise_warehouse.mart_sendings_daily_performance" in catalog["nodes"]
    columns = catalog["nodes"]["model.placewise_warehouse.mart_sendings_daily_performance"][
        "columns"
    ]
    assert {"delivery_rate", "open_rate"} <= set(columns)
    manifest = json.loads((site / "manifest.json").read_text())
    assert "metric.placewise_warehouse.delivery_rate" in manifest["metrics"]


def test_make_docs_refuses_a_warehouse_url_without_a_database() -> None:
    with pytest.raises(ValueError, match="names no database"):
        dbt_docs.dbt_profile_env("postgresql://postgres@127.0.0.1:5432", dbt_docs.DBT_LOGS)
