"""The Airflow-facing payloads: club and outcome payloads, the run summary, backfill params."""

import json
from datetime import date

import pytest
from placewise.airflow.tasks import (
    OutcomeKind,
    SyncFailedError,
    backfill_days,
    check_outcomes,
    club_from_payload,
    club_payload,
    failure_payload,
    summarise_run,
    summary_payload,
    tenants_label,
    work_items,
)
from placewise.registry import Club, RegistryError
from placewise.sync import OutcomeStatus, SliceOutcome, SyncSummary

CLUB = OutcomeKind.CLUB


def summary(*outcomes: SliceOutcome) -> SyncSummary:
    return SyncSummary(list(outcomes))


LOADED = SliceOutcome(
    "k1", "sendings_stats agg=none club 1001 window 2026-11-27", OutcomeStatus.LOADED, 8, 10
)
UNCHANGED = SliceOutcome(
    "k4", "sendings_stats agg=none club 1001 window 2026-11-26", OutcomeStatus.UNCHANGED, 0, 10
)
FAILED = SliceOutcome(
    "k2", "sendings agg=none club 1001 snapshot", OutcomeStatus.FAILED, 0, 0, "ServerError: 503 x6"
)
QUARANTINED = SliceOutcome(
    "k3",
    "member_balance agg=none club 1002 window 2026-11-27",
    OutcomeStatus.QUARANTINED,
    error="bad bucket",
)


# -- club payloads --------------------------------------------------------------------------------


def test_club_payload_is_plain_data():
    payload = club_payload(Club(7, "Seven", None, False, ("sendings",)))
    assert payload == {
        "id": 7,
        "name": "Seven",
        "timezone": None,
        "enabled": False,
        "reports": ["sendings"],
    }


def test_a_club_survives_the_round_trip_through_json():
    club = Club(1002, "Denver Mall", "America/Denver", True, ("sendings_stats", "sendings"))
    assert club_from_payload(json.loads(json.dumps(club_payload(club)))) == club


def test_work_items_give_every_club_the_same_iso_window():
    items = work_items([Club(1, "a"), Club(2, "b")], date(2026, 11, 20), date(2026, 11, 27))
    assert [i["club"]["id"] for i in items] == [1, 2]
    assert {json.dumps(i["window"]) for i in items} == {
        '{"first_day": "2026-11-20", "last_day": "2026-11-27"}'
    }


def test_tenants_label_names_the_clubs_or_why_they_are_skipped():
    items = work_items([Club(1002, "b"), Club(1001, "a")], date(2026, 11, 1), date(2026, 11, 1))
    assert tenants_label(items, None) == ("tenants [1001, 1002]", True)
    assert tenants_label(items[:1], None) == (
        "tenants (skipped: they need at least two clubs)",
        False,
    )
    assert tenants_label(items, ["sendings"]) == (
        "tenants (skipped: sendings_stats not requested)",
        False,
    )
    assert tenants_label([], None) == ("tenants (skipped: no clubs)", False)


# -- backfill params ------------------------------------------------------------------------------


def test_backfill_without_dates_covers_the_30_days_before_the_run():
    today = date(2026, 12, 1)
    assert backfill_days({}, today) == (date(2026, 11, 1), date(2026, 11, 30))
    assert backfill_days({"start_date": None, "end_date": ""}, today) == (
        date(2026, 11, 1),
        date(2026, 11, 30),
    )
    assert backfill_days({"start_date": "2026-11-20"}, today) == (
        date(2026, 11, 20),
        date(2026, 11, 30),
    )


def test_backfill_dates_are_checked_against_each_other_and_today():
    today = date(2026, 12, 1)
    with pytest.raises(ValueError, match="end_date 2026-11-01 is before start_date 2026-11-05"):
        backfill_days({"start_date": "2026-11-05", "end_date": "2026-11-01"}, today)
    with pytest.raises(ValueError, match=r"end_date 2026-12-01 must be before today \(UTC\)"):
        backfill_days({"start_date": "2026-11-05", "end_date": "2026-12-01"}, today)
    with pytest.raises(ValueError, match=r"start_date must be a date .*'2026-13-01'"):
        backfill_days({"start_date": "2026-13-01"}, today)


# -- summaries ------------------------------------------------------------------------------------


def test_summary_payload_counts_outcomes_and_spells_out_failures():
    payload = summary_payload(CLUB, "club 1001 (Oslo)", summary(LOADED, FAILED, QUARANTINED))
    assert payload["label"] == "club 1001 (Oslo)"
    assert payload["kind"] == "club"
    assert (payload["loaded"], payload["skipped"], payload["failed"], payload["quarantined"]) == (
        1,
        0,
        1,
        1,
    )
    assert (payload["rows"], payload["tokens"]) == (8, 10)
    assert [f["slice_key"] for f in payload["failures"]] == ["k2", "k3"]
    assert payload["failures"][0]["error"] == "ServerError: 503 x6"
    assert payload["text"] == summary(LOADED, FAILED, QUARANTINED).text()
    assert payload["text"].splitlines()[0] == (
        "3 slices: 1 loaded, 0 skipped, 1 failed, 1 quarantined; 8 rows, 10 tokens"
    )


