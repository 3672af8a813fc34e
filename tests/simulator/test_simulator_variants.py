"""Each behaviour variant, value by value, over real HTTP against a served simulator."""

from __future__ import annotations

from collections import Counter

import pytest
from sim_helpers import BASE_HEADERS, EXPORT, QUERY, TENANTS, live_api, make_api

METADATA = "/v1/reporting/metadata"
BALANCE = {
    "report": "member_balance",
    "interval": "1d",
    "from": "2026-11-08T00:00:00",
    "to": "2026-11-25T00:00:00",
}
HISTORY = {
    "report": "sendings_events_history",
    "interval": "1d",
    "from": "2026-11-20T00:00:00",
    "to": "2026-11-27T00:00:00",
}
STATS = {"report": "sendings_stats", "from": "2026-11-20T00:00:00", "to": "2026-11-27T00:00:00"}
MENU_ONLY = {
    "offers": "records",
    "offers_collections": "records",
    "offers_events_history": "timeseries",
    "offers_usages_history": "timeseries",
    "offers_events_stats": "statistics",
    "offers_usages_stats": "statistics",
    "members_count": "statistics",
}


def _points(result: dict) -> dict:
    """``{(label items, bucket): value}`` of a timeseries, without the nulls."""
    return {
        (tuple(sorted(s["label"].items())), bucket): value
        for s in result["series"]
        for bucket, value in zip(result["time_buckets"], s["values"], strict=True)
        if value is not None
    }


def _totals(result: dict, drop: tuple[str, ...] = ()) -> Counter:
    """Statistics (either shape) as ``{label items: total}``, optionally dropping label keys."""
    totals: Counter = Counter()
    for s in result["series"]:
        label = tuple(sorted((k, v) for k, v in s["label"].items() if k not in drop))
        totals[label] += s["value"] if "value" in s else sum(v or 0 for v in s["values"])
    return totals


# -- window_end ------------------------------------------------------------------------------


def test_bucket_at_to_answers_the_bucket_starting_at_to_with_its_full_data():
    with live_api() as api:
        result = api.query(BALANCE)
        assert result["time_buckets"][-1] == "2026-11-25T00:00:00.000+01:00"
        assert len(result["time_buckets"]) == 18
        next_day = api.query(
            dict(BALANCE, **{"from": "2026-11-25T00:00:00+01:00", "to": "2026-11-26T00:00:00"}),
        )
        assert next_day["time_buckets"][0] == "2026-11-25T00:00:00.000+01:00"
        last = {tuple(s["label"].items()): s["values"][-1] for s in result["series"]}
        first = {tuple(s["label"].items()): s["values"][0] for s in next_day["series"]}
        assert {k: v for k, v in last.items() if v is not None} == {
            k: v for k, v in first.items() if v is not None
        }
        assert any(v is not None for v in last.values())
        unaligned = api.query(dict(BALANCE, to="2026-11-25T12:00:00"))
        assert unaligned["time_buckets"][-1] == "2026-11-25T00:00:00.000+01:00"


def test_bucket_at_to_counts_toward_the_150_bucket_limit():
    with live_api(history_days=400) as api:
        new_only = {"type": "equal", "field": "event_type", "value": "new"}
        body = dict(HISTORY, filter=new_only, **{"from": "2026-06-01T00:00:00"})
        ok = api.post(QUERY, dict(body, to="2026-10-28T00:00:00"))  # 149 days + the bucket at to
        assert ok.status_code == 200
        assert ok.json()["time_buckets"][-1].startswith("2026-10-28T00:00:00")
        too_many = api.post(QUERY, dict(body, to="2026-10-29T00:00:00"))
        assert too_many.status_code == 422 and "150" in too_many.json()["error"]


def test_bucket_at_to_counts_toward_the_1000_point_cap():
    with live_api(history_days=200) as api:
        body = dict(
            HISTORY,
            aggregate_by="sending_id",
            **{"from": "2026-07-01T00:00:00", "to": "2026-11-27T00:00:00"},
        )
        export = api.export(body)
        query = api.query(body)
        assert export["time_buckets"][-1] == "2026-11-27T00:00:00.000+01:00"
        assert export["data_points"] > 1000 and query["data_points"] == 1000
        ordered = sorted(_points(export).items(), key=lambda item: item[0][1])
        assert _points(query) == dict(ordered[:1000])


