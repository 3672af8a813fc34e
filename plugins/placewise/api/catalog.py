"""The report catalog as data: one source of truth for names, formats, costs, fields, aggregations.

Report names, permits, token costs, intervals and enum lists are copied exactly from the public
Reporting API documentation; which fields are filterable, the ``service_type`` values, the
``sendings`` field order and the statistics and tenants details are assumptions the project made
where the documentation is silent (listed in docs/api-contract.md). Enum values are informational:
the API may return values not listed here, and the client and loaders must keep them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

FieldType = Literal["integer", "string", "enum", "timestamp", "boolean", "array", "object"]
ResultType = Literal["records", "timeseries", "statistics"]

ALL_INTERVALS: tuple[str, ...] = ("5m", "1h", "1d", "1w", "1mo")

EVENT_TYPES: tuple[str, ...] = (
    "new",
    "transmitted",
    "transiently_failed",
    "delivered",
    "opened",
    "opened_event",
    "failed",
    "delivery_errored",
)
CHANNELS: tuple[str, ...] = ("sms", "email", "push")
SERVICE_TYPES: tuple[str, ...] = (
    "campaign",
    "automation",
    "transactional",
    "rewards_notifications",
    "system",
)
AGE_BUCKETS: tuple[str, ...] = (
    "-14",
    "15-19",
    "20-24",
    "25-29",
    "30-34",
    "35-39",
    "40-44",
    "45-49",
    "50-54",
    "55-59",
    "60-64",
    "65-69",
    "70-74",
    "75-79",
    "80-",
)
BALANCE_TYPES: tuple[str, ...] = ("in", "out")
GROUPING_TYPES: tuple[str, ...] = ("optin_channel", "optin_platform", "country")


class UnknownReportError(KeyError):
    """Raised for a report name the catalog does not know; the message lists the known names."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class FieldSpec:
    """One field of a report. ``enum_values`` lists the values known so far (not a whitelist).

    ``bits`` is the width of an ``integer`` field in the warehouse (64: ``bigint``, 32:
    ``integer``); ``timestamp_paths`` names the timestamps nested in an ``object`` field, as
    key paths inside it. Both say what staging casts to, so the loader can refuse, before it
    loads, a value that staging could not cast (``placewise.warehouse.casts``).
    """

    name: str
    type: FieldType
    filterable: bool
    enum_values: tuple[str, ...] | None = None
    bits: int = 64
    timestamp_paths: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class AggregationSpec:
    """An ``aggregate_by`` value and the keys its series/records are labelled with.

    ``drops_club`` is true when the aggregation sums across clubs, so cross-customer results carry
    no club id in their labels (``total_*`` and ``by_grouping_type_and_value``).
    """

    name: str
    label_keys: tuple[str, ...]
    drops_club: bool = False


@dataclass(frozen=True)
class ReportSpec:
    """Everything the warehouse needs to know to query, pace and load one report."""

    name: str
    result_type: ResultType
    permit: str
    token_cost: int
    intervals: tuple[str, ...]
    fields: Mapping[str, FieldSpec]
    aggregations: Mapping[str, AggregationSpec]
    club_field: str
    record_key: tuple[str, ...]
    default_label_keys: tuple[str, ...] = ()
    description: str = field(default="", compare=False)

    def field(self, name: str) -> FieldSpec | None:
        """The field named ``name``, or None."""
        return self.fields.get(name)

    def aggregation(self, name: str | None) -> AggregationSpec | None:
        """The aggregation named ``name`` (None for no aggregation); ValueError if unknown."""
        if name is None:
            return None
        try:
            return self.aggregations[name]
        except KeyError:
            known = ", ".join(self.aggregations) or "none"
            raise ValueError(
                f"report {self.name!r} has no aggregation {name!r} (known: {known})"
            ) from None

    def label_keys(self, aggregate_by: str | None) -> tuple[str, ...]:
        """The label keys of a series/record for ``aggregate_by`` (None = no aggregation)."""
        agg = self.aggregation(aggregate_by)
        return self.default_label_keys if agg is None else agg.label_keys


