"""The local stack behind ``make demo`` and ``make airflow``: warehouse, API, club registry.

Both entry points need the same services and must agree on them (the Airflow UI shows the
demo's runs over the demo's warehouse): an embedded PostgreSQL in ``.demo/postgres`` unless
``WAREHOUSE_URL`` names a server, the simulator unless ``PLACEWISE_API_URL`` names an API, and a
club registry that matches that API. Whatever this starts, it stops.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from placewise.config import REPO_ROOT, PipelineSettings
from placewise.local.airflow_env import airflow_environment
from placewise.local.embedded_postgres import EmbeddedPostgres, ensure_database, free_port
from placewise.local.processes import SimulatorProcess, start_simulator
from placewise.registry import Club, render_registry

DEMO_DIR = REPO_ROOT / ".demo"


class StackConfigError(ValueError):
    """The environment names a half-configured service (e.g. an API URL without a token)."""


def demo_postgres_port() -> int:
    """A stable port for the demo's PostgreSQL (so its URL stays valid across runs), else any."""
    wanted = int(os.environ.get("PLACEWISE_DEMO_PG_PORT", "54329"))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        if probe.connect_ex(("127.0.0.1", wanted)) != 0:
            return wanted
    return free_port()


@dataclass
class LocalStack:
    """Where the services are, and which of them this process started."""

    warehouse_url: str = ""
    api_url: str = ""
    api_token: str = ""
    clubs_file: Path = REPO_ROOT / "config" / "clubs.yml"
    postgres: EmbeddedPostgres | None = None
    simulator: SimulatorProcess | None = None
    pipeline_env: dict[str, str] = field(default_factory=dict)

    def airflow_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment of an Airflow (``.demo/airflow`` home) running over this stack."""
        return airflow_environment(
            DEMO_DIR / "airflow",
            warehouse_url=self.warehouse_url,
            api_url=self.api_url,
            api_token=self.api_token,
            clubs_file=self.clubs_file,
            landing_root=PipelineSettings.from_env().landing_root,
            extra={**self.pipeline_env, **(extra or {})},
        )

    def stop(self) -> None:
        if self.simulator is not None:
            self.simulator.stop()
        if self.postgres is not None:
            self.postgres.stop()


@contextlib.contextmanager
def local_stack(
    *, rate_capacity: int | None = None, rate_refill: float | None = None
) -> Iterator[LocalStack]:
    """Start what the environment does not name; stop it on exit (also after a failed start).

    ``rate_capacity``/``rate_refill`` size the simulator's token bucket and tell the pipeline's
    pacer the same numbers; without them both use the API defaults.
    """
    DEMO_DIR.mkdir(exist_ok=True)
    stack = LocalStack()
    try:
        stack.warehouse_url = os.environ.get("WAREHOUSE_URL", "")
        if not stack.warehouse_url:
            stack.postgres = EmbeddedPostgres(DEMO_DIR / "postgres", port=demo_postgres_port())
            stack.warehouse_url = ensure_database(stack.postgres.start(), "warehouse")
        stack.api_url = os.environ.get("PLACEWISE_API_URL", "")
        if stack.api_url:
            stack.api_token = os.environ.get("PLACEWISE_API_TOKEN", "")
            if not stack.api_token:
                raise StackConfigError("PLACEWISE_API_URL is set but PLACEWISE_API_TOKEN is not")
            stack.clubs_file = PipelineSettings.from_env().clubs_file
        else:
            args = ["--clubs", "3", "--history-days", "60"]
            if rate_capacity is not None and rate_refill is not None:
                args += ["--rate-capacity", str(rate_capacity), "--rate-refill", str(rate_refill)]
                stack.pipeline_env = {
                    "PLACEWISE_RATE_CAPACITY": str(rate_capacity),
                    "PLACEWISE_RATE_REFILL_PER_S": str(rate_refill),
                }
            stack.simulator = start_simulator(args, log_path=DEMO_DIR / "logs" / "simulator.log")
            stack.api_url, stack.api_token = stack.simulator.url, "dev-token"
            stack.clubs_file = DEMO_DIR / "clubs.yml"
            clubs = [Club(c["id"], c["name"]) for c in stack.simulator.clubs()]
            stack.clubs_file.write_text(render_registry(clubs))
        yield stack
    finally:
        stack.stop()
