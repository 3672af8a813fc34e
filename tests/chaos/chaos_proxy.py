"""An in-process HTTP proxy in front of the API simulator that corrupts chosen answers.

The proxy runs ``http.server`` in a thread on 127.0.0.1 and forwards every request to an upstream
(the simulator the session's fixtures started). The answer is read whole from upstream, then a
*rule* may replace it: a rule matches requests by endpoint path, ``X-Customer`` header and JSON
body (the request a planned slice makes) and corrupts the Nth matching answer only, so a retry of
the same request gets the clean answer again. Rules may also hold an answer until released (the
as-of race) or run a callback when their request arrives (connection loss).

Everything sent back is recorded per request, byte for byte, so a test can compare what the
client landed with what it was sent.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

#: Response headers not copied from upstream: the proxy frames the body itself.
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"}


@dataclass(frozen=True)
class RequestKey:
    """What identifies one planned request: its path, its customer header and its body."""

    path: str
    customer: str
    body: str

    @classmethod
    def of(cls, path: str, customer: str, body: Any) -> RequestKey:
        return cls(path, customer, json.dumps(body, sort_keys=True, separators=(",", ":")))


@dataclass
class Answer:
    """One HTTP answer as the proxy sends it."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


#: Turns the clean upstream answer (and the parsed request body) into the answer to send.
Corruption = Callable[[Answer, dict[str, Any]], Answer]


@dataclass
class Rule:
    """Corrupt (or hold) the ``occurrence``-th answer to requests with ``key``."""

    key: RequestKey
    corrupt: Corruption | None = None
    occurrence: int = 1
    #: If set, the answer is read from upstream at once but sent only after this event is set.
    hold: threading.Event | None = None
    #: Set when the matching request has arrived (and its upstream answer has been read).
    arrived: threading.Event = field(default_factory=threading.Event)
    #: Called (in the proxy's thread) when the matching request arrives, before answering.
    on_request: Callable[[], None] | None = None
    seen: int = 0


@dataclass
class Exchange:
    """One request the proxy answered: its key, whether a rule corrupted it, what was sent."""

    key: RequestKey
    corrupted: bool
    status: int
    body: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


class ChaosProxy:
    """The proxy server; use as a context manager (``with ChaosProxy(url) as proxy``)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.rules: list[Rule] = []
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._client = httpx.Client(base_url=self.upstream, timeout=120.0)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> ChaosProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        for rule in self.rules:
            if rule.hold is not None:
                rule.hold.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
        self._client.close()

    def add(self, rule: Rule) -> Rule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def sent_for(self, key: RequestKey) -> list[Exchange]:
        """Every answer sent to requests with ``key``, in order."""
        with self._lock:
            return [e for e in self.exchanges if e.key == key]

    # -- serving ---------------------------------------------------------------------------------

    def _match(self, key: RequestKey) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.key == key:
                    rule.seen += 1
                    if rule.seen == rule.occurrence:
                        return rule
        return None

    def _answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            payload = None
        key = RequestKey.of(path, headers.get("x-customer", ""), payload)
        forward = {k: v for k, v in headers.items() if k not in ("host", "content-length")}
        upstream = self._client.request(method, path, headers=forward, content=body)
        answer = Answer(
            upstream.status_code,
            [(k, v) for k, v in upstream.headers.items() if k.lower() not in _HOP_HEADERS]
            + [("Date", upstream.headers.get("date", ""))],
            upstream.content,
        )
        rule = self._match(key)
        corrupted = False
        if rule is not None:
            if rule.on_request is not None:
                rule.on_request()
            rule.arrived.set()
            if rule.hold is not None:
                rule.hold.wait(timeout=120)
            if rule.corrupt is not None and isinstance(payload, dict):
                answer = rule.corrupt(answer, payload)
                corrupted = True
        with self._lock:
            self.exchanges.append(Exchange(key, corrupted, answer.status, answer.body))
        return answer

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                answer = proxy._answer(self.command, self.path, headers, body)
                self.send_response_only(answer.status)
                for name, value in answer.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)
                self.wfile.flush()

            do_GET = do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler
