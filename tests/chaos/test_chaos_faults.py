"""Faults around the answers rather than in them: a delayed older answer, a lost warehouse link.

* The as-of race: answer A to a slice is held by the proxy while a later request B for the same
  day gets fresher figures (a simulator whose clock is a day later) and is loaded; A is then
  released and commits last. The newer figures must stay.
* Connection loss: when a chosen request reaches the proxy, every warehouse connection of the
  sync is terminated (``pg_terminate_backend``). ``placewise sync`` must go on or exit 1 naming
  the slice, never exit 2 (a usage error) or crash; a resumed sync then completes the warehouse
  exactly as a clean run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import Counter
from datetime import date

import psycopg
import pytest
from chaos_harness import (
    CLUBS,
    FIRST_DAY,
    LAST_DAY,
    TOKEN,
    raw_snapshot,
    request_key,
    settings_for,
)
from chaos_proxy import ChaosProxy, Rule
from placewise import service
from placewise.api.settings import ApiSettings
from placewise.config import REPO_ROOT
from placewise.landing.store import LandingStore

pytestmark = [pytest.mark.chaos, pytest.mark.integration, pytest.mark.slow]

RACE_DAY = date(2026, 11, 26)
#: The clock of the simulator that gives the older answer: evening of the race day, in Oslo.
OLDER_NOW = "2026-11-26T18:00:00+00:00"


def _series_of(body: bytes) -> Counter[tuple[str, int]]:
    """(label, value) of every series with a value, read from the body itself."""
    doc = json.loads(body)
    return Counter(
        (json.dumps(s["label"], sort_keys=True), s["value"])
        for s in doc["series"]
        if s["value"] is not None
    )


def _raw_series(url: str, scope: str, day: date) -> Counter[tuple[str, int]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select label, value from placewise_raw.sendings_stats "
            "where _scope = %s and aggregation = 'none' and stat_date = %s",
            (scope, day),
        ).fetchall()
    return Counter(
        (
            json.dumps(label if isinstance(label, dict) else json.loads(label), sort_keys=True),
            int(v),
        )
        for label, v in rows
    )


def test_a_delayed_older_answer_committing_last_does_not_replace_the_newer_one(
    simulator, simulator_factory, fresh_database, tmp_path
):
    older = simulator_factory("--seed", "42", "--clubs", "3", "--history-days", "60", now=OLDER_NOW)
    settings = settings_for(tmp_path / "landing")
    service.migrate(fresh_database)
    plan = service.plan_sync(
        settings, RACE_DAY, RACE_DAY, club_ids=[1001], reports=["sendings_stats"]
    )
    spec = next(s for s in plan.specs if s.aggregation is None)
    held = threading.Event()
    outcome: dict[str, object] = {}
    with ChaosProxy(older.url) as proxy:
        rule = proxy.add(Rule(request_key(spec), hold=held))

        def sync_older() -> None:
            try:
                outcome["summary"] = service.sync(
                    [spec],
                    settings=settings,
                    api=ApiSettings(base_url=proxy.url, token=TOKEN),
                    conninfo=fresh_database,
                    run_id="older",
                )
            except Exception as exc:  # reported by the assertion below
                outcome["error"] = exc

        thread = threading.Thread(target=sync_older)
        thread.start()
        assert rule.arrived.wait(60), "request A never reached the proxy"
        newer = service.sync(
            [spec],
            settings=settings,
            api=ApiSettings(base_url=simulator.url, token=TOKEN),
            conninfo=fresh_database,
            run_id="newer",
        )
        assert newer.failures == [], newer.text()
        held.set()
        thread.join(120)
        older_body = proxy.sent_for(request_key(spec))[-1].body
    assert "error" not in outcome, outcome.get("error")
    store = LandingStore(settings.landing_root)
    manifests = sorted(
        (m for m in store.iter_manifests("sendings_stats") if m.slice_key == spec.slice_key),
        key=lambda m: m.fetched_at,
    )
    assert len(manifests) == 2
    with store.open_part(manifests[-1].parts[0]) as fp:
        newer_body = fp.read()
    assert newer_body != older_body
    newer_series, older_series = _series_of(newer_body), _series_of(older_body)
    assert newer_series != older_series, "the two clocks must give different figures"
    assert _raw_series(fresh_database, spec.scope, RACE_DAY) == newer_series, (
        "the older answer, committed last, replaced the newer figures"
    )


def _placewise(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from placewise.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _terminate_backends(server_url: str, database: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity "
            "where datname = %s and pid <> pg_backend_pid()",
            (database,),
        )


def test_a_terminated_warehouse_connection_fails_at_most_the_slice_and_a_resume_completes(
    chaos_runs, simulator, warehouse_server_url, fresh_database, tmp_path
):
    base = chaos_runs.baseline
    service.migrate(fresh_database)
    settings = settings_for(tmp_path / "landing")
    service.register_clubs(fresh_database, settings)
    specs = base.specs
    victim = specs[len(specs) // 2]
    database = psycopg.conninfo.conninfo_to_dict(fresh_database)["dbname"]
    selection = [
        "sync",
        "--from",
        str(FIRST_DAY),
        "--to",
        str(LAST_DAY),
        *(arg for club in CLUBS for arg in ("--club", str(club))),
        "--tenants",
    ]
    with ChaosProxy(simulator.url) as proxy:
        rule = proxy.add(
            Rule(
                request_key(victim),
                on_request=lambda: _terminate_backends(warehouse_server_url, database),
            )
        )
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                [str(REPO_ROOT / "plugins"), str(REPO_ROOT / "simulator")]
            ),
            "WAREHOUSE_URL": fresh_database,
            "PLACEWISE_API_URL": proxy.url,
            "PLACEWISE_API_TOKEN": TOKEN,
            "PLACEWISE_CLUBS_FILE": str(settings.clubs_file),
            "PLACEWISE_LANDING_ROOT": str(settings.landing_root),
            "PLACEWISE_RATE_CAPACITY": "100000",
            "PLACEWISE_RATE_REFILL_PER_S": "100000",
        }
        first = _placewise(env, *selection)
        assert rule.arrived.is_set(), "the victim slice was never requested"
        output = first.stdout + first.stderr
        assert "Traceback" not in output, output[-3000:]
        assert first.returncode in (0, 1), (
            f"exit {first.returncode} after the warehouse connection was lost:\n{output[-3000:]}"
        )
        if first.returncode == 1:
            named = [s.description for s in specs if f"failed: {s.description}:" in output]
            assert named, f"exit 1 without naming the failed slice:\n{output[-3000:]}"
        resumed = _placewise(env, *selection, "--resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert raw_snapshot(fresh_database, base.raw) == base.raw
