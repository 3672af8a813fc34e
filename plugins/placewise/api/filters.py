"""Builder, validation and token cost of report filters (REFERENCE.md section 6).

Filters are plain dicts of the documented grammar so they serialise into the query body as they
are. Validation runs locally against the catalog so a bad filter fails before it costs tokens and
before a nightly run discovers a 422.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from placewise.api.catalog import ReportSpec

LOGICAL_COSTS: dict[str, int] = {"and": 1, "or": 3}
EQUALITY_OPERATORS = frozenset({"equal", "not_equal"})
COMPARISON_OPERATORS = frozenset(
    {"greater_than", "greater_or_equal_to", "less_than", "less_or_equal_to"}
)
LIST_OPERATORS = frozenset({"in", "not_in"})
OPERATORS = EQUALITY_OPERATORS | COMPARISON_OPERATORS | LIST_OPERATORS
_COMPARABLE_TYPES = frozenset({"integer", "timestamp"})


class FilterError(ValueError):
    """A filter the API would reject (or that would select by the club id, which it must not)."""


def _op(type_: str, field: str, value: Any) -> dict[str, Any]:
    return {"type": type_, "field": field, "value": value}


def equal(field: str, value: Any) -> dict[str, Any]:
    """``field = value`` (``value=None`` means IS NULL)."""
    return _op("equal", field, value)


def not_equal(field: str, value: Any) -> dict[str, Any]:
    """``field <> value`` (``value=None`` means IS NOT NULL)."""
    return _op("not_equal", field, value)


def greater_than(field: str, value: Any) -> dict[str, Any]:
    """``field > value``; numeric or timestamp fields only."""
    return _op("greater_than", field, value)


def greater_or_equal_to(field: str, value: Any) -> dict[str, Any]:
    """``field >= value``; numeric or timestamp fields only."""
    return _op("greater_or_equal_to", field, value)


def less_than(field: str, value: Any) -> dict[str, Any]:
    """``field < value``; numeric or timestamp fields only."""
    return _op("less_than", field, value)


def less_or_equal_to(field: str, value: Any) -> dict[str, Any]:
    """``field <= value``; numeric or timestamp fields only."""
    return _op("less_or_equal_to", field, value)


def in_(field: str, values: Iterable[Any]) -> dict[str, Any]:
    """``field`` equals one of ``values`` (for array fields: the arrays share an element)."""
    return _op("in", field, list(values))


def not_in(field: str, values: Iterable[Any]) -> dict[str, Any]:
    """``field`` equals none of ``values``."""
    return _op("not_in", field, list(values))


def and_(*ops: dict[str, Any]) -> dict[str, Any]:
    """All operations match. Costs 1 token."""
    return {"type": "and", "operations": list(ops)}


def or_(*ops: dict[str, Any]) -> dict[str, Any]:
    """Any operation matches. Costs 3 tokens."""
    return {"type": "or", "operations": list(ops)}


def validate_filter(filter: dict[str, Any] | None, report: ReportSpec) -> None:
    """Raise ``FilterError`` if ``filter`` is not valid for ``report``; None is valid."""
    if filter is None:
        return
    _validate_node(filter, report, "filter")


def _validate_node(node: Any, report: ReportSpec, path: str) -> None:
    if not isinstance(node, dict) or "type" not in node:
        raise FilterError(f"{path}: a filter node must be an object with a 'type', got {node!r}")
    type_ = node["type"]
    if type_ in LOGICAL_COSTS:
        operations = node.get("operations")
        if not isinstance(operations, list) or not operations:
            raise FilterError(f"{path}: '{type_}' needs a non-empty 'operations' list")
        for i, child in enumerate(operations):
            _validate_node(child, report, f"{path}.operations[{i}]")
        return
    if type_ not in OPERATORS:
        known = ", ".join(sorted(OPERATORS | LOGICAL_COSTS.keys()))
        raise FilterError(f"{path}: unknown filter type {type_!r} (known: {known})")
    name = node.get("field")
    if "value" not in node:
        raise FilterError(f"{path}: '{type_}' on {name!r} has no 'value'")
    if name == report.club_field:
        raise FilterError(
            f"{path}: {name!r} is selected by the X-Customer header, not by the filter; "
            "use CustomerSelector instead"
        )
    spec = report.fields.get(name) if isinstance(name, str) else None
    if spec is None:
        raise FilterError(
            f"{path}: report {report.name!r} has no field {name!r} "
            f"(fields: {', '.join(report.fields)})"
        )
    if not spec.filterable:
        filterable = ", ".join(f.name for f in report.fields.values() if f.filterable)
        raise FilterError(
            f"{path}: field {name!r} of report {report.name!r} is not filterable "
            f"(filterable: {filterable or 'none'})"
        )
    value = node["value"]
    if type_ in COMPARISON_OPERATORS:
        if spec.type not in _COMPARABLE_TYPES:
            raise FilterError(
                f"{path}: '{type_}' needs a numeric or timestamp field; {name!r} is {spec.type}"
            )
        if value is None or isinstance(value, bool | list | dict):
            raise FilterError(f"{path}: '{type_}' needs a number or timestamp value")
    elif type_ in LIST_OPERATORS and not isinstance(value, list):
        raise FilterError(f"{path}: '{type_}' needs a list value, got {value!r}")


def filter_cost(filter: dict[str, Any] | None) -> int:
    """Rate-limit tokens the filter adds to a call: 1 per ``and`` node, 3 per ``or`` node."""
    if not isinstance(filter, dict):
        return 0
    cost = LOGICAL_COSTS.get(filter.get("type"), 0)
    for child in filter.get("operations") or ():
        cost += filter_cost(child)
    return cost