def test_exclusive_window_end_stops_before_to_and_statistics_never_include_it():
    with live_api(variants={"window_end": "exclusive"}) as api:
        result = api.query(BALANCE)
        assert result["time_buckets"][-1] == "2026-11-24T00:00:00.000+01:00"
        assert len(result["time_buckets"]) == 17
    with live_api() as default, live_api(variants={"window_end": "exclusive"}) as exclusive:
        assert default.query(STATS) == exclusive.query(STATS)
        assert default.query(STATS)["to"] == "2026-11-27T00:00:00.000+01:00"


# -- cross_customer_query --------------------------------------------------------------------


@pytest.mark.parametrize("customer", ["id=1001_1002", "1001_1002", "all=all", "chain=Cats"])
def test_cross_customer_query_allowed_answers_several_customers(customer):
    with live_api(clubs=6) as api:
        clubs = {c["id"]: c for c in api.client.get("/_simulator/clubs").json()}
        response = api.post(QUERY, HISTORY, customer)
        assert response.status_code == 200, response.text
        assert response.headers["ratelimit-bucket"] == "Organization:placewise-dev:Reporting"
        result = response.json()
        seen = {s["label"]["loyalty_club_id"] for s in result["series"]}
        if customer.endswith("1001_1002"):
            assert seen == {1001, 1002}
        elif customer == "all=all":
            assert seen == set(clubs)
        else:
            assert seen == {i for i, c in clubs.items() if c["chain"] == "Cats"}
        if len(seen) > 1:
            assert result["range_timezone"] == "local"
            assert all(s["timezone"] == clubs[s["label"]["loyalty_club_id"]]["timezone"]
                       for s in result["series"])  # fmt: skip
        assert result == api.tenants(HISTORY, customer)


def test_cross_customer_query_keeps_limits_paging_and_totals():
    with live_api(clubs=3, history_days=400) as api:
        records = api.pages({"report": "sendings", "limit": 250}, "all=all")
        assert records == api.tenants({"report": "sendings"})["records"]
        assert {r["loyalty_club_id"] for r in records} == {1001, 1002, 1003}
        long = dict(HISTORY, **{"from": "2026-06-01T00:00:00", "to": "2026-11-27T00:00:00"})
        assert api.post(QUERY, long, "all=all").status_code == 422
        total = api.query(dict(STATS, aggregate_by="total_channel"), "all=all")
        per_club: Counter = Counter()
        for club in (1001, 1002, 1003):
            per_club += _totals(api.query(dict(STATS, aggregate_by="channel"), f"id={club}"))
        assert _totals(total) == per_club
        assert all("loyalty_club_id" not in s["label"] for s in total["series"])
        capped = api.query(
            dict(HISTORY, aggregate_by="sending_id", **{"from": "2026-09-01T00:00:00"}), "all=all"
        )
        assert capped["data_points"] == 1000


def test_cross_customer_query_refused_is_422_on_query_and_its_export():
    with live_api(variants={"cross_customer_query": "refused"}) as api:
        for path in (QUERY, EXPORT):
            for customer in ("id=1001_1002", "1001_1002", "all=all"):
                response = api.post(path, HISTORY, customer)
                assert response.status_code == 422
                assert "tenants" in response.json()["error"]
        assert api.post(TENANTS, HISTORY, "all=all").status_code == 200


# -- same_tz_merge ---------------------------------------------------------------------------


def test_same_timezone_customers_get_one_series_per_club_by_default():
    with live_api(clubs=13) as api:
        result = api.query(HISTORY, "id=1001_1013")
        assert result["range_timezone"] == "Europe/Oslo"
        labels = Counter(s["label"]["event_type"] for s in result["series"])
        assert set(labels.values()) == {2}
        assert {s["label"]["loyalty_club_id"] for s in result["series"]} == {1001, 1013}


