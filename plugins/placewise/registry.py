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

from placewise.api.catalog import known_reports
from placewise.extract.plan import DEFAULT_REPORT_AGGREGATIONS


class RegistryError(ValueError):
    """The club registry file is invalid; the message says where and how to fix it."""


#: The largest club id the warehouse holds (``loyalty_club_id`` is ``bigint``).
MAX_CLUB_ID = 2**63 - 1


class _DuplicateKeyError(yaml.MarkedYAMLError):
    """A mapping names the same key twice (plain YAML would keep the last one silently)."""


class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key: SafeLoader reports it
                break
            if duplicate:
                line = key_node.start_mark.line + 1
                raise _DuplicateKeyError(
                    problem=f"key {key!r} is given twice (again on line {line}); keep one",
                    problem_mark=key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


@dataclass(frozen=True)
class Club:
    """One loyalty club of the registry."""

    id: int
    name: str
    timezone: str | None = None
    enabled: bool = True
    reports: tuple[str, ...] = tuple(DEFAULT_REPORT_AGGREGATIONS)


_ALLOWED_KEYS = {"id", "name", "timezone", "enabled", "reports"}


def _club(entry: Any, where: str, *, check_reports: bool = True) -> Club:
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
    if club_id > MAX_CLUB_ID:
        raise RegistryError(
            f"{where}: 'id' {club_id} is too large; club ids are at most {MAX_CLUB_ID} "
            "(the warehouse stores them as bigint)"
        )
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
    known = known_reports()
    not_names = [r for r in reports if not isinstance(r, str) or not r]
    if not_names:
        raise RegistryError(
            f"{where} (id {club_id}): 'reports' must list report names, got {not_names!r}; "
            f"known: {', '.join(sorted(known))}"
        )
    unknown_reports = [r for r in reports if r not in known]
    if unknown_reports and check_reports:
        raise RegistryError(
            f"{where} (id {club_id}): unknown report(s) {unknown_reports}; "
            f"known: {', '.join(known)} (a report the static catalog lacks is known once "
            "`placewise doctor` has cached the API's Metadata of it)"
        )
    return Club(club_id, name.strip(), timezone, enabled, tuple(reports))


def parse_registry(text: str, source: str = "<clubs>", *, check_reports: bool = True) -> list[Club]:
    """Parse and validate registry YAML text.

    ``check_reports=False`` accepts report names neither catalog knows yet: ``placewise
    doctor`` reads the registry before the API's Metadata is cached, and asks the API about
    every name instead.
    """
    try:
        data = yaml.load(text, Loader=_StrictLoader)
    except _DuplicateKeyError as exc:
        raise RegistryError(f"{source}: {exc.problem}") from exc
    except yaml.YAMLError as exc:
        raise RegistryError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("clubs"), list):
        raise RegistryError(f"{source}: expected a top-level 'clubs:' list")
    clubs = [
        _club(e, f"{source}: clubs[{i}]", check_reports=check_reports)
        for i, e in enumerate(data["clubs"])
    ]
    seen: set[int] = set()
    for club in clubs:
        if club.id in seen:
            raise RegistryError(f"{source}: club id {club.id} is listed twice")
        seen.add(club.id)
    return clubs


def load_registry(path: str | Path, *, check_reports: bool = True) -> list[Club]:
    """Read the registry file; a missing file is an error that names the setting to fix."""
    path = Path(path)
    if not path.exists():
        raise RegistryError(
            f"club registry {path} not found; create it or set PLACEWISE_CLUBS_FILE"
        )
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise RegistryError(
            f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at line {line}); "
            "save the file as UTF-8"
        ) from exc
    return parse_registry(text, str(path), check_reports=check_reports)


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
