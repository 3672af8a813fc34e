"""Member-count reports keyed by grouping type, member_balance by consents, the snapshot report,
and Metadata complete enough to build a client catalog from."""

from __future__ import annotations

from datetime import timedelta

import pytest
from placewise_simulator import TokenGrant
from sim_helpers import EXPORT, NOW, QUERY, make_api

METADATA = "/v1/reporting/metadata"
COUNT = {
    "report": "members_count_history",
    "interval": "1d",
    "from": "2026-11-10T00:00:00",
    "to": "2026-11-20T00:00:00",
}
GROUPING_TYPES = {"optin_channel", "optin_platform", "country", "gender", "age"}


def _by_bucket(result: dict) -> dict[tuple, dict[str, int]]:
    return {
        tuple(sorted(s["label"].items())): dict(
            (b, v) for b, v in zip(result["time_buckets"], s["values"], strict=True) if v
        )
        for s in result["series"]
    }


def test_members_count_history_default_labels_stay_empty(api):
    result = api.query(COUNT)
    assert [s["label"] for s in result["series"]] == [{}]


def test_members_count_history_by_grouping_type_labels_type_and_value(api):
    whole = _by_bucket(api.query(COUNT))[()]
    grouped = api.query(dict(COUNT, aggregate_by="grouping_type"))
    assert all(set(s["label"]) == {"grouping_type", "grouping_value"} for s in grouped["series"])
    assert {s["label"]["grouping_type"] for s in grouped["series"]} == GROUPING_TYPES
    gender = api.query(dict(COUNT, aggregate_by="gender"))
    by_gender = {s["label"]["gender"]: s for s in gender["series"]}
    for series in grouped["series"]:
        if series["label"]["grouping_type"] == "gender":
            assert series["values"] == by_gender[series["label"]["grouping_value"]]["values"]
    for grouping_type in GROUPING_TYPES:
        filtered = api.query(
            dict(COUNT, filter={"type": "equal", "field": "grouping_type", "value": grouping_type})
        )
        assert _by_bucket(filtered)[()] == whole


def test_members_count_history_filters_on_grouping_value(api):
    female = api.query(
        dict(
            COUNT,
            filter={
                "type": "and",
                "operations": [
                    {"type": "equal", "field": "grouping_type", "value": "gender"},
                    {"type": "equal", "field": "grouping_value", "value": "female"},
                ],
            },
        )
    )
    gender = api.query(dict(COUNT, filter={"type": "equal", "field": "gender", "value": "female"}))
    assert female["series"] == gender["series"]
    assert female["series"][0]["values"][0] > 0


def test_members_count_history_metadata_names_community_and_grouping_fields(api):
    meta = api.ok(METADATA, {"report": "members_count_history"})
    fields = {f["name"]: f for f in meta["fields"]}
    assert fields["community_id"]["filterable"] is False
    assert fields["grouping_type"]["filterable"] is True
    assert set(fields["grouping_type"]["enum_values"]) == GROUPING_TYPES
    assert fields["grouping_value"]["filterable"] is True
    details = {a["name"]: a["label_keys"] for a in meta["aggregation_details"]}
    assert details["grouping_type"] == ["grouping_type", "grouping_value"]


def test_member_balance_by_consents_adds_a_consents_key_and_sums_to_by_type(api):
    body = dict(COUNT, report="member_balance")
    by_type = _by_bucket(api.query(body))
    consents = api.query(dict(body, aggregate_by="consents"))
    assert all(set(s["label"]) == {"type", "consents"} for s in consents["series"])
    summed: dict[tuple, dict[str, int]] = {}
    for series in consents["series"]:
        slot = summed.setdefault((("type", series["label"]["type"]),), {})
        for bucket, value in zip(consents["time_buckets"], series["values"], strict=True):
            if value:
                slot[bucket] = slot.get(bucket, 0) + value
    assert summed == by_type
    values = {s["label"]["consents"] for s in consents["series"]}
    assert values <= {
        "none",
        "sms",
        "email",
        "push",
        "sms,email",
        "sms,push",
        "email,push",
        "sms,email,push",
    }
    assert len(values) > 3


SNAPSHOT = {
    "report": "members_count_snapshot",
    "interval": "1h",
    "from": "2026-11-27T20:00:00Z",
    "to": "2026-11-28T06:00:00Z",
}