def test_same_timezone_customers_merged_sum_into_one_series_per_label():
    with live_api(clubs=13, variants={"same_tz_merge": "merged"}) as api:
        for path, body in ((QUERY, HISTORY), (TENANTS, HISTORY), (QUERY, STATS), (TENANTS, STATS)):
            merged = api.ok(path, body, "id=1001_1013")
            assert merged["range_timezone"] == "Europe/Oslo"
            assert all(set(s["label"]) == {"event_type"} for s in merged["series"])
            assert all("timezone" not in s for s in merged["series"])
            summed: Counter = Counter()
            for club in (1001, 1013):
                single = api.query(body, f"id={club}")
                if "time_buckets" in single:
                    summed.update(_points(single))
                else:
                    summed.update(_totals(single))
            got = _points(merged) if "time_buckets" in merged else _totals(merged)
            assert dict(got) == dict(summed)
        different_zones = api.query(HISTORY, "id=1001_1002")
        assert {s["label"]["loyalty_club_id"] for s in different_zones["series"]} == {1001, 1002}


# -- multi_tz_window -------------------------------------------------------------------------


def _per_club(result: dict) -> dict[int, Counter]:
    out: dict[int, Counter] = {}
    for s in result["series"]:
        club = s["label"]["loyalty_club_id"]
        out.setdefault(club, Counter())[s["label"]["event_type"]] += s["value"]
    return out


@pytest.mark.parametrize(("variant", "suffix"), [("local_wall_clock", ""), ("utc", "Z")])
def test_naive_times_across_timezones_follow_the_multi_tz_window_variant(variant, suffix):
    with live_api(variants={"multi_tz_window": variant}) as api:
        body = dict(STATS, **{"from": "2026-11-20T00:00:00", "to": "2026-11-21T00:00:00"})
        across = api.query(body, "id=1001_1002")
        expected = {}
        for club in (1001, 1002):
            single = api.query(
                dict(body, **{"from": body["from"] + suffix, "to": body["to"] + suffix}),
                f"id={club}",
            )
            expected[club] = Counter(
                {s["label"]["event_type"]: s["value"] for s in single["series"]}
            )
        assert _per_club(across) == expected
        assert across["range_timezone"] == "local"
        if variant == "utc":
            assert across["from"] == "2026-11-20T00:00:00.000+00:00"
        else:
            assert across["from"] == "2026-11-20T00:00:00.000"


# -- statistics_shape ------------------------------------------------------------------------


def test_statistics_totals_shape_has_one_value_per_series():
    with live_api() as api:
        result = api.query(STATS)
        assert set(result) == {
            "range_timezone",
            "from",
            "to",
            "series",
            "data_points",
            "result_type",
        }
        assert all(set(s) == {"label", "value"} for s in result["series"])


def test_statistics_buckets_shape_carries_interval_buckets_and_values():
    body = dict(STATS, interval="1d")
    with live_api(variants={"statistics_shape": "buckets"}) as api, live_api() as default:
        result = api.query(body)
        assert result["result_type"] == "statistics"
        assert result["interval"] == "1d"
        assert result["from"] == "2026-11-20T00:00:00.000+01:00"
        assert result["time_buckets"][0] == "2026-11-20T00:00:00.000+01:00"
        assert result["time_buckets"][-1] == "2026-11-26T00:00:00.000+01:00"
        assert all(len(s["values"]) == len(result["time_buckets"]) for s in result["series"])
        assert _totals(result) == _totals(default.query(body))
        history = api.query(dict(HISTORY, to="2026-11-26T00:00:00"))
        assert _points(result) == _points(history)
        assert api.post(EXPORT, body).content == api.post(QUERY, body).content


# -- cursor_key ------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["page_info", "next_page_info", "cursor"])
def test_the_cursor_is_read_only_from_the_chosen_body_key(key):
    with live_api(variants={"cursor_key": key}) as api:
        body = {"report": "sendings", "limit": 40}
        assert api.pages(body) == api.export({"report": "sendings"})["records"]
        first = api.query(body)
        cursor = first["pagination"]["next_page_info"]
        assert cursor is not None
        second = api.query(dict(body, **{key: cursor}))
        assert second["records"][0] != first["records"][0]
        for wrong in {"page_info", "next_page_info", "cursor"} - {key}:
            again = api.query(dict(body, **{wrong: cursor}))
            assert again == first


