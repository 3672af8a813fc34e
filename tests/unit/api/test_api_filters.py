from placewise.api.filters import filter_cost


def leaf(field, value):
    return {"type": "equal", "field": field, "value": value}


def test_filter_cost_counts_logical_nodes_recursively():
    assert filter_cost(None) == 0
    assert filter_cost(leaf("a", 1)) == 0
    assert filter_cost({"type": "and", "operations": [leaf("a", 1)]}) == 1
    assert filter_cost({"type": "or", "operations": [leaf("a", 1)]}) == 3
    tree = {
        "type": "and",
        "operations": [
            {
                "type": "or",
                "operations": [leaf("a", 1), {"type": "and", "operations": [leaf("b", 2)]}],
            },
            {"type": "or", "operations": [leaf("c", 3)]},
        ],
    }
    assert filter_cost(tree) == 1 + 3 + 1 + 3
