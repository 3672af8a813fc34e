"""Child processes the local stack starts (the API simulator) and how they are stopped.

The demo and the test suite run the simulator as a separate process, exactly as a user would
(``python -m placewise_simulator serve``), so client and server never share an interpreter (nor a
GIL, nor a bug). Every process started here is stopped by its own pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from placewise.local.embedded_postgres import free_port


@dataclass
class SimulatorProcess:
    """A running ``placewise_simulator serve`` child process."""

    port: int
    process: subprocess.Popen[bytes]
    log_path: Path | None = None
    args: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stats(self) -> dict:
        """The simulator's request and token counters (admin endpoint)."""
        return httpx.get(f"{self.url}/_simulator/stats", timeout=10).json()

    def reset_stats(self) -> None:
        httpx.post(f"{self.url}/_simulator/stats/reset", timeout=10).raise_for_status()

    def clubs(self) -> list[dict]:
        return httpx.get(f"{self.url}/_simulator/clubs", timeout=10).json()

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL after 10 s)."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def start_simulator(
    args: Sequence[str] = (),
    *,
    port: int | None = None,
    log_path: Path | None = None,
    timeout_s: float = 60.0,
) -> SimulatorProcess:
    """Start the simulator on 127.0.0.1 and wait until it answers."""
    port = port or free_port()
    command = [
        sys.executable,
        "-m",
        "placewise_simulator",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *args,
    ]
    if log_path:
        log_path.parent.mkdir(parents=True, exist_ok=True)
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    try:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ}
        )
    finally:
        if log_path:
            out.close()  # type: ignore[union-attr]
    sim = SimulatorProcess(port, process, log_path, list(args))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"simulator exited with code {process.returncode}"
                + (f"; see {log_path}" if log_path else "")
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{sim.url}/_simulator/clubs", timeout=2).status_code == 200:
                return sim
        time.sleep(0.1)
    sim.stop()
    raise TimeoutError(f"simulator did not answer on {sim.url} within {timeout_s} s")


@contextlib.contextmanager
def running_simulator(args: Sequence[str] = (), **kwargs: object) -> Iterator[SimulatorProcess]:
    """Context manager around ``start_simulator`` that always stops the process."""
    sim = start_simulator(args, **kwargs)  # type: ignore[arg-type]
    try:
        yield sim
    finally:
        sim.stop()