def _f(
    name: str,
    type_: FieldType,
    filterable: bool = False,
    enum: Iterable[str] | None = None,
    *,
    bits: int = 64,
    timestamp_paths: tuple[tuple[str, ...], ...] = (),
) -> FieldSpec:
    return FieldSpec(
        name, type_, filterable, tuple(enum) if enum is not None else None, bits, timestamp_paths
    )


def _report(
    name: str,
    result_type: ResultType,
    permit_name: str,
    token_cost: int,
    fields: Iterable[FieldSpec],
    *,
    club_field: str = "loyalty_club_id",
    intervals: tuple[str, ...] = (),
    aggregations: Iterable[AggregationSpec] = (),
    record_key: tuple[str, ...] = (),
    default_label_keys: tuple[str, ...] = (),
    description: str = "",
) -> ReportSpec:
    field_map = {f.name: f for f in fields}
    if club_field not in field_map:
        raise AssertionError(f"{name}: club field {club_field} missing")
    if field_map[club_field].filterable:
        raise AssertionError(f"{name}: the club field is selected by X-Customer, not by filter")
    return ReportSpec(
        name=name,
        result_type=result_type,
        permit=f"Reporting:Api:Report:{permit_name}",
        token_cost=token_cost,
        intervals=intervals if result_type == "timeseries" else (),
        fields=MappingProxyType(field_map),
        aggregations=MappingProxyType({a.name: a for a in aggregations}),
        club_field=club_field,
        record_key=record_key,
        default_label_keys=default_label_keys,
        description=description,
    )


_SENDINGS_COUNTS = (
    "dispatches_count",
    "members_count",
    "new_count",
    "transmitted_count",
    "transiently_failed_count",
    "delivered_count",
    "opened_count",
    "opened_event_count",
    "failed_count",
    "delivery_errored_count",
)

#: Fields of the member-count reports: a member is counted once per grouping type, as in the
#: ``(grouping_type, grouping_value)`` rows of ``members_grouped_count``.
_MEMBER_COUNT_FIELDS = (
    _f("community_id", "integer"),
    _f("optin_channel", "string", True),
    _f("optin_platform", "enum", True, ()),
    _f("gender", "string", True),
    _f("age", "enum", True, AGE_BUCKETS),
    _f("country", "string", True),
    _f("grouping_type", "enum", True, GROUPING_TYPES),
    _f("grouping_value", "string", True),
)
#: Without aggregation a member-count series is labelled ``{}``.
_MEMBER_COUNT_AGGREGATIONS = (
    AggregationSpec("optin_platform", ("optin_platform",)),
    AggregationSpec("gender", ("gender",)),
    AggregationSpec("age", ("age",)),
    AggregationSpec("grouping_type", ("grouping_type", "grouping_value")),
)

