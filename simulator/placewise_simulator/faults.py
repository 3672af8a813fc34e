"""Deterministic fault injection for API paths.

Each API request gets a sequence number; whether and how it fails depends only on
``(fault_seed, sequence number)``, so a failing client run can be replayed exactly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from threading import Lock

KINDS = ("500", "503", "storm", "reset", "truncate", "slow")


@dataclass(frozen=True)
class Fault:
    """One injected fault; ``delay`` is used by ``slow``."""

    kind: str
    delay: float = 0.0


class FaultPlan:
    """Decides the fault (if any) of each API request in arrival order."""

    def __init__(self, rate: float, seed: int) -> None:
        self.rate = rate
        self.seed = seed
        self._sequence = 0
        self._storm_left = 0
        self._lock = Lock()

    def next(self) -> Fault | None:
        """Fault for the next request, or ``None`` to serve it normally."""
        if self.rate <= 0:
            return None
        with self._lock:
            self._sequence += 1
            if self._storm_left > 0:
                self._storm_left -= 1
                return Fault("429")
            rng = random.Random(self.seed * 1_000_003 + self._sequence)
            if rng.random() >= self.rate:
                return None
            kind = rng.choice(KINDS)
            if kind == "storm":
                self._storm_left = rng.randint(2, 5)
                return Fault("429")
            if kind == "slow":
                return Fault("slow", rng.uniform(0.5, 2.0))
            return Fault(kind)

    def reset(self) -> None:
        """Restart the sequence (admin reset), so a scenario can be replayed."""
        with self._lock:
            self._sequence = 0
            self._storm_left = 0
