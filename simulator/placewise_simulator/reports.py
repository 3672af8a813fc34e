"""Report definitions and the per-club data each report is computed from.

Every report reads the same generated world (``world.py``). Time-based reports expose *facts*:
tuples ``(time, value, dim1, dim2, ...)`` whose dimension order is the report's ``dims``; the
result builder filters, labels and buckets them generically. Records reports expose ordered
``(key, filter_row, record)`` triples, where ``filter_row`` holds the filterable values (times as
Unix seconds) and ``record`` the JSON object that is returned.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from placewise_simulator.filters import FieldSpec
from placewise_simulator.offers import (
    OFFER_EVENT_DIMS,
    OFFER_EVENT_TYPES,
    OFFER_KINDS,
    OFFER_USAGE_DIMS,
    collection_records,
    offer_event_facts,
    offer_records,
    offer_usage_facts,
)
from placewise_simulator.timeutil import (
    INTERVALS,
    epoch_to_wall,
    floor_wall,
    format_utc_iso,
    format_utc_micro,
    next_wall,
)
from placewise_simulator.world import (
    AGE_GROUPS,
    CHANNELS,
    CONTACT_STATUSES,
    EVENT_TYPES,
    GENDERS,
    LANGUAGES,
    LINK_SOURCE_TYPES,
    OPTIN_PLATFORMS,
    SERVICE_TYPES,
    SETTLE_SECONDS,
    SOURCE_APPS,
    SOURCE_TYPES,
    Club,
    Member,
    Sending,
    World,
)

Fact = tuple[Any, ...]
RecordTriple = tuple[tuple[Any, ...], dict[str, Any], dict[str, Any]]
MEMBER_LOOKBACK = 201 * 86400
"""Members leave at most 200 days after joining, so a leave in a window needs this lookback."""


@dataclass(frozen=True)
class Aggregation:
    """A named ``aggregate_by`` value: which dims label the series.

    ``total`` aggregations drop the club id across customers; ``net`` sums ``in`` minus ``out``
    (member_balance ``total``).
    """

    name: str
    keys: tuple[str, ...]
    total: bool = False
    net: bool = False

    def as_json(self) -> dict[str, object]:
        """Metadata representation: the label keys, and whether the club id is dropped."""
        return {"name": self.name, "label_keys": list(self.keys), "drops_club": self.total}


@dataclass(frozen=True)
class Report:
    """One report: its metadata and how to read its data from the world."""

    name: str
    result_type: str
    token_cost: int
    permit: str
    club_field: str
    fields: tuple[FieldSpec, ...]
    default_keys: tuple[str, ...] = ()
    aggregations: tuple[Aggregation, ...] = ()
    intervals: tuple[str, ...] = INTERVALS
    dims: tuple[str, ...] = ()
    facts: Callable[[World, Club, float, float, float], Iterator[Fact]] | None = None
    records: (
        Callable[[World, Club, float, tuple[Any, ...] | None], Iterator[RecordTriple]] | None
    ) = None
    field_map: dict[str, FieldSpec] = field(default_factory=dict, compare=False)
    snapshot: bool = False
    """Values are member counts at instants (bucket ends), not sums of facts in a window."""
    lag_seconds: int = 0
    """Data lag: the newest ``lag_seconds`` before ``now`` are not counted yet."""
    menu_only: bool = False
    """Named in the docs' menu without a public page; served only by a variant."""
    record_key: tuple[str, ...] = ()
    """Fields whose values order (and page) the records."""

    def __post_init__(self) -> None:
        self.field_map.update({f.name: f for f in self.fields})

    def aggregation(self, name: str | None) -> Aggregation:
        """The aggregation for ``aggregate_by`` (``None`` = the report's default labels)."""
        if name is None:
            return Aggregation("", self.default_keys)
        for agg in self.aggregations:
            if agg.name == name:
                return agg
        raise KeyError(name)

    def metadata(self) -> dict[str, object]:
        """Body of the metadata endpoint."""
        return {
            "report": self.name,
            "result_type": self.result_type,
            "token_cost": self.token_cost,
            "permit": self.permit,
            "club_field": self.club_field,
            "intervals": list(self.intervals) if self.result_type != "records" else [],
            "fields": [f.as_json() for f in self.fields],
            "default_label_keys": list(self.default_keys),
            "aggregations": [a.name for a in self.aggregations],
            "aggregation_details": [a.as_json() for a in self.aggregations],
            "record_key": list(self.record_key),
            "data_lag_seconds": self.lag_seconds,
        }