_REPORTS: tuple[ReportSpec, ...] = (
    _report(
        "members",
        "records",
        "Members",
        10,
        [
            _f("id", "integer", True),
            _f("community_id", "integer"),
            _f("optin_channel", "string", True),
            _f("optin_subchannel", "string", True),
            _f("optin_platform", "enum", True, ()),
            _f("gender", "string", True),
            _f("age", "enum", True, AGE_BUCKETS),
            _f("birth_year_group", "integer", True, bits=32),
            _f("subunit_ids", "array", True),
            _f("group_ids", "array", True),
            _f("favorite_stores", "array", True),
            _f("properties", "object"),
            _f("consents", "object"),
            _f("marketing_via_sms", "boolean", True),
            _f("marketing_via_email", "boolean", True),
            _f("marketing_via_push", "boolean", True),
            _f("marketing_via_anything", "boolean", True),
            _f("sms_status", "enum", True, ()),
            _f("email_status", "enum", True, ()),
            _f("push_status", "enum", True, ()),
        ],
        club_field="community_id",
        record_key=("id",),
        description="members of the loyalty club (community), current state",
    ),
    _report(
        "members_grouped_count",
        "records",
        "MembersGroupedCount",
        2,
        [
            _f("community_id", "integer"),
            _f("grouping_type", "enum", True, GROUPING_TYPES),
            _f("grouping_value", "string", True),
            _f("members_count", "integer", True),
            _f("updated_at", "timestamp", True),
        ],
        club_field="community_id",
        aggregations=[
            AggregationSpec("by_grouping_type_and_value", ("grouping_type", "grouping_value"), True)
        ],
        record_key=("grouping_type", "grouping_value"),
        description="pre-aggregated member counts per club and group",
    ),
    _report(
        "member_balance",
        "timeseries",
        "MemberBalance",
        3,
        [
            _f("community_id", "integer"),
            _f("type", "enum", True, BALANCE_TYPES),
            _f("optin_channel", "string", True),
            _f("optin_subchannel", "string", True),
            _f("optin_platform", "enum", True, ()),
            _f("gender", "string", True),
            _f("age", "enum", True, AGE_BUCKETS),
            _f("consents", "object"),
        ],
        club_field="community_id",
        intervals=ALL_INTERVALS,
        aggregations=[
            AggregationSpec("total", ()),
            AggregationSpec("optin_platform", ("type", "optin_platform")),
            # label consents: the consented channels joined by commas ("sms,email") or "none"
            AggregationSpec("consents", ("type", "consents")),
        ],
        default_label_keys=("type",),
        description="members joining (in) and leaving (out) the club over time",
    ),
    _report(
        "members_count_history",
        "timeseries",
        "MembersCountHistory",
        3,
        _MEMBER_COUNT_FIELDS,
        club_field="community_id",
        intervals=ALL_INTERVALS,
        aggregations=_MEMBER_COUNT_AGGREGATIONS,
        description="member count at the end of each bucket",
    ),
    _report(
        "members_count_snapshot",
        "timeseries",
        "MembersCountSnapshot",
        3,
        _MEMBER_COUNT_FIELDS,
        club_field="community_id",
        intervals=("1h", "1d", "1w", "1mo"),
        aggregations=_MEMBER_COUNT_AGGREGATIONS,
        description="member count at the end of each bucket, from ~15-minute snapshots "
        "(data lag ~15 minutes)",
    ),
    _report(
        "sendings",
        "records",
        "Sendings",
        2,
        [
            _f("id", "integer", True),
            _f("loyalty_club_id", "integer"),
            _f("language", "enum", True, ()),
            _f("channel", "enum", True, CHANNELS),
            _f("service_type", "enum", True, SERVICE_TYPES),
            _f("reporting_id", "integer", True),
            _f("source_id", "string", True),
            _f("source_app", "enum", True, ()),
            _f("source_type", "enum", True, ()),
            _f("audience_id", "integer", True),
            _f("campaign_id", "integer", True),
            *(_f(name, "integer") for name in _SENDINGS_COUNTS),
            _f("created_at", "timestamp", True),
            _f(
                "history_ranges",
                "object",
                timestamp_paths=tuple((i, end) for i in ALL_INTERVALS for end in ("from", "to")),
            ),
        ],
        record_key=("id",),
        description="sendings (messages) of the club with their event totals so far",
    ),
    _report(
        "sendings_events_history",
        "timeseries",
        "SendingsEventsHistory",
        3,
        [
            _f("loyalty_club_id", "integer"),
            _f("event_type", "enum", True, EVENT_TYPES),
            _f("channel", "enum", True, CHANNELS),
            _f("campaign_id", "integer", True),
            _f("sending_id", "integer", True),
        ],
        intervals=ALL_INTERVALS,
        aggregations=[
            AggregationSpec(name, (name, "event_type"))
            for name in ("channel", "campaign_id", "sending_id")
        ],
        default_label_keys=("event_type",),
        description="events produced by sendings over time",
    ),
    _report(
        "sendings_recipients_statistics",
        "timeseries",
        "SendingsRecipientsStatistics",
        3,
        [
            _f("loyalty_club_id", "integer"),
            _f("sending_id", "integer", True),
            _f("gender", "enum", True, ()),
            _f("age", "enum", True, AGE_BUCKETS),
        ],
        intervals=("1h", "1d", "1w", "1mo"),
        aggregations=[AggregationSpec("gender", ("gender",)), AggregationSpec("age", ("age",))],
        description="recipients of sendings, counted at send time",
    ),
    _report(
        "sendings_links",
        "records",
        "SendingsLinks",
        3,
        [
            _f("loyalty_club_id", "integer"),
            _f("source_id", "string", True),
            _f("host", "string", True),
            _f("path", "string", True),
            _f("utm_campaign", "string", True),
            _f("utm_content", "string", True),
            _f("utm_medium", "string", True),
            _f("utm_source", "string", True),
            _f("utm_term", "string", True),
            _f("visits_count", "integer", True),
            _f("unique_visits_count", "integer", True),
        ],
        record_key=(
            "source_id",
            "host",
            "path",
            "utm_campaign",
            "utm_content",
            "utm_medium",
            "utm_source",
            "utm_term",
        ),
        description="performance of links sent inside the club's sendings",
    ),
    _report(
        "sendings_links_stats",
        "records",
        "SendingsLinksStats",
        2,
        [
            _f("loyalty_club_id", "integer"),
            _f("source_id", "string", True),
            _f("visits_count", "integer", True),
            _f("unique_visits_count", "integer", True),
        ],
        record_key=("source_id",),
        description="link clicks in sendings, totalled per source",
    ),
    _report(
        "links_visits_history",
        "timeseries",
        "LinksVisitsHistory",
        3,
        [
            _f("loyalty_club_id", "integer"),
            _f("source_type", "enum", True, ()),
            _f("source_id", "string", True),
        ],
        intervals=ALL_INTERVALS,
        aggregations=[
            AggregationSpec("source_type", ("source_type",)),
            AggregationSpec("source_id", ("source_id",)),
        ],
        description="visits of resolved links over time",
    ),
    _report(
        "sendings_stats",
        "statistics",
        "SendingsStats",
        2,
        [
            _f("loyalty_club_id", "integer"),
            _f("event_type", "enum", True, EVENT_TYPES),
            _f("channel", "enum", True, CHANNELS),
            _f("service_type", "enum", True, SERVICE_TYPES),
            _f("campaign_id", "integer", True),
            _f("reporting_id", "integer", True),
        ],
        aggregations=[
            *(
                AggregationSpec(name, (name, "event_type"))
                for name in ("service_type", "campaign_id", "channel", "reporting_id")
            ),
            *(
                AggregationSpec(f"total_{name}", (name, "event_type"), True)
                for name in ("service_type", "campaign_id", "channel", "reporting_id")
            ),
        ],
        default_label_keys=("event_type",),
        description="totals of sending events over [from, to)",
    ),
)

CATALOG: Mapping[str, ReportSpec] = MappingProxyType({r.name: r for r in _REPORTS})

#: Specs read from the API's own Metadata (``placewise.api.live_catalog``), consulted before
#: the static ``CATALOG``; empty until a caller installs them.
_LIVE: dict[str, ReportSpec] = {}


def install_live_specs(specs: Mapping[str, ReportSpec]) -> None:
    """Make ``get_report`` answer from ``specs`` first (replacing any installed before)."""
    _LIVE.clear()
    _LIVE.update(specs)


def live_specs() -> Mapping[str, ReportSpec]:
    """The specs installed from the API's Metadata (read-only view)."""
    return MappingProxyType(_LIVE)


def known_reports() -> list[str]:
    """Every report name the pipeline can query: the static catalog's and the API's own."""
    return sorted({*CATALOG, *_LIVE})


def get_report(name: str) -> ReportSpec:
    """The spec of report ``name``: from the API's Metadata when installed, else the static
    catalog; ``UnknownReportError`` lists the known names otherwise."""
    spec = _LIVE.get(name) or CATALOG.get(name)
    if spec is None:
        raise UnknownReportError(
            f"unknown report {name!r}; known reports: {', '.join(known_reports())}"
        )
    return spec
