"""The ``placewise`` operator CLI against the simulator and a real PostgreSQL."""

from __future__ import annotations

import json
from datetime import date

import psycopg
import pytest
from placewise.api.catalog import CATALOG, get_report
from placewise.api.customer import CustomerSelector
from placewise.cli import main
from placewise.config import REPO_ROOT
from placewise.extract.plan import SliceSpec, plan_club, plan_tenants, total_cost
from placewise.extract.windows import Window
from placewise.landing.store import LandingStore, SliceManifest
from placewise.service import migrate

pytestmark = pytest.mark.integration

CLUBS_FILE = str(REPO_ROOT / "config" / "clubs.yml")
DAYS = ["--from", "2026-11-25", "--to", "2026-11-26"]
SELECTION = [*DAYS, "--club", "1001", "--club", "1002", "--report", "sendings_stats"]
SELECTION += ["--report", "sendings"]


@pytest.fixture
def env(monkeypatch, tmp_path):
    """A clean CLI environment: settings only, no credentials."""
    for name in ("WAREHOUSE_URL", "PLACEWISE_API_URL", "PLACEWISE_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PLACEWISE_LANDING_ROOT", str(tmp_path / "landing"))
    monkeypatch.setenv("PLACEWISE_CLUBS_FILE", CLUBS_FILE)
    monkeypatch.setenv("PLACEWISE_RATE_CAPACITY", "100000")
    monkeypatch.setenv("PLACEWISE_RATE_REFILL_PER_S", "100000")
    monkeypatch.delenv("PLACEWISE_EXTRACT_MODE", raising=False)
    return monkeypatch


@pytest.fixture
def live_env(env, simulator, fresh_database):
    """The simulator and a fresh, migrated warehouse (``placewise migrate`` comes first)."""
    migrate(fresh_database)
    env.setenv("PLACEWISE_API_URL", simulator.url)
    env.setenv("PLACEWISE_API_TOKEN", "dev-token")
    env.setenv("WAREHOUSE_URL", fresh_database)
    return env


def raw_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {
            table: conn.execute(f"select count(*) from placewise_raw.{table}").fetchone()[0]
            for table in ("sendings_stats", "sendings")
        }


def single_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_plan_prints_every_slice_with_its_cost_and_the_total(env, capsys):
    assert main(["plan", *SELECTION, "--tenants"]) == 0
    out = capsys.readouterr().out.splitlines()
    first, last = date(2026, 11, 25), date(2026, 11, 26)
    expected = [
        s
        for club in (1001, 1002)
        for s in plan_club(club, first, last, reports=["sendings_stats", "sendings"])
    ]
    expected += plan_tenants([1001, 1002], first, last)
    slice_lines = out[:-1]
    assert len(slice_lines) == len(expected)
    for line, spec in zip(slice_lines, expected, strict=True):
        assert line.split()[0] == str(spec.token_cost())
        assert line.endswith(spec.description)
    assert out[-1] == (
        f"{len(expected)} slices for clubs 1001, 1002, 2026-11-25..2026-11-26: "
        f"{total_cost(expected)} tokens"
    )


def test_plan_needs_no_credentials_and_makes_no_api_call(env, simulator, capsys):
    simulator.reset_stats()
    assert main(["plan", *DAYS]) == 0
    assert "tokens" in capsys.readouterr().out
    assert simulator.stats()["requests_total"] == 0


