"""Planning: which requests a sync makes, as a list of slices.

A *slice* is the unit the pipeline fetches, lands and replaces atomically in the warehouse: one
(scope, report, aggregation, interval, window). Statistics are planned per club-local day (the
statistics format has no buckets, so a day is the finest grain we can rebuild); timeseries as one
window per request (split to respect the 150-bucket rule on the query endpoint, one bucket to
spare for the bucket at ``to``); records as one snapshot of the club's current state. The
cross-club slices of the API's own totals are planned per timezone group (``plan_tenants``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from placewise.api.catalog import get_report
from placewise.api.contract import (
    KEY_PAGE_INFO,
    MAX_PLANNED_BUCKETS,
    Endpoint,
    build_query_body,
    call_cost,
)
from placewise.api.customer import CustomerSelector
from placewise.api.variants import ApiVariants
from placewise.extract.windows import Window, daily_windows, split_by_buckets

NO_AGGREGATION = "none"
STATISTICS_INTERVAL = "statistics"
SNAPSHOT_INTERVAL = "snapshot"

#: What the warehouse loads by default: report -> aggregations (None = no aggregation).
DEFAULT_REPORT_AGGREGATIONS: Mapping[str, tuple[str | None, ...]] = {
    "sendings_stats": (None, "service_type", "campaign_id", "channel", "reporting_id"),
    "sendings_events_history": (None, "channel"),
    "links_visits_history": (None, "source_type"),
    "member_balance": (None, "consents"),
    "members_count_history": (None, "grouping_type"),
    "members_count_snapshot": (None,),
    "sendings": (None,),
    "sendings_links_stats": (None,),
    "members_grouped_count": (None,),
}

#: Cross-club aggregations fetched through the tenants export to prove the warehouse's totals.
TENANTS_SENDINGS_STATS_AGGREGATIONS: tuple[str | None, ...] = (
    None,
    "total_service_type",
    "total_campaign_id",
    "total_channel",
    "total_reporting_id",
)

TIMESERIES_INTERVAL = "1d"


@dataclass(frozen=True)
class SliceSpec:
    """One planned request (or paged request set) and its place in the warehouse."""

    report: str
    customer: CustomerSelector
    aggregation: str | None
    window: Window | None
    interval: str | None = None
    endpoint: Endpoint = Endpoint.EXPORT
    filter: Mapping[str, Any] | None = field(default=None, hash=False, compare=False)
    #: When set, ``from``/``to`` are sent as instants with this zone's offset instead of as
    #: wall-clock times, so no API reading can take them for UTC (cross-club slices).
    timezone: str | None = None

    @property
    def result_type(self) -> str:
        return get_report(self.report).result_type

    @property
    def aggregation_name(self) -> str:
        return self.aggregation or NO_AGGREGATION

    @property
    def partition_interval(self) -> str:
        """The interval column of the slice's partitions: ``1d``, ``statistics`` or ``snapshot``."""
        if self.result_type == "statistics":
            return STATISTICS_INTERVAL
        if self.result_type == "records":
            return SNAPSHOT_INTERVAL
        return self.interval or TIMESERIES_INTERVAL

    @property
    def scope(self) -> str:
        return self.customer.scope_key

    @property
    def slice_key(self) -> str:
        """Stable identity of the slice: the same key is replaced, never duplicated."""
        window = (
            f"{self.window.start.isoformat()}|{self.window.end.isoformat()}" if self.window else "-"
        )
        return "|".join(
            [self.report, self.scope, self.aggregation_name, self.partition_interval, window]
        )

    @property
    def description(self) -> str:
        """Human text for logs and error messages: report, aggregation, club(s), window."""
        where = (
            f"club {self.customer.club_ids[0]}"
            if not self.customer.is_multi and self.customer.club_ids
            else f"clubs {self.scope}"
        )
        when = f" window {self.window.label()}" if self.window else " snapshot"
        return f"{self.report} agg={self.aggregation_name} {where}{when}"

    def body(
        self,
        *,
        page_info: str | None = None,
        limit: int | None = None,
        cursor_key: str = KEY_PAGE_INFO,
    ) -> dict[str, Any]:
        """The JSON body of the request (without paging keys for exports)."""
        return build_query_body(
            self.report,
            filter=dict(self.filter) if self.filter else None,
            aggregate_by=self.aggregation,
            interval=self.interval if self.result_type != "records" else None,
            from_=self._time(self.window.start) if self.window else None,
            to=self._time(self.window.end) if self.window else None,
            page_info=page_info,
            limit=limit,
            cursor_key=cursor_key,
        )

    def _time(self, wall: datetime) -> datetime:
        """A window bound as sent: the wall-clock time, or the instant in ``timezone``."""
        return wall if self.timezone is None else wall.replace(tzinfo=ZoneInfo(self.timezone))

    def token_cost(self) -> int:
        return call_cost(self.endpoint, get_report(self.report), self.filter)

    def with_window(self, window: Window) -> SliceSpec:
        return replace(self, window=window)

    def with_endpoint(self, endpoint: Endpoint) -> SliceSpec:
        return replace(self, endpoint=endpoint)


def _single_endpoint(use_export: bool) -> Endpoint:
    return Endpoint.EXPORT if use_export else Endpoint.QUERY


