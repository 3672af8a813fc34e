import pytest
from placewise.api import filters as f
from placewise.api.catalog import get_report

STATS = get_report("sendings_stats")
SENDINGS = get_report("sendings")


def test_builders_produce_the_documented_grammar():
    assert f.equal("channel", "sms") == {"type": "equal", "field": "channel", "value": "sms"}
    assert f.in_("channel", ("sms", "email")) == {
        "type": "in",
        "field": "channel",
        "value": ["sms", "email"],
    }
    tree = f.and_(f.equal("a", 1), f.or_(f.not_equal("b", None), f.greater_than("c", 2)))
    assert tree == {
        "type": "and",
        "operations": [
            {"type": "equal", "field": "a", "value": 1},
            {
                "type": "or",
                "operations": [
                    {"type": "not_equal", "field": "b", "value": None},
                    {"type": "greater_than", "field": "c", "value": 2},
                ],
            },
        ],
    }
    for builder, name in [
        (f.greater_or_equal_to, "greater_or_equal_to"),
        (f.less_than, "less_than"),
        (f.less_or_equal_to, "less_or_equal_to"),
        (f.not_in, "not_in"),
    ]:
        value = [1] if name == "not_in" else 1
        assert builder("x", value)["type"] == name


def test_valid_filters_pass():
    f.validate_filter(None, STATS)
    f.validate_filter(
        f.and_(f.in_("channel", ["sms"]), f.equal("reporting_id", None)),
        STATS,
    )
    f.validate_filter(f.greater_or_equal_to("created_at", "2026-11-01T00:00:00Z"), SENDINGS)
    f.validate_filter(f.less_than("campaign_id", 5), STATS)


def test_enum_values_not_in_the_catalog_are_accepted():
    f.validate_filter(f.equal("service_type", "brand_new_type"), STATS)


@pytest.mark.parametrize(
    ("node", "match"),
    [
        ({"type": "xor", "operations": []}, "unknown filter type"),
        ({"field": "channel"}, "'type'"),
        (f.equal("nope", 1), "no field 'nope'"),
        (f.equal("loyalty_club_id", 1), "X-Customer"),
        (f.equal("dispatches_count", 1), "not filterable"),
        (f.greater_than("channel", "a"), "numeric or timestamp"),
        ({"type": "in", "field": "channel", "value": "sms"}, "list"),
        ({"type": "not_in", "field": "channel", "value": "sms"}, "list"),
        (f.and_(), "non-empty"),
        (f.or_(), "non-empty"),
        ({"type": "equal", "field": "channel"}, "value"),
        (f.and_(f.equal("channel", "sms"), f.equal("nope", 1)), r"operations\[1\]"),
    ],
)
def test_invalid_filters_raise_filter_error(node, match):
    report = SENDINGS if node.get("field") == "dispatches_count" else STATS
    with pytest.raises(f.FilterError, match=match):
        f.validate_filter(node, report)


def test_filter_error_is_a_value_error():
    assert issubclass(f.FilterError, ValueError)


def test_filter_cost_counts_logical_nodes_recursively():
    assert f.filter_cost(None) == 0
    assert f.filter_cost(f.equal("a", 1)) == 0
    assert f.filter_cost(f.and_(f.equal("a", 1))) == 1
    assert f.filter_cost(f.or_(f.equal("a", 1))) == 3
    tree = f.and_(f.or_(f.equal("a", 1), f.and_(f.equal("b", 2))), f.or_(f.equal("c", 3)))
    assert f.filter_cost(tree) == 1 + 3 + 1 + 3
