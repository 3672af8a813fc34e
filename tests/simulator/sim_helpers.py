"""Helpers of the simulator tests: in-process apps, a real HTTP server, request helpers."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import uvicorn
from placewise_simulator import SimulatorConfig, create_app
from placewise_simulator.variants import resolve_variants
from starlette.testclient import TestClient

NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
BASE_HEADERS = {
    "X-User-Agent": "simulator tests",
    "X-Product-Name": "placewise-warehouse",
    "X-Client-Authorization": "dev-token",
}
QUERY = "/v1/reporting/query"
EXPORT = "/v1/reporting/query/export"
TENANTS = "/v1/reporting/tenants/query/export"


class Api:
    """Small helper around a client speaking the API with valid headers.

    ``variants`` are the server's: they decide the credential scheme sent and the body key
    that carries the records cursor.
    """

    def __init__(self, client: httpx.Client, variants: dict[str, str] | None = None) -> None:
        self.client = client
        self.variants = resolve_variants(variants or {})

    def base_headers(self) -> dict[str, str]:
        headers = dict(BASE_HEADERS)
        if self.variants["auth"] == "user_token":
            headers["Authorization"] = "Bearer " + headers.pop("X-Client-Authorization")
        return headers

    def post(
        self, path: str, body: Any, customer: str = "id=1001", headers: dict[str, str] | None = None
    ) -> Any:
        sent = dict(self.base_headers(), **{"X-Customer": customer})
        sent.update(headers or {})
        return self.client.post(path, json=body, headers=sent)

    def ok(self, path: str, body: Any, customer: str = "id=1001") -> Any:
        response = self.post(path, body, customer)
        assert response.status_code == 200, response.text
        return response.json()

    def query(self, body: Any, customer: str = "id=1001") -> Any:
        return self.ok(QUERY, body, customer)

    def export(self, body: Any, customer: str = "id=1001") -> Any:
        return self.ok(EXPORT, body, customer)

    def tenants(self, body: Any, customer: str = "all=all") -> Any:
        return self.ok(TENANTS, body, customer)

    def pages(self, body: Any, customer: str = "id=1001") -> list[dict]:
        records: list[dict] = []
        cursor = None
        while True:
            page = self.query(dict(body, **{self.variants["cursor_key"]: cursor}), customer)
            records.extend(page["records"])
            cursor = page["pagination"]["next_page_info"]
            if cursor is None:
                return records


def make_api(**options: Any) -> Api:
    """An in-process API with a frozen clock and (unless told otherwise) no rate limiting."""
    options.setdefault("now", NOW)
    options.setdefault("rate_capacity", 1e9)
    options.setdefault("rate_refill", 1e9)
    return Api(TestClient(create_app(SimulatorConfig(**options))), options.get("variants"))


@contextmanager
def live_api(**options: Any) -> Iterator[Api]:
    """An API over real HTTP: a uvicorn server on a free port with ``make_api``'s defaults."""
    options.setdefault("now", NOW)
    options.setdefault("rate_capacity", 1e9)
    options.setdefault("rate_refill", 1e9)
    with (
        LiveServer(SimulatorConfig(**options)) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        yield Api(client, options.get("variants"))


class LiveServer:
    """A simulator on a free localhost port, served by uvicorn in a thread."""

    def __init__(self, config: SimulatorConfig) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(
                create_app(config),
                host="127.0.0.1",
                port=self.port,
                log_level="critical",
                http="httptools",
                lifespan="on",
                date_header=False,
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("simulator did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
