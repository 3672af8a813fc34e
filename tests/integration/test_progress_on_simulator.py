"""Progress of real runs: the engine reports every slice, the DAG tasks log a line every N slices,
and ``placewise sync``/``replay`` draw a bar on a terminal and print plain lines elsewhere."""

from __future__ import annotations

import io
import logging
import re
from datetime import date

import pytest
from placewise import service
from placewise.airflow import tasks
from placewise.api.settings import ApiSettings
from placewise.cli import main
from placewise.config import REPO_ROOT, PipelineSettings
from placewise.progress import ProgressReporter
from placewise.registry import load_registry

pytestmark = pytest.mark.integration

FIRST, LAST = date(2026, 11, 20), date(2026, 11, 26)
CLUBS_FILE = REPO_ROOT / "config" / "clubs.yml"
LINE = re.compile(
    r"^(?P<label>.+): (?P<done>\d+)/(?P<total>\d+) slices \((?P<pct>\d+)%\), "
    r"(?P<tokens>\d+) tokens, (?P<rows>\d+) rows; elapsed \S+(, ETA \S+)?$"
)


def settings_for(tmp_path, every: int) -> PipelineSettings:
    return PipelineSettings.from_env(
        {
            "PLACEWISE_CLUBS_FILE": str(CLUBS_FILE),
            "PLACEWISE_LANDING_ROOT": str(tmp_path / "landing"),
            "PLACEWISE_RATE_CAPACITY": "100000",
            "PLACEWISE_RATE_REFILL_PER_S": "100000",
            "PLACEWISE_PROGRESS_EVERY": str(every),
        }
    )


def parsed(lines: list[str]) -> list[dict[str, str]]:
    matches = [LINE.match(line) for line in lines]
    assert all(matches), lines
    return [m.groupdict() for m in matches if m]


def test_the_engine_reports_each_slice_and_the_totals_match_the_summary(
    simulator, fresh_database, tmp_path
):
    settings = settings_for(tmp_path, every=4)
    api = ApiSettings(base_url=simulator.url, token="dev-token")
    service.migrate(fresh_database)
    plan = service.plan_sync(settings, FIRST, LAST, club_ids=[1001])
    lines: list[str] = []
    progress = ProgressReporter.for_log(lines.append, label="sync", every=4)
    summary = service.sync(
        plan.specs,
        settings=settings,
        api=api,
        conninfo=fresh_database,
        run_id="progress",
        progress=progress,
    )
    total = len(plan.specs)
    reports = parsed(lines)
    assert [int(r["done"]) for r in reports] == [*range(4, total, 4), total]
    assert {int(r["total"]) for r in reports} == {total}
    assert (int(reports[-1]["tokens"]), int(reports[-1]["rows"])) == (
        summary.tokens,
        summary.rows,
    )
    assert summary.tokens > 0 and summary.rows > 0

    replayed: list[str] = []
    result = service.replay_landed(
        settings=settings,
        conninfo=fresh_database,
        run_id="progress-replay",
        progress=ProgressReporter.for_log(replayed.append, label="replay", every=1000),
    )
    (last,) = parsed(replayed)
    assert int(last["done"]) == int(last["total"]) == len(result.outcomes)


def test_a_dag_task_logs_a_progress_line_every_n_slices(
    simulator, fresh_database, tmp_path, caplog
):
    settings = settings_for(tmp_path, every=5)
    api = ApiSettings(base_url=simulator.url, token="dev-token")
    service.migrate(fresh_database)
    club = next(c for c in load_registry(CLUBS_FILE) if c.id == 1001)
    (item,) = tasks.work_items([club], FIRST, LAST)
    with caplog.at_level(logging.INFO, logger=tasks.log.name):
        summary = tasks.sync_club(
            item,
            settings=settings,
            api=api,
            conninfo=fresh_database,
            run_id="task-progress",
            skip_loaded=False,
        )
    lines = [r.getMessage() for r in caplog.records if r.name == tasks.log.name]
    reports = parsed(lines)
    total = len(summary.outcomes)
    assert {r["label"] for r in reports} == {tasks.club_label(item["club"])}
    assert [int(r["done"]) for r in reports] == [*range(5, total, 5), total]
    assert int(reports[-1]["tokens"]) == summary.tokens


@pytest.fixture
def cli_env(monkeypatch, simulator, fresh_database, tmp_path):
    for name, value in {
        "PLACEWISE_API_URL": simulator.url,
        "PLACEWISE_API_TOKEN": "dev-token",
        "WAREHOUSE_URL": fresh_database,
        "PLACEWISE_LANDING_ROOT": str(tmp_path / "landing"),
        "PLACEWISE_CLUBS_FILE": str(CLUBS_FILE),
        "PLACEWISE_RATE_CAPACITY": "100000",
        "PLACEWISE_RATE_REFILL_PER_S": "100000",
        "PLACEWISE_PROGRESS_EVERY": "10",
    }.items():
        monkeypatch.setenv(name, value)
    assert main(["migrate"]) == 0
    return monkeypatch


SELECTION = ["--from", "2026-11-25", "--to", "2026-11-26", "--club", "1001"]
SELECTION += ["--report", "sendings_stats", "--report", "sendings_events_history"]


def test_cli_sync_prints_plain_progress_lines_when_stderr_is_not_a_terminal(cli_env, capsys):
    capsys.readouterr()
    assert main(["sync", *SELECTION]) == 0
    captured = capsys.readouterr()
    reports = parsed(captured.err.splitlines())
    total = int(reports[-1]["total"])
    assert [int(r["done"]) for r in reports] == [*range(10, total, 10), total]
    assert {r["label"] for r in reports} == {"sync"}
    # The summary on stdout agrees with the last progress line.
    head = captured.out.splitlines()[0]
    assert head.startswith(f"{total} slices: ")
    # totals, then (with the simulator's bucket at `to`) the dropped buckets
    assert head.split("; ")[1] == f"{reports[-1]['rows']} rows, {reports[-1]['tokens']} tokens"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_cli_sync_and_replay_draw_a_bar_with_tokens_and_eta_on_a_terminal(cli_env, capsys):
    terminal = Terminal()
    cli_env.setattr("sys.stderr", terminal)
    assert main(["sync", *SELECTION]) == 0
    text = terminal.getvalue()
    frames = text.split("\r")[1:]
    assert len(frames) >= 3 and text.endswith("\n") and text.count("\n") == 1
    assert re.match(
        r"sync \[#+-+\] 1/\d+ slices \(\d+%\), \d+ tokens, \d+ rows; elapsed ", frames[0]
    )
    assert ", ETA " in frames[0]
    last = frames[-1]
    assert re.match(r"sync \[#{24}\] (\d+)/\1 slices \(100%\)", last), last
    assert "ETA" not in last

    replay = Terminal()
    cli_env.setattr("sys.stderr", replay)
    assert main(["replay", "--club", "1001"]) == 0
    assert re.search(r"\rreplay \[#{24}\] (\d+)/\1 slices \(100%\), 0 tokens", replay.getvalue())
    capsys.readouterr()


def test_a_bad_progress_setting_is_refused_naming_it(cli_env, capsys):
    cli_env.setenv("PLACEWISE_PROGRESS_EVERY", "0")
    assert main(["sync", *SELECTION]) == 2
    assert "PLACEWISE_PROGRESS_EVERY must be positive, got 0" in capsys.readouterr().err
