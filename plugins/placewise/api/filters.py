"""Token cost of report filters.

A filter is a plain dict of the API's filter grammar (docs/api-contract.md, "Query body"): leaf
operations such as ``{"type": "equal", "field": ..., "value": ...}`` combined by ``and``/``or``
nodes that hold an ``operations`` list. The API charges for the logical nodes on top of the
report's own cost, so the pacer has to know what a filter adds before the call is sent.
"""

from __future__ import annotations

from typing import Any

LOGICAL_COSTS: dict[str, int] = {"and": 1, "or": 3}


def filter_cost(filter: dict[str, Any] | None) -> int:
    """Rate-limit tokens the filter adds to a call: 1 per ``and`` node, 3 per ``or`` node."""
    if not isinstance(filter, dict):
        return 0
    cost = LOGICAL_COSTS.get(filter.get("type"), 0)
    for child in filter.get("operations") or ():
        cost += filter_cost(child)
    return cost