def _enum(name: str, values: tuple[str | None, ...], filterable: bool = True) -> FieldSpec:
    return FieldSpec(name, "Enum", filterable, tuple(v for v in values if v is not None))


def _int(name: str, filterable: bool = True) -> FieldSpec:
    return FieldSpec(name, "Integer", filterable)


def _str(name: str, filterable: bool = True) -> FieldSpec:
    return FieldSpec(name, "String", filterable)


CLUB = FieldSpec("loyalty_club_id", "Integer", False)
COMMUNITY = FieldSpec("community_id", "Integer", False)

# -- sendings facts --------------------------------------------------------------------------

SENDING_DIMS = (
    "event_type",
    "channel",
    "service_type",
    "campaign_id",
    "reporting_id",
    "sending_id",
)


def sending_event_facts(
    world: World, club: Club, start: float, end: float, now: float
) -> Iterator[Fact]:
    """Every existing sending event with its time inside ``[start, end)``."""
    for ordinal in world.day_range(club, start, end, now, lookback=True):
        for s in world.day_sendings(club, ordinal):
            if s.created >= end or s.created + SETTLE_SECONDS < start:
                continue
            for moment, kind, count, arrival in s.events:
                if start <= moment < end and arrival <= now:
                    yield (
                        moment,
                        count,
                        EVENT_TYPES[kind],
                        s.channel,
                        s.service_type,
                        s.campaign_id,
                        s.reporting_id,
                        s.id,
                    )


def _recipient_split(s: Sending) -> list[tuple[str, str, int]]:
    """Recipients of a sending by (gender, age), summing exactly to ``members_count``."""
    rng = random.Random(s.id * 31 + 7)
    out = []
    remaining = s.members_count
    gender_weights = [5.0, 4.0, 1.0, 1.0]
    age_weights = [1.0, 3, 6, 8, 9, 9, 8, 7, 6, 5, 4, 3, 2, 1, 1]
    total_g = sum(gender_weights)
    for gi, gender in enumerate(GENDERS):
        part = (
            remaining
            if gi == len(GENDERS) - 1
            else int(s.members_count * gender_weights[gi] / total_g * rng.uniform(0.8, 1.2))
        )
        part = min(part, remaining)
        remaining -= part
        left = part
        total_a = sum(age_weights)
        for ai, age in enumerate(AGE_GROUPS):
            cell = (
                left
                if ai == len(AGE_GROUPS) - 1
                else min(left, int(part * age_weights[ai] / total_a * rng.uniform(0.8, 1.2)))
            )
            left -= cell
            if cell:
                out.append((gender, age, cell))
    return out


RECIPIENT_DIMS = (
    "sending_id",
    "channel",
    "service_type",
    "campaign_id",
    "reporting_id",
    "gender",
    "age",
)


def recipient_facts(
    world: World, club: Club, start: float, end: float, now: float
) -> Iterator[Fact]:
    """Recipients of sendings created in the window, counted at send time."""
    for ordinal in world.day_range(club, start, end, now, lookback=False):
        for s in world.day_sendings(club, ordinal):
            if start <= s.created < end and s.created <= now:
                for gender, age, count in _recipient_split(s):
                    yield (
                        s.created,
                        count,
                        s.id,
                        s.channel,
                        s.service_type,
                        s.campaign_id,
                        s.reporting_id,
                        gender,
                        age,
                    )


VISIT_DIMS = ("source_type", "source_id", "host", "path", "sending_id")


