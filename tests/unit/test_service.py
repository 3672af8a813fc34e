"""The service layer's planning operations: clubs, days, slices and backfill estimates (no I/O
beyond the registry file)."""

import math
from dataclasses import replace
from datetime import date

import pytest
from placewise.config import PipelineSettings
from placewise.extract.plan import plan_club, plan_tenants, total_cost
from placewise.registry import Club, RegistryError
from placewise.service import (
    PlanError,
    backfill_reserve,
    default_backfill_days,
    estimate_backfill,
    nightly_days,
    plan_for_club,
    plan_sync,
    select_clubs,
    tenants_skip_reason,
)

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
    return PipelineSettings.from_env(
        {
            "PLACEWISE_CLUBS_FILE": str(path),
            "PLACEWISE_API_CONTRACT_FILE": str(tmp_path / "api-contract.yml"),
        }
    )


# -- nightly_days / default_backfill_days ---------------------------------------------------------


def test_nightly_days_cover_the_interval_day_and_the_restatement_window():
    assert nightly_days(date(2026, 11, 27), 7) == (date(2026, 11, 20), date(2026, 11, 27))


def test_nightly_days_without_restatement_is_one_day():
    assert nightly_days(date(2026, 11, 27), 0) == (date(2026, 11, 27), date(2026, 11, 27))


def test_nightly_days_cross_month_and_year_boundaries():
    assert nightly_days(date(2026, 1, 3), 7) == (date(2025, 12, 27), date(2026, 1, 3))


def test_default_backfill_days_are_the_30_days_before_today():
    assert default_backfill_days(date(2026, 12, 1)) == (date(2026, 11, 1), date(2026, 11, 30))
    assert default_backfill_days(date(2026, 3, 1)) == (date(2026, 1, 30), date(2026, 2, 28))


# -- select_clubs ---------------------------------------------------------------------------------


def test_select_clubs_returns_the_enabled_clubs_of_the_registry(settings):
    clubs = select_clubs(settings)
    assert [c.id for c in clubs] == [1001, 1002, 1004]
    assert clubs[1] == Club(1002, "Denver Mall", "America/Denver", True, Club(1, "x").reports)
    assert clubs[2].reports == ("sendings_stats", "sendings")


def test_select_clubs_by_id_keeps_the_given_order_and_may_pick_disabled_clubs(settings):
    assert [c.id for c in select_clubs(settings, [1003, 1001])] == [1003, 1001]


def test_select_clubs_with_unknown_ids_names_them_and_the_registry(settings):
    with pytest.raises(ValueError) as info:
        select_clubs(settings, [1001, 9998, 9999])
    assert str(info.value) == f"clubs [9998, 9999] are not in the registry {settings.clubs_file}"


def test_select_clubs_with_a_missing_registry_raises_a_registry_error(tmp_path):
    settings = PipelineSettings.from_env({"PLACEWISE_CLUBS_FILE": str(tmp_path / "none.yml")})
    with pytest.raises(RegistryError, match="PLACEWISE_CLUBS_FILE"):
        select_clubs(settings)


# -- plan_for_club / plan_sync --------------------------------------------------------------------


def test_plan_for_club_uses_the_extract_mode(settings):
    club = select_clubs(settings, [1001])[0]
    query = replace(settings, use_export=False)
    assert plan_for_club(club, FIRST, LAST, settings) == plan_club(1001, FIRST, LAST)
    assert plan_for_club(club, FIRST, LAST, query) == plan_club(1001, FIRST, LAST, use_export=False)


def test_plan_sync_plans_every_enabled_club_then_the_tenants_slices(settings):
    plan = plan_sync(settings, FIRST, FIRST, tenants=True)
    expected = (
        plan_club(1001, FIRST, FIRST)
        + plan_club(1002, FIRST, FIRST)
        + plan_club(1004, FIRST, FIRST, reports=["sendings_stats", "sendings"])
        + plan_tenants([1001, 1002, 1004], FIRST, FIRST, timezones={1002: "America/Denver"})
    )
    assert plan.specs == expected
    assert plan.club_ids == [1001, 1002, 1004]
    assert plan.tokens == total_cost(expected)
    assert plan.tenants_skipped is None


def test_plan_sync_of_one_club_skips_the_tenants_slices_and_says_why(settings):
    plan = plan_sync(settings, FIRST, FIRST, club_ids=[1001, 1001], tenants=True)
    assert plan.specs == plan_club(1001, FIRST, FIRST)
    assert plan.tenants_skipped == "they need at least two clubs"


def test_plan_sync_limits_reports_to_those_a_club_is_registered_for(settings):
    plan = plan_sync(settings, FIRST, FIRST, club_ids=[1004], reports=["sendings", "members"])
    assert [s.report for s in plan.specs] == ["sendings"]