def test_members_count_snapshot_counts_up_to_fifteen_minutes_before_now(api):
    lagged = make_api(now=NOW - timedelta(minutes=15))
    snapshot = api.query(SNAPSHOT)
    history = lagged.query(dict(SNAPSHOT, report="members_count_history"))
    assert snapshot["interval"] == "1h"
    assert snapshot["series"] == history["series"]
    assert snapshot["time_buckets"] == history["time_buckets"]
    assert snapshot["time_buckets"][-1] == "2026-11-28T06:00:00.000+01:00"
    assert api.post(QUERY, dict(SNAPSHOT, interval="5m")).status_code == 422
    assert api.post(EXPORT, SNAPSHOT).content == api.post(QUERY, SNAPSHOT).content


def test_members_count_snapshot_needs_its_permit():
    api = make_api(extra_tokens={"narrow": TokenGrant(reports=frozenset({"members"}))})
    response = api.post(QUERY, SNAPSHOT, headers={"X-Client-Authorization": "narrow"})
    assert response.status_code == 403
    assert "Reporting:Api:Report:MembersCountSnapshot" in response.json()["error"]
    meta = api.ok(METADATA, {"report": "members_count_snapshot"})
    assert (meta["token_cost"], meta["permit"], meta["intervals"], meta["result_type"]) == (
        3,
        "Reporting:Api:Report:MembersCountSnapshot",
        ["1h", "1d", "1w", "1mo"],
        "timeseries",
    )
    assert meta["data_lag_seconds"] == 900
    charged = api.post(QUERY, SNAPSHOT)
    assert charged.headers["ratelimit-cost"] == "3"


REPORTS = (
    "sendings_stats",
    "sendings_events_history",
    "sendings_recipients_statistics",
    "links_visits_history",
    "member_balance",
    "members_count_history",
    "members_count_snapshot",
    "sendings",
    "sendings_links",
    "sendings_links_stats",
    "members",
    "members_grouped_count",
    "offers",
    "offers_collections",
    "offers_events_history",
    "offers_usages_history",
    "offers_events_stats",
    "offers_usages_stats",
    "members_count",
)
META_KEYS = {
    "report",
    "result_type",
    "token_cost",
    "permit",
    "club_field",
    "intervals",
    "fields",
    "default_label_keys",
    "aggregations",
    "aggregation_details",
    "record_key",
    "data_lag_seconds",
}


@pytest.mark.parametrize("report", REPORTS)
def test_metadata_is_enough_to_query_every_aggregation_of_every_report(report):
    """A catalog built only from Metadata queries each report and predicts its labels."""
    api = make_api(variants={"menu_only_reports": "served"})
    meta = api.ok(METADATA, {"report": report})
    assert set(meta) == META_KEYS
    assert meta["report"] == report
    assert meta["permit"].startswith("Reporting:Api:Report:")
    assert isinstance(meta["token_cost"], int) and meta["token_cost"] > 0
    assert all(set(f) == {"name", "type", "filterable", "enum_values"} for f in meta["fields"])
    names = {f["name"] for f in meta["fields"]}
    assert meta["club_field"] in names
    assert [a["name"] for a in meta["aggregation_details"]] == meta["aggregations"]
    customer = "id=1001_1002"
    if meta["result_type"] == "records":
        assert meta["intervals"] == []
        assert set(meta["record_key"]) <= names and meta["record_key"]
        page = api.query({"report": report, "limit": 3}, customer)
        assert page["records"] and all(set(r) <= names for r in page["records"])
        return
    interval = meta["intervals"][-2] if len(meta["intervals"]) > 1 else meta["intervals"][0]
    window = {"from": "2026-11-01T00:00:00", "to": "2026-11-27T00:00:00", "interval": interval}
    choices = [(None, meta["default_label_keys"], False)] + [
        (a["name"], a["label_keys"], a["drops_club"]) for a in meta["aggregation_details"]
    ]
    for name, keys, drops_club in choices:
        result = api.query(dict(window, report=report, aggregate_by=name), customer)
        assert result["result_type"] == meta["result_type"]
        assert result["series"], (report, name)
        expected = list(keys) if drops_club else ["loyalty_club_id", *keys]
        assert all(list(s["label"]) == expected for s in result["series"]), (report, name)