def visit_facts(world: World, club: Club, start: float, end: float, now: float) -> Iterator[Fact]:
    """Visits of links placed in sendings."""
    for ordinal in world.day_range(club, start, end, now, lookback=True):
        for s in world.day_sendings(club, ordinal):
            if s.created >= end or s.created + SETTLE_SECONDS < start:
                continue
            for moment, index, visits, _unique in s.visits:
                if start <= moment < end and moment <= now:
                    link = s.links[index]
                    yield (
                        moment,
                        visits,
                        s.link_source_type,
                        s.link_source_id,
                        link.host,
                        link.path,
                        s.id,
                    )


# -- members facts ---------------------------------------------------------------------------

MEMBER_DIMS = ("optin_channel", "optin_platform", "gender", "age")
BALANCE_DIMS = ("type", *MEMBER_DIMS, "consents")
CONSENT_CHANNELS = ("sms", "email", "push")
CONSENT_VALUES = (
    "none",
    "sms",
    "email",
    "push",
    "sms,email",
    "sms,push",
    "email,push",
    "sms,email,push",
)


def consents_label(consents: tuple[bool, bool, bool]) -> str:
    """A member's marketing consents as one label value: the consented channels, or ``none``."""
    given = [name for name, yes in zip(CONSENT_CHANNELS, consents, strict=True) if yes]
    return ",".join(given) or "none"


def _member_range(world: World, club: Club, start: float, end: float, now: float) -> range:
    first = world.first_ordinal(club, now)
    last = min(world.today_ordinal(club, now), world.ordinal_of(club, max(start, end - 1)) + 1)
    low = world.ordinal_of(club, start - MEMBER_LOOKBACK)
    return range(max(first, low), last + 1)


def balance_facts(world: World, club: Club, start: float, end: float, now: float) -> Iterator[Fact]:
    """Opt-ins (``in``) and opt-outs (``out``) of the club."""
    for ordinal in _member_range(world, club, start, end, now):
        for m in world.day_members(club, ordinal):
            dims = (m.optin_channel, m.optin_platform, m.gender, m.age, consents_label(m.consents))
            if start <= m.joined < end and m.joined <= now:
                yield (m.joined, 1, "in", *dims)
            if m.left is not None and start <= m.left < end and m.left <= now:
                yield (m.left, 1, "out", *dims)


GROUPING_TYPES = ("optin_channel", "optin_platform", "country", "gender", "age")
COUNT_DIMS = (*MEMBER_DIMS, "country", "grouping_type", "grouping_value")
"""Dimensions of the member-count reports: a member is counted once per grouping type, as the
``(grouping_type, grouping_value)`` rows of ``members_grouped_count``."""


def count_rows(m: Member, grouped: bool) -> list[tuple[Any, ...]]:
    """Rows ``(joined, left, *COUNT_DIMS)`` of a member for the member-count reports.

    ``grouped`` gives one row per grouping type; otherwise one row without grouping values
    (enough when neither the filter nor the labels read them).
    """
    base = (m.joined, m.left, m.optin_channel, m.optin_platform, m.gender, m.age, m.country)
    if not grouped:
        return [(*base, None, None)]
    return [(*base, gtype, getattr(m, gtype)) for gtype in GROUPING_TYPES]


def club_members(world: World, club: Club, now: float) -> Iterator[Member]:
    """Every member who has joined by ``now`` (including those who left since)."""
    for ordinal in world.all_days(club, now):
        for m in world.day_members(club, ordinal):
            if m.joined <= now:
                yield m


# -- records -----------------------------------------------------------------------------------

COUNT_FIELDS = tuple(f"{e}_count" for e in EVENT_TYPES)
HISTORY_INTERVALS = ("1h", "1d", "1w", "1mo")


def _history_ranges(s: Sending, now: float) -> dict[str, dict[str, str | None]]:
    """Per interval, the UTC bucket range holding the sending's events (``to`` open while
    events can still arrive)."""
    last = max(event[0] for event in s.events)
    settled = now >= s.created + SETTLE_SECONDS
    first_wall = epoch_to_wall(s.created, "UTC")
    last_wall = epoch_to_wall(last, "UTC")
    out: dict[str, dict[str, str | None]] = {}
    for interval in HISTORY_INTERVALS:
        start = floor_wall(first_wall, interval)
        end = next_wall(floor_wall(last_wall, interval), interval) if settled else None
        out[interval] = {
            "from": start.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "to": end.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if end is not None else None,
        }
    return out


def sending_record(s: Sending, now: float) -> dict[str, Any]:
    """The 23-field ``sendings`` record; counts are totals of events up to ``now``."""
    counts = [0] * len(EVENT_TYPES)
    for _moment, kind, count, arrival in s.events:
        if arrival <= now:
            counts[kind] += count
    record: dict[str, Any] = {
        "id": s.id,
        "loyalty_club_id": s.club_id,
        "language": s.language,
        "channel": s.channel,
        "service_type": s.service_type,
        "reporting_id": s.reporting_id,
        "source_id": s.source_id,
        "source_app": s.source_app,
        "source_type": s.source_type,
        "audience_id": s.audience_id,
        "campaign_id": s.campaign_id,
        "dispatches_count": s.dispatches_count,
        "members_count": s.members_count,
    }
    for name, value in zip(COUNT_FIELDS, counts, strict=True):
        record[name] = value
    record["created_at"] = format_utc_iso(s.created)
    record["history_ranges"] = _history_ranges(s, now)
    return record


SENDING_FILTER_KEYS = (
    "id",
    "language",
    "channel",
    "service_type",
    "reporting_id",
    "source_id",
    "source_app",
    "source_type",
    "audience_id",
    "campaign_id",
)


def sending_records(
    world: World, club: Club, now: float, after: tuple[Any, ...] | None
) -> Iterator[RecordTriple]:
    """Existing sendings in id order, resuming after a key."""
    days = world.all_days(club, now)
    if after is not None:
        resume_day = (after[0] % 10_000_000) // 10 + 730000
        days = range(max(days.start, resume_day), days.stop)
    for ordinal in days:
        for s in world.day_sendings(club, ordinal):
            if s.created > now or (after is not None and (s.id,) <= after):
                continue
            row = {name: getattr(s, name) for name in SENDING_FILTER_KEYS}
            row["created_at"] = s.created
            yield (s.id,), row, sending_record(s, now)


def member_record(m: Member) -> dict[str, Any]:
    """The ``members`` record of a current member."""
    sms, email, push = m.consents
    return {
        "id": m.id,
        "community_id": m.club_id,
        "optin_channel": m.optin_channel,
        "optin_subchannel": m.optin_subchannel,
        "optin_platform": m.optin_platform,
        "gender": m.gender,
        "age": m.age,
        "birth_year_group": m.birth_year - m.birth_year % 5,
        "subunit_ids": list(m.subunit_ids),
        "group_ids": list(m.group_ids),
        "favorite_stores": list(m.favorite_stores),
        "properties": {"newsletter_topic": "offers" if m.id % 3 else "events"},
        "consents": {"sms_marketing": sms, "email_marketing": email, "push_marketing": push},
        "marketing_via_sms": sms,
        "marketing_via_email": email,
        "marketing_via_push": push,
        "marketing_via_anything": sms or email or push,
        "sms_status": m.statuses[0],
        "email_status": m.statuses[1],
        "push_status": m.statuses[2],
        "country": m.country,
        "created_at": format_utc_iso(m.joined),
    }


MEMBER_FILTER_KEYS = (
    "id",
    "optin_channel",
    "optin_subchannel",
    "optin_platform",
    "gender",
    "age",
    "subunit_ids",
    "group_ids",
    "favorite_stores",
    "sms_status",
    "email_status",
    "push_status",
    "country",
    "birth_year_group",
    "marketing_via_sms",
    "marketing_via_email",
    "marketing_via_push",
    "marketing_via_anything",
)


