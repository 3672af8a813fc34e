"""The points where the public API docs allow two readings, and which one a given API has.

The docs' own examples settle most of the contract, but not all of it: whether a timeseries
answer carries a bucket starting at ``to``, whether the documented query endpoint serves several
customers, which request key carries a records cursor back, and so on. Each such point is a
*variant* with a fixed set of values; the first value is what we assume until told otherwise.

``placewise doctor`` probes a live API and writes what it found to a settings file (by default
``config/api-contract.yml``, ``PLACEWISE_API_CONTRACT_FILE`` elsewhere); the client reads that
file, so a pipeline behaves the way its API does. ``docs/api-contract.md`` explains each variant.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import yaml


class VariantsFileError(ValueError):
    """The settings file is unreadable or names an unknown variant or value."""


@dataclass(frozen=True)
class VariantSpec:
    """One open reading: its name, its possible values (first = assumed) and what differs."""

    name: str
    values: tuple[str, ...]
    differs: str

    @property
    def assumed(self) -> str:
        return self.values[0]


#: Every open reading of the docs, in the order ``placewise doctor`` reports them.
VARIANTS: tuple[VariantSpec, ...] = (
    VariantSpec(
        "window_end",
        ("bucket_at_to", "exclusive"),
        "a timeseries answer includes a bucket starting at `to` (the docs' example), "
        "or stops before it",
    ),
    VariantSpec(
        "cross_customer_query",
        ("allowed", "refused"),
        "POST /v1/reporting/query with several customers answers (docs), or 422",
    ),
    VariantSpec(
        "same_tz_merge",
        ("per_club", "merged"),
        "customers sharing one timezone: one series per club (labelled with loyalty_club_id), "
        "or one merged series without the club",
    ),
    VariantSpec(
        "multi_tz_window",
        ("local_wall_clock", "utc"),
        "customers in different timezones: from/to without offset are each club's wall clock, "
        "or assumed to be UTC",
    ),
    VariantSpec(
        "statistics_shape",
        ("totals", "buckets"),
        "a statistics answer is totals over the window, or carries interval/time_buckets "
        "like a timeseries",
    ),
    VariantSpec(
        "cursor_key",
        ("page_info", "next_page_info", "cursor"),
        "the request key that carries pagination.next_page_info back",
    ),
    VariantSpec(
        "exports",
        ("present", "absent"),
        "the export and tenants export endpoints exist, or answer 404",
    ),
    VariantSpec(
        "auth",
        ("client_token", "user_token"),
        "the accepted credential: X-Client-Authorization, or a user token "
        "(Authorization: Bearer <token> by default)",
    ),
    VariantSpec(
        "date_header",
        ("present", "absent"),
        "answers carry a Date header usable as the as-of time, or not",
    ),
    VariantSpec(
        "menu_only_reports",
        ("absent", "served"),
        "reports named in the docs' menu without a public page answer 422 unknown report, "
        "or are served and described by Metadata",
    ),
)

VARIANTS_BY_NAME: Mapping[str, VariantSpec] = {v.name: v for v in VARIANTS}


@dataclass(frozen=True)
class ApiVariants:
    """Which reading of each open point the configured API has (defaults: the assumed ones)."""

    window_end: str = "bucket_at_to"
    cross_customer_query: str = "allowed"
    same_tz_merge: str = "per_club"
    multi_tz_window: str = "local_wall_clock"
    statistics_shape: str = "totals"
    cursor_key: str = "page_info"
    exports: str = "present"
    auth: str = "client_token"
    date_header: str = "present"
    menu_only_reports: str = "absent"

    def __post_init__(self) -> None:
        for spec in VARIANTS:
            value = getattr(self, spec.name)
            if value not in spec.values:
                raise VariantsFileError(
                    f"variant {spec.name}={value!r} is not one of {', '.join(spec.values)}"
                )

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, where: str = "variants") -> ApiVariants:
        """Build from ``{name: value}``; unknown names and values are errors naming them."""
        unknown = sorted(set(values) - set(VARIANTS_BY_NAME))
        if unknown:
            raise VariantsFileError(
                f"{where}: unknown variant(s) {', '.join(unknown)}; "
                f"known: {', '.join(VARIANTS_BY_NAME)}"
            )
        kwargs: dict[str, str] = {}
        for name, value in values.items():
            if not isinstance(value, str):
                raise VariantsFileError(
                    f"{where}: {name} must be one of {', '.join(VARIANTS_BY_NAME[name].values)}, "
                    f"got {value!r}"
                )
            kwargs[name] = value
        try:
            return cls(**kwargs)
        except VariantsFileError as exc:
            raise VariantsFileError(f"{where}: {exc}") from None

    def as_mapping(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def differences(self) -> dict[str, str]:
        """The variants whose value is not the assumed one."""
        return {
            spec.name: getattr(self, spec.name)
            for spec in VARIANTS
            if getattr(self, spec.name) != spec.assumed
        }

    def with_values(self, **values: str) -> ApiVariants:
        return replace(self, **values)


def load_variants(path: Path) -> ApiVariants:
    """Read a settings file written by ``placewise doctor``; a missing file means the defaults."""
    if not path.exists():
        return ApiVariants()
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise VariantsFileError(f"{path}: cannot read the API settings file: {exc}") from exc
    if document is None:
        return ApiVariants()
    if not isinstance(document, Mapping):
        raise VariantsFileError(f"{path}: expected a mapping with a 'variants' key")
    variants = document.get("variants", {})
    if not isinstance(variants, Mapping):
        raise VariantsFileError(f"{path}: 'variants' must be a mapping of name: value")
    return ApiVariants.from_mapping(variants, where=str(path))


def dump_variants(
    variants: ApiVariants, path: Path, *, header: str = "", extra: Mapping[str, Any] | None = None
) -> None:
    """Write ``variants`` (and any extra findings) to ``path`` atomically."""
    document: dict[str, Any] = {"variants": variants.as_mapping()}
    if extra:
        document.update(extra)
    text = "".join(f"# {line}\n" for line in header.splitlines()) + yaml.safe_dump(
        document, sort_keys=False
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
