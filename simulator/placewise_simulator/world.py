"""The deterministic simulated world: clubs, sendings with their events, links, visits, members.

Everything is generated lazily per (club, local calendar day) from a random generator seeded by
``(seed, club, day)`` only, so the content of a day never depends on ``--now`` or
``--history-days`` and two runs with different clocks agree on settled days. ``now`` and the
history floor only decide which generated things *exist yet* (an event exists when its time is
``<= now``; a day exists when it is not older than ``history_days`` before today's date).
A small LRU cache keeps recently used days, so memory stays bounded however large the world is.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime
from threading import Lock
from typing import Any, NamedTuple

from placewise_simulator.config import SimulatorConfig
from placewise_simulator.timeutil import epoch_to_wall, wall_to_epoch

TIMEZONES = (
    ("Europe/Oslo", "Oslo City", "NO"),
    ("America/New_York", "Manhattan Mall", "US"),
    ("Asia/Tokyo", "Shibuya Plaza", "JP"),
    ("America/Los_Angeles", "Santa Monica Place", "US"),
    ("Australia/Sydney", "Bondi Junction", "AU"),
    ("Europe/London", "Westfield Stratford", "GB"),
    ("Europe/Warsaw", "Galeria Mokotow", "PL"),
    ("America/Denver", "Cherry Creek", "US"),
    ("Asia/Kolkata", "Phoenix Marketcity", "IN"),
    ("America/Sao_Paulo", "Iguatemi", "BR"),
    ("Europe/Helsinki", "Kamppi", "FI"),
    ("UTC", "Online Club", "NO"),
)
CHAINS = ("Cats", "Dogs", "Birds")

EVENT_TYPES = (
    "new",
    "transmitted",
    "transiently_failed",
    "delivered",
    "opened",
    "opened_event",
    "failed",
    "delivery_errored",
)
CHANNELS = ("sms", "email", "push")
SERVICE_TYPES = ("campaign", "automation", "transactional", "rewards_notifications", "system")
LANGUAGES = ("nb", "en", "sv", "pl", None)
SOURCE_APPS = ("campaigns", "automations", "messages_api")
SOURCE_TYPES = ("campaign", "trigger", "other")
LINK_SOURCE_TYPES = ("email_link", "sms_link", "push_link")
OPTIN_CHANNELS = ("default", "android-app", "ios-app", "web", "pos")
OPTIN_PLATFORMS = ("android", "ios", "web", "other")
PLATFORM_OF_CHANNEL = {
    "default": "other",
    "android-app": "android",
    "ios-app": "ios",
    "web": "web",
    "pos": "other",
}
GENDERS = ("female", "male", "other", "unknown")
AGE_GROUPS = (
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
CONTACT_STATUSES = ("verified", "unverified", "missing")
LINK_HOSTS = ("example.com", "shop.example.com", "club.example.org")

LATEST_EVENT_DELAY = 6 * 86400 + 23 * 3600
"""Late events (deliveries, opens, failures, visits) arrive at most this long after the send."""
SETTLE_SECONDS = 7 * 86400
ORDINAL_BASE = 730000
"""Day ordinals are offset by this so that generated ids stay small and positive."""


@dataclass(frozen=True)
class Club:
    """One loyalty club (customer); ids start at 1001."""

    id: int
    name: str
    timezone: str
    chain: str
    country: str

    def as_json(self) -> dict[str, object]:
        """The admin listing's representation."""
        return {
            "id": self.id,
            "name": self.name,
            "timezone": self.timezone,
            "chain": self.chain,
            "country": self.country,
        }


class Link(NamedTuple):
    """A link placed in a sending; ``index`` is its position in the sending."""

    host: str
    path: str
    utm_campaign: str | None
    utm_content: str | None
    utm_medium: str | None
    utm_source: str | None
    utm_term: str | None


class Sending(NamedTuple):
    """A sending with all its (past and future) events.

    ``events`` are ``(time, event_type_index, count, arrival)`` and ``visits`` are
    ``(time, link_index, visits, unique_visits)``, both as generated once and for all; which of
    them exist is decided by comparing their time with ``now``.
    """

    id: int
    club_id: int
    language: str | None
    channel: str
    service_type: str
    reporting_id: int | None
    source_id: str | None
    source_app: str
    source_type: str
    audience_id: int | None
    campaign_id: int | None
    dispatches_count: int
    members_count: int
    created: int
    events: tuple[tuple[int, int, int, int], ...]
    links: tuple[Link, ...]
    visits: tuple[tuple[int, int, int, int], ...]

    @property
    def link_source_id(self) -> str:
        """``source_id`` of the links reports: the reporting id, else the service type."""
        return str(self.reporting_id) if self.reporting_id is not None else self.service_type

    @property
    def link_source_type(self) -> str:
        """The component that produced a visit of this sending's links."""
        return LINK_SOURCE_TYPES[CHANNELS.index(self.channel)]