def member_records(
    world: World, club: Club, now: float, after: tuple[Any, ...] | None
) -> Iterator[RecordTriple]:
    """Current members (joined, not left) in id order."""
    days = world.all_days(club, now)
    if after is not None:
        resume_day = (after[0] % 10_000_000) // 100 + 730000
        days = range(max(days.start, resume_day), days.stop)
    for ordinal in days:
        for m in world.day_members(club, ordinal):
            if m.joined > now or (m.left is not None and m.left <= now):
                continue
            if after is not None and (m.id,) <= after:
                continue
            record = member_record(m)
            row = {name: record[name] for name in MEMBER_FILTER_KEYS}
            row["created_at"] = m.joined
            yield (m.id,), row, record


def grouped_count_records(
    world: World, club: Club, now: float, after: tuple[Any, ...] | None
) -> Iterator[RecordTriple]:
    """Current member counts per (grouping_type, grouping_value), with the last change time."""
    counts: dict[tuple[str, str], int] = {}
    changed: dict[tuple[str, str], int] = {}
    for m in club_members(world, club, now):
        gone = m.left is not None and m.left <= now
        for gtype in GROUPING_TYPES:
            key = (gtype, getattr(m, gtype))
            counts[key] = counts.get(key, 0) + (0 if gone else 1)
            last = m.left if gone and m.left is not None else m.joined
            changed[key] = max(changed.get(key, 0), last)
    for key in sorted(counts):
        if after is not None and key <= after:
            continue
        record = {
            "community_id": club.id,
            "grouping_type": key[0],
            "grouping_value": key[1],
            "members_count": counts[key],
            "updated_at": format_utc_micro(changed[key]),
        }
        row = {
            "grouping_type": key[0],
            "grouping_value": key[1],
            "members_count": counts[key],
            "updated_at": changed[key],
        }
        yield key, row, record


UTM = ("utm_campaign", "utm_content", "utm_medium", "utm_source", "utm_term")


def _link_totals(
    world: World, club: Club, now: float, per_link: bool
) -> dict[tuple[Any, ...], list[int]]:
    totals: dict[tuple[Any, ...], list[int]] = {}
    for ordinal in world.all_days(club, now):
        for s in world.day_sendings(club, ordinal):
            if s.created > now or not s.visits:
                continue
            for moment, index, visits, unique in s.visits:
                if moment > now:
                    continue
                key = (s.link_source_id, *s.links[index]) if per_link else (s.link_source_id,)
                slot = totals.setdefault(key, [0, 0])
                slot[0] += visits
                slot[1] += unique
    return totals