def plan_club(
    club_id: int,
    first_day: date,
    last_day: date,
    *,
    reports: Iterable[str] | None = None,
    aggregations: Mapping[str, Sequence[str | None]] = DEFAULT_REPORT_AGGREGATIONS,
    use_export: bool = False,
    variants: ApiVariants | None = None,
) -> list[SliceSpec]:
    """All slices of one club for local days ``first_day``..``last_day`` (newest first).

    Statistics get one slice per day and aggregation; timeseries one slice per aggregation over
    the whole window (split in pieces of ``MAX_PLANNED_BUCKETS`` when using the query
    endpoint); records one snapshot slice per report. Where statistics answers carry buckets
    (``statistics_shape=buckets``) they are asked for at ``1d``: one bucket per day-window.
    """
    variants = variants or ApiVariants()
    statistics_interval = TIMESERIES_INTERVAL if variants.statistics_shape == "buckets" else None
    customer = CustomerSelector.club(club_id)
    wanted = list(reports) if reports is not None else list(aggregations)
    endpoint = _single_endpoint(use_export)
    slices: list[SliceSpec] = []
    for report in wanted:
        spec = get_report(report)
        for aggregation in aggregations.get(report, (None,)):
            if spec.result_type == "statistics":
                slices.extend(
                    SliceSpec(report, customer, aggregation, window, statistics_interval, endpoint)
                    for window in daily_windows(first_day, last_day)
                )
            elif spec.result_type == "timeseries":
                window = Window.days(first_day, last_day)
                pieces = (
                    [window]
                    if use_export
                    else split_by_buckets(window, TIMESERIES_INTERVAL, MAX_PLANNED_BUCKETS)
                )
                slices.extend(
                    SliceSpec(report, customer, aggregation, piece, TIMESERIES_INTERVAL, endpoint)
                    for piece in reversed(pieces)
                )
            else:
                slices.append(SliceSpec(report, customer, aggregation, None, None, endpoint))
    return _newest_first(slices)


def tenants_endpoint(variants: ApiVariants) -> Endpoint | None:
    """Where the cross-club totals come from: the documented query endpoint when it serves
    several customers, else the tenants export when the exports exist, else nowhere (None)."""
    if variants.cross_customer_query == "allowed":
        return Endpoint.QUERY
    if variants.exports == "present":
        return Endpoint.TENANTS_EXPORT
    return None


def tenants_unavailable_reason(variants: ApiVariants) -> str | None:
    """Why no cross-club totals can be fetched from this API, or None when they can."""
    if tenants_endpoint(variants) is not None:
        return None
    return (
        "the API refuses several customers on the query endpoint (cross_customer_query=refused) "
        "and has no tenants export (exports=absent), so the cross-club totals cannot be "
        "fetched; reconciliation reports these days as not checked"
    )


def timezone_groups(
    club_ids: Iterable[int],
    timezones: Mapping[int, str | None] | None = None,
    variants: ApiVariants | None = None,
) -> list[tuple[tuple[int, ...], str | None]]:
    """The clubs of one cross-club request each, with the zone its window is sent in.

    Clubs sharing a known timezone go into one request whose ``from``/``to`` carry that zone's
    offset: exact whichever way the API reads windows across timezones (``multi_tz_window``).
    Clubs whose zone is not known go into one request with wall-clock windows (each club's own
    day when the API reads them so, the assumed ``local_wall_clock``), or one request each when
    the API takes wall-clock times across zones as UTC.
    """
    variants = variants or ApiVariants()
    timezones = timezones or {}
    by_zone: dict[str | None, list[int]] = {}
    for club_id in sorted(set(club_ids)):
        by_zone.setdefault(timezones.get(club_id), []).append(club_id)
    groups: list[tuple[tuple[int, ...], str | None]] = [
        (tuple(ids), zone) for zone, ids in by_zone.items() if zone is not None
    ]
    unknown = by_zone.get(None, [])
    if unknown and variants.multi_tz_window == "utc":
        groups.extend(((club_id,), None) for club_id in unknown)
    elif unknown:
        groups.append((tuple(unknown), None))
    return sorted(groups)


def plan_tenants(
    club_ids: Iterable[int],
    first_day: date,
    last_day: date,
    *,
    aggregations: Sequence[str | None] = TENANTS_SENDINGS_STATS_AGGREGATIONS,
    variants: ApiVariants | None = None,
    timezones: Mapping[int, str | None] | None = None,
) -> list[SliceSpec]:
    """Cross-club ``sendings_stats`` slices (per local day) carrying the API's own totals.

    These carry the API's own ``total_*`` figures that the warehouse's rebuilt totals are
    reconciled against. They come from the documented query endpoint with several customers
    (one request at the report's cost, charged to the Organization bucket) unless the API
    refuses that (``cross_customer_query=refused``), then from the tenants export; with
    neither the plan is empty (``tenants_unavailable_reason`` says why). One request per
    timezone group (``timezone_groups``).
    """
    variants = variants or ApiVariants()
    endpoint = tenants_endpoint(variants)
    if endpoint is None:
        return []
    interval = TIMESERIES_INTERVAL if variants.statistics_shape == "buckets" else None
    slices = [
        SliceSpec(
            "sendings_stats",
            CustomerSelector.clubs(group),
            aggregation,
            window,
            interval,
            endpoint,
            timezone=zone,
        )
        for group, zone in timezone_groups(club_ids, timezones, variants)
        for aggregation in aggregations
        for window in daily_windows(first_day, last_day)
    ]
    return _newest_first(slices)


def _newest_first(slices: list[SliceSpec]) -> list[SliceSpec]:
    """Order by window end descending (snapshots first), stable otherwise."""
    return sorted(
        slices,
        key=lambda s: (s.window is not None, -(s.window.end.timestamp()) if s.window else 0),
    )


def total_cost(slices: Iterable[SliceSpec]) -> int:
    """Tokens the plan will spend if every request succeeds the first time."""
    return sum(s.token_cost() for s in slices)
