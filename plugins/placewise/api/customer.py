"""The customer selection sent in ``X-Customer``.

The club id of every report is chosen by this header, never by the body filter. Besides the header
value, a selector has a ``scope_key``: a stable, readable identifier that other layers use to name
landed files and manifest rows, so it must not change for the same selection.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

MAX_CLUB_IDS = 40


@dataclass(frozen=True)
class CustomerSelector:
    """One of the four ``X-Customer`` forms: one club, several clubs, all clubs, or attributes."""

    kind: Literal["club", "clubs", "all", "attributes"]
    ids: tuple[int, ...] = ()
    attrs: tuple[tuple[str, str], ...] = ()

    @classmethod
    def club(cls, club_id: int) -> CustomerSelector:
        """Select a single club (its own Customer rate-limit bucket)."""
        return cls("club", (_club_id(club_id),))

    @classmethod
    def clubs(cls, ids: Iterable[int]) -> CustomerSelector:
        """Select several clubs; ids are sorted and deduplicated so the scope key is stable."""
        unique = tuple(sorted({_club_id(i) for i in ids}))
        if not unique:
            raise ValueError("select at least one club id (X-Customer allows 1 to 40 ids)")
        if len(unique) > MAX_CLUB_IDS:
            raise ValueError(
                f"{len(unique)} club ids selected; X-Customer allows at most {MAX_CLUB_IDS}: "
                "split the clubs into several calls or use all=all"
            )
        return cls("clubs", unique)

    @classmethod
    def all(cls) -> CustomerSelector:
        """Select every customer the token may see."""
        return cls("all")

    @classmethod
    def attributes(cls, **kv: str) -> CustomerSelector:
        """Select customers by attributes, e.g. ``attributes(chain="Cats", country="PL")``."""
        if not kv:
            raise ValueError("attributes() needs at least one attribute, e.g. chain='Cats'")
        pairs = []
        for key, value in sorted(kv.items()):
            text = str(value)
            for name, part in (("name", key), ("value", text)):
                if not part or ";" in part or "=" in part:
                    raise ValueError(
                        f"attribute {name} {part!r} must be non-empty and contain no ';' or '='"
                    )
            pairs.append((key, text))
        return cls("attributes", attrs=tuple(pairs))

    @property
    def header_value(self) -> str:
        """The ``X-Customer`` header value."""
        if self.kind in ("club", "clubs"):
            return "id=" + "_".join(str(i) for i in self.ids)
        if self.kind == "all":
            return "all=all"
        return ";".join(f"{k}={v}" for k, v in self.attrs)

    @property
    def is_multi(self) -> bool:
        """True when the request is cross-customer (Organization bucket, per-club labels)."""
        return not (self.kind == "club" or (self.kind == "clubs" and len(self.ids) == 1))

    @property
    def club_ids(self) -> tuple[int, ...] | None:
        """The explicit club ids, or None when the selection is by ``all`` or attributes."""
        return self.ids if self.kind in ("club", "clubs") else None

    @property
    def scope_key(self) -> str:
        """A stable identifier of the selection, e.g. ``club:1001`` or ``attrs:chain=Cats``."""
        if self.kind == "club":
            return f"club:{self.ids[0]}"
        if self.kind == "clubs":
            return "clubs:" + "_".join(str(i) for i in self.ids)
        if self.kind == "all":
            return "all"
        return "attrs:" + self.header_value

    def __str__(self) -> str:
        if self.kind == "club":
            return f"club {self.ids[0]}"
        if self.kind == "clubs":
            return "clubs " + ",".join(str(i) for i in self.ids)
        if self.kind == "all":
            return "all clubs"
        return "clubs with " + self.header_value


def _club_id(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"club id must be a positive integer, got {value!r}")
    return value
