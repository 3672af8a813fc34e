"""The documented filter grammar, validated and compiled into a row predicate.

Filters are applied for real to the generated data, so a filtered query returns exactly the rows
an unfiltered one would, minus the excluded ones; that is what lets the warehouse tests compare
numbers exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from placewise_simulator.errors import ApiError
from placewise_simulator.timeutil import TimeError, parse_time

LOGICAL_COSTS = {"and": 1, "or": 3}
COMPARISONS = ("greater_than", "greater_or_equal_to", "less_than", "less_or_equal_to")
OPERATIONS = ("equal", "not_equal", *COMPARISONS, "in", "not_in")
ORDERED_TYPES = ("Integer", "Time")

Row = Any
Predicate = Callable[[Row], bool]


@dataclass(frozen=True)
class FieldSpec:
    """A report field as the metadata endpoint describes it."""

    name: str
    type: str
    filterable: bool = False
    enum_values: tuple[str, ...] | None = None

    def as_json(self) -> dict[str, object]:
        """Metadata representation."""
        return {
            "name": self.name,
            "type": self.type,
            "filterable": self.filterable,
            "enum_values": list(self.enum_values) if self.enum_values is not None else None,
        }


def filter_cost(node: object) -> int:
    """Rate-limit tokens of a filter: 1 per ``and`` node, 3 per ``or`` node."""
    if not isinstance(node, dict):
        return 0
    cost = LOGICAL_COSTS.get(node.get("type"), 0)  # type: ignore[arg-type]
    for child in node.get("operations") or ():
        cost += filter_cost(child)
    return cost


def _convert(field: FieldSpec, value: object) -> object:
    if value is None:
        return None
    if field.type == "Time":
        try:
            parsed = parse_time(value)
        except TimeError as exc:
            raise ApiError(422, f"invalid time value for {field.name}: {value!r}") from exc
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    if field.type.startswith("Integer") or field.type == "Array[Integer]":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ApiError(422, f"{field.name} needs an integer value, got {value!r}")
        return value
    if field.type == "Boolean":
        if not isinstance(value, bool):
            raise ApiError(422, f"{field.name} needs a boolean value, got {value!r}")
        return value
    if not isinstance(value, str):
        raise ApiError(422, f"{field.name} needs a string value, got {value!r}")
    if field.enum_values is not None and value not in field.enum_values:
        raise ApiError(422, f"{value!r} is not a value of {field.name}")
    return value


def compile_filter(
    node: object, fields: dict[str, FieldSpec], club_field: str, key_of: Callable[[str], object]
) -> Predicate | None:
    """Validate a filter tree and return a predicate over rows (``None`` = keep everything).

    ``key_of`` maps a field name to the key used to read it from a row (a tuple index for
    generated facts, a name for record dicts), so one compiler serves every report.
    """
    if node is None:
        return None
    if not isinstance(node, dict):
        raise ApiError(422, "filter must be an object or null")
    kind = node.get("type")
    if kind in LOGICAL_COSTS:
        children = node.get("operations")
        if not isinstance(children, list) or not children:
            raise ApiError(422, f"{kind} needs a non-empty operations array")
        compiled = [compile_filter(child, fields, club_field, key_of) for child in children]
        parts = [c for c in compiled if c is not None]
        if kind == "and":
            return lambda row: all(p(row) for p in parts)
        return lambda row: any(p(row) for p in parts)
    if kind not in OPERATIONS:
        raise ApiError(422, f"unknown filter type {kind!r}")
    name = node.get("field")
    if name == club_field:
        raise ApiError(422, f"{club_field} is selected by the X-Customer header, not by filter")
    if not isinstance(name, str) or name not in fields:
        raise ApiError(422, f"unknown filter field {name!r}")
    field = fields[name]
    if not field.filterable:
        raise ApiError(422, f"field {name} is not filterable")
    if "value" not in node:
        raise ApiError(422, f"filter on {name} needs a value")
    raw = node["value"]
    key = key_of(name)
    is_array = field.type.startswith("Array")
    if kind in ("in", "not_in"):
        if not isinstance(raw, list):
            raise ApiError(422, f"{kind} needs an array value")
        values = frozenset(_convert(field, v) for v in raw)
        if is_array:
            hit: Predicate = lambda row: not values.isdisjoint(row[key])  # noqa: E731
        else:
            hit = lambda row: row[key] in values  # noqa: E731
        if kind == "in":
            return hit
        return lambda row: not hit(row)
    value = _convert(field, raw)
    if kind in COMPARISONS:
        if field.type not in ORDERED_TYPES or value is None:
            raise ApiError(422, f"{kind} needs a numeric or timestamp field and value")
        return _comparison(kind, key, value)
    if is_array:
        if kind == "equal":
            return lambda row: value in row[key]
        return lambda row: value not in row[key]
    if kind == "equal":
        return lambda row: row[key] == value
    return lambda row: row[key] != value


def _comparison(kind: str, key: object, value: Any) -> Predicate:
    def check(row: Row) -> bool:
        current = row[key]
        if current is None:
            return False
        if kind == "greater_than":
            return current > value
        if kind == "greater_or_equal_to":
            return current >= value
        if kind == "less_than":
            return current < value
        return current <= value

    return check
