"""Fixtures of the chaos suite: one clean baseline run per session, batch runs on demand.

The baseline is a sync through the proxy without rules (same simulator, frozen clock) followed by
``dbt build``; each batch run corrupts one slice per mode of its batch. Runs are made the first
time a test needs them and shared by every test after, so the suite costs one sync and one dbt
build per batch.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from chaos_harness import RunResult, chaos_batches, copy_database, dbt_build, run_sync
from chaos_modes import ALL_MODES, Mode
from placewise.local.embedded_postgres import drop_database


class ChaosRuns:
    """The baseline and the batch runs of one session, each made once when first asked for."""

    def __init__(
        self, upstream: str, make_database: Callable[[str], str], work: Path, server_url: str
    ) -> None:
        self.upstream = upstream
        self.server_url = server_url
        self.copies: list[str] = []
        self.make_database = make_database
        self.work = work
        self.batches: list[dict[str, Mode]] = chaos_batches(ALL_MODES, work / "plan")
        self._runs: dict[str, RunResult] = {}

    def batch_of(self, mode: Mode) -> int:
        return next(i for i, b in enumerate(self.batches) if mode in b.values())

    def slice_of(self, mode: Mode) -> str:
        batch = self.batches[self.batch_of(mode)]
        return next(key for key, m in batch.items() if m is mode)

    def _run(
        self, name: str, assignment: dict[str, Mode], database: str | None = None
    ) -> RunResult:
        if name not in self._runs:
            result = run_sync(
                upstream=self.upstream,
                make_database=self.make_database,
                landing=self.work / name / "landing",
                assignment=assignment,
                run_id=f"chaos-{name}",
                database=database,
            )
            dbt_build(result, self.work / "dbt")
            self._runs[name] = result
        return self._runs[name]

    @property
    def baseline(self) -> RunResult:
        return self._run("baseline", {})

    def batch(self, index: int) -> RunResult:
        return self._run(f"batch{index}", self.batches[index])

    def restated(self, index: int) -> RunResult:
        """Batch ``index`` run over a copy of the clean run's warehouse (marts included)."""
        name = f"restated{index}"
        if name not in self._runs:
            copy = f"pw_chaos_{name}_{uuid.uuid4().hex[:8]}"
            self.copies.append(copy)
            database = copy_database(self.server_url, self.baseline.database, copy)
            self._run(name, self.batches[index], database)
        return self._runs[name]


@pytest.fixture(scope="session")
def chaos_runs(
    simulator, database_factory, warehouse_server_url, tmp_path_factory
) -> Iterator[ChaosRuns]:
    runs = ChaosRuns(
        simulator.url, database_factory, tmp_path_factory.mktemp("chaos"), warehouse_server_url
    )
    yield runs
    for name in runs.copies:
        drop_database(warehouse_server_url, name)