def _sortable(key: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple("" if v is None else v for v in key)


def link_records(
    world: World, club: Club, now: float, after: tuple[Any, ...] | None
) -> Iterator[RecordTriple]:
    """Visits per (source_id, host, path, utm_*) over all time."""
    totals = _link_totals(world, club, now, per_link=True)
    for key in sorted(totals, key=_sortable):
        sort_key = _sortable(key)
        if after is not None and sort_key <= after:
            continue
        visits, unique = totals[key]
        record: dict[str, Any] = {
            "loyalty_club_id": club.id,
            "source_id": key[0],
            "host": key[1],
            "path": key[2],
        }
        record.update(zip(UTM, key[3:], strict=True))
        record["visits_count"] = visits
        record["unique_visits_count"] = unique
        row = {k: v for k, v in record.items() if k != "loyalty_club_id"}
        yield sort_key, row, record


def link_stats_records(
    world: World, club: Club, now: float, after: tuple[Any, ...] | None
) -> Iterator[RecordTriple]:
    """Visits per source_id over all time."""
    totals = _link_totals(world, club, now, per_link=False)
    for key in sorted(totals):
        if after is not None and key <= after:
            continue
        visits, unique = totals[key]
        record = {
            "loyalty_club_id": club.id,
            "source_id": key[0],
            "visits_count": visits,
            "unique_visits_count": unique,
        }
        row = {k: v for k, v in record.items() if k != "loyalty_club_id"}
        yield key, row, record


# -- the catalogue ---------------------------------------------------------------------------

EVENT_FIELD = _enum("event_type", EVENT_TYPES)
CHANNEL_FIELD = _enum("channel", CHANNELS)
SERVICE_FIELD = _enum("service_type", SERVICE_TYPES)
GENDER_FIELD = _enum("gender", GENDERS)
AGE_FIELD = _enum("age", AGE_GROUPS)
PLATFORM_FIELD = _enum("optin_platform", OPTIN_PLATFORMS)


def _stats_aggs() -> tuple[Aggregation, ...]:
    keys = ("service_type", "campaign_id", "channel", "reporting_id")
    plain = tuple(Aggregation(k, (k, "event_type")) for k in keys)
    totals = tuple(Aggregation(f"total_{k}", (k, "event_type"), total=True) for k in keys)
    return plain + totals


REPORTS: dict[str, Report] = {}


def _register(report: Report) -> None:
    REPORTS[report.name] = report


_register(
    Report(
        "sendings_stats",
        "statistics",
        2,
        "Reporting:Api:Report:SendingsStats",
        "loyalty_club_id",
        (
            CLUB,
            EVENT_FIELD,
            CHANNEL_FIELD,
            SERVICE_FIELD,
            _int("campaign_id"),
            _int("reporting_id"),
        ),
        ("event_type",),
        _stats_aggs(),
        INTERVALS,
        SENDING_DIMS,
        sending_event_facts,
    )
)
_register(
    Report(
        "sendings_events_history",
        "timeseries",
        3,
        "Reporting:Api:Report:SendingsEventsHistory",
        "loyalty_club_id",
        (
            CLUB,
            _int("sending_id"),
            EVENT_FIELD,
            CHANNEL_FIELD,
            SERVICE_FIELD,
            _int("campaign_id"),
            _int("reporting_id"),
        ),
        ("event_type",),
        tuple(Aggregation(k, (k, "event_type")) for k in ("channel", "campaign_id", "sending_id")),
        INTERVALS,
        SENDING_DIMS,
        sending_event_facts,
    )
)
_register(
    Report(
        "sendings_recipients_statistics",
        "timeseries",
        3,
        "Reporting:Api:Report:SendingsRecipientsStatistics",
        "loyalty_club_id",
        (
            CLUB,
            _int("sending_id"),
            CHANNEL_FIELD,
            SERVICE_FIELD,
            _int("campaign_id"),
            _int("reporting_id"),
            GENDER_FIELD,
            AGE_FIELD,
        ),
        (),
        (Aggregation("gender", ("gender",)), Aggregation("age", ("age",))),
        ("1h", "1d", "1w", "1mo"),
        RECIPIENT_DIMS,
        recipient_facts,
    )
)
_register(
    Report(
        "links_visits_history",
        "timeseries",
        3,
        "Reporting:Api:Report:LinksVisitsHistory",
        "loyalty_club_id",
        (
            CLUB,
            _enum("source_type", LINK_SOURCE_TYPES),
            _str("source_id"),
            _str("host"),
            _str("path"),
            _int("sending_id"),
        ),
        (),
        (Aggregation("source_type", ("source_type",)), Aggregation("source_id", ("source_id",))),
        INTERVALS,
        VISIT_DIMS,
        visit_facts,
    )
)
_register(
    Report(
        "member_balance",
        "timeseries",
        3,
        "Reporting:Api:Report:MemberBalance",
        "community_id",
        (
            COMMUNITY,
            _enum("type", ("in", "out")),
            _str("optin_channel"),
            PLATFORM_FIELD,
            GENDER_FIELD,
            AGE_FIELD,
            _enum("consents", CONSENT_VALUES),
        ),
        ("type",),
        (
            Aggregation("total", (), net=True),
            Aggregation("optin_platform", ("type", "optin_platform")),
            Aggregation("consents", ("type", "consents")),
        ),
        INTERVALS,
        BALANCE_DIMS,
        balance_facts,
    )
)
COUNT_FIELDS_OF_MEMBERS = (
    COMMUNITY,
    _str("optin_channel"),
    PLATFORM_FIELD,
    GENDER_FIELD,
    AGE_FIELD,
    _str("country"),
    _enum("grouping_type", GROUPING_TYPES),
    _str("grouping_value"),
)
COUNT_AGGREGATIONS = (
    *(Aggregation(k, (k,)) for k in ("optin_platform", "gender", "age")),
    Aggregation("grouping_type", ("grouping_type", "grouping_value")),
)


def _member_count_report(
    name: str, result_type: str, cost: int, permit: str, intervals: tuple[str, ...], **extra: Any
) -> Report:
    return Report(
        name,
        result_type,
        cost,
        f"Reporting:Api:Report:{permit}",
        "community_id",
        COUNT_FIELDS_OF_MEMBERS,
        (),
        COUNT_AGGREGATIONS,
        intervals,
        COUNT_DIMS,
        None,
        snapshot=True,
        **extra,
    )


_register(
    _member_count_report("members_count_history", "timeseries", 3, "MembersCountHistory", INTERVALS)
)
_register(
    _member_count_report(
        "members_count_snapshot",
        "timeseries",
        3,
        "MembersCountSnapshot",
        ("1h", "1d", "1w", "1mo"),
        lag_seconds=15 * 60,
    )
)
_register(
    _member_count_report(
        "members_count", "statistics", 2, "MembersCount", INTERVALS, menu_only=True
    )
)
_register(
    Report(
        "sendings",
        "records",
        2,
        "Reporting:Api:Report:Sendings",
        "loyalty_club_id",
        (
            _int("id"),
            CLUB,
            _enum("language", LANGUAGES),
            CHANNEL_FIELD,
            SERVICE_FIELD,
            _int("reporting_id"),
            _str("source_id"),
            _enum("source_app", SOURCE_APPS),
            _enum("source_type", SOURCE_TYPES),
            _int("audience_id"),
            _int("campaign_id"),
            _int("dispatches_count", False),
            _int("members_count", False),
            *(_int(name, False) for name in COUNT_FIELDS),
            FieldSpec("created_at", "Time", True),
            FieldSpec("history_ranges", "Object", False),
        ),
        records=sending_records,
        record_key=("id",),
    )
)
_register(
    Report(
        "sendings_links",
        "records",
        3,
        "Reporting:Api:Report:SendingsLinks",
        "loyalty_club_id",
        (
            CLUB,
            _str("source_id"),
            _str("host"),
            _str("path"),
            *(_str(u) for u in UTM),
            _int("visits_count"),
            _int("unique_visits_count"),
        ),
        records=link_records,
        record_key=("source_id", "host", "path", *UTM),
    )
)
_register(
    Report(
        "sendings_links_stats",
        "records",
        2,
        "Reporting:Api:Report:SendingsLinksStats",
        "loyalty_club_id",
        (CLUB, _str("source_id"), _int("visits_count"), _int("unique_visits_count")),
        records=link_stats_records,
        record_key=("source_id",),
    )
)
_register(
    Report(
        "members",
        "records",
        10,
        "Reporting:Api:Report:Members",
        "community_id",
        (
            _int("id"),
            COMMUNITY,
            _str("optin_channel"),
            _str("optin_subchannel"),
            PLATFORM_FIELD,
            _str("gender"),
            AGE_FIELD,
            _int("birth_year_group"),
            FieldSpec("subunit_ids", "Array[Integer]", True),
            FieldSpec("group_ids", "Array[Integer]", True),
            FieldSpec("favorite_stores", "Array[Integer]", True),
            FieldSpec("properties", "Object"),
            FieldSpec("consents", "Object"),
            FieldSpec("marketing_via_sms", "Boolean", True),
            FieldSpec("marketing_via_email", "Boolean", True),
            FieldSpec("marketing_via_push", "Boolean", True),
            FieldSpec("marketing_via_anything", "Boolean", True),
            _enum("sms_status", CONTACT_STATUSES),
            _enum("email_status", CONTACT_STATUSES),
            _enum("push_status", CONTACT_STATUSES),
            _str("country"),
            FieldSpec("created_at", "Time", True),
        ),
        records=member_records,
        record_key=("id",),
    )
)
_register(
    Report(
        "members_grouped_count",
        "records",
        2,
        "Reporting:Api:Report:MembersGroupedCount",
        "community_id",
        (
            COMMUNITY,
            _enum("grouping_type", GROUPING_TYPES),
            _str("grouping_value"),
            _int("members_count"),
            FieldSpec("updated_at", "Time", True),
        ),
        aggregations=(
            Aggregation(
                "by_grouping_type_and_value", ("grouping_type", "grouping_value"), total=True
            ),
        ),
        records=grouped_count_records,
        record_key=("grouping_type", "grouping_value"),
    )
)


# -- reports named in the docs' menu without a public page (variant ``menu_only_reports``) --

OFFER_EVENT_FIELD = _enum("event_type", OFFER_EVENT_TYPES)


def _offer_aggs(keys: tuple[str, ...], default: tuple[str, ...], totals: bool) -> tuple:
    plain = tuple(Aggregation(k, (k, *default)) for k in keys)
    if not totals:
        return plain
    return plain + tuple(Aggregation(f"total_{k}", (k, *default), total=True) for k in keys)


# The offers families: (fields, label keys, aggregated keys, dims, facts), and per report
# (name, result type, permit, cost, whether it has total_* aggregations).
_OFFER_FAMILIES = (
    (
        (CLUB, OFFER_EVENT_FIELD, _int("offer_id"), _int("collection_id")),
        ("event_type",),
        ("offer_id", "collection_id"),
        OFFER_EVENT_DIMS,
        offer_event_facts,
        (
            ("offers_events_history", "timeseries", "OffersEventsHistory", 3, False),
            ("offers_events_stats", "statistics", "OffersEventsStats", 2, True),
        ),
    ),
    (
        (CLUB, _int("offer_id"), _int("collection_id"), _int("store_id")),
        (),
        ("offer_id", "collection_id", "store_id"),
        OFFER_USAGE_DIMS,
        offer_usage_facts,
        (
            ("offers_usages_history", "timeseries", "OffersUsagesHistory", 3, False),
            ("offers_usages_stats", "statistics", "OffersUsagesStats", 2, True),
        ),
    ),
)
for _fields, _labels, _agg_keys, _dims, _facts, _reports in _OFFER_FAMILIES:
    for _name, _kind, _permit, _cost, _totals in _reports:
        _register(
            Report(
                _name,
                _kind,
                _cost,
                f"Reporting:Api:Report:{_permit}",
                "loyalty_club_id",
                _fields,
                _labels,
                _offer_aggs(_agg_keys, _labels, _totals),
                INTERVALS,
                _dims,
                _facts,
                menu_only=True,
            )
        )
_register(
    Report(
        "offers",
        "records",
        2,
        "Reporting:Api:Report:Offers",
        "loyalty_club_id",
        (
            _int("id"),
            CLUB,
            _int("collection_id"),
            _str("title", False),
            _enum("kind", OFFER_KINDS),
            *(_int(f"{e}_count", False) for e in OFFER_EVENT_TYPES),
            _int("usages_count", False),
            FieldSpec("created_at", "Time", True),
            FieldSpec("valid_until", "Time", True),
        ),
        records=offer_records,
        menu_only=True,
        record_key=("id",),
    )
)
_register(
    Report(
        "offers_collections",
        "records",
        2,
        "Reporting:Api:Report:OffersCollections",
        "loyalty_club_id",
        (
            _int("id"),
            CLUB,
            _str("name"),
            _int("offers_count"),
            FieldSpec("created_at", "Time", False),
        ),
        records=collection_records,
        menu_only=True,
        record_key=("id",),
    )
)
MENU_ONLY_REPORTS = tuple(name for name, report in REPORTS.items() if report.menu_only)
