"""Fixtures of the simulator tests; the helpers themselves live in ``sim_helpers``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from placewise_simulator import SimulatorConfig
from sim_helpers import NOW, Api, LiveServer, make_api


@pytest.fixture
def api() -> Api:
    return make_api()


@pytest.fixture
def live_server() -> Iterator[LiveServer]:
    with LiveServer(SimulatorConfig(now=NOW, rate_capacity=1e9, rate_refill=1e9)) as server:
        yield server
