"""``placewise doctor`` against the simulator: every variant value is detected, the token bound
holds (counted by the simulator), and what cannot be absorbed exits 1 with its advice.

Each variant value gets its own simulator (``--variant NAME=VALUE``) and one doctor run of a
few requests; the simulator's frozen clock is the one the doctor falls back to when an answer
has no ``Date`` header, so every probe's window has data under every variant.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
import yaml
from placewise.airflow import tasks
from placewise.api.settings import ApiSettings
from placewise.api.variants import (
    VARIANTS,
    VARIANTS_BY_NAME,
    ApiVariants,
    dump_variants,
    load_variants,
)
from placewise.cli import main
from placewise.config import PipelineSettings
from placewise.doctor import Verdict, configured_reports
from placewise.local.processes import running_simulator
from placewise.registry import Club
from placewise.service import DoctorOutcome, doctor, migrate

#: The suite's frozen simulator clock and generous rate limits (as in ``tests/conftest.py``).
SIMULATOR_NOW = "2026-11-28T06:00:00+00:00"
FAST_RATE_ARGS = ["--rate-capacity", "100000", "--rate-refill", "100000"]
#: Clubs 1001 (Europe/Oslo), 1002 (America/New_York) and 1013 (Europe/Oslo again: the
#: simulator's zones repeat after twelve clubs), so both cross-club readings can be told.
CLUBS = (Club(1001, "Oslo City"), Club(1002, "Manhattan Mall"), Club(1013, "Oslo Again"))
SIMULATOR_CLUBS = "13"
FROZEN_NOW = datetime.fromisoformat(SIMULATOR_NOW)

EVERY_VALUE = [(spec.name, value) for spec in VARIANTS for value in spec.values]


def registry_text(clubs=CLUBS) -> str:
    entries = [{"id": c.id, "name": c.name, "reports": list(c.reports)} for c in clubs]
    return yaml.safe_dump({"clubs": entries}, sort_keys=False)


@pytest.fixture
def pipeline_settings(tmp_path: Path) -> PipelineSettings:
    clubs_file = tmp_path / "clubs.yml"
    clubs_file.write_text(registry_text())
    return dataclasses.replace(
        PipelineSettings.from_env({}),
        clubs_file=clubs_file,
        api_contract_file=tmp_path / "api-contract.yml",
        landing_root=str(tmp_path / "landing"),
    )


def simulator_args(*assignments: str) -> list[str]:
    args = ["--seed", "42", "--clubs", SIMULATOR_CLUBS, "--history-days", "30"]
    args += ["--now", SIMULATOR_NOW, *FAST_RATE_ARGS]
    for assignment in assignments:
        args += ["--variant", assignment]
    return args


def run_against(
    settings: PipelineSettings, *assignments: str, max_tokens: int = 100, token: str = "dev-token"
) -> tuple[DoctorOutcome, int]:
    """One doctor run against a fresh simulator; the outcome and the tokens it charged."""
    with running_simulator(simulator_args(*assignments)) as sim:
        api = ApiSettings(base_url=sim.url, token=token)
        outcome = doctor(
            settings,
            api,
            conninfo=None,
            run_id="test-doctor",
            max_tokens=max_tokens,
            now=lambda: FROZEN_NOW,
        )
        charged = sim.stats()["tokens_spent_total"]
    return outcome, charged


#: Doctor runs by variant assignment: the default values' cases share the run without any.
_RUNS: dict[tuple[str, ...], tuple[DoctorOutcome, int, ApiVariants]] = {}


def cached_run(
    settings: PipelineSettings, *assignments: str
) -> tuple[DoctorOutcome, int, ApiVariants]:
    """The outcome, the tokens the simulator charged and the settings file written."""
    if assignments not in _RUNS:
        outcome, charged = run_against(settings, *assignments)
        written = load_variants(settings.api_contract_file)
        _RUNS[assignments] = (outcome, charged, written)
    return _RUNS[assignments]


@pytest.mark.parametrize(("name", "value"), EVERY_VALUE, ids=[f"{n}={v}" for n, v in EVERY_VALUE])
def test_the_doctor_detects_every_variant_value(pipeline_settings, name, value):
    assumed = VARIANTS_BY_NAME[name].assumed
    assignments = () if value == assumed else (f"{name}={value}",)
    outcome, charged, written = cached_run(pipeline_settings, *assignments)
    result = outcome.result

    assert getattr(written, name) == value  # the settings file the client reads says so
    assert written.differences() == ({} if value == assumed else {name: value})
    assert result.unknown == []
    rows = [f for f in result.findings if f.variant == name and f.value is not None]
    assert rows, f"no row settles {name}"
    expected = Verdict.HOLDS if value == assumed else Verdict.DIFFERS
    assert {(f.value, f.verdict) for f in rows} == {(value, expected)}
    assert result.ok, result.blockers
    # what the doctor counted is what the simulator charged, within the default bound
    assert charged == result.tokens_spent <= 100


@pytest.mark.parametrize("max_tokens", [0, 7, 25])
def test_the_doctor_never_spends_more_than_max_tokens(pipeline_settings, max_tokens):
    outcome, charged = run_against(pipeline_settings, max_tokens=max_tokens)
    result = outcome.result
    assert charged == result.tokens_spent <= max_tokens
    skipped = [f for f in result.findings if f.api_does.startswith(("skipped", "stopped"))]
    assert skipped and all(f.verdict is Verdict.UNKNOWN for f in skipped)
    assert sum(f.tokens for f in result.findings) == result.tokens_spent


def test_unknown_variants_keep_the_value_the_settings_file_had(pipeline_settings):
    previous = ApiVariants().with_values(same_tz_merge="merged", cursor_key="cursor")
    dump_variants(previous, pipeline_settings.api_contract_file)
    outcome, _ = run_against(pipeline_settings, max_tokens=25)
    written = load_variants(pipeline_settings.api_contract_file)
    assert "same_tz_merge" in outcome.result.unknown
    assert written.same_tz_merge == "merged"
    document = yaml.safe_load(pipeline_settings.api_contract_file.read_text())
    assert "same_tz_merge" in document["doctor"]["unknown"]


@pytest.fixture
def cli_env(monkeypatch, pipeline_settings):
    monkeypatch.setenv("PLACEWISE_CLUBS_FILE", str(pipeline_settings.clubs_file))
    monkeypatch.setenv("PLACEWISE_API_CONTRACT_FILE", str(pipeline_settings.api_contract_file))
    monkeypatch.setenv("PLACEWISE_API_TOKEN", "dev-token")
    monkeypatch.delenv("WAREHOUSE_URL", raising=False)
    return monkeypatch


def test_no_reconciliation_source_exits_1_with_one_line_of_advice(
    cli_env, pipeline_settings, capsys
):
    args = simulator_args("cross_customer_query=refused", "exports=absent")
    with running_simulator(args) as sim:
        cli_env.setenv("PLACEWISE_API_URL", sim.url)
        code = main(["doctor"])
    out = capsys.readouterr().out
    assert code == 1
    advice = [line for line in out.splitlines() if line.startswith("cannot absorb:")]
    assert advice == [
        "cannot absorb: no reconciliation source: the query endpoint refuses several customers "
        "and the exports are absent, so the API's cross-club totals cannot be fetched: ask "
        "Placewise to enable the tenants export (or cross-customer queries) for this token"
    ]
    written = load_variants(pipeline_settings.api_contract_file)
    assert (written.cross_customer_query, written.exports) == ("refused", "absent")


def test_a_token_no_scheme_accepts_exits_1_and_writes_nothing(cli_env, pipeline_settings, capsys):
    cli_env.setenv("PLACEWISE_API_TOKEN", "not-the-token")
    with running_simulator(simulator_args()) as sim:
        cli_env.setenv("PLACEWISE_API_URL", sim.url)
        code = main(["doctor"])
        charged = sim.stats()["tokens_spent_total"]
    out = capsys.readouterr().out
    assert code == 1
    [advice] = [line for line in out.splitlines() if line.startswith("cannot absorb:")]
    assert "refuses PLACEWISE_API_TOKEN under every scheme" in advice
    assert "PLACEWISE_AUTH_HEADER" in advice
    assert "not-the-token" not in out
    assert not pipeline_settings.api_contract_file.exists()
    assert charged == 0


def test_the_cli_prints_the_plan_first_then_the_table(cli_env, capsys):
    with running_simulator(simulator_args()) as sim:
        cli_env.setenv("PLACEWISE_API_URL", sim.url)
        code = main(["doctor", "--max-tokens", "40"])
    out = capsys.readouterr().out
    assert code == 0
    plan_at = out.index("plan (tokens each probe may spend")
    table_at = out.index("assumption")
    assert plan_at < table_at
    assert "budget --max-tokens 40" in out
    header = out[table_at:].splitlines()[0]
    assert [c.strip() for c in header.split("|")] == [
        "assumption",
        "we assume",
        "the API does",
        "holds / differs / unknown",
        "tokens",
    ]
    assert "dev-token" not in out
    assert main(["doctor", "--check"]) == 0


def test_the_dag_task_stores_findings_and_metadata_and_fails_on_what_cannot_be_absorbed(
    pipeline_settings, fresh_database
):
    migrate(fresh_database)
    logged: list[str] = []
    with running_simulator(simulator_args("menu_only_reports=served")) as sim:
        api = ApiSettings(base_url=sim.url, token="dev-token")
        payload = tasks.run_doctor(
            {"max_tokens": 60},
            settings=pipeline_settings,
            api=api,
            conninfo=fresh_database,
            run_id="manual__1",
            log_line=logged.append,
        )
    assert payload["differences"] == {"menu_only_reports": "served"}
    assert payload["tokens_spent"] <= 60 and payload["blockers"] == []
    assert any(line.startswith("plan (tokens") for line in logged)
    assert any(line.startswith("assumption") for line in logged)
    with psycopg.connect(fresh_database) as conn:
        rows = conn.execute(
            "select assumption, verdict, tokens from placewise_ops.api_findings "
            "where run_id = 'manual__1' order by position"
        ).fetchall()
        cached = dict(conn.execute("select report, metadata from placewise_ops.report_metadata"))
    assert ("menu_only_reports", "differs", 1) in rows
    assert sum(tokens for _, _, tokens in rows) == payload["tokens_spent"]
    assert cached["offers"]["result_type"] == "records"  # the menu-only report it read
    assert set(configured_reports(CLUBS)) <= set(cached)

    with running_simulator(simulator_args("cross_customer_query=refused", "exports=absent")) as sim:
        api = ApiSettings(base_url=sim.url, token="dev-token")
        with pytest.raises(tasks.DoctorBlockedError, match="no reconciliation source"):
            tasks.run_doctor(
                {},
                settings=pipeline_settings,
                api=api,
                conninfo=fresh_database,
                run_id="manual__2",
                log_line=logged.append,
            )
    assert any(line.startswith("cannot absorb: no reconciliation source") for line in logged)
    with psycopg.connect(fresh_database) as conn:
        [(count,)] = conn.execute(
            "select count(*) from placewise_ops.api_findings where run_id = 'manual__2'"
        ).fetchall()
    assert count > 0  # what it found is kept even when the run fails


def test_absent_exports_block_a_pipeline_set_to_extract_through_them(pipeline_settings):
    exporting = dataclasses.replace(pipeline_settings, use_export=True)
    outcome, _ = run_against(exporting, "exports=absent")
    assert outcome.result.blockers == [
        "the export endpoints answer 404 but PLACEWISE_EXTRACT_MODE=export: set "
        "PLACEWISE_EXTRACT_MODE=query (the documented endpoint, paged)"
    ]
    assert load_variants(exporting.api_contract_file).exports == "absent"
