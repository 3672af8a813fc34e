"""The club registry: which loyalty clubs the pipeline syncs, from a YAML file.

Adding a club is a one-line change to the file. The DAG files never read it: the tasks of a run
do (choosing the clubs, mirroring them into ``placewise_ops.clubs``), so the next run picks a
change up without a restart or a re-parse, and a parse never depends on the file. Validation is
strict and its messages name the file, the entry and the fix, because a typo here should fail
the run's first task with a clear error rather than silently skip a club at 02:30.

Example::

    clubs:
      - {id: 1001, name: Oslo City}
      - {id: 1002, name: Denver Mall, timezone: America/Denver}
      - {id: 1003, name: Old Club, enabled: false}
      - {id: 1004, name: Small Club, reports: [sendings_stats, sendings]}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from placewise.api.catalog import CATALOG
from placewise.extract.plan import DEFAULT_REPORT_AGGREGATIONS


class RegistryError(ValueError):
    """The club registry file is invalid; the message says where and how to fix it."""


@dataclass(frozen=True)
class Club:
    """One loyalty club of the registry."""

    id: int
    name: str
    timezone: str | None = None
    enabled: bool = True
    reports: tuple[str, ...] = tuple(DEFAULT_REPORT_AGGREGATIONS)


_ALLOWED_KEYS = {"id", "name", "timezone", "enabled", "reports"}


def _club(entry: Any, where: str) -> Club:
    if not isinstance(entry, dict):
        raise RegistryError(f"{where}: expected a mapping like {{id: 1001, name: ...}}")
    unknown = set(entry) - _ALLOWED_KEYS
    if unknown:
        raise RegistryError(
            f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_ALLOWED_KEYS)}"
        )
    club_id = entry.get("id")
    if isinstance(club_id, bool) or not isinstance(club_id, int) or club_id <= 0:
        raise RegistryError(f"{where}: 'id' must be a positive integer, got {club_id!r}")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise RegistryError(f"{where} (id {club_id}): 'name' must be a non-empty string")
    timezone = entry.get("timezone")
    if timezone is not None:
        try:
            ZoneInfo(str(timezone))
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise RegistryError(
                f"{where} (id {club_id}): unknown timezone {timezone!r}; use an IANA name such "
                "as Europe/Oslo"
            ) from exc
    enabled = entry.get("enabled", True)
    if not isinstance(enabled, bool):
        raise RegistryError(f"{where} (id {club_id}): 'enabled' must be true or false")
    reports = entry.get("reports", list(DEFAULT_REPORT_AGGREGATIONS))
    if not isinstance(reports, list) or not reports:
        raise RegistryError(f"{where} (id {club_id}): 'reports' must be a non-empty list")
    unknown_reports = [r for r in reports if r not in CATALOG]
    if unknown_reports:
        raise RegistryError(
            f"{where} (id {club_id}): unknown report(s) {unknown_reports}; "
            f"known: {', '.join(sorted(CATALOG))}"
        )
    return Club(club_id, name.strip(), timezone, enabled, tuple(reports))


def parse_registry(text: str, source: str = "<clubs>") -> list[Club]:
    """Parse and validate registry YAML text."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RegistryError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("clubs"), list):
        raise RegistryError(f"{source}: expected a top-level 'clubs:' list")
    clubs = [_club(e, f"{source}: clubs[{i}]") for i, e in enumerate(data["clubs"])]
    seen: set[int] = set()
    for club in clubs:
        if club.id in seen:
            raise RegistryError(f"{source}: club id {club.id} is listed twice")
        seen.add(club.id)
    return clubs


def load_registry(path: str | Path) -> list[Club]:
    """Read the registry file; a missing file is an error that names the setting to fix."""
    path = Path(path)
    if not path.exists():
        raise RegistryError(
            f"club registry {path} not found; create it or set PLACEWISE_CLUBS_FILE"
        )
    return parse_registry(path.read_text(), str(path))


def enabled_clubs(clubs: Sequence[Club]) -> list[Club]:
    return [c for c in clubs if c.enabled]


def render_registry(clubs: Sequence[Club]) -> str:
    """YAML text for a list of clubs (used to bootstrap a registry from an API's club list)."""
    entries = []
    for club in clubs:
        entry: dict[str, Any] = {"id": club.id, "name": club.name}
        if club.timezone:
            entry["timezone"] = club.timezone
        if not club.enabled:
            entry["enabled"] = False
        if tuple(club.reports) != tuple(DEFAULT_REPORT_AGGREGATIONS):
            entry["reports"] = list(club.reports)
        entries.append(entry)
    return yaml.safe_dump({"clubs": entries}, sort_keys=False)
