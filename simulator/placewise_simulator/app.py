"""The ASGI application: routing, headers, auth, rate limiting, faults and streaming.

It is a plain ASGI callable rather than a framework router because two injected faults need
the raw connection: "connection reset" closes the socket without any response and "truncated
body" aborts a chunked response half-way, which a framework's error handling would turn into a
clean 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import struct
from collections.abc import Awaitable, Callable, Iterator
from email.utils import formatdate
from typing import Any

from anyio import to_thread
from starlette.responses import Response, StreamingResponse

from placewise_simulator.config import SimulatorConfig, TokenGrant
from placewise_simulator.errors import ApiError
from placewise_simulator.faults import Fault, FaultPlan
from placewise_simulator.observability import Counters
from placewise_simulator.queries import (
    build_query,
    check_text_header,
    field_values,
    lookup_report,
    select_clubs,
)
from placewise_simulator.ratelimit import RateLimiter
from placewise_simulator.results import Engine, Query, chunked, dumps
from placewise_simulator.world import World

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

API_PATHS = {
    "/v1/reporting/query": "query",
    "/v1/reporting/query/export": "query_export",
    "/v1/reporting/tenants/query/export": "tenants_query_export",
    "/v1/reporting/metadata": "metadata",
    "/v1/reporting/field_metadata": "field_metadata",
}
EXPORT_ENDPOINTS = ("query_export", "tenants_query_export")
EXPORT_FACTOR = 5
TRUNCATE_AFTER_BYTES = 256


class _Reply:
    """A response being prepared: status, body (bytes or streamed chunks) and headers."""

    def __init__(
        self, status: int, body: bytes | Iterator[bytes], headers: dict[str, str] | None = None
    ) -> None:
        self.status = status
        self.body = body
        self.headers = headers or {}

    def response(self) -> Response:
        if isinstance(self.body, bytes):
            return Response(self.body, self.status, self.headers, media_type="application/json")
        return StreamingResponse(
            self.body, self.status, self.headers, media_type="application/json"
        )


def _error(error: ApiError) -> _Reply:
    body = b"" if error.empty_body else dumps({"error": error.message}).encode()
    return _Reply(error.status, body, dict(error.headers))


class SimulatorApp:
    """One simulator server."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.world = World(config)
        self.engine = Engine(self.world)
        self.limiter = RateLimiter(config.rate_capacity, config.rate_refill)
        self.faults = FaultPlan(config.fault_rate, config.fault_seed)
        self.counters = Counters()
        self.grants: dict[str, TokenGrant] = config.grants()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    logging.getLogger("uvicorn.error").addFilter(_quiet_injected_faults)
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        send = self._dated(send)
        path: str = scope["path"]
        method: str = scope["method"]
        if path.startswith("/_simulator/"):
            reply = self._admin(path, method)
        elif path in API_PATHS and not self._hidden(API_PATHS[path]):
            await self._api(scope, receive, send, API_PATHS[path])
            return
        elif path.startswith("/v1/") or path == "/v1":
            reply = _error(ApiError(404, f"no such endpoint {path}"))
        else:
            reply = _error(ApiError(404, "not found"))
        await reply.response()(scope, receive, send)

    def _hidden(self, endpoint: str) -> bool:
        """True for the export endpoints under ``exports=absent`` (they answer 404)."""
        return endpoint in EXPORT_ENDPOINTS and self.config.variant("exports") == "absent"

    def _dated(self, send: Send) -> Send:
        """Stamp every response with a ``Date`` header from the simulator's own clock.

        Clients read the API's ``Date`` as the as-of time of the data (late events keep
        arriving for days), so with a frozen ``--now`` it must say the frozen time, not the
        host's; uvicorn's own Date header is switched off in ``serve``. Under
        ``date_header=absent`` responses carry no Date header at all.
        """
        stamp = formatdate(self.config.now_epoch(), usegmt=True).encode()
        dated = self.config.variant("date_header") == "present"

        async def send_with_date(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
                if dated:
                    headers.append((b"date", stamp))
                message = {**message, "headers": headers}
            await send(message)

        # Fault injection reaches through ``send`` to the connection's transport.
        send_with_date.transport = _transport(send)  # type: ignore[attr-defined]
        return send_with_date

    # -- admin -------------------------------------------------------------------------------

    def _admin(self, path: str, method: str) -> _Reply:
        routes = {
            "/_simulator/clubs": "GET",
            "/_simulator/stats": "GET",
            "/_simulator/stats/reset": "POST",
        }
        if path not in routes:
            return _error(ApiError(404, "not found"))
        if method != routes[path]:
            return _error(ApiError(405, f"{method} not allowed on {path}"))
        if path == "/_simulator/clubs":
            body: object = [club.as_json() for club in self.world.clubs]
        elif path == "/_simulator/stats":
            body = self.counters.snapshot()
        else:
            self.counters.reset()
            self.limiter.reset()
            self.faults.reset()
            body = {"reset": True}
        return _Reply(200, dumps(body).encode())

    # -- API -------------------------------------------------------------------------------------

    async def _api(self, scope: Scope, receive: Receive, send: Send, endpoint: str) -> None:
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if scope["method"] != "POST":
            reply = _error(ApiError(405, f"{scope['method']} not allowed; use POST"))
            reply.headers.update(
                self._rate_headers(_guess_bucket(headers, endpoint, self.config.organization), 0)
            )
            self.counters.request(endpoint, None, reply.status)
            await reply.response()(scope, receive, send)
            return
        fault = self.faults.next()
        if fault is not None and fault.kind == "reset":
            self.counters.request(endpoint, None, "fault:reset")
            if not _abort(send, reset=True):
                raise ConnectionResetError("injected connection reset")
            return
        if fault is not None and fault.kind in ("500", "503", "429"):
            bucket = _guess_bucket(headers, endpoint, self.config.organization)
            await self._injected(scope, receive, send, endpoint, fault, bucket)
            return
        if fault is not None and fault.kind == "slow":
            await asyncio.sleep(fault.delay)
        free = fault is not None
        reply, report = await to_thread.run_sync(self._serve, endpoint, headers, raw, free)
        self.counters.request(
            endpoint,
            report,
            "fault:truncate" if fault and fault.kind == "truncate" else reply.status,
        )
        if fault is not None and fault.kind == "truncate":
            await self._truncated(scope, receive, send, reply)
            return
        await reply.response()(scope, receive, send)

    async def _injected(
        self, scope: Scope, receive: Receive, send: Send, endpoint: str, fault: Fault, bucket: str
    ) -> None:
        status = int(fault.kind)
        messages = {
            500: "internal server error (injected)",
            503: "service under maintenance (injected)",
            429: "rate limit exceeded (injected storm)",
        }
        headers = self._rate_headers(bucket, 0)
        if status in (429, 503):
            headers["retry-after"] = "1"
        self.counters.request(endpoint, None, f"fault:{status}")
        await _Reply(status, dumps({"error": messages[status]}).encode(), headers).response()(
            scope, receive, send
        )

    async def _truncated(self, scope: Scope, receive: Receive, send: Send, reply: _Reply) -> None:
        """Send headers and part of a chunked body, then drop the connection."""
        body = reply.body if not isinstance(reply.body, bytes) else iter([reply.body])
        headers = [(k.encode(), v.encode()) for k, v in reply.headers.items()]
        headers.append((b"content-type", b"application/json"))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        first = next(iter(body), b"")
        part = first[: max(1, min(TRUNCATE_AFTER_BYTES, len(first) // 2))]
        await send({"type": "http.response.body", "body": part, "more_body": True})
        if not _abort(send, reset=False):
            raise ConnectionAbortedError("injected truncated body")

    def _serve(
        self, endpoint: str, headers: dict[str, str], raw: bytes, free: bool
    ) -> tuple[_Reply, str | None]:
        """Validate, charge and answer one API request (runs in a worker thread)."""
        report_name: str | None = None
        bucket: str | None = None
        try:
            check_text_header("X-User-Agent", headers.get("x-user-agent"))
            check_text_header("X-Product-Name", headers.get("x-product-name"))
            token = self._credential(headers)
            grant = self.grants.get(token or "")
            if grant is None:
                raise ApiError(401, f"invalid or missing {self._auth_scheme()}")
            clubs = select_clubs(headers.get("x-customer"), self.world, grant)
            single = len(clubs) == 1 and endpoint != "tenants_query_export"
            bucket = (
                f"Customer:{clubs[0].id}:Reporting"
                if single
                else f"Organization:{self.config.organization}:Reporting"
            )
            try:
                body = json.loads(raw) if raw.strip() else None
            except ValueError as exc:
                raise ApiError(400, "invalid JSON", empty_body=True) from exc
            if not isinstance(body, dict):
                raise ApiError(422, "body must be a JSON object")
            if isinstance(body.get("report"), str):
                report_name = body["report"]
            now = self.config.now_epoch()
            variants = self.config.variants
            if endpoint == "metadata":
                report = lookup_report(body, grant, variants)
                return self._charged(
                    bucket, 1, free, lambda: dumps(report.metadata()).encode()
                ), report_name
            if endpoint == "field_metadata":
                return self._charged(
                    bucket,
                    1,
                    free,
                    lambda: dumps(
                        field_values(body, grant, clubs, self.world, now, variants)
                    ).encode(),
                ), report_name
            several = len(clubs) != 1
            if (
                endpoint in ("query", "query_export")
                and several
                and variants["cross_customer_query"] == "refused"
            ):
                raise ApiError(422, "use the tenants export for several customers")
            query, cost = build_query(
                body,
                grant,
                clubs,
                cross=endpoint == "tenants_query_export" or several,
                paged=endpoint == "query",
                now=now,
                variants=variants,
            )
            if endpoint == "query":
                return self._charged(
                    bucket, cost, free, lambda: dumps(self._query(query)).encode()
                ), report_name
            return self._charged(
                bucket, cost * EXPORT_FACTOR, free, lambda: chunked(self._export(query))
            ), report_name
        except ApiError as error:
            reply = _error(error)
            if bucket is None:
                bucket = _guess_bucket(headers, endpoint, self.config.organization)
            reply.headers.update(self._rate_headers(bucket, 0))
            return reply, report_name

    def _auth_scheme(self) -> str:
        if self.config.variant("auth") == "user_token":
            return "Authorization: Bearer <user token>"
        return "X-Client-Authorization"

    def _credential(self, headers: dict[str, str]) -> str | None:
        """The token of the accepted scheme (variant ``auth``); the other scheme gives None."""
        return _credential(headers, self.config.variant("auth"))

    def _rate_headers(self, bucket: str, cost: int) -> dict[str, str]:
        return {
            "ratelimit-bucket": bucket,
            "ratelimit-remaining": str(self.limiter.remaining(bucket)),
            "ratelimit-cost": str(cost),
        }

    def _charged(
        self, bucket: str, cost: int, free: bool, produce: Callable[[], bytes | Iterator[bytes]]
    ) -> _Reply:
        if free:
            body = produce()
            return _Reply(200, body, self._rate_headers(bucket, 0))
        decision = self.limiter.charge(bucket, cost)
        headers = {
            "ratelimit-bucket": bucket,
            "ratelimit-remaining": str(decision.remaining),
            "ratelimit-cost": str(cost if decision.allowed else 0),
        }
        if not decision.allowed:
            headers["retry-after"] = str(decision.retry_after)
            return _Reply(429, dumps({"error": "rate limit exceeded"}).encode(), headers)
        self.counters.spent(bucket, cost)
        return _Reply(200, produce(), headers)

    def _query(self, query: Query) -> dict[str, Any]:
        if query.report.result_type == "records":
            return self.engine.records_page(query)
        if not query.bucketed:
            return self.engine.statistics_query(query)
        return self.engine.timeseries_query(query)

    def _export(self, query: Query) -> Iterator[str]:
        if query.report.result_type == "records":
            return self.engine.records(query)
        if not query.bucketed:
            return self.engine.statistics(query)
        return self.engine.timeseries(query)


def _quiet_injected_faults(record: logging.LogRecord) -> bool:
    """Drop uvicorn's complaint about responses that the fault injector cut on purpose."""
    return not record.getMessage().startswith("ASGI callable returned without")


def _guess_bucket(headers: dict[str, str], endpoint: str, organization: str) -> str:
    """Bucket to name on a request refused before its customers were known.

    Every API response carries the rate-limit headers; when the token or X-Customer header is
    unusable, the raw X-Customer value still tells which bucket the request would have used.
    """
    customer = headers.get("x-customer", "").strip().removeprefix("id=")
    if customer.isdigit() and endpoint != "tenants_query_export":
        return f"Customer:{customer}:Reporting"
    return f"Organization:{organization}:Reporting"


def _credential(headers: dict[str, str], scheme: str) -> str | None:
    """The token a request presents in one auth scheme (``client_token`` or ``user_token``)."""
    if scheme == "client_token":
        return headers.get("x-client-authorization")
    kind, _, token = headers.get("authorization", "").strip().partition(" ")
    return token.strip() or None if kind.lower() == "bearer" else None


def _transport(send: Send) -> Any:
    """The asyncio transport behind uvicorn's ``send`` (None for in-process test clients)."""
    return getattr(send, "transport", None) or getattr(
        getattr(send, "__self__", None), "transport", None
    )


def _abort(send: Send, *, reset: bool) -> bool:
    """Close the client connection under uvicorn without a clean end of the response.

    ``reset`` sends a TCP RST (SO_LINGER 0) instead of a FIN. Returns False when the server
    offers no transport (in-process test clients), so the caller raises instead.
    """
    transport = _transport(send)
    if transport is None:
        return False
    if reset:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()
    return True


def create_app(config: SimulatorConfig | None = None) -> SimulatorApp:
    """Build the ASGI app for a configuration (defaults: seed 42, 3 clubs, 60 days)."""
    return SimulatorApp(config or SimulatorConfig())
