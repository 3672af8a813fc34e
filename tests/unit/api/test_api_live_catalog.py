"""The catalog read from the API's Metadata: its facts first, the static catalog's otherwise."""

import io
import json
from datetime import date

import pytest
from placewise.api import catalog
from placewise.api.catalog import CATALOG, UnknownReportError, get_report, known_reports
from placewise.api.live_catalog import MetadataError, spec_from_metadata, use_metadata
from placewise.extract.windows import Window
from placewise.warehouse.rows import BadPayloadError, PayloadStats, SliceContext, statistics_rows

#: The Metadata body of a report the docs' pages never showed (as the simulator serves it).
OFFERS_STATS = {
    "report": "offers_usages_stats",
    "result_type": "statistics",
    "token_cost": 2,
    "permit": "OffersUsagesStats",
    "club_field": "loyalty_club_id",
    "intervals": ["5m", "1h", "1d", "1w", "1mo"],
    "fields": [
        {"name": "loyalty_club_id", "type": "Integer", "filterable": False, "enum_values": None},
        {"name": "offer_id", "type": "Integer", "filterable": True, "enum_values": None},
        {"name": "store_id", "type": "Integer", "filterable": True, "enum_values": None},
    ],
    "default_label_keys": [],
    "aggregations": ["offer_id", "total_store_id"],
    "aggregation_details": [
        {"name": "offer_id", "label_keys": ["offer_id"], "drops_club": False},
        {"name": "total_store_id", "label_keys": ["store_id"], "drops_club": True},
    ],
    "record_key": [],
    "data_lag_seconds": 0,
}


@pytest.fixture(autouse=True)
def no_live_specs():
    catalog.install_live_specs({})
    yield
    catalog.install_live_specs({})


def test_a_report_only_the_metadata_describes_becomes_a_spec():
    spec = spec_from_metadata(OFFERS_STATS)
    assert (spec.name, spec.result_type) == ("offers_usages_stats", "statistics")
    assert spec.token_cost == 2
    assert spec.permit == "Reporting:Api:Report:OffersUsagesStats"
    assert spec.club_field == "loyalty_club_id"
    assert spec.intervals == ()  # statistics: no buckets unless statistics_shape says so
    assert spec.field("offer_id").filterable and spec.field("offer_id").type == "integer"
    assert spec.aggregations["total_store_id"].drops_club
    assert spec.aggregations["total_store_id"].label_keys == ("store_id",)
    assert not spec.aggregations["offer_id"].drops_club


def test_metadata_overrides_the_static_catalog_and_keeps_what_it_omits():
    static = CATALOG["sendings_stats"]
    meta = {
        "report": "sendings_stats",
        "token_cost": 4,
        "aggregations": ["channel", "total_language"],
    }
    spec = spec_from_metadata(meta)
    assert spec.token_cost == 4
    assert spec.fields == static.fields  # no fields in the body: the catalog's
    assert spec.aggregations["channel"] == static.aggregations["channel"]
    # an aggregation the docs never showed: label keys unknown, a total_* sums over clubs
    assert spec.aggregations["total_language"].label_keys == ("total_language",)
    assert spec.aggregations["total_language"].drops_club
    assert "service_type" not in spec.aggregations


def test_installed_specs_answer_first_and_list_the_new_reports():
    assert "offers_usages_stats" not in known_reports()
    with pytest.raises(UnknownReportError):
        get_report("offers_usages_stats")
    use_metadata([OFFERS_STATS, {"report": "sendings_stats", "token_cost": 4}])
    assert get_report("offers_usages_stats").token_cost == 2
    assert get_report("sendings_stats").token_cost == 4
    assert get_report("sendings").token_cost == CATALOG["sendings"].token_cost
    assert "offers_usages_stats" in known_reports()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"result_type": "table"}, "result_type 'table' is not one of records"),
        ({"token_cost": "two"}, "token_cost must be a whole number, got 'two'"),
        ({"club_field": "community_id"}, "club_field 'community_id' is not a field"),
        ({"fields": "offer_id"}, "fields must be a list"),
        ({"aggregations": "offer_id"}, "aggregations must be a list of names"),
        ({"result_type": "records"}, "a records report needs a record_key"),
    ],
)
def test_a_metadata_body_that_cannot_describe_a_report_names_the_key(change, message):
    with pytest.raises(MetadataError, match="Metadata of offers_usages_stats: " + message):
        spec_from_metadata(OFFERS_STATS | change)


def cross_club_total(aggregation: str):
    """Rows of a cross-club statistics answer whose one series names no club."""
    payload = {
        "range_timezone": "local",
        "from": "2026-11-27T00:00:00.000",
        "to": "2026-11-28T00:00:00.000",
        "series": [{"label": {"store_id": 7}, "value": 12}],
        "data_points": 1,
        "result_type": "statistics",
    }
    window = Window.days(date(2026, 11, 27), date(2026, 11, 27))
    context = SliceContext(
        "sendings_stats", "clubs:1001_1002", (1001, 1002), True, aggregation, "statistics", window
    )
    fp = io.BytesIO(json.dumps(payload).encode())
    return list(statistics_rows(context, fp, PayloadStats()))


def test_a_cross_club_aggregation_the_catalog_lacks_is_a_bad_payload_not_a_crash():
    # it used to raise the catalog's bare ValueError out of the loader
    with pytest.raises(BadPayloadError, match=r"aggregation 'total_store'.* `placewise doctor`"):
        cross_club_total("total_store")


def test_a_cross_club_aggregation_the_api_offers_is_loaded_as_summed_over_clubs():
    use_metadata(
        [
            {
                "report": "sendings_stats",
                "aggregations": ["total_store"],
                "aggregation_details": [
                    {"name": "total_store", "label_keys": ["store_id"], "drops_club": True}
                ],
            }
        ]
    )
    [row] = cross_club_total("total_store")
    assert row[0] is None and row[1] == "total_store" and row[-1] == 12
