import itertools
import json
from datetime import date, datetime, timedelta

import httpx
import pytest
from placewise.api.client import PlacewiseClient, RetryPolicy
from placewise.api.contract import MAX_PAGE_LIMIT, MAX_QUERY_DATA_POINTS, Endpoint
from placewise.api.customer import CustomerSelector
from placewise.api.errors import InvalidQueryError, ResultShapeError
from placewise.api.settings import ApiSettings
from placewise.api.variants import ApiVariants
from placewise.extract.fetch import SliceFetchError, fetch_slice
from placewise.extract.plan import SliceSpec
from placewise.extract.windows import Window
from placewise.landing.store import LandingStore, ManifestStatus

CLUB = CustomerSelector.club(1001)
COST = {"query": 3, "export": 15}


class FakeApi:
    """A Reporting API that answers from the request body, with the query endpoint's cap.

    Timeseries have ``series`` series over one bucket per day of the window; a query answer
    reaching ``MAX_QUERY_DATA_POINTS`` reports exactly that many points, as the API does.
    Records are served ``page_size`` per page, cursor ``p<n>``.
    """

    def __init__(self, *, series: int = 1, stat_points: int = 1, records: int = 0):
        self.series = series
        self.stat_points = stat_points
        self.records = [{"id": i, "loyalty_club_id": 1001} for i in range(records)]
        self.page_size = 2
        self.calls: list[tuple[str, dict]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        kind = "export" if request.url.path.endswith("/export") else "query"
        self.calls.append((kind, body))
        headers = {"ratelimit-cost": str(COST[kind]), "date": "Sat, 28 Nov 2026 06:00:00 GMT"}
        report = body["report"]
        if report == "sendings":
            payload = self._records(body, kind)
        elif report == "sendings_stats":
            payload = self._statistics(kind)
        else:
            payload = self._timeseries(body, kind)
        return httpx.Response(200, content=json.dumps(payload).encode(), headers=headers)

    def _timeseries(self, body: dict, kind: str) -> dict:
        start = datetime.fromisoformat(body["from"])
        end = datetime.fromisoformat(body["to"])
        buckets = []
        moment = start
        while moment < end:
            buckets.append(moment.isoformat(timespec="milliseconds") + "+01:00")
            moment += timedelta(days=1)
        points = len(buckets) * self.series
        if kind == "query":
            points = min(points, MAX_QUERY_DATA_POINTS)
        return {
            "interval": body["interval"],
            "range_timezone": "Europe/Oslo",
            "time_buckets": buckets,
            "series": [
                {"label": {"type": f"t{i}"}, "values": [1] * len(buckets)}
                for i in range(self.series)
            ],
            "data_points": points,
            "result_type": "timeseries",
        }

    def _statistics(self, kind: str) -> dict:
        points = self.stat_points
        if kind == "query":
            points = min(points, MAX_QUERY_DATA_POINTS)
        return {
            "range_timezone": "Europe/Oslo",
            "series": [{"label": {"event_type": "new"}, "value": 1}],
            "data_points": points,
            "result_type": "statistics",
        }

    def _records(self, body: dict, kind: str) -> dict:
        if kind == "export":
            return {"records": self.records, "result_type": "records"}
        page = int((body.get("page_info") or "p0")[1:])
        chunk = self.records[page * self.page_size : (page + 1) * self.page_size]
        more = (page + 1) * self.page_size < len(self.records)
        return {
            "records": chunk,
            "pagination": {"next_page_info": f"p{page + 1}" if more else None},
            "result_type": "records",
        }


@pytest.fixture
def store(tmp_path):
    return LandingStore(tmp_path / "landing")


def client_for(api) -> PlacewiseClient:
    return PlacewiseClient(
        ApiSettings(base_url="https://api.test", token="tok"),
        transport=httpx.MockTransport(api),
        retry=RetryPolicy(base_delay_s=0, max_delay_s=0),
        sleep=lambda s: None,
    )


def timeseries_spec(first: date, last: date, endpoint=Endpoint.QUERY) -> SliceSpec:
    return SliceSpec("member_balance", CLUB, None, Window.days(first, last), "1d", endpoint)


def stats_spec(endpoint=Endpoint.QUERY) -> SliceSpec:
    day = Window.days(date(2026, 11, 27), date(2026, 11, 27))
    return SliceSpec("sendings_stats", CLUB, "channel", day, None, endpoint)


def windows_of(manifests) -> list[Window]:
    return [
        Window(datetime.fromisoformat(m.window_start), datetime.fromisoformat(m.window_end))
        for m in manifests
    ]


def assert_exact_cover(manifests, window: Window) -> None:
    """The manifests' windows tile ``window``: no gap, no overlap."""
    pieces = sorted(windows_of(manifests))
    assert pieces[0].start == window.start
    assert pieces[-1].end == window.end
    for before, after in itertools.pairwise(pieces):
        assert before.end == after.start, (before, after)


def written(store) -> list:
    return list(store.iter_manifests())


# -- exports --------------------------------------------------------------------------------------


def test_export_lands_one_body_and_one_manifest(store):
    api = FakeApi(series=2000)
    spec = timeseries_spec(date(2026, 1, 1), date(2026, 12, 31), Endpoint.EXPORT)
    with client_for(api) as client:
        manifests = fetch_slice(client, store, spec)
    assert len(api.calls) == 1 and api.calls[0] == ("export", spec.body())
    [manifest] = manifests
    assert manifest.status == "landed"
    assert manifest.slice_key == spec.slice_key
    assert manifest.endpoint == str(Endpoint.EXPORT)
    assert manifest.request_body == spec.body()
    assert (manifest.window_start, manifest.window_end) == (
        "2026-01-01T00:00:00",
        "2027-01-01T00:00:00",
    )
    assert manifest.club_ids == [1001] and manifest.scope == "club:1001"
    assert manifest.tokens_spent == COST["export"] and manifest.attempts == 1
    assert manifest.server_date == "2026-11-28T06:00:00+00:00"
    assert len(manifest.parts) == 1 and store.verify(manifest.parts[0])
    assert written(store) == manifests


# -- records paging -------------------------------------------------------------------------------


def test_query_records_are_paged_to_the_end_with_every_page_landed_as_its_own_part(store):
    api = FakeApi(records=5)
    spec = SliceSpec("sendings", CLUB, None, None, None, Endpoint.QUERY)
    with client_for(api) as client:
        [manifest] = fetch_slice(client, store, spec)
    assert [body.get("page_info") for _, body in api.calls] == [None, "p1", "p2"]
    assert all(body["limit"] == MAX_PAGE_LIMIT for _, body in api.calls)
    assert len(manifest.parts) == 3
    ids = []
    for part in manifest.parts:
        with store.open_part(part) as fp:
            ids.extend(r["id"] for r in json.load(fp)["records"])
    assert ids == [0, 1, 2, 3, 4]
    assert manifest.tokens_spent == 3 * COST["query"] and manifest.attempts == 3
    assert manifest.request_body == spec.body()
    assert manifest.status == "landed"


def test_query_records_with_one_page_make_one_call(store):
    api = FakeApi(records=1)
    spec = SliceSpec("sendings", CLUB, None, None, None, Endpoint.QUERY)
    with client_for(api) as client:
        [manifest] = fetch_slice(client, store, spec)
    assert len(api.calls) == 1 and len(manifest.parts) == 1


# -- the query cap --------------------------------------------------------------------------------


def test_timeseries_query_under_the_cap_is_kept(store):
    api = FakeApi(series=10)
    spec = timeseries_spec(date(2026, 11, 1), date(2026, 11, 30))
    with client_for(api) as client:
        [manifest] = fetch_slice(client, store, spec)
    assert len(api.calls) == 1
    assert manifest.status == "landed" and manifest.slice_key == spec.slice_key


def test_capped_timeseries_query_is_halved_until_under_the_cap(store):
    api = FakeApi(series=40)  # 40 points a day: 120 days -> capped, 15 days -> 600 points
    spec = timeseries_spec(date(2026, 1, 1), date(2026, 4, 30))  # 120 days
    with client_for(api) as client:
        manifests = fetch_slice(client, store, spec)
    assert len(manifests) == 8
    assert all(m.status == "landed" and m.endpoint == str(Endpoint.QUERY) for m in manifests)
    assert [len(w.day_list()) for w in windows_of(manifests)] == [15] * 8
    assert_exact_cover(manifests, spec.window)
    assert {kind for kind, _ in api.calls} == {"query"}
    assert len(api.calls) == 1 + 2 + 4 + 8


def test_capped_answers_leave_capped_manifests_that_are_not_returned(store):
    api = FakeApi(series=40)
    spec = timeseries_spec(date(2026, 1, 1), date(2026, 4, 30))
    with client_for(api) as client:
        manifests = fetch_slice(client, store, spec)
    capped = [m for m in written(store) if m.status == "capped"]
    assert len(capped) == 1 + 2 + 4
    assert spec.slice_key in {m.slice_key for m in capped}
    assert all(m.parts and store.verify(m.parts[0]) for m in capped)
    assert not {m.slice_key for m in capped} & {m.slice_key for m in manifests}
    every_written = sorted(m.slice_key for m in written(store))
    assert every_written == sorted(m.slice_key for m in [*capped, *manifests])
    assert_exact_cover(manifests, spec.window)


def test_answer_at_exactly_the_cap_is_discarded(store):
    api = FakeApi(series=500)  # 2 days x 500 series = exactly 1000 points
    spec = timeseries_spec(date(2026, 11, 26), date(2026, 11, 27))
    with client_for(api) as client:
        manifests = fetch_slice(client, store, spec)
    assert [m.status for m in written(store) if m.slice_key == spec.slice_key] == ["capped"]
    assert len(manifests) == 2
    assert_exact_cover(manifests, spec.window)


def test_capped_single_bucket_falls_back_to_the_export(store):
    api = FakeApi(series=1500)  # even one day is over the cap
    spec = timeseries_spec(date(2026, 11, 26), date(2026, 11, 27))
    with client_for(api) as client:
        manifests = fetch_slice(client, store, spec)
    assert [kind for kind, _ in api.calls] == ["query", "query", "export", "query", "export"]
    assert len(manifests) == 2
    assert all(m.endpoint == str(Endpoint.EXPORT) and m.status == "landed" for m in manifests)
    assert [len(w.day_list()) for w in windows_of(manifests)] == [1, 1]
    assert_exact_cover(manifests, spec.window)
    assert len([m for m in written(store) if m.status == "capped"]) == 3


def test_capped_statistics_query_is_fetched_again_through_the_export(store):
    api = FakeApi(stat_points=1200)
    spec = stats_spec()
    with client_for(api) as client:
        [manifest] = fetch_slice(client, store, spec)
    assert [kind for kind, _ in api.calls] == ["query", "export"]
    assert api.calls[0][1] == api.calls[1][1] == spec.body()
    assert manifest.endpoint == str(Endpoint.EXPORT)
    assert manifest.slice_key == spec.slice_key
    assert manifest.window_start == spec.window.start.isoformat()
    assert manifest.window_end == spec.window.end.isoformat()
    assert manifest.tokens_spent == COST["export"]
    statuses = sorted((m.endpoint, m.status) for m in written(store))
    assert statuses == [(str(Endpoint.QUERY), "capped"), (str(Endpoint.EXPORT), "landed")]


def test_statistics_query_under_the_cap_is_kept(store):
    api = FakeApi(stat_points=999)
    with client_for(api) as client:
        [manifest] = fetch_slice(client, store, stats_spec())
    assert [kind for kind, _ in api.calls] == ["query"]
    assert manifest.endpoint == str(Endpoint.QUERY)


def test_api_errors_propagate_without_landing_anything(store):
    def refuse(request):
        return httpx.Response(422, json={"error": "too many buckets"})

    with client_for(refuse) as client, pytest.raises(InvalidQueryError):
        fetch_slice(client, store, stats_spec())
    assert written(store) == []
    assert not (store.root / "objects").exists()


def test_a_malformed_query_page_raises_a_shape_error_and_keeps_the_body(store):
    def broken(request):
        return httpx.Response(200, content=b'{"records": [1, 2')

    spec = SliceSpec("sendings", CLUB, None, None, None, Endpoint.QUERY)
    with client_for(broken) as client, pytest.raises(ResultShapeError):
        fetch_slice(client, store, spec)
    assert written(store) == []
    assert len(list((store.root / "objects").rglob("*.json"))) == 1


def test_a_refetch_with_a_byte_identical_answer_writes_no_new_manifest(store):
    api = FakeApi(series=2)
    spec = timeseries_spec(date(2026, 11, 20), date(2026, 11, 26), Endpoint.EXPORT)
    with client_for(api) as client:
        [first] = fetch_slice(client, store, spec)
        objects = sorted(p for p in (store.root / "objects").rglob("*.json"))
        [again] = fetch_slice(client, store, spec)
    assert len(api.calls) == 2
    assert written(store) == [first]
    assert sorted(p for p in (store.root / "objects").rglob("*.json")) == objects
    assert again.parts == first.parts and again.tokens_spent == COST["export"]


def test_a_refetch_with_a_changed_answer_writes_its_own_manifest(store):
    api = FakeApi(series=2)
    spec = timeseries_spec(date(2026, 11, 20), date(2026, 11, 26), Endpoint.EXPORT)
    with client_for(api) as client:
        fetch_slice(client, store, spec)
        api.series = 3
        fetch_slice(client, store, spec)
    assert len(written(store)) == 2


# -- the API's readings: records cursor key, exports that may be absent ----------------------


def variant_client(api, variants: ApiVariants) -> PlacewiseClient:
    return PlacewiseClient(
        ApiSettings(base_url="https://api.test", token="tok"),
        transport=httpx.MockTransport(api),
        retry=RetryPolicy(base_delay_s=0, max_delay_s=0),
        sleep=lambda s: None,
        variants=variants,
    )


class CursorKeyApi(FakeApi):
    """Pages records by the cursor under ``key`` only; any other key gets page 1 again."""

    def __init__(self, key: str, records: int):
        super().__init__(records=records)
        self.key = key

    def _records(self, body: dict, kind: str) -> dict:
        cursor = body.get(self.key)
        return super()._records({"page_info": cursor}, kind)


RECORDS = SliceSpec("sendings", CLUB, None, None, None, Endpoint.QUERY)


@pytest.mark.parametrize("key", ["page_info", "next_page_info", "cursor"])
def test_records_page_to_the_end_with_the_cursor_under_the_configured_key(store, key):
    api = CursorKeyApi(key, records=5)
    with variant_client(api, ApiVariants(cursor_key=key)) as client:
        (manifest,) = fetch_slice(client, store, RECORDS)
    assert len(manifest.parts) == 3
    assert [body.get(key) for _, body in api.calls] == [None, "p1", "p2"]


def test_a_cursor_the_api_ignores_stops_the_slice_naming_it_and_the_setting(store):
    api = CursorKeyApi("cursor", records=5)
    with variant_client(api, ApiVariants()) as client, pytest.raises(SliceFetchError) as info:
        fetch_slice(client, store, RECORDS)
    message = str(info.value)
    assert message.startswith("sendings agg=none club 1001 snapshot: paging does not advance")
    assert "'page_info'" in message and "cursor_key" in message
    assert len(api.calls) == 2  # the repeat is seen on the second page, not after many


def test_a_capped_statistics_answer_uses_the_export_when_the_api_has_one(store):
    api = FakeApi(stat_points=MAX_QUERY_DATA_POINTS)
    with variant_client(api, ApiVariants()) as client:
        (manifest,) = fetch_slice(client, store, stats_spec())
    assert manifest.endpoint == Endpoint.EXPORT
    assert [kind for kind, _ in api.calls] == ["query", "export"]


def test_a_capped_statistics_answer_without_exports_fails_the_slice_naming_it(store):
    api = FakeApi(stat_points=MAX_QUERY_DATA_POINTS)
    with (
        variant_client(api, ApiVariants(exports="absent")) as client,
        pytest.raises(SliceFetchError) as info,
    ):
        fetch_slice(client, store, stats_spec())
    message = str(info.value)
    assert message.startswith("sendings_stats agg=channel club 1001 window 2026-11-27:")
    assert f"{MAX_QUERY_DATA_POINTS}-point cap" in message and "exports=absent" in message
    assert [kind for kind, _ in api.calls] == ["query"]
    # the capped answer stays landed for inspection, marked as such
    assert [m.status for m in store.iter_manifests()] == [ManifestStatus.CAPPED]


def test_the_cursor_key_is_never_sent_in_an_export(store):
    api = CursorKeyApi("cursor", records=3)
    with variant_client(api, ApiVariants(cursor_key="cursor")) as client:
        fetch_slice(client, store, RECORDS.with_endpoint(Endpoint.EXPORT))
    assert [json.dumps(body, sort_keys=True) for _, body in api.calls] == [
        json.dumps(RECORDS.body(), sort_keys=True)
    ]
