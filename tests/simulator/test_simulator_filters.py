"""Filters are applied for real, with every documented operator."""

from __future__ import annotations

import pytest
from sim_helpers import make_api


@pytest.fixture(scope="module")
def everything():
    api = make_api()
    return api, api.export({"report": "sendings"})["records"]


def _created(record):
    return record["created_at"]


CASES = [
    ({"type": "equal", "field": "channel", "value": "sms"}, lambda r: r["channel"] == "sms"),
    ({"type": "not_equal", "field": "channel", "value": "sms"}, lambda r: r["channel"] != "sms"),
    (
        {"type": "equal", "field": "reporting_id", "value": None},
        lambda r: r["reporting_id"] is None,
    ),
    (
        {"type": "not_equal", "field": "campaign_id", "value": None},
        lambda r: r["campaign_id"] is not None,
    ),
    (
        {"type": "in", "field": "service_type", "value": ["automation", "system"]},
        lambda r: r["service_type"] in ("automation", "system"),
    ),
    (
        {"type": "not_in", "field": "service_type", "value": ["automation", "system"]},
        lambda r: r["service_type"] not in ("automation", "system"),
    ),
    (
        {"type": "greater_than", "field": "created_at", "value": "2026-11-01T00:00:00Z"},
        lambda r: r["created_at"] > "2026-11-01T00:00:00.000Z",
    ),
    (
        {"type": "greater_or_equal_to", "field": "id", "value": 10010099400},
        lambda r: r["id"] >= 10010099400,
    ),
    (
        {"type": "less_than", "field": "reporting_id", "value": 1099500},
        lambda r: r["reporting_id"] is not None and r["reporting_id"] < 1099500,
    ),
    (
        {"type": "less_or_equal_to", "field": "created_at", "value": "2026-10-15T12:00:00+02:00"},
        lambda r: r["created_at"] <= "2026-10-15T10:00:00.000Z",
    ),
    (
        {
            "type": "and",
            "operations": [
                {"type": "equal", "field": "channel", "value": "email"},
                {"type": "equal", "field": "service_type", "value": "campaign"},
            ],
        },
        lambda r: r["channel"] == "email" and r["service_type"] == "campaign",
    ),
    (
        {
            "type": "or",
            "operations": [
                {"type": "equal", "field": "channel", "value": "push"},
                {
                    "type": "and",
                    "operations": [
                        {"type": "equal", "field": "channel", "value": "sms"},
                        {"type": "equal", "field": "reporting_id", "value": None},
                    ],
                },
            ],
        },
        lambda r: r["channel"] == "push" or (r["channel"] == "sms" and r["reporting_id"] is None),
    ),
]


@pytest.mark.parametrize(("tree", "check"), CASES)
def test_records_filter_keeps_exactly_the_matching_records(everything, tree, check):
    api, records = everything
    expected = [r for r in records if check(r)]
    assert expected, "the case should match something"
    assert len(expected) < len(records) or tree["type"] == "not_equal"
    assert api.export({"report": "sendings", "filter": tree})["records"] == expected
    assert api.pages({"report": "sendings", "filter": tree, "limit": 11}) == expected


def test_statistics_filter_equals_the_matching_aggregated_series():
    api = make_api()
    window = {
        "report": "sendings_stats",
        "from": "2026-11-01T00:00:00",
        "to": "2026-11-28T00:00:00",
    }
    by_channel = api.query(dict(window, aggregate_by="channel"))
    for channel in ("sms", "email", "push"):
        filtered = api.query(
            dict(window, filter={"type": "equal", "field": "channel", "value": channel})
        )
        expected = {
            s["label"]["event_type"]: s["value"]
            for s in by_channel["series"]
            if s["label"]["channel"] == channel
        }
        assert {s["label"]["event_type"]: s["value"] for s in filtered["series"]} == expected


def test_array_fields_match_when_the_arrays_share_an_element():
    api = make_api()
    members = api.export({"report": "members"})["records"]
    tree = {"type": "in", "field": "favorite_stores", "value": [5001, 5002]}
    expected = [m for m in members if {5001, 5002} & set(m["favorite_stores"])]
    assert expected
    assert api.export({"report": "members", "filter": tree})["records"] == expected