def test_plan_sync_that_plans_nothing_names_the_clubs_and_reports(settings):
    with pytest.raises(PlanError) as info:
        plan_sync(settings, FIRST, FIRST, club_ids=[1004], reports=["members"])
    assert str(info.value) == (
        "nothing to plan: clubs [1004] are not registered for reports ['members']"
    )


def test_plan_sync_without_enabled_clubs_names_the_registry(tmp_path):
    path = tmp_path / "clubs.yml"
    path.write_text("clubs:\n  - {id: 1003, name: Old Club, enabled: false}\n")
    settings = PipelineSettings.from_env({"PLACEWISE_CLUBS_FILE": str(path)})
    with pytest.raises(PlanError, match=f"no enabled club in the registry {path}"):
        plan_sync(settings, FIRST, FIRST)


def test_plan_sync_rejects_reversed_days(settings):
    with pytest.raises(PlanError, match="last day 2026-11-01 is before first day 2026-11-10"):
        plan_sync(settings, LAST, FIRST)


def test_tenants_are_skipped_without_two_clubs_or_when_sendings_stats_is_not_wanted():
    assert tenants_skip_reason([]) == "no clubs"
    assert tenants_skip_reason([1001]) == "they need at least two clubs"
    assert tenants_skip_reason([1001, 1002], ["sendings"]) == "sendings_stats not requested"
    assert tenants_skip_reason([1001, 1002], ["sendings", "sendings_stats"]) is None
    assert tenants_skip_reason([1001, 1002]) is None


# -- estimate_backfill / backfill_reserve ---------------------------------------------------------


def test_estimate_backfill_token_totals_match_the_plan_costs(settings):
    clubs = select_clubs(settings)
    estimate = estimate_backfill(clubs, FIRST, LAST, settings)
    per_club = {c.id: total_cost(plan_for_club(c, FIRST, LAST, settings)) for c in clubs}
    zones = {c.id: c.timezone for c in clubs}
    tenants = total_cost(plan_tenants([1001, 1002, 1004], FIRST, LAST, timezones=zones))
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
    export = replace(settings, use_export=True)
    estimate = estimate_backfill(clubs, FIRST, LAST, export, reports=["sendings"])
    assert estimate["tokens_per_club"] == {1001: 2 * 5}
    assert estimate["tokens_tenants"] == 0  # one club: no tenants export
    assert estimate["tokens_total"] == 10
    assert estimate["eta_seconds"] == 0  # fits in the bucket


def test_estimate_backfill_of_no_clubs_is_zero(settings):
    estimate = estimate_backfill([], FIRST, LAST, settings)
    assert estimate["tokens_total"] == 0 and estimate["eta_seconds"] == 0


def test_backfill_reserve_leaves_more_tokens_to_nightly_the_lower_the_priority(settings):
    assert backfill_reserve("low", settings) == 40
    assert backfill_reserve("normal", settings) == 20
    assert backfill_reserve("high", settings) == 0


def test_an_unknown_backfill_priority_names_the_choices(settings):
    with pytest.raises(ValueError, match="unknown backfill priority 'urgent'; use one of low"):
        backfill_reserve("urgent", settings)


def test_every_backfill_leaves_the_nightly_floor_even_at_high_priority(settings):
    from placewise.service import token_floor

    assert token_floor("nightly", settings) == 0
    assert token_floor("high", settings) == 20  # the floor alone
    assert token_floor("normal", settings) == 40  # floor + reserve
    # floor + 2 x reserve is the whole bucket: served only from a full one
    assert token_floor("low", settings) == 59


def test_the_nightly_floor_is_a_setting(settings):
    from placewise.service import token_floor

    tuned = replace(settings, nightly_token_floor=5, backfill_token_reserve=0)
    assert [token_floor(p, tuned) for p in ("high", "normal", "low")] == [5, 5, 5]
    env = {"PLACEWISE_NIGHTLY_TOKEN_FLOOR": "7"}
    assert PipelineSettings.from_env(env).nightly_token_floor == 7


def test_an_unknown_sync_priority_names_the_choices(settings):
    from placewise.service import token_floor

    with pytest.raises(ValueError, match="unknown backfill priority 'urgent'; use one of low"):
        token_floor("urgent", settings)


def test_plan_sync_refuses_a_report_name_nothing_knows_and_lists_the_known_ones(settings):
    with pytest.raises(PlanError) as info:
        plan_sync(settings, FIRST, FIRST, reports=["sendings_stats", "sendings_stat"])
    message = str(info.value)
    assert message.startswith("unknown report(s) ['sendings_stat'] for clubs [1001, 1002,")
    assert "sendings_stats" in message.split("known reports: ")[1]