class Member(NamedTuple):
    """A member who joined on a generated day; ``left`` is when they leave, if ever."""

    id: int
    club_id: int
    joined: int
    left: int | None
    optin_channel: str
    optin_subchannel: str | None
    gender: str
    age: str
    birth_year: int
    country: str
    consents: tuple[bool, bool, bool]
    statuses: tuple[str, str, str]
    subunit_ids: tuple[int, ...]
    group_ids: tuple[int, ...]
    favorite_stores: tuple[int, ...]

    @property
    def optin_platform(self) -> str:
        """Derived from the opt-in channel, as the docs describe."""
        return PLATFORM_OF_CHANNEL[self.optin_channel]


def _rng(seed: int, club_id: int, ordinal: int, stream: int) -> random.Random:
    return random.Random(((seed * 1_000_003 + club_id) * 1_000_033 + ordinal) * 7 + stream)


def _between(rng: random.Random, low: int, high: int) -> int:
    """Uniform integer in ``[low, high]``; several times cheaper than ``randint``, which
    matters because generation dominates the cost of large exports."""
    return low + int(rng.random() * (high - low + 1))


def _uniform(rng: random.Random, low: float, high: float) -> float:
    """Uniform float in ``[low, high)`` without ``Random.uniform``'s call overhead."""
    return low + (high - low) * rng.random()


def _pick(rng: random.Random, values: tuple[Any, ...], cumulative: tuple[int, ...]) -> Any:
    """Weighted choice given cumulative weights (``random.choices`` without its overhead)."""
    return values[bisect_right(cumulative, rng.random() * cumulative[-1])]


def _below(rng: random.Random, high: int) -> int:
    """Uniform integer in ``[0, high)``."""
    return int(rng.random() * high)


def _split(rng: random.Random, total: int, weights: tuple[float, ...]) -> list[int]:
    """Split ``total`` into parts roughly proportional to ``weights`` (exact sum)."""
    jitter = [w * _uniform(rng, 0.7, 1.3) for w in weights]
    scale = sum(jitter)
    parts = [int(total * w / scale) for w in jitter]
    parts[0] += total - sum(parts)
    return parts


def _arrival(rng: random.Random, kind: int, moment: int, created: int) -> int:
    """When an event becomes visible: most within minutes, some hours or days late.

    Events are bucketed by their own time but exist only once arrived, so a day's figures keep
    growing after the day ends; arrival is never later than the send plus 6 days 23 hours,
    so every day is settled 7 days after its end.
    """
    if kind == 0:
        return moment
    draw = rng.random()
    if draw < 0.7:
        lag = _between(rng, 0, 300)
    elif draw < 0.95:
        lag = _between(rng, 300, 6 * 3600)
    else:
        lag = _between(rng, 86400, 6 * 86400)
    return min(moment + lag, created + LATEST_EVENT_DELAY)


def age_group(age: int) -> str:
    """The members' five-year age bucket."""
    if age <= 14:
        return "-14"
    if age >= 80:
        return "80-"
    low = age - age % 5
    return f"{low}-{low + 4}"


