import pytest
from placewise.api.catalog import CATALOG, UnknownReportError, get_report

EXPECTED = {
    "members": ("records", 10),
    "members_grouped_count": ("records", 2),
    "member_balance": ("timeseries", 3),
    "members_count_history": ("timeseries", 3),
    "members_count_snapshot": ("timeseries", 3),
    "sendings": ("records", 2),
    "sendings_events_history": ("timeseries", 3),
    "sendings_recipients_statistics": ("timeseries", 3),
    "sendings_links": ("records", 3),
    "sendings_links_stats": ("records", 2),
    "links_visits_history": ("timeseries", 3),
    "sendings_stats": ("statistics", 2),
}


def test_catalog_holds_every_report_with_its_format_and_cost():
    assert {name: (r.result_type, r.token_cost) for name, r in CATALOG.items()} == EXPECTED


def test_unknown_report_lists_known_names():
    with pytest.raises(UnknownReportError, match="sendings_stats") as info:
        get_report("nope")
    assert "nope" in str(info.value)


def test_sendings_has_23_fields_in_contract_order():
    fields = list(get_report("sendings").fields)
    assert len(fields) == 23
    assert fields[:4] == ["id", "loyalty_club_id", "language", "channel"]
    assert fields[-2:] == ["created_at", "history_ranges"]


def test_sendings_stats_aggregations_and_club_dropping():
    spec = get_report("sendings_stats")
    assert spec.permit == "Reporting:Api:Report:SendingsStats"
    for name in ("service_type", "campaign_id", "channel", "reporting_id"):
        assert spec.aggregations[name].label_keys == (name, "event_type")
        assert spec.aggregations[name].drops_club is False
        total = spec.aggregations[f"total_{name}"]
        assert total.label_keys == (name, "event_type")
        assert total.drops_club is True
    assert spec.label_keys(None) == ("event_type",)
    assert len(spec.fields["event_type"].enum_values) == 8
    assert spec.fields["channel"].enum_values == ("sms", "email", "push")
    filterable = {f.name for f in spec.fields.values() if f.filterable}
    assert filterable == {"event_type", "channel", "service_type", "campaign_id", "reporting_id"}


def test_club_field_is_never_filterable():
    for spec in CATALOG.values():
        assert spec.club_field in ("loyalty_club_id", "community_id")
        assert spec.fields[spec.club_field].filterable is False


def test_members_family_uses_community_id():
    for name in ("members", "members_grouped_count", "member_balance", "members_count_history"):
        assert get_report(name).club_field == "community_id"


def test_record_keys_of_records_reports():
    assert get_report("sendings").record_key == ("id",)
    assert get_report("members").record_key == ("id",)
    assert get_report("sendings_links_stats").record_key == ("source_id",)
    assert get_report("members_grouped_count").record_key == ("grouping_type", "grouping_value")
    assert get_report("sendings_links").record_key[:3] == ("source_id", "host", "path")
    for spec in CATALOG.values():
        assert all(k in spec.fields for k in spec.record_key)


def test_grouped_count_aggregation_drops_the_club():
    agg = get_report("members_grouped_count").aggregations["by_grouping_type_and_value"]
    assert agg.drops_club is True


def test_member_balance_total_has_empty_label():
    spec = get_report("member_balance")
    assert spec.label_keys("total") == ()
    assert spec.label_keys("optin_platform") == ("type", "optin_platform")
    assert spec.fields["type"].enum_values == ("in", "out")


def test_intervals_only_for_timeseries():
    assert get_report("sendings_recipients_statistics").intervals == ("1h", "1d", "1w", "1mo")
    assert get_report("sendings_events_history").intervals == ("5m", "1h", "1d", "1w", "1mo")
    assert get_report("sendings").intervals == ()
    assert get_report("sendings_stats").intervals == ()


def test_unknown_aggregation_names_the_known_ones():
    with pytest.raises(ValueError, match="total_channel"):
        get_report("sendings_stats").aggregation("by_moon_phase")


def test_members_count_snapshot_is_the_documented_report():
    spec = get_report("members_count_snapshot")
    assert spec.permit == "Reporting:Api:Report:MembersCountSnapshot"
    assert spec.intervals == ("1h", "1d", "1w", "1mo")
    assert spec.club_field == "community_id"
    assert spec.label_keys(None) == ()


def test_member_count_reports_aggregate_by_grouping_type_with_type_and_value_labels():
    for name in ("members_count_history", "members_count_snapshot"):
        spec = get_report(name)
        assert spec.label_keys("grouping_type") == ("grouping_type", "grouping_value")
        assert spec.label_keys(None) == ()
        assert spec.field("grouping_value").filterable


def test_member_balance_aggregates_by_consents_with_type_and_consents_labels():
    assert get_report("member_balance").label_keys("consents") == ("type", "consents")
