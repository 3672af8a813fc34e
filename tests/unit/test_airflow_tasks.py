import math
from dataclasses import replace
from datetime import date

import pytest
from placewise.airflow.tasks import (
    SyncFailedError,
    check_outcomes,
    club_payload,
    estimate_backfill,
    failure_payload,
    nightly_days,
    plan_for_club,
    select_clubs,
    summary_payload,
)
from placewise.config import PipelineSettings
from placewise.extract.plan import plan_club, plan_tenants, total_cost
from placewise.registry import Club, RegistryError
from placewise.sync import SliceOutcome, SyncSummary

REGISTRY = """
clubs:
  - {id: 1001, name: Oslo City}
  - {id: 1002, name: Denver Mall, timezone: America/Denver}
  - {id: 1003, name: Old Club, enabled: false}
  - {id: 1004, name: Small Club, reports: [sendings_stats, sendings]}
"""
FIRST, LAST = date(2026, 11, 1), date(2026, 11, 10)


@pytest.fixture
def settings(tmp_path):
    path = tmp_path / "clubs.yml"
    path.write_text(REGISTRY)
    return PipelineSettings.from_env({"PLACEWISE_CLUBS_FILE": str(path)})


def summary(*outcomes: SliceOutcome) -> SyncSummary:
    return SyncSummary(list(outcomes))


LOADED = SliceOutcome("k1", "sendings_stats agg=none club 1001 window 2026-11-27", "loaded", 8, 10)
FAILED = SliceOutcome(
    "k2", "sendings agg=none club 1001 snapshot", "failed", 0, 0, "ServerError: 503 x6"
)
QUARANTINED = SliceOutcome(
    "k3", "member_balance agg=none club 1002 window 2026-11-27", "quarantined", error="bad bucket"
)


# -- nightly_days ---------------------------------------------------------------------------------


def test_nightly_days_cover_the_interval_day_and_the_restatement_window():
    assert nightly_days(date(2026, 11, 27), 7) == (date(2026, 11, 20), date(2026, 11, 27))


def test_nightly_days_without_restatement_is_one_day():
    assert nightly_days(date(2026, 11, 27), 0) == (date(2026, 11, 27), date(2026, 11, 27))


def test_nightly_days_cross_month_and_year_boundaries():
    assert nightly_days(date(2026, 1, 3), 7) == (date(2025, 12, 27), date(2026, 1, 3))


# -- select_clubs ---------------------------------------------------------------------------------


def test_select_clubs_returns_the_enabled_clubs_as_payloads(settings):
    clubs = select_clubs(settings)
    assert [c["id"] for c in clubs] == [1001, 1002, 1004]
    assert clubs[1] == {
        "id": 1002,
        "name": "Denver Mall",
        "timezone": "America/Denver",
        "enabled": True,
        "reports": list(Club(1, "x").reports),
    }
    assert clubs[2]["reports"] == ["sendings_stats", "sendings"]


def test_select_clubs_by_id_keeps_the_given_order_and_may_pick_disabled_clubs(settings):
    assert [c["id"] for c in select_clubs(settings, [1003, 1001])] == [1003, 1001]


def test_select_clubs_with_unknown_ids_names_them_and_the_registry(settings):
    with pytest.raises(ValueError) as info:
        select_clubs(settings, [1001, 9998, 9999])
    assert str(info.value) == f"clubs [9998, 9999] are not in the registry {settings.clubs_file}"


def test_select_clubs_with_a_missing_registry_raises_a_registry_error(tmp_path):
    settings = PipelineSettings.from_env({"PLACEWISE_CLUBS_FILE": str(tmp_path / "none.yml")})
    with pytest.raises(RegistryError, match="PLACEWISE_CLUBS_FILE"):
        select_clubs(settings)


def test_club_payload_is_plain_data():
    payload = club_payload(Club(7, "Seven", None, False, ("sendings",)))
    assert payload == {
        "id": 7,
        "name": "Seven",
        "timezone": None,
        "enabled": False,
        "reports": ["sendings"],
    }


# -- plan_for_club --------------------------------------------------------------------------------


def test_plan_for_club_uses_the_extract_mode(settings):
    club = select_clubs(settings, [1001])[0]
    query = replace(settings, use_export=False)
    assert plan_for_club(club, FIRST, LAST, settings) == plan_club(1001, FIRST, LAST)
    assert plan_for_club(club, FIRST, LAST, query) == plan_club(1001, FIRST, LAST, use_export=False)


# -- estimate_backfill ----------------------------------------------------------------------------


def test_estimate_backfill_token_totals_match_the_plan_costs(settings):
    clubs = select_clubs(settings)
    estimate = estimate_backfill(clubs, FIRST, LAST, settings)
    per_club = {c["id"]: total_cost(plan_for_club(c, FIRST, LAST, settings)) for c in clubs}
    tenants = total_cost(plan_tenants([1001, 1002, 1004], FIRST, LAST))
    assert estimate["days"] == 10
    assert estimate["clubs"] == 3
    assert estimate["tokens_per_club"] == per_club
    assert estimate["tokens_tenants"] == tenants
    assert estimate["tokens_total"] == sum(per_club.values()) + tenants
    assert per_club[1001] == total_cost(plan_club(1001, FIRST, LAST))
    assert per_club[1004] == total_cost(
        plan_club(1004, FIRST, LAST, reports=["sendings_stats", "sendings"])
    )


def test_estimate_backfill_eta_drains_the_slowest_bucket_after_its_capacity(settings):
    clubs = select_clubs(settings)
    estimate = estimate_backfill(clubs, FIRST, LAST, settings)
    slowest = max([*estimate["tokens_per_club"].values(), estimate["tokens_tenants"]])
    assert estimate["eta_seconds"] == math.ceil((slowest - 60) / 6.0)


def test_estimate_backfill_limited_to_reports(settings):
    clubs = select_clubs(settings, [1001])
    estimate = estimate_backfill(clubs, FIRST, LAST, settings, reports=["sendings"])
    assert estimate["tokens_per_club"] == {1001: 2 * 5}
    assert estimate["tokens_tenants"] == 0  # one club: no tenants export
    assert estimate["tokens_total"] == 10
    assert estimate["eta_seconds"] == 0  # fits in the bucket


def test_estimate_backfill_of_no_clubs_is_zero(settings):
    estimate = estimate_backfill([], FIRST, LAST, settings)
    assert estimate["tokens_total"] == 0 and estimate["eta_seconds"] == 0


# -- summaries ------------------------------------------------------------------------------------


def test_summary_payload_counts_outcomes_and_spells_out_failures():
    payload = summary_payload("club 1001 (Oslo)", summary(LOADED, FAILED, QUARANTINED))
    assert payload["label"] == "club 1001 (Oslo)"
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


def test_failure_payload_describes_a_unit_that_failed_as_a_whole():
    payload = failure_payload("club 1001 (Oslo)", RegistryError("clubs.yml: bad"))
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
        [summary_payload("club 1001", summary(LOADED)), None, summary_payload("tenants", summary())]
    )
    assert text.splitlines() == [
        "club 1001: 1 slices: 1 loaded, 0 skipped, 0 failed, 0 quarantined; 8 rows, 10 tokens",
        "tenants: 0 slices: 0 loaded, 0 skipped, 0 failed, 0 quarantined; 0 rows, 0 tokens",
    ]


def test_check_outcomes_raises_naming_each_failed_slice():
    payloads = [
        summary_payload("club 1001", summary(LOADED, FAILED)),
        summary_payload("club 1002", summary(QUARANTINED)),
        failure_payload("tenants [1001, 1002]", RuntimeError("token rejected")),
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
