"""Offers of the simulated world: the data behind the menu-only offers reports.

Offers are generated per (club, local day) from their own random stream of the world seed, so
adding them changed nothing in the members and sendings streams, and they exist whichever
variant serves them. Like sendings, an offer carries all its events once and for all; ``now``
only decides which of them exist yet.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any, NamedTuple

from placewise_simulator.timeutil import format_utc_iso, wall_to_epoch
from placewise_simulator.world import ORDINAL_BASE, Club, World

OFFER_KINDS = ("discount", "bonus_points", "gift")
OFFER_EVENT_TYPES = ("viewed", "clicked", "activated")
COLLECTION_NAMES = ("Weekly deals", "Member favourites", "Seasonal")
OFFER_DAYS = 14
"""An offer is valid, and gathers events and usages, for this many days after it is created."""
STORES = tuple(range(5000, 5012))
OFFER_STREAM = 3
"""Random stream number of offers (1 and 2 are sendings and members in ``world.py``)."""
COLLECTIONS_CREATED = datetime(2020, 1, 1, tzinfo=UTC).timestamp()


class Offer(NamedTuple):
    """One offer; ``events`` are ``(time, event_type_index, count)``, ``usages``
    ``(time, store_id, count)``."""

    id: int
    club_id: int
    collection_id: int
    title: str
    kind: str
    created: int
    valid_until: int
    events: tuple[tuple[int, int, int], ...]
    usages: tuple[tuple[int, int, int], ...]


def collection_ids(club: Club) -> tuple[int, ...]:
    """The club's offer collections (a fixed set per club)."""
    return tuple(club.id * 10 + i + 1 for i in range(len(COLLECTION_NAMES)))


@lru_cache(maxsize=4096)
def _day_offers(seed: int, club: Club, ordinal: int) -> tuple[Offer, ...]:
    rng = random.Random(((seed * 1_000_003 + club.id) * 1_000_033 + ordinal) * 7 + OFFER_STREAM)
    day = datetime.combine(date.fromordinal(ordinal), datetime.min.time())
    start = wall_to_epoch(day, club.timezone)
    length = 86400
    count = (0, 0, 1, 1, 2)[int(rng.random() * 5)]
    offers = []
    for k in range(count):
        created = int(start + rng.random() * length)
        offer_id = club.id * 10_000_000 + (ordinal - ORDINAL_BASE) * 10 + k
        until = created + OFFER_DAYS * 86400
        events = []
        usages = []
        for day_no in range(OFFER_DAYS):
            base = created + day_no * 86400
            views = int(rng.random() * 200) + 1
            clicks = int(views * rng.random() * 0.5)
            activations = int(clicks * rng.random() * 0.6)
            for kind, amount in enumerate((views, clicks, activations)):
                if amount:
                    events.append((base + int(rng.random() * 86400), kind, amount))
            used = int(activations * rng.random() * 0.8)
            if used:
                store = STORES[int(rng.random() * len(STORES))]
                usages.append((base + int(rng.random() * 86400), store, used))
        offers.append(
            Offer(
                offer_id,
                club.id,
                collection_ids(club)[int(rng.random() * len(COLLECTION_NAMES))],
                f"Offer {offer_id}",
                OFFER_KINDS[int(rng.random() * len(OFFER_KINDS))],
                created,
                until,
                tuple(sorted(events)),
                tuple(sorted(usages)),
            )
        )
    return tuple(sorted(offers))


def day_offers(world: World, club: Club, ordinal: int) -> tuple[Offer, ...]:
    """Offers created on one club's local day, in id order."""
    return _day_offers(world.seed, club, ordinal)


def _offer_days(world: World, club: Club, start: float, end: float, now: float) -> range:
    first = world.first_ordinal(club, now)
    last = world.today_ordinal(club, now)
    low = world.ordinal_of(club, start - OFFER_DAYS * 86400) - 1
    high = world.ordinal_of(club, max(start, end - 1)) + 1
    return range(max(first, low), min(last, high) + 1)


