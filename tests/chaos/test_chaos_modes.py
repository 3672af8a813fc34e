"""Corrupted API answers: each is quarantined with a reason that names it, or accepted by design.

Every mode corrupts one slice of a small sync (two clubs, three days, every default report and
the tenants exports) through the chaos proxy; modes of one batch share a sync and a dbt build.
Against the clean run of the same simulator (frozen clock) the tests check, per mode, the
slice's outcome, its quarantine reason and its landed body, and per batch that every other slice
loaded exactly as in the clean run and that the marts hold no value the API did not send.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

import pytest
from chaos_harness import (
    DAY_COLUMNS,
    RunResult,
    chaos_batches,
    partition_of,
    partitions_of,
    rows_inside,
    rows_outside,
)
from chaos_modes import ALL_MODES, MODES, OPEN_MODES, Mode
from placewise.sync import OutcomeStatus

pytestmark = [pytest.mark.chaos, pytest.mark.integration, pytest.mark.slow]

BATCHES = chaos_batches(ALL_MODES, Path(tempfile.gettempdir()) / "placewise-chaos-plan")


def quarantine_targets(run: RunResult) -> dict[str, Mode]:
    return {k: m for k, m in run.assignment.items() if m.expect.outcome == "quarantine"}


def test_the_clean_run_loads_every_slice_and_dbt_build_passes(chaos_runs):
    base = chaos_runs.baseline
    assert base.summary.failures == [], base.summary.text()
    assert base.summary.count(OutcomeStatus.LOADED) == len(base.specs)
    assert base.quarantine_reasons == {}
    assert base.dbt_models_failed == [] and base.dbt_tests_failed == []
    assert all(rows for rows in base.raw.values()), "every raw table has rows in the clean run"
    assert all(e.corrupted is False for e in base.exchanges)


def test_modes_cover_every_kind_of_slice_and_fit_in_few_batches():
    assert len(ALL_MODES) >= 50
    assert {m.kind for m in ALL_MODES} == {"statistics", "tenants", "timeseries", "records"}
    placed = [m for batch in BATCHES for m in batch.values()]
    assert sorted(m.name for m in placed) == sorted(MODES)
    assert len(BATCHES) <= 3


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=OPEN_MODES[n]))
        if n in OPEN_MODES
        else n
        for n in sorted(MODES)
    ],
)
def test_corrupted_answer_is_quarantined_naming_the_problem_or_accepted(chaos_runs, name):
    mode = MODES[name]
    run = chaos_runs.batch(chaos_runs.batch_of(mode))
    base = chaos_runs.baseline
    spec = run.spec(chaos_runs.slice_of(mode))
    sent = run.sent(spec)
    assert sent and sent[0].corrupted, f"the proxy did not corrupt {spec.description}"
    outcome = next(o for o in run.summary.outcomes if o.slice_key == spec.slice_key)
    reasons = run.quarantine_reasons.get(spec.slice_key, [])
    partitions = partitions_of(spec)
    if mode.expect.outcome == "quarantine":
        assert outcome.status == OutcomeStatus.QUARANTINED, (
            f"{name}: {spec.description} ended {outcome.status} ({outcome.error}), "
            f"expected quarantined"
        )
        assert any(mode.expect.matches(r) for r in reasons), (
            f"{name}: quarantine reason {reasons} does not name the problem "
            f"(/{mode.expect.pattern}/)"
        )
        assert rows_inside(run.raw, spec.report, partitions) == Counter(), (
            f"{name}: rows of the quarantined slice reached placewise_raw.{spec.report}"
        )
    else:
        assert outcome.status == OutcomeStatus.LOADED, (
            f"{name} is accepted ({mode.expect.why}) but {spec.description} ended "
            f"{outcome.status}: {outcome.error}"
        )
        assert reasons == []
        assert rows_inside(run.raw, spec.report, partitions) == rows_inside(
            base.raw, spec.report, partitions
        ), f"{name}: the accepted answer loaded other rows than the clean one"
    if mode.retried:
        assert not sent[-1].corrupted and len(sent) >= 2, f"{name}: the client did not retry"
    # the landing root keeps what the proxy sent, byte for byte (a body that could not be
    # decoded never became a body: the retry's answer is the one landed)
    assert run.landed_bodies(spec) == [sent[-1].body]


@pytest.mark.parametrize("batch", range(len(BATCHES)))
def test_every_other_slice_of_the_batch_loads_as_in_the_clean_run(chaos_runs, batch):
    run = chaos_runs.batch(batch)
    base = chaos_runs.baseline
    others = [o for o in run.summary.outcomes if o.slice_key not in run.assignment]
    bad = [f"{o.description}: {o.status}: {o.error}" for o in others if o.status != "loaded"]
    assert bad == [], "\n".join(bad)
    excluded: dict[str, set[tuple[str, ...]]] = {}
    for key in run.assignment:  # corrupted slices are checked one by one by the mode tests
        spec = run.spec(key)
        excluded.setdefault(spec.report, set()).update(partitions_of(spec))
    kept, clean = rows_outside(run.raw, excluded), rows_outside(base.raw, excluded)
    for report in clean:
        assert kept[report] == clean[report], (
            f"placewise_raw.{report} differs from the clean run outside the quarantined slices: "
            f"{sorted((kept[report] - clean[report]).elements())[:5]} extra, "
            f"{sorted((clean[report] - kept[report]).elements())[:5]} missing"
        )


@pytest.mark.parametrize("batch", range(len(BATCHES)))
def test_every_landed_body_is_byte_for_byte_what_the_proxy_sent(chaos_runs, batch):
    run = chaos_runs.batch(batch)
    wrong = [
        s.description
        for s in run.specs
        if run.landed_bodies(s) and run.landed_bodies(s) != [run.sent(s)[-1].body]
    ]
    assert wrong == []
    assert sum(1 for e in run.exchanges if e.corrupted) == len(run.assignment)


def _open_club_days(run: RunResult) -> set[tuple[str, str]]:
    """(club, day) pairs of the slices whose modes are still open (``OPEN_MODES``)."""
    return {
        (str(c), str(d))
        for key, mode in run.assignment.items()
        if mode.name in OPEN_MODES
        for spec in [run.spec(key)]
        if spec.window is not None
        for c in spec.customer.club_ids or ()
        for d in spec.window.day_list()
    }


def _quarantined_club_days(run: RunResult) -> tuple[set[tuple[str, str]], set[str], set[str]]:
    """(club, day) pairs, days and clubs touched by the batch's quarantined slices.

    Those meant to be quarantined and those that were (a wrongly quarantined slice fails its
    mode's test; here it only explains the rows it took out of the marts).
    """
    club_days: set[tuple[str, str]] = set()
    days: set[str] = set()
    clubs: set[str] = set()
    for key in set(quarantine_targets(run)) | set(run.quarantine_reasons):
        spec = run.spec(key)
        ids = [str(c) for c in spec.customer.club_ids or ()]
        clubs.update(ids)
        if spec.window is not None:
            for day in spec.window.day_list():
                days.add(str(day))
                club_days.update((c, str(day)) for c in ids)
    return club_days, days, clubs


@pytest.mark.parametrize("batch", range(len(BATCHES)))
def test_marts_hold_no_value_the_api_did_not_send(chaos_runs, batch):
    run = chaos_runs.batch(batch)
    base = chaos_runs.baseline
    errors = [line for line in run.dbt_models_failed if ": skipped:" not in line]
    assert errors == [], "a value reached the marts that SQL refused:\n" + "\n".join(errors)
    club_days, days, clubs = _quarantined_club_days(run)
    open_club_days = _open_club_days(run)
    problems: list[str] = []
    for table, (columns, clean_rows) in base.marts.items():
        if table not in run.marts:  # not built (see the test of skipped models)
            continue
        chaos_columns, rows = run.marts[table]
        assert chaos_columns == columns
        club = columns.index("loyalty_club_id") if "loyalty_club_id" in columns else None
        day = next((columns.index(c) for c in ("stat_date", "bucket_date") if c in columns), None)

        def explained(row: tuple[str, ...], *, invented: bool, club=club, day=day) -> bool:
            if club is not None and day is not None and (row[club], row[day]) in open_club_days:
                return True  # an open mode's own slice (OPEN_MODES): its mode test is an xfail
            if club is None:  # a cross-club figure: differs on any day a club's slice is missing
                return day is not None and row[day] in days
            if invented:  # a per-club row the clean run does not have
                return False
            if day is None:
                return row[club] in clubs
            return (row[club], row[day]) in club_days

        extra = [r for r in (rows - clean_rows).elements() if not explained(r, invented=True)]
        missing = [r for r in (clean_rows - rows).elements() if not explained(r, invented=False)]
        if extra:
            problems.append(f"{table}: {len(extra)} rows the clean run lacks, e.g. {extra[:2]}")
        if missing:
            problems.append(f"{table}: {len(missing)} rows lost, e.g. {missing[:2]}")
    assert problems == [], "\n".join(problems)


def test_dbt_build_builds_every_mart_while_a_slice_is_quarantined(chaos_runs):
    skipped = [
        line
        for batch in range(len(BATCHES))
        for run in (chaos_runs.batch(batch), chaos_runs.restated(batch))
        for line in run.dbt_models_failed
        if ": skipped:" in line
    ]
    assert skipped == [], "\n".join(skipped)


@pytest.mark.parametrize("batch", range(len(BATCHES)))
def test_over_a_loaded_warehouse_quarantined_slices_keep_their_previous_version(chaos_runs, batch):
    """The batch again, over a copy of the clean run's warehouse and marts: every partition of a
    quarantined slice keeps the clean version, every other slice is unchanged, and after
    ``dbt build`` raw tables and marts equal the clean run's."""
    run = chaos_runs.restated(batch)
    base = chaos_runs.baseline
    others = [o for o in run.summary.outcomes if o.slice_key not in run.assignment]
    bad = [f"{o.description}: {o.status}: {o.error}" for o in others if o.status != "unchanged"]
    assert bad == [], "\n".join(bad)
    open_slices = [run.spec(k) for k, m in run.assignment.items() if m.name in OPEN_MODES]
    excluded: dict[str, set[tuple[str, ...]]] = {}
    for spec in open_slices:  # what an open mode does to its own slice is its test's business
        excluded.setdefault(spec.report, set()).update(partitions_of(spec))
    kept, clean = rows_outside(run.raw, excluded), rows_outside(base.raw, excluded)
    differing = {
        report: sorted(
            {partition_of(report, r) for r in (rows - clean[report]) | (clean[report] - rows)}
        )
        for report, rows in kept.items()
        if rows != clean[report]
    }
    assert differing == {}, f"partitions that lost the clean version: {differing}"
    errors = [line for line in run.dbt_models_failed if ": skipped:" not in line]
    assert errors == [], "\n".join(errors)
    open_club_days = _open_club_days(run)
    changed = {}
    for table, (columns, clean_rows) in base.marts.items():
        if table not in run.marts:  # not built (see the test of skipped models)
            continue
        rows = run.marts[table][1]
        if "loyalty_club_id" in columns and any(c in columns for c in DAY_COLUMNS):
            club = columns.index("loyalty_club_id")
            day = next(columns.index(c) for c in DAY_COLUMNS if c in columns)
            diff = [
                r
                for r in ((rows - clean_rows) + (clean_rows - rows)).elements()
                if (r[club], r[day]) not in open_club_days
            ]
        elif any(c in columns for c in DAY_COLUMNS):  # cross-club figures of those days
            day = next(columns.index(c) for c in DAY_COLUMNS if c in columns)
            open_days = {d for _, d in open_club_days}
            diff = [
                r
                for r in ((rows - clean_rows) + (clean_rows - rows)).elements()
                if r[day] not in open_days
            ]
        else:
            diff = list(((rows - clean_rows) + (clean_rows - rows)).elements())
        if diff:
            changed[table] = diff[:2]
    assert changed == {}, f"marts that differ from the clean run: {changed}"