def test_plan_uses_the_query_endpoint_in_query_mode(env, capsys):
    env.setenv("PLACEWISE_EXTRACT_MODE", "query")
    assert main(["plan", *DAYS, "--club", "1001", "--report", "sendings_stats"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert all(" query " in line for line in out[:-1])
    assert out[-1].endswith(f"{10 * 2} tokens")


def test_plan_of_one_club_for_eight_days_costs_the_query_endpoint_minimum(env, capsys, tmp_path):
    env.setenv("PLACEWISE_API_CONTRACT_FILE", str(tmp_path / "api-contract.yml"))
    assert main(["plan", "--from", "2026-11-19", "--to", "2026-11-26", "--club", "1001"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert all(" query " in line for line in out[:-1])  # the documented endpoint by default
    cost = {name: get_report(name).token_cost for name in CATALOG}
    by_hand = (
        5 * 8 * cost["sendings_stats"]  # five aggregations, one request per day each
        + 2 * cost["sendings_events_history"]  # none, channel: one request each
        + 2 * cost["links_visits_history"]  # none, source_type
        + cost["member_balance"]
        + cost["members_count_history"]
        + cost["sendings"]
        + cost["sendings_links_stats"]
        + cost["members_grouped_count"]
    )
    assert by_hand == 104  # the reports and aggregations the nightly has always loaded
    by_hand += (
        cost["members_count_snapshot"]
        + cost["member_balance"]  # by consents
        + cost["members_count_history"]  # by grouping_type
    )
    assert (
        out[-1] == f"{len(out) - 1} slices for clubs 1001, 2026-11-19..2026-11-26: {by_hand} tokens"
    )


def test_sync_then_replay_loads_the_same_rows_and_replay_makes_no_api_call(
    live_env, simulator, fresh_database, capsys
):
    assert main(["sync", *SELECTION, "--tenants"]) == 0
    out = capsys.readouterr().out
    planned = 2 * (2 * 5 + 1) + 2 * 5  # 2 clubs x (2 days x 5 aggs + 1 snapshot) + tenants
    assert out.startswith(f"{planned} slices: {planned} loaded, 0 skipped, 0 failed")
    loaded = raw_counts(fresh_database)
    assert loaded["sendings_stats"] > 0 and loaded["sendings"] > 0

    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("truncate placewise_raw.sendings_stats, placewise_raw.sendings")
        conn.execute("truncate placewise_ops.slices, placewise_ops.loaded_partitions")
    live_env.delenv("PLACEWISE_API_URL")
    live_env.delenv("PLACEWISE_API_TOKEN")
    simulator.reset_stats()
    assert main(["replay", *DAYS]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{planned} slices: {planned} loaded, 0 skipped, 0 failed")
    assert simulator.stats()["requests_total"] == 0
    assert raw_counts(fresh_database) == loaded


def land_member_balance(store: LandingStore, first: date, last: date, value: int, fetched_at: str):
    """Land a member_balance answer of club 1001 with ``value`` in every daily bucket."""
    spec = SliceSpec(
        "member_balance", CustomerSelector.club(1001), None, Window.days(first, last), "1d"
    )
    days = spec.window.day_list()
    payload = {
        "interval": "1d",
        "range_timezone": "Europe/Oslo",
        "time_buckets": [f"{d.isoformat()}T00:00:00.000+01:00" for d in days],
        "series": [{"label": {"type": "in"}, "values": [value] * len(days)}],
        "data_points": len(days),
        "result_type": "timeseries",
    }
    parts = []
    with store.open_sink(parts) as sink:
        sink.write(json.dumps(payload).encode())
    store.write_manifest(
        SliceManifest(
            slice_key=spec.slice_key,
            report=spec.report,
            scope=spec.scope,
            club_ids=[1001],
            aggregation=spec.aggregation_name,
            interval=spec.partition_interval,
            window_start=spec.window.start.isoformat(),
            window_end=spec.window.end.isoformat(),
            endpoint=str(spec.endpoint),
            request_body=spec.body(),
            parts=parts,
            fetched_at=fetched_at,
        )
    )


def test_replay_of_overlapping_windows_keeps_the_newest_fetch_of_each_day(
    env, fresh_database, tmp_path, capsys
):
    migrate(fresh_database)
    env.setenv("WAREHOUSE_URL", fresh_database)
    store = LandingStore(tmp_path / "landing")
    # A nightly window fetched first, then a backfill over a wider, earlier-starting window
    # fetched later with restated figures: the backfill's answer must win on the shared days.
    land_member_balance(
        store, date(2026, 11, 13), date(2026, 11, 20), 1, "2026-11-21T02:30:00.000000+00:00"
    )
    land_member_balance(
        store, date(2026, 11, 1), date(2026, 11, 24), 2, "2026-11-25T10:00:00.000000+00:00"
    )
    assert main(["replay", "--report", "member_balance"]) == 0
    assert capsys.readouterr().out.startswith("2 slices: 2 loaded")
    with psycopg.connect(fresh_database) as conn:
        values = dict(
            conn.execute("select bucket_date, value from placewise_raw.member_balance").fetchall()
        )
    assert len(values) == 24
    assert set(values.values()) == {2}


def test_sync_resume_skips_slices_already_loaded(live_env, simulator, capsys):
    args = ["sync", *DAYS, "--club", "1001", "--report", "sendings_stats"]
    assert main(args) == 0
    capsys.readouterr()
    simulator.reset_stats()
    assert main([*args, "--resume"]) == 0
    assert capsys.readouterr().out.startswith("10 slices: 0 loaded, 10 skipped")
    assert simulator.stats()["requests_total"] == 0


def test_replay_filters_by_club_and_report(live_env, capsys):
    assert main(["sync", *SELECTION]) == 0
    capsys.readouterr()
    assert main(["replay", "--club", "1002", "--report", "sendings"]) == 0
    # The warehouse already holds exactly that landed answer: reported unchanged, not loaded.
    assert capsys.readouterr().out.startswith("1 slices: 0 loaded, 1 unchanged")


def test_sync_exits_1_and_names_the_slice_when_a_slice_fails(live_env, tmp_path, capsys):
    registry = tmp_path / "clubs.yml"
    registry.write_text("clubs:\n  - {id: 1001, name: Oslo}\n  - {id: 4242, name: Unknown}\n")
    live_env.setenv("PLACEWISE_CLUBS_FILE", str(registry))
    code = main(["sync", "--from", "2026-11-26", "--to", "2026-11-26", "--report", "sendings"])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "2 slices: 1 loaded, 0 skipped, 1 failed" in out
    assert "failed: sendings agg=none club 4242 snapshot" in out


def test_sync_records_a_malformed_query_answer_per_slice_and_goes_on(
    env, fresh_database, monkeypatch, capsys
):
    import httpx
    from placewise import service
    from placewise.api.client import PlacewiseClient, RetryPolicy

    def garbage(request):
        return httpx.Response(200, content=b'{"records": [1, 2', headers={"ratelimit-cost": "2"})

    def client_with_garbage(api, pacer=None, variants=None):
        return PlacewiseClient(
            api,
            transport=httpx.MockTransport(garbage),
            retry=RetryPolicy(max_attempts=1),
            variants=variants,
        )

    monkeypatch.setattr(service, "PlacewiseClient", client_with_garbage)
    migrate(fresh_database)
    env.setenv("WAREHOUSE_URL", fresh_database)
    env.setenv("PLACEWISE_API_URL", "https://api.test")
    env.setenv("PLACEWISE_API_TOKEN", "dev-token")
    env.setenv("PLACEWISE_EXTRACT_MODE", "query")
    argv = ["sync", *DAYS, "--club", "1001", "--club", "1002", "--report", "sendings"]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert out.startswith("2 slices: 0 loaded, 0 skipped, 2 failed")
    for club in (1001, 1002):
        assert f"failed: sendings agg=none club {club} snapshot: malformed API answer" in out


def test_sync_with_a_bad_token_exits_2_with_one_line(live_env, capsys):
    live_env.setenv("PLACEWISE_API_TOKEN", "wrong-token")
    assert main(["sync", *DAYS, "--club", "1001", "--report", "sendings"]) == 2
    line = single_line_error(capsys.readouterr().err)
    assert line.startswith("placewise sync: error:")
    assert "401" in line and "wrong-token" not in line


def test_migrate_creates_the_warehouse_schemas(env, fresh_database, capsys):
    env.setenv("WAREHOUSE_URL", fresh_database)
    assert main(["migrate"]) == 0
    assert "up to date" in capsys.readouterr().out
    with psycopg.connect(fresh_database) as conn:
        schemas = {
            r[0]
            for r in conn.execute("select schema_name from information_schema.schemata").fetchall()
        }
    assert {"placewise_raw", "placewise_ops"} <= schemas


def test_migrate_twice_is_harmless_and_keeps_what_was_loaded(live_env, fresh_database, capsys):
    args = ["sync", *DAYS, "--club", "1001", "--report", "sendings"]
    assert main(args) == 0
    before = raw_counts(fresh_database)
    assert main(["migrate"]) == 0
    assert main(["migrate"]) == 0
    assert raw_counts(fresh_database) == before and before["sendings"] > 0


@pytest.mark.parametrize("argv", [["sync", *DAYS, "--club", "1001"], ["replay"]])
def test_an_unmigrated_warehouse_exits_2_telling_to_run_placewise_migrate(
    env, simulator, fresh_database, tmp_path, capsys, argv
):
    env.setenv("WAREHOUSE_URL", fresh_database)
    env.setenv("PLACEWISE_API_URL", simulator.url)
    env.setenv("PLACEWISE_API_TOKEN", "dev-token")
    simulator.reset_stats()
    if argv[0] == "replay":  # something landed, so the replay gets as far as the warehouse
        land_member_balance(
            LandingStore(tmp_path / "landing"),
            date(2026, 11, 1),
            date(2026, 11, 2),
            1,
            "2026-11-03T02:30:00.000000+00:00",
        )
    assert main(argv) == 2
    line = single_line_error(capsys.readouterr().err)
    assert line.startswith(f"placewise {argv[0]}: error: the warehouse is not migrated (")
    assert "run `placewise migrate`" in line
    assert "does not exist" not in line
    assert simulator.stats()["requests_total"] == 0  # nothing was fetched before the check
    with psycopg.connect(fresh_database) as conn:  # and nothing was created behind the user
        assert conn.execute(
            "select count(*) from information_schema.schemata where schema_name like 'placewise%%'"
        ).fetchone() == (0,)


def test_clubs_prints_the_registry(env, capsys):
    assert main(["clubs"]) == 0
    out = capsys.readouterr().out
    assert "1001  Club 1001 Oslo City  [enabled" in out
    assert out.splitlines()[-1] == f"3 clubs (3 enabled) in {CLUBS_FILE}"


@pytest.mark.parametrize(
    ("argv", "missing"),
    [
        (["sync", *DAYS], "WAREHOUSE_URL"),
        (["replay"], "WAREHOUSE_URL"),
        (["migrate"], "WAREHOUSE_URL"),
    ],
)
def test_missing_warehouse_url_exits_2_naming_it(env, capsys, argv, missing):
    assert main(argv) == 2
    line = single_line_error(capsys.readouterr().err)
    assert missing in line


@pytest.mark.parametrize("missing", ["PLACEWISE_API_URL", "PLACEWISE_API_TOKEN"])
def test_missing_api_setting_exits_2_naming_it(env, capsys, missing):
    env.setenv("WAREHOUSE_URL", "postgresql://nobody@127.0.0.1:1/none")
    env.setenv("PLACEWISE_API_URL", "http://127.0.0.1:1")
    env.setenv("PLACEWISE_API_TOKEN", "dev-token")
    env.delenv(missing)
    assert main(["sync", *DAYS]) == 2
    line = single_line_error(capsys.readouterr().err)
    assert f"{missing} is not set" in line


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["plan", "--from", "2026-13-01", "--to", "2026-11-26"], "bad date '2026-13-01'"),
        (["plan", "--from", "2026-11-27", "--to", "2026-11-26"], "is before --from"),
        (["plan", *DAYS, "--club", "abc"], "bad club id 'abc'"),
        (["plan", *DAYS, "--club", "4242"], "[4242] are not in the registry"),
        (["plan", *DAYS, "--report", "nope"], "unknown report 'nope'"),
        (["plan", "--to", "2026-11-26"], "--from"),
    ],
)
def test_bad_arguments_exit_2_with_one_clear_line(env, capsys, argv, fragment):
    assert main(argv) == 2
    line = single_line_error(capsys.readouterr().err)
    assert fragment in line


def test_registry_error_exits_2_with_one_line(env, tmp_path, capsys):
    registry = tmp_path / "clubs.yml"
    registry.write_text("clubs:\n  - {id: 1001, name: Oslo, colour: red}\n")
    env.setenv("PLACEWISE_CLUBS_FILE", str(registry))
    assert main(["clubs"]) == 2
    line = single_line_error(capsys.readouterr().err)
    assert "unknown key(s) ['colour']" in line and str(registry) in line


def test_missing_registry_file_exits_2_naming_the_setting(env, tmp_path, capsys):
    env.setenv("PLACEWISE_CLUBS_FILE", str(tmp_path / "absent.yml"))
    assert main(["plan", *DAYS]) == 2
    assert "PLACEWISE_CLUBS_FILE" in single_line_error(capsys.readouterr().err)


def test_bad_pipeline_setting_exits_2_with_one_line(env, capsys):
    env.setenv("PLACEWISE_RESTATEMENT_DAYS", "seven")
    assert main(["clubs"]) == 2
    assert "PLACEWISE_RESTATEMENT_DAYS" in single_line_error(capsys.readouterr().err)


def test_a_club_named_twice_is_planned_once(env, capsys):
    assert main(["plan", *DAYS, "--club", "1001", "--report", "sendings"]) == 0
    once = capsys.readouterr().out
    assert main(["plan", *DAYS, "--club", "1001", "--club", "1001", "--report", "sendings"]) == 0
    assert capsys.readouterr().out == once


def test_help_exits_0_and_lists_the_subcommands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("plan", "sync", "replay", "migrate", "clubs"):
        assert command in out


def test_replay_from_a_landing_root_copied_elsewhere_loads_the_same_rows(
    live_env, fresh_database, tmp_path, capsys
):
    import shutil

    assert main(["sync", *SELECTION]) == 0
    capsys.readouterr()
    loaded = raw_counts(fresh_database)
    shutil.copytree(tmp_path / "landing", tmp_path / "restored")
    shutil.rmtree(tmp_path / "landing")
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("truncate placewise_raw.sendings_stats, placewise_raw.sendings")
        conn.execute("truncate placewise_ops.slices, placewise_ops.loaded_partitions")
    live_env.setenv("PLACEWISE_LANDING_ROOT", str(tmp_path / "restored"))
    assert main(["replay", *DAYS]) == 0
    assert capsys.readouterr().out.startswith("22 slices: 22 loaded, 0 skipped, 0 failed")
    assert raw_counts(fresh_database) == loaded
    with psycopg.connect(fresh_database) as conn:
        [paths] = conn.execute(
            "select array_agg(p) from placewise_ops.slices, unnest(landed_paths) p"
        ).fetchone()
    assert paths and all(p.startswith(str(tmp_path / "restored")) for p in paths)


def test_a_sync_rerun_that_changed_nothing_reports_unchanged_and_lands_nothing_new(
    live_env, tmp_path, capsys
):
    args = ["sync", *DAYS, "--club", "1001", "--report", "sendings_stats", "--report", "sendings"]
    assert main(args) == 0
    capsys.readouterr()
    landed = sorted(p for p in (tmp_path / "landing").rglob("*") if p.is_file())
    assert main(args) == 0
    assert capsys.readouterr().out.startswith("11 slices: 0 loaded, 11 unchanged")
    assert sorted(p for p in (tmp_path / "landing").rglob("*") if p.is_file()) == landed


def test_replay_with_quarantined_slices_exits_1_and_lists_each_with_its_reason(
    env, fresh_database, tmp_path, capsys
):
    migrate(fresh_database)
    env.setenv("WAREHOUSE_URL", fresh_database)
    store = LandingStore(tmp_path / "landing")
    land_member_balance(
        store, date(2026, 11, 20), date(2026, 11, 20), 2**63, "2026-11-21T02:30:00+00:00"
    )
    land_member_balance(
        store, date(2026, 11, 21), date(2026, 11, 21), 5, "2026-11-22T02:30:00+00:00"
    )
    assert main(["replay", "--report", "member_balance"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("2 slices: 1 loaded, 0 skipped, 0 failed, 1 quarantined")
    [line] = [line for line in out.splitlines() if line.startswith("  quarantined:")]
    assert "2026-11-20" in line and "beyond the warehouse's bigint range" in line


def test_sync_priority_picks_the_turn_in_the_shared_bucket(live_env, monkeypatch, capsys):
    from placewise import service
    from placewise.sync import SyncSummary

    asked: list[str] = []

    def fake_sync(specs, **kwargs):
        asked.append(kwargs["priority"])
        return SyncSummary()

    monkeypatch.setattr(service, "sync", fake_sync)
    args = ["sync", *DAYS, "--club", "1001", "--report", "sendings_stats"]
    assert main(args) == 0
    assert main([*args, "--priority", "high"]) == 0
    assert main([*args, "--priority", "low"]) == 0
    assert asked == ["normal", "high", "low"]
    capsys.readouterr()
    assert main([*args, "--priority", "urgent"]) == 2
    assert "invalid choice: 'urgent'" in capsys.readouterr().err