def test_unchanged_slices_are_reported_as_unchanged_not_loaded():
    payload = summary_payload(CLUB, "club 1001", summary(LOADED, UNCHANGED))
    assert (payload["loaded"], payload["unchanged"]) == (1, 1)
    assert payload["text"] == (
        "2 slices: 1 loaded, 1 unchanged, 0 skipped, 0 failed, 0 quarantined; 8 rows, 20 tokens"
    )


def test_payloads_are_plain_json_with_statuses_and_kind_as_text():
    payload = summary_payload(CLUB, "club 1001", summary(FAILED))
    assert json.loads(json.dumps(payload)) == payload
    assert type(payload["failures"][0]["status"]) is str
    assert payload["failures"][0]["status"] == "failed"


def test_failure_payload_describes_a_unit_that_failed_as_a_whole():
    payload = failure_payload(CLUB, "club 1001 (Oslo)", RegistryError("clubs.yml: bad"))
    assert payload["failed"] == 1 and payload["loaded"] == 0
    assert payload["failures"] == [
        {
            "status": "failed",
            "description": "club 1001 (Oslo)",
            "error": "RegistryError: clubs.yml: bad",
        }
    ]
    assert payload["text"] == "club 1001 (Oslo) failed: RegistryError: clubs.yml: bad"


def test_check_outcomes_without_failures_returns_one_line_per_unit():
    text = check_outcomes(
        [
            summary_payload(CLUB, "club 1001", summary(LOADED)),
            None,
            summary_payload(OutcomeKind.TENANTS, "tenants", summary()),
        ]
    )
    assert text.splitlines() == [
        "club 1001: 1 slices: 1 loaded, 0 skipped, 0 failed, 0 quarantined; 8 rows, 10 tokens",
        "tenants: 0 slices: 0 loaded, 0 skipped, 0 failed, 0 quarantined; 0 rows, 0 tokens",
    ]


def test_check_outcomes_raises_naming_each_failed_slice():
    payloads = [
        summary_payload(CLUB, "club 1001", summary(LOADED, FAILED)),
        summary_payload(CLUB, "club 1002", summary(QUARANTINED)),
        failure_payload(
            OutcomeKind.TENANTS, "tenants [1001, 1002]", RuntimeError("token rejected")
        ),
    ]
    with pytest.raises(SyncFailedError) as info:
        check_outcomes(payloads)
    message = str(info.value)
    assert message.startswith("3 slice(s) failed:\n")
    assert "club 1001: failed sendings agg=none club 1001 snapshot: ServerError: 503 x6" in message
    assert (
        "club 1002: quarantined member_balance agg=none club 1002 window 2026-11-27: bad bucket"
        in message
    )
    assert (
        "tenants [1001, 1002]: failed tenants [1001, 1002]: RuntimeError: token rejected" in message
    )
    assert "Run summary:\nclub 1001: 2 slices: 1 loaded" in message


def test_check_outcomes_of_nothing_is_empty():
    assert check_outcomes([]) == ""
    assert check_outcomes([None, {}]) == ""


def test_summarise_run_counts_club_outcomes_by_kind_not_by_label():
    items = work_items([Club(1001, "a"), Club(1002, "b")], date(2026, 11, 1), date(2026, 11, 1))
    # A club outcome whose label does not start with "club " still counts; a tenants outcome
    # labelled like a club does not.
    club = summary_payload(CLUB, "Oslo City", summary(LOADED))
    tenants = summary_payload(OutcomeKind.TENANTS, "club-wide tenants", summary())
    with pytest.raises(SyncFailedError) as info:
        summarise_run([club, tenants], items)
    assert "clubs: failed clubs: RuntimeError: 1 club task(s) ended without a report" in str(
        info.value
    )
    second = summary_payload(CLUB, "Denver", summary(LOADED))
    after_xcom = json.loads(json.dumps([club, second, tenants]))  # kind comes back as text
    assert summarise_run(after_xcom, items).splitlines()[0].startswith("Oslo City: 1 slices")


def test_summarise_run_of_a_replay_expects_no_club_outcomes():
    replay = summary_payload(OutcomeKind.REPLAY, "replay", summary(LOADED))
    assert summarise_run([replay, None], None).startswith("replay: 1 slices: 1 loaded")
