"""Settings of one simulator instance.

Everything that changes the simulated world or the server's behaviour lives here, so that tests
can build an app in-process with exactly the settings a command line would give.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from placewise_simulator.variants import resolve_variants

ALL = None


@dataclass(frozen=True)
class TokenGrant:
    """What one client token may see.

    ``clubs``/``reports`` of ``None`` mean "everything"; tests use narrower grants to exercise
    the 403 paths that the default development token never hits.
    """

    clubs: frozenset[int] | None = ALL
    reports: frozenset[str] | None = ALL

    def allows_club(self, club_id: int) -> bool:
        """True if the token may read this club's data."""
        return self.clubs is None or club_id in self.clubs

    def allows_report(self, report: str) -> bool:
        """True if the token holds the report's permit."""
        return self.reports is None or report in self.reports


@dataclass
class SimulatorConfig:
    """All options of ``python -m placewise_simulator serve``."""

    seed: int = 42
    clubs: int = 3
    history_days: int = 60
    now: datetime | None = None
    token: str = "dev-token"
    organization: str = "placewise-dev"
    """The organization every token belongs to: cross-club calls are charged to its bucket
    (``Organization:<organization>:Reporting``), named never after a credential."""
    rate_capacity: float = 60.0
    rate_refill: float = 6.0
    fault_rate: float = 0.0
    fault_seed: int = 0
    extra_tokens: dict[str, TokenGrant] = field(default_factory=dict)
    cache_days: int = 4096
    """Generated (club, day) entries kept in memory; bounds the world's memory use."""
    variants: dict[str, str] = field(default_factory=dict)
    """Chosen behaviour variants (``variants.VARIANTS``); resolved to every variant's value."""

    def __post_init__(self) -> None:
        if self.clubs < 1:
            raise ValueError("clubs must be at least 1")
        if self.history_days < 1:
            raise ValueError("history_days must be at least 1")
        if not 0.0 <= self.fault_rate <= 1.0:
            raise ValueError("fault_rate must be between 0 and 1")
        if self.rate_capacity <= 0 or self.rate_refill <= 0:
            raise ValueError("rate_capacity and rate_refill must be positive")
        if self.now is not None and self.now.tzinfo is None:
            raise ValueError("now must carry a UTC offset")
        self.variants = resolve_variants(self.variants)

    def variant(self, name: str) -> str:
        """The value of one behaviour variant."""
        return self.variants[name]

    def now_epoch(self) -> float:
        """Current time of the simulated world, in Unix seconds.

        A frozen ``now`` makes every response reproducible; without it the world grows with the
        real clock, like the live API.
        """
        if self.now is not None:
            return self.now.timestamp()
        return time.time()

    def grants(self) -> dict[str, TokenGrant]:
        """Every accepted token; the main token may see every club and report."""
        tokens = dict(self.extra_tokens)
        tokens[self.token] = TokenGrant()
        return tokens