# -- exports ---------------------------------------------------------------------------------


def test_exports_present_answer():
    with live_api() as api:
        assert api.post(EXPORT, HISTORY).status_code == 200
        assert api.post(TENANTS, HISTORY, "all=all").status_code == 200


def test_exports_absent_answer_404_with_an_error_body():
    with live_api(variants={"exports": "absent"}) as api:
        for path, customer in ((EXPORT, "id=1001"), (TENANTS, "all=all")):
            response = api.post(path, HISTORY, customer)
            assert response.status_code == 404
            assert isinstance(response.json()["error"], str)
        assert api.post(QUERY, HISTORY).status_code == 200


# -- auth ------------------------------------------------------------------------------------


def _headers(scheme: str) -> dict[str, str]:
    headers = {k: v for k, v in BASE_HEADERS.items() if k != "X-Client-Authorization"}
    if scheme == "client":
        headers["X-Client-Authorization"] = "dev-token"
    else:
        headers["Authorization"] = "Bearer dev-token"
    return dict(headers, **{"X-Customer": "id=1001"})


@pytest.mark.parametrize(
    ("variant", "accepted"), [("client_token", "client"), ("user_token", "user")]
)
def test_only_the_chosen_credential_scheme_is_accepted(variant, accepted):
    with live_api(variants={"auth": variant}) as api:
        for scheme in ("client", "user"):
            response = api.client.post(QUERY, json=STATS, headers=_headers(scheme))
            expected = 200 if scheme == accepted else 401
            assert response.status_code == expected, (scheme, response.text)
            if expected == 401:
                assert response.json()["error"]
        wrong_token = dict(_headers(accepted))
        if accepted == "client":
            wrong_token["X-Client-Authorization"] = "nope"
        else:
            wrong_token["Authorization"] = "Bearer nope"
        assert api.client.post(QUERY, json=STATS, headers=wrong_token).status_code == 401


# -- date_header -----------------------------------------------------------------------------


def test_date_header_present_says_the_simulator_clock():
    with live_api() as api:
        response = api.post(QUERY, STATS)
        assert response.headers.get_list("date") == ["Sat, 28 Nov 2026 06:00:00 GMT"]


def test_date_header_absent_sends_no_date():
    with live_api(variants={"date_header": "absent"}) as api:
        for response in (api.post(QUERY, STATS), api.post(QUERY, {"report": "nope"})):
            assert "date" not in response.headers
        assert "date" not in api.client.get("/_simulator/clubs").headers


# -- menu_only_reports -----------------------------------------------------------------------


def _menu_body(report: str) -> dict:
    if MENU_ONLY[report] == "records":
        return {"report": report, "limit": 5}
    return {"report": report, "interval": "1d", **{k: STATS[k] for k in ("from", "to")}}


@pytest.mark.parametrize("report", sorted(MENU_ONLY))
def test_menu_only_reports_absent_are_unknown_reports(report):
    with live_api() as api:
        for path in (QUERY, METADATA):
            response = api.post(path, _menu_body(report))
            assert response.status_code == 422
            assert "unknown report" in response.json()["error"]


def test_menu_only_reports_served_answer_and_are_described_by_metadata():
    with live_api(variants={"menu_only_reports": "served"}) as api:
        for report, kind in MENU_ONLY.items():
            meta = api.ok(METADATA, {"report": report})
            assert meta["result_type"] == kind
            assert meta["permit"].startswith("Reporting:Api:Report:")
            result = api.query(_menu_body(report))
            assert result["result_type"] == kind
            items = result["records"] if kind == "records" else result["series"]
            assert items, report
            field_names = {f["name"] for f in meta["fields"]}
            if kind == "records":
                assert set(items[0]) <= field_names
            else:
                assert all(set(s["label"]) <= field_names for s in items)
        again = make_api(variants={"menu_only_reports": "served"})
        other_seed = make_api(seed=7, variants={"menu_only_reports": "served"})
        for report in MENU_ONLY:
            body = _menu_body(report)
            assert api.post(QUERY, body).content == again.post(QUERY, body).content
            assert api.post(QUERY, body).content != other_seed.post(QUERY, body).content
