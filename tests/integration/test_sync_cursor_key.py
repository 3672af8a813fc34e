"""Records paging against a simulator that reads the cursor under another body key."""

from __future__ import annotations

import pytest
from placewise.api.client import PlacewiseClient
from placewise.api.contract import Endpoint
from placewise.api.customer import CustomerSelector
from placewise.api.pacing import InMemoryPacer
from placewise.api.settings import ApiSettings
from placewise.api.variants import ApiVariants
from placewise.extract.fetch import SliceFetchError, fetch_slice
from placewise.extract.plan import SliceSpec
from placewise.landing.store import LandingStore
from placewise.sync import OutcomeStatus, sync_slices
from placewise.warehouse.schema import migrate_warehouse

pytestmark = pytest.mark.integration

MEMBERS = SliceSpec("members", CustomerSelector.club(1001), None, None, None, Endpoint.QUERY)
PAGE = 30  # the club has 100 members in this world: four pages


@pytest.fixture(scope="module")
def cursor_simulator(simulator_factory):
    return simulator_factory("--history-days", "10", "--variant", "cursor_key=cursor")


def client(url: str, variants: ApiVariants) -> PlacewiseClient:
    return PlacewiseClient(
        ApiSettings(base_url=url, token="dev-token"),
        pacer=InMemoryPacer(capacity=100000, refill_per_s=100000),
        variants=variants,
    )


def test_the_configured_cursor_key_pages_through_every_record(cursor_simulator, tmp_path):
    store = LandingStore(tmp_path)
    with client(cursor_simulator.url, ApiVariants(cursor_key="cursor")) as api:
        (manifest,) = fetch_slice(api, store, MEMBERS, page_limit=PAGE)
    assert len(manifest.parts) == 4
    assert len({part.sha256 for part in manifest.parts}) == 4


def test_a_mismatched_cursor_key_stops_the_slice_instead_of_looping(cursor_simulator, tmp_path):
    store = LandingStore(tmp_path)
    with client(cursor_simulator.url, ApiVariants()) as api, pytest.raises(SliceFetchError) as info:
        fetch_slice(api, store, MEMBERS, page_limit=PAGE)
    assert "members agg=none club 1001 snapshot: paging does not advance" in str(info.value)
    assert "set cursor_key in the API settings file" in str(info.value)


def test_a_sync_with_a_mismatched_key_fails_that_slice_and_loads_the_others(
    cursor_simulator, fresh_database, tmp_path
):
    migrate_warehouse(fresh_database)
    sendings = SliceSpec("sendings", CustomerSelector.club(1001), None, None, None, Endpoint.QUERY)
    with client(cursor_simulator.url, ApiVariants()) as api:
        summary = sync_slices(
            [MEMBERS, sendings],
            client=api,
            store=LandingStore(tmp_path),
            conninfo=fresh_database,
            page_limit=PAGE,
        )
    members, loaded = summary.outcomes
    assert members.status is OutcomeStatus.FAILED and "cursor_key" in (members.error or "")
    assert loaded.status is OutcomeStatus.LOADED  # 22 sendings: one page, nothing to repeat
