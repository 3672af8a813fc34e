"""The report catalog as the API's own Metadata describes it, over the static catalog.

``catalog.py`` holds what the docs' pages showed, and some of them were cut short: fields and
aggregations are missing, and reports named only in the docs' menu are absent altogether. The
Metadata endpoint describes every report (result type, cost, intervals, fields, aggregations
and which of them drop the club, the record key); ``placewise doctor`` reads it for the
configured reports and caches it in the warehouse (``placewise_ops.report_metadata``). Here
that body becomes a ``ReportSpec``: the API's facts where it gives them, the static catalog's
where it does not, so a report, an aggregation or a field the API offers and we did not know is
planned and loaded like any other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from placewise.api.catalog import (
    CATALOG,
    AggregationSpec,
    FieldSpec,
    FieldType,
    ReportSpec,
    install_live_specs,
)

RESULT_TYPES = ("records", "timeseries", "statistics")
_FIELD_TYPES: Mapping[str, FieldType] = {
    "integer": "integer",
    "int": "integer",
    "number": "integer",
    "string": "string",
    "text": "string",
    "enum": "enum",
    "time": "timestamp",
    "timestamp": "timestamp",
    "datetime": "timestamp",
    "boolean": "boolean",
    "bool": "boolean",
    "array": "array",
    "list": "array",
    "object": "object",
    "map": "object",
}
#: Aggregations named ``total_*`` sum over the clubs (as the catalog's own ``total_*`` do).
TOTAL_PREFIX = "total_"


class MetadataError(ValueError):
    """A Metadata body that cannot describe a report; the message names the report and key."""


def _text_list(meta: Mapping[str, Any], key: str, report: str) -> tuple[str, ...] | None:
    value = meta.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MetadataError(f"Metadata of {report}: {key} must be a list of names, got {value!r}")
    return tuple(value)


def _fields(
    meta: Mapping[str, Any], report: str, static: ReportSpec | None
) -> Mapping[str, FieldSpec]:
    raw = meta.get("fields")
    if raw is None:
        if static is None:
            raise MetadataError(f"Metadata of {report}: no fields")
        return static.fields
    if not isinstance(raw, list):
        raise MetadataError(f"Metadata of {report}: fields must be a list, got {raw!r}")
    fields: dict[str, FieldSpec] = {}
    for item in raw:
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            raise MetadataError(f"Metadata of {report}: a field without a name: {item!r}")
        name = item["name"]
        known = static.field(name) if static else None
        kind = _FIELD_TYPES.get(str(item.get("type", "")).lower())
        if kind is None:
            kind = known.type if known else "string"
        enum = item.get("enum_values")
        values = tuple(str(v) for v in enum) if isinstance(enum, list) and enum else None
        if values is None and known is not None:
            values = known.enum_values
        filterable = item.get("filterable")
        fields[name] = FieldSpec(
            name,
            kind,
            bool(filterable) if isinstance(filterable, bool) else bool(known and known.filterable),
            values,
        )
    return MappingProxyType(fields)


def _aggregations(
    meta: Mapping[str, Any], report: str, static: ReportSpec | None
) -> Mapping[str, AggregationSpec]:
    details: dict[str, Mapping[str, Any]] = {}
    for item in meta.get("aggregation_details") or []:
        if isinstance(item, Mapping) and isinstance(item.get("name"), str):
            details[item["name"]] = item
    names = _text_list(meta, "aggregations", report)
    if names is None:
        names = tuple(details) if details else tuple(static.aggregations if static else ())
    out: dict[str, AggregationSpec] = {}
    for name in names:
        known = static.aggregations.get(name) if static else None
        detail = details.get(name, {})
        keys = detail.get("label_keys")
        if isinstance(keys, list) and all(isinstance(k, str) for k in keys):
            label_keys = tuple(keys)
        elif known is not None:
            label_keys = known.label_keys
        else:
            label_keys = (name,)
        drops = detail.get("drops_club")
        if not isinstance(drops, bool):
            drops = known.drops_club if known is not None else name.startswith(TOTAL_PREFIX)
        out[name] = AggregationSpec(name, label_keys, drops)
    return MappingProxyType(out)


def spec_from_metadata(meta: Mapping[str, Any], static: ReportSpec | None = None) -> ReportSpec:
    """A ``ReportSpec`` from a Metadata body, falling back to ``static`` for what it omits."""
    report = meta.get("report")
    if not isinstance(report, str) or not report:
        raise MetadataError(f"Metadata without a report name: {dict(meta)!r}"[:300])
    static = static if static is not None else CATALOG.get(report)
    result_type = meta.get("result_type", static.result_type if static else None)
    if result_type not in RESULT_TYPES:
        raise MetadataError(
            f"Metadata of {report}: result_type {result_type!r} is not one of "
            f"{', '.join(RESULT_TYPES)}"
        )
    cost = meta.get("token_cost", static.token_cost if static else None)
    if isinstance(cost, bool) or not isinstance(cost, int) or cost < 0:
        raise MetadataError(
            f"Metadata of {report}: token_cost must be a whole number, got {cost!r}"
        )
    fields = _fields(meta, report, static)
    club_field = meta.get("club_field") or (static.club_field if static else None)
    if not isinstance(club_field, str) or club_field not in fields:
        raise MetadataError(f"Metadata of {report}: club_field {club_field!r} is not a field")
    intervals = _text_list(meta, "intervals", report)
    if intervals is None:
        intervals = static.intervals if static else ()
    record_key = _text_list(meta, "record_key", report)
    if not record_key:
        record_key = static.record_key if static else ()
    if result_type == "records" and not record_key:
        raise MetadataError(f"Metadata of {report}: a records report needs a record_key")
    default_keys = _text_list(meta, "default_label_keys", report)
    if default_keys is None:
        default_keys = static.default_label_keys if static else ()
    permit = meta.get("permit")
    return ReportSpec(
        name=report,
        result_type=result_type,
        permit=(
            f"Reporting:Api:Report:{permit}"
            if isinstance(permit, str) and ":" not in permit
            else (permit if isinstance(permit, str) else (static.permit if static else ""))
        ),
        token_cost=cost,
        intervals=intervals if result_type == "timeseries" else (),
        fields=fields,
        aggregations=_aggregations(meta, report, static),
        club_field=club_field,
        record_key=record_key,
        default_label_keys=default_keys,
        description=static.description if static else f"{report} (described by the API's Metadata)",
    )


def live_catalog(bodies: Iterable[Mapping[str, Any]]) -> dict[str, ReportSpec]:
    """Report name -> spec for every Metadata body (each over its static spec, if any)."""
    specs = {}
    for meta in bodies:
        spec = spec_from_metadata(meta)
        specs[spec.name] = spec
    return specs


def use_metadata(bodies: Iterable[Mapping[str, Any]]) -> dict[str, ReportSpec]:
    """Install the specs of ``bodies`` so ``catalog.get_report`` answers from them first."""
    specs = live_catalog(bodies)
    install_live_specs(specs)
    return specs
