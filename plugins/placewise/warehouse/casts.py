"""What staging casts each raw value to, and the check that a value survives that cast.

Staging (``dbt_project/models/staging``) turns the jsonb of the raw tables into typed columns
with casts such as ``(record ->> 'id')::bigint`` or ``value::bigint``. A value such a cast cannot
take (``"abc"``, ``2**63``, ``"yesterday-ish"``) loads into raw without complaint and then fails
every dbt build after it. So the loader checks every value against the same rule before the
COPY and quarantines the slice instead. The rules live here, in one place, derived from the
catalog's field types (``FieldSpec.type``, ``.bits``, ``.timestamp_paths``); a unit test walks
every cast of the staging models and checks that its rule here names the same type.

Text (``string`` and ``enum`` fields, which staging reads as text) takes any JSON value; the one
thing PostgreSQL text and jsonb cannot hold, the NUL character, is refused for every string by
the row builders (``placewise.warehouse.rows``).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from placewise.api.catalog import FieldSpec, get_report

BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1
INTEGER_MIN, INTEGER_MAX = -(2**31), 2**31 - 1
#: What staging casts a series value (a count) to.
VALUE_TYPE = "bigint"

_RANGES = {"bigint": (BIGINT_MIN, BIGINT_MAX), "integer": (INTEGER_MIN, INTEGER_MAX)}
#: ISO 8601 timestamps as the API writes them (PostgreSQL accepts these; fromisoformat checks
#: the calendar): a date, optionally a time, and an offset only after a time.
_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?"
)


def warehouse_type(spec: FieldSpec) -> str | None:
    """The PostgreSQL type staging casts field ``spec`` to; None when it is read as text/jsonb."""
    if spec.type == "integer":
        return "integer" if spec.bits == 32 else "bigint"
    if spec.type == "timestamp":
        return "timestamptz"
    if spec.type == "boolean":
        return "boolean"
    return None


def cast_rule(report: str, where: str, path: tuple[str, ...]) -> str | None:
    """The type a value at ``path`` of a ``where`` (``record``, ``label``, ``value``) must cast to.

    ``path`` is the key path inside the record or label (empty for ``value``); a nested path is
    typed only where the catalog lists it in the field's ``timestamp_paths``.
    """
    if where == "value":
        return VALUE_TYPE
    spec = get_report(report).field(path[0]) if path else None
    if spec is None:
        return None
    if len(path) == 1:
        return warehouse_type(spec)
    return "timestamptz" if tuple(path[1:]) in spec.timestamp_paths else None


def typed_fields(report: str) -> dict[str, str]:
    """Top-level field name -> the type staging casts it to, for the fields that are cast."""
    fields = get_report(report).fields.values()
    return {f.name: t for f in fields if (t := warehouse_type(f)) is not None}


def nested_timestamps(report: str) -> dict[str, tuple[tuple[str, ...], ...]]:
    """Object field name -> the key paths inside it that staging casts to ``timestamptz``."""
    fields = get_report(report).fields.values()
    return {f.name: f.timestamp_paths for f in fields if f.timestamp_paths}


def cast_problem(pg_type: str, value: Any) -> str | None:
    """Why staging could not cast ``value`` to ``pg_type``; None if it can (null always can)."""
    if value is None:
        return None
    if pg_type in _RANGES:
        low, high = _RANGES[pg_type]
        if type(value) is not int:
            return f"{value!r} is not an integer (staging casts it to {pg_type})"
        if not low <= value <= high:
            return f"{value!r} is beyond the warehouse's {pg_type} range"
        return None
    if pg_type == "timestamptz":
        if type(value) is not str or _TIMESTAMP.fullmatch(value) is None:
            return f"{value!r} is not an ISO 8601 timestamp (staging casts it to timestamptz)"
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return f"{value!r} is not a valid timestamp (staging casts it to timestamptz)"
        return None
    if pg_type == "boolean":
        if type(value) is not bool:
            return f"{value!r} is not true or false (staging casts it to boolean)"
        return None
    raise ValueError(f"no cast rule for type {pg_type!r}")


__all__ = [
    "BIGINT_MAX",
    "BIGINT_MIN",
    "INTEGER_MAX",
    "INTEGER_MIN",
    "VALUE_TYPE",
    "cast_problem",
    "cast_rule",
    "nested_timestamps",
    "typed_fields",
    "warehouse_type",
]
