"""Exports stream with bounded memory: peak allocation does not grow with the export's size."""

from __future__ import annotations

import tracemalloc

import pytest
from placewise_simulator import SimulatorConfig
from placewise_simulator.app import SimulatorApp
from placewise_simulator.queries import build_query
from placewise_simulator.results import chunked
from sim_helpers import NOW


def _peak_and_size(clubs: int, body: dict) -> tuple[int, int]:
    app = SimulatorApp(SimulatorConfig(clubs=clubs, history_days=45, now=NOW, cache_days=64))
    query, _ = build_query(
        body,
        app.grants["dev-token"],
        app.world.clubs,
        cross=True,
        paged=False,
        now=app.config.now_epoch(),
    )
    pieces = app._export(query)
    tracemalloc.start()
    try:
        size = sum(len(chunk) for chunk in chunked(pieces))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, size


@pytest.mark.slow
@pytest.mark.parametrize(
    "body",
    [
        {
            "report": "sendings_stats",
            "aggregate_by": "reporting_id",
            "from": "2026-10-20T00:00:00",
            "to": "2026-11-28T00:00:00",
        },
        {
            "report": "sendings_events_history",
            "interval": "1d",
            "from": "2026-10-20T00:00:00",
            "to": "2026-11-28T00:00:00",
        },
        {"report": "sendings"},
    ],
)
def test_export_peak_memory_stays_flat_as_the_export_grows(body):
    small_peak, small_size = _peak_and_size(10, body)
    large_peak, large_size = _peak_and_size(40, body)
    assert large_size > 3.5 * small_size
    assert large_peak < 1.6 * small_peak + 4_000_000, (small_peak, large_peak)