OFFER_EVENT_DIMS = ("event_type", "offer_id", "collection_id")
OFFER_USAGE_DIMS = ("offer_id", "collection_id", "store_id")


def offer_event_facts(
    world: World, club: Club, start: float, end: float, now: float
) -> Iterator[tuple[Any, ...]]:
    """Views, clicks and activations of offers with their time in ``[start, end)``."""
    for ordinal in _offer_days(world, club, start, end, now):
        for offer in day_offers(world, club, ordinal):
            for moment, kind, count in offer.events:
                if start <= moment < end and moment <= now:
                    yield (moment, count, OFFER_EVENT_TYPES[kind], offer.id, offer.collection_id)


def offer_usage_facts(
    world: World, club: Club, start: float, end: float, now: float
) -> Iterator[tuple[Any, ...]]:
    """Redemptions of offers in stores with their time in ``[start, end)``."""
    for ordinal in _offer_days(world, club, start, end, now):
        for offer in day_offers(world, club, ordinal):
            for moment, store, count in offer.usages:
                if start <= moment < end and moment <= now:
                    yield (moment, count, offer.id, offer.collection_id, store)


def existing_offers(world: World, club: Club, now: float) -> Iterator[Offer]:
    """Every offer created by ``now``, in id order."""
    for ordinal in world.all_days(club, now):
        for offer in day_offers(world, club, ordinal):
            if offer.created <= now:
                yield offer


def offer_record(offer: Offer, now: float) -> dict[str, Any]:
    """The ``offers`` record: the offer with its event and usage totals so far."""
    counts = [0] * len(OFFER_EVENT_TYPES)
    for moment, kind, count in offer.events:
        if moment <= now:
            counts[kind] += count
    used = sum(count for moment, _store, count in offer.usages if moment <= now)
    record: dict[str, Any] = {
        "id": offer.id,
        "loyalty_club_id": offer.club_id,
        "collection_id": offer.collection_id,
        "title": offer.title,
        "kind": offer.kind,
    }
    for name, value in zip(OFFER_EVENT_TYPES, counts, strict=True):
        record[f"{name}_count"] = value
    record["usages_count"] = used
    record["created_at"] = format_utc_iso(offer.created)
    record["valid_until"] = format_utc_iso(offer.valid_until)
    return record


OFFER_FILTER_KEYS = ("id", "collection_id", "kind")


def offer_records(
    world: World, club: Club, now: float, after: tuple[Any, ...] | None
) -> Iterator[tuple[tuple[Any, ...], dict[str, Any], dict[str, Any]]]:
    """Existing offers in id order, resuming after a key."""
    for offer in existing_offers(world, club, now):
        if after is not None and (offer.id,) <= after:
            continue
        record = offer_record(offer, now)
        row = {name: record[name] for name in OFFER_FILTER_KEYS}
        row["created_at"] = offer.created
        row["valid_until"] = offer.valid_until
        yield (offer.id,), row, record


def collection_records(
    world: World, club: Club, now: float, after: tuple[Any, ...] | None
) -> Iterator[tuple[tuple[Any, ...], dict[str, Any], dict[str, Any]]]:
    """The club's offer collections with the number of offers created in each so far."""
    counts = dict.fromkeys(collection_ids(club), 0)
    for offer in existing_offers(world, club, now):
        counts[offer.collection_id] += 1
    for index, (collection_id, name) in enumerate(
        zip(collection_ids(club), COLLECTION_NAMES, strict=True)
    ):
        if after is not None and (collection_id,) <= after:
            continue
        record = {
            "id": collection_id,
            "loyalty_club_id": club.id,
            "name": name,
            "offers_count": counts[collection_id],
            "created_at": format_utc_iso(COLLECTIONS_CREATED + index * 86400),
        }
        row = {"id": collection_id, "name": name, "offers_count": counts[collection_id]}
        yield (collection_id,), row, record
