"""Throughput and memory of the simulator, measured against a server in its own process.

Usage: ``python simulator/bench_simulator.py [--clubs 1000] [--days 365]``. Prints requests/s of
a small query, then MB/s and the server's peak RSS while streaming a large tenants export of
``sendings_stats`` by ``reporting_id``.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import psutil

NOW = datetime(2026, 11, 28, 6, 0)
HEADERS = {
    "X-User-Agent": "bench",
    "X-Product-Name": "bench",
    "X-Client-Authorization": "dev-token",
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _export(
    client: httpx.Client, process: psutil.Process, name: str, body: dict, args: argparse.Namespace
) -> None:
    peak = [process.memory_info().rss]
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    rss_before = process.memory_info().rss
    size = 0
    begin = time.monotonic()
    with client.stream(
        "POST", "/v1/reporting/tenants/query/export", json=body, headers={"X-Customer": "all=all"}
    ) as response:
        assert response.status_code == 200, response.read()
        for chunk in response.iter_raw():
            size += len(chunk)
    elapsed = time.monotonic() - begin
    done.set()
    watcher.join()
    print(
        f"tenants export {name}, {args.clubs} clubs x {args.days} days: "
        f"{size / 1e6:.1f} MB in {elapsed:.1f} s = {size / 1e6 / elapsed:.2f} MB/s; "
        f"server RSS before {rss_before / 1e6:.0f} MB, peak {peak[0] / 1e6:.0f} MB",
        flush=True,
    )


def main() -> int:
    """Run the measurements and print a small report."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--clubs", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--statistics-only", action="store_true")
    args = parser.parse_args()
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent))
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "placewise_simulator",
            "serve",
            "--port",
            str(port),
            "--clubs",
            str(args.clubs),
            "--history-days",
            str(args.days + 10),
            "--now",
            NOW.isoformat() + "Z",
            "--rate-capacity",
            "1e12",
            "--rate-refill",
            "1e12",
        ],
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        started = time.monotonic()
        while True:
            try:
                httpx.get(url + "/_simulator/clubs", timeout=60)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        print(f"startup: {time.monotonic() - started:.2f} s ({args.clubs} clubs)")
        process = psutil.Process(server.pid)
        with httpx.Client(base_url=url, headers=HEADERS, timeout=600) as client:
            body = {
                "report": "sendings_stats",
                "from": "2026-11-20T00:00:00",
                "to": "2026-11-21T00:00:00",
            }
            client.post("/v1/reporting/query", json=body, headers={"X-Customer": "id=1001"})
            begin = time.monotonic()
            for _ in range(args.requests):
                response = client.post(
                    "/v1/reporting/query", json=body, headers={"X-Customer": "id=1001"}
                )
                assert response.status_code == 200
            elapsed = time.monotonic() - begin
            print(f"small query: {args.requests / elapsed:.0f} requests/s (sequential)", flush=True)
            start = (NOW - timedelta(days=args.days)).replace(hour=0).isoformat()
            end = NOW.replace(hour=0).isoformat()
            exports = [
                (
                    "sendings_stats by reporting_id",
                    {
                        "report": "sendings_stats",
                        "aggregate_by": "reporting_id",
                        "from": start,
                        "to": end,
                    },
                ),
                (
                    "sendings_events_history 1d",
                    {
                        "report": "sendings_events_history",
                        "interval": "1d",
                        "from": start,
                        "to": end,
                    },
                ),
            ]
            for name, big in exports[: 1 if args.statistics_only else 2]:
                _export(client, process, name, big, args)
    finally:
        server.terminate()
        server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
