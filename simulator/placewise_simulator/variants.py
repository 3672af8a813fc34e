"""Behaviour switches for the places where the public docs allow more than one reading.

The docs' own examples contradict some decisions of the contract, and some pages leave two
readings open. Each such point is a named variant with a fixed list of values; the first value
is the default. Variants change how the server answers, never the generated world: the same seed
gives the same members, sendings, offers and events under every variant.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from types import MappingProxyType


class VariantError(ValueError):
    """An unknown variant name or value; the message lists the valid ones."""


VARIANTS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "window_end": ("bucket_at_to", "exclusive"),
        "cross_customer_query": ("allowed", "refused"),
        "same_tz_merge": ("per_club", "merged"),
        "multi_tz_window": ("local_wall_clock", "utc"),
        "statistics_shape": ("totals", "buckets"),
        "cursor_key": ("page_info", "next_page_info", "cursor"),
        "exports": ("present", "absent"),
        "auth": ("client_token", "user_token"),
        "date_header": ("present", "absent"),
        "menu_only_reports": ("absent", "served"),
    }
)
"""Every variant and its values; the first value is the default."""

DESCRIPTIONS: Mapping[str, str] = MappingProxyType(
    {
        "window_end": "bucket_at_to: a timeseries whose `to` falls on a bucket boundary also "
        "answers the bucket starting at `to`, with that whole bucket's data (it counts toward "
        "the 150-bucket limit and the 1000-point cap); exclusive: buckets stop before `to`. "
        "Statistics windows stay [from, to).",
        "cross_customer_query": "allowed: /query and /query/export answer several customers "
        "(Organization bucket, same limits and paging, series labelled with loyalty_club_id); "
        "refused: 422 (use the tenants export).",
        "same_tz_merge": "per_club: customers sharing one timezone get one series per club; "
        "merged: one series per label without the club, values summed.",
        "multi_tz_window": "local_wall_clock: with customers in different timezones, `from`/`to` "
        "without offset are each club's wall clock; utc: they are UTC.",
        "statistics_shape": "totals: statistics are totals over [from, to); buckets: they carry "
        "interval, time_buckets and per-series values like a timeseries.",
        "cursor_key": "request body key that sends pagination.next_page_info back; any other "
        "key is ignored (page 1 again).",
        "exports": "present: the export endpoints exist; absent: they answer 404.",
        "auth": "client_token: X-Client-Authorization: <token>; user_token: "
        "Authorization: Bearer <token>; the other scheme gets 401.",
        "date_header": "present: responses carry a Date header from the simulator clock; "
        "absent: no Date header.",
        "menu_only_reports": "absent: offers, offers_collections, offers_events_history, "
        "offers_usages_history, offers_events_stats, offers_usages_stats and members_count are "
        "unknown reports (422); served: they are served and described by Metadata.",
    }
)


def valid_list() -> str:
    """All variants with their values, for error messages."""
    return "; ".join(f"{name}={'|'.join(values)}" for name, values in VARIANTS.items())


def check_variant(name: str, value: str) -> None:
    """Raise ``VariantError`` naming the valid choices when ``name=value`` is not a variant."""
    if name not in VARIANTS:
        raise VariantError(f"unknown variant {name!r}; valid variants: {valid_list()}")
    if value not in VARIANTS[name]:
        raise VariantError(
            f"unknown value {value!r} of variant {name}; valid values: {', '.join(VARIANTS[name])}"
        )


def resolve_variants(chosen: Mapping[str, str]) -> dict[str, str]:
    """Every variant's value: the chosen ones (validated) over the defaults."""
    if not isinstance(chosen, Mapping):
        raise VariantError(f"variants must be a mapping of name to value, got {chosen!r}")
    resolved = {name: values[0] for name, values in VARIANTS.items()}
    for name, value in chosen.items():
        check_variant(name, value)
        resolved[name] = value
    return resolved


def parse_assignment(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` from the command line, validated."""
    name, sep, value = text.partition("=")
    if not sep:
        raise VariantError(f"--variant needs NAME=VALUE, got {text!r}; valid: {valid_list()}")
    check_variant(name.strip(), value.strip())
    return name.strip(), value.strip()


def help_text() -> str:
    """The ``--help`` section listing every variant, its values and what differs."""
    lines = ["variants (--variant NAME=VALUE, repeatable; the first value is the default):"]
    for name, values in VARIANTS.items():
        lines.append(f"  {name}: {' | '.join(values)}")
        lines.append(
            textwrap.fill(DESCRIPTIONS[name], 92, initial_indent=" " * 6, subsequent_indent=" " * 6)
        )
    return "\n".join(lines)