class World:
    """Lazy, deterministic world for one seed and club count."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.seed = config.seed
        self.clubs: list[Club] = []
        for index in range(config.clubs):
            tz_name, place, country = TIMEZONES[index % len(TIMEZONES)]
            club_id = 1001 + index
            chain = CHAINS[(index // len(CHAINS) + index) % len(CHAINS)]
            self.clubs.append(Club(club_id, f"Club {club_id} {place}", tz_name, chain, country))
        self.by_id = {club.id: club for club in self.clubs}
        self._cache: OrderedDict[tuple[int, int, int], tuple] = OrderedDict()
        self._cache_days = config.cache_days
        self._lock = Lock()

    # -- which days exist -------------------------------------------------------------------

    def today_ordinal(self, club: Club, now: float) -> int:
        """Ordinal of the club's local date at ``now``."""
        return epoch_to_wall(now, club.timezone).toordinal()

    def first_ordinal(self, club: Club, now: float) -> int:
        """Oldest local day with data: ``history_days`` before today's local date."""
        return self.today_ordinal(club, now) - self.config.history_days

    def day_start(self, club: Club, ordinal: int) -> float:
        """Instant of local midnight starting a day."""
        return wall_to_epoch(
            datetime.combine(date.fromordinal(ordinal), datetime.min.time()), club.timezone
        )

    def ordinal_of(self, club: Club, epoch: float) -> int:
        """Local date ordinal holding an instant."""
        return epoch_to_wall(epoch, club.timezone).toordinal()

    def day_range(self, club: Club, start: float, end: float, now: float, lookback: bool) -> range:
        """Ordinals of existing days whose content can matter for events in ``[start, end)``.

        With ``lookback`` the days up to a week before ``start`` are included, because their
        sendings still receive late events inside the window.
        """
        first = self.first_ordinal(club, now)
        last = self.today_ordinal(club, now)
        low = self.ordinal_of(club, start - (SETTLE_SECONDS if lookback else 0)) - 1
        high = self.ordinal_of(club, max(start, end - 1)) + 1
        return range(max(first, low), min(last, high) + 1)

    # -- generation ---------------------------------------------------------------------------

    def _cached(self, kind: int, club: Club, ordinal: int) -> tuple:
        key = (kind, club.id, ordinal)
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
                return found
        built = self._sendings(club, ordinal) if kind == 1 else self._members(club, ordinal)
        with self._lock:
            self._cache[key] = built
            if len(self._cache) > self._cache_days:
                self._cache.popitem(last=False)
        return built

    def day_sendings(self, club: Club, ordinal: int) -> tuple[Sending, ...]:
        """Sendings created on one club's local day, in id order (cached)."""
        return self._cached(1, club, ordinal)

    def day_members(self, club: Club, ordinal: int) -> tuple[Member, ...]:
        """Members who joined on one club's local day, in id order (cached)."""
        return self._cached(2, club, ordinal)

    def _sendings(self, club: Club, ordinal: int) -> tuple[Sending, ...]:
        rng = _rng(self.seed, club.id, ordinal, 1)
        start = self.day_start(club, ordinal)
        length = self.day_start(club, ordinal + 1) - start
        count = _pick(rng, (0, 1, 2, 3, 4), (1, 4, 7, 9, 10))
        times = sorted(int(start + rng.random() * length) for _ in range(count))
        day_no = ordinal - ORDINAL_BASE
        club_no = club.id - 1000
        result = []
        for k, created in enumerate(times):
            channel = _pick(rng, CHANNELS, (3, 8, 10))
            service_type = _pick(rng, SERVICE_TYPES, (4, 7, 9, 10, 11))
            campaign_id: int | None = None
            reporting_id: int | None = None
            audience_id: int | None = None
            if service_type == "campaign":
                source_app, source_type = "campaigns", "campaign"
                if rng.random() < 0.85:
                    campaign_id = club_no * 100_000 + day_no // 7
                if rng.random() < 0.9:
                    reporting_id = club_no * 1_000_000 + day_no * 10 + k
                audience_id = club_no * 1000 + _below(rng, 20)
                members = _between(rng, 200, 3000)
            elif service_type == "automation":
                source_app, source_type = "automations", "trigger"
                reporting_id = club_no * 1_000_000 + 900_000 + _below(rng, 5)
                members = _between(rng, 5, 300)
            else:
                source_app, source_type = "messages_api", "other"
                members = _between(rng, 1, 120)
            dispatches = members if channel != "push" else int(members * _uniform(rng, 1.0, 1.5))
            sending_id = club.id * 10_000_000 + day_no * 10 + k
            source_id = str(reporting_id) if reporting_id is not None else None
            events = self._events(rng, channel, created, dispatches)
            links, visits = self._links(rng, channel, campaign_id, created, events)
            result.append(
                Sending(
                    sending_id,
                    club.id,
                    rng.choice(LANGUAGES),
                    channel,
                    service_type,
                    reporting_id,
                    source_id,
                    source_app,
                    source_type,
                    audience_id,
                    campaign_id,
                    dispatches,
                    members,
                    created,
                    events,
                    links,
                    visits,
                )
            )
        return tuple(result)

    @staticmethod
    def _events(
        rng: random.Random, channel: str, created: int, dispatches: int
    ) -> tuple[tuple[int, int, int, int], ...]:
        late = LATEST_EVENT_DELAY
        out: list[tuple[int, int, int]] = [(created, 0, dispatches)]
        transmitted = dispatches - int(dispatches * _uniform(rng, 0, 0.02))
        out.append((created + _between(rng, 30, 600), 1, transmitted))
        transient = int(dispatches * _uniform(rng, 0, 0.05))
        out.append((created + _between(rng, 60, 3600), 2, transient))
        failed = int(transmitted * _uniform(rng, 0, 0.03))
        out.append((created + _between(rng, 600, 86400), 6, failed))
        errored = int(transmitted * _uniform(rng, 0, 0.01))
        out.append((created + _between(rng, 600, 2 * 86400), 7, errored))
        delivered = transmitted - failed - errored
        windows = ((60, 1800), (1800, 86400), (86400, late))
        for part, (low, high) in zip(_split(rng, delivered, (80, 15, 5)), windows, strict=True):
            out.append((created + _between(rng, low, high), 3, part))
        if channel != "sms":
            opened = int(delivered * _uniform(rng, 0.1, 0.5))
            windows = ((300, 7200), (7200, 86400), (86400, 3 * 86400), (3 * 86400, late))
            for part, (low, high) in zip(
                _split(rng, opened, (50, 30, 15, 5)), windows, strict=True
            ):
                moment = created + _between(rng, low, high)
                out.append((moment, 4, part))
                out.append((moment, 5, part + int(part * _uniform(rng, 0, 0.5))))
        return tuple(
            sorted(
                (moment, kind, count, _arrival(rng, kind, moment, created))
                for moment, kind, count in out
                if count > 0
            )
        )

    @staticmethod
    def _links(
        rng: random.Random,
        channel: str,
        campaign_id: int | None,
        created: int,
        events: tuple[tuple[int, int, int, int], ...],
    ) -> tuple[tuple[Link, ...], tuple[tuple[int, int, int, int], ...]]:
        count = rng.choice((0, 1)) if channel == "sms" else rng.choice((0, 1, 2, 3))
        links = []
        for _ in range(count):
            tagged = rng.random() < 0.6
            links.append(
                Link(
                    rng.choice(LINK_HOSTS),
                    f"/{rng.choice(('offers', 'news', 'events', 'stores'))}/{_below(rng, 40)}",
                    (f"c{campaign_id}" if campaign_id is not None else "auto") if tagged else None,
                    rng.choice(("hero", "footer", None)) if tagged else None,
                    channel if tagged else None,
                    "placewise" if tagged else None,
                    None,
                )
            )
        reach = sum(e[2] for e in events if e[1] == (3 if channel == "sms" else 4))
        visits = []
        for index in range(len(links)):
            total = int(reach * _uniform(rng, 0.02, 0.3))
            windows = ((60, 7200), (7200, 86400), (86400, LATEST_EVENT_DELAY))
            for part, (low, high) in zip(_split(rng, total, (60, 30, 10)), windows, strict=True):
                if part > 0:
                    unique = max(1, int(part * _uniform(rng, 0.5, 0.95)))
                    visits.append((created + _between(rng, low, high), index, part, unique))
        return tuple(links), tuple(sorted(visits))

    def _members(self, club: Club, ordinal: int) -> tuple[Member, ...]:
        rng = _rng(self.seed, club.id, ordinal, 2)
        start = self.day_start(club, ordinal)
        length = self.day_start(club, ordinal + 1) - start
        count = _between(rng, 2, 24)
        times = sorted(int(start + rng.random() * length) for _ in range(count))
        year = date.fromordinal(ordinal).year
        result = []
        for k, joined in enumerate(times):
            left = joined + _between(rng, 86400, 200 * 86400) if rng.random() < 0.12 else None
            channel = _pick(rng, OPTIN_CHANNELS, (3, 6, 9, 11, 12))
            birth_year = _between(rng, year - 85, year - 12)
            consents = (rng.random() < 0.5, rng.random() < 0.7, rng.random() < 0.4)
            result.append(
                Member(
                    club.id * 10_000_000 + (ordinal - ORDINAL_BASE) * 100 + k,
                    club.id,
                    joined,
                    left,
                    channel,
                    rng.choice((None, None, "kiosk", "campaign-page")),
                    _pick(rng, GENDERS, (5, 9, 10, 11)),
                    age_group(year - birth_year),
                    birth_year,
                    club.country if rng.random() < 0.9 else rng.choice(("SE", "DK", "DE")),
                    consents,
                    tuple(rng.choice(CONTACT_STATUSES) for _ in range(3)),
                    tuple(sorted(rng.sample(range(1, 9), _between(rng, 0, 2)))),
                    tuple(sorted(rng.sample(range(100, 120), _between(rng, 0, 3)))),
                    tuple(sorted(rng.sample(range(5000, 5060), _between(rng, 0, 4)))),
                )
            )
        return tuple(result)

    # -- iteration helpers ---------------------------------------------------------------------

    def sendings(self, club: Club, ordinals: range) -> list[Sending]:
        """Sendings created on the given days, in id order."""
        out: list[Sending] = []
        for ordinal in ordinals:
            out.extend(self.day_sendings(club, ordinal))
        return out

    def all_days(self, club: Club, now: float) -> range:
        """Every existing day of a club."""
        return range(self.first_ordinal(club, now), self.today_ordinal(club, now) + 1)
