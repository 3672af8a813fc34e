"""The doctor's own view of the API: single requests under a hard token budget.

The pipeline's client (``placewise.api.client``) retries, fails fast on client errors and
streams bodies into sinks; the doctor needs the opposite: one request at a time, every status,
header and error body kept, so a probe can read *how* the API answered. Requests are built from
``placewise.api.contract`` (paths, header names, body builders, costs), so the doctor checks the
very assumptions the client makes.

The budget is a promise, not an estimate: a request is sent only when the tokens it may cost
(its price from the catalog or the API's own Metadata) fit in what is left, and what it did cost
is the API's ``ratelimit-cost`` header (the price when the header is missing). Identical requests
are answered from memory, so probes that need the same answer share one request.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from placewise.api import contract
from placewise.api.contract import Endpoint
from placewise.api.customer import CustomerSelector
from placewise.api.settings import ApiSettings

#: 429 answers waited out per request before it is given up (a 429 charges nothing).
MAX_RATE_LIMIT_WAITS = 3
#: Longest Retry-After the doctor waits; a longer one ends the request as it is.
MAX_RETRY_AFTER_S = 30.0


class OverBudgetError(Exception):
    """A request would cost more tokens than are left; it was not sent."""

    def __init__(self, needed: int, left: int) -> None:
        super().__init__(f"needs {needed} tokens, {left} left")
        self.needed = needed
        self.left = left


@dataclass
class Exchange:
    """One request and how the API answered it (``status`` None: no answer at all)."""

    endpoint: Endpoint
    customer: str
    body: dict[str, Any]
    scheme: str
    status: int | None
    headers: httpx.Headers = field(default_factory=httpx.Headers)
    data: Any = None
    text: str = ""
    transport_error: str | None = None
    tokens: int = 0

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def error_message(self) -> str | None:
        """The ``{"error": ...}`` text of a failed answer (or its body's start)."""
        if self.transport_error:
            return self.transport_error
        if isinstance(self.data, dict) and contract.KEY_ERROR in self.data:
            return str(self.data[contract.KEY_ERROR])
        return self.text[:200] or None

    @property
    def has_error_body(self) -> bool:
        """True when a failed answer's body is ``{"error": "<text>"}`` as documented."""
        return (
            isinstance(self.data, dict)
            and isinstance(self.data.get(contract.KEY_ERROR), str)
            and bool(self.data[contract.KEY_ERROR])
        )

    @property
    def server_date(self) -> datetime | None:
        value = self.headers.get("date")
        if not value:
            return None
        try:
            return parsedate_to_datetime(value).astimezone(UTC)
        except (TypeError, ValueError):
            return None

    def describe(self) -> str:
        """``HTTP 422 "unknown report 'x'"`` or ``no answer (timeout)``, for the table."""
        if self.status is None:
            return f"no answer ({self.transport_error})"
        if self.ok:
            return f"HTTP {self.status}"
        message = self.error_message
        return f"HTTP {self.status}" + (f" {json.dumps(message)}" if message else "")


class ProbeSession:
    """Sends the doctor's requests: budgeted, remembered, and with the token kept secret."""

    def __init__(
        self,
        api: ApiSettings,
        max_tokens: int,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_tokens < 0:
            raise ValueError(f"max_tokens must not be negative, got {max_tokens}")
        self.api = api
        self.max_tokens = max_tokens
        self.spent = 0
        #: The credential scheme requests use (set by the auth probe).
        self.scheme = api.auth_scheme or contract.AUTH_CLIENT_TOKEN
        self.exchanges: list[Exchange] = []
        self._memory: dict[str, Exchange] = {}
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=api.base_url,
            transport=transport,
            verify=api.verify_tls,
            timeout=httpx.Timeout(api.timeout_s, connect=10.0),
            follow_redirects=False,
        )

    def __enter__(self) -> ProbeSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._http.close()

    @property
    def left(self) -> int:
        return self.max_tokens - self.spent

    def fits(self, tokens: int) -> bool:
        return tokens <= self.left

    def remembered(
        self,
        endpoint: Endpoint,
        customer: CustomerSelector,
        body: dict[str, Any],
        *,
        scheme: str | None = None,
        omit: Iterable[str] = (),
    ) -> bool:
        """True when this exact request was already answered (it would cost nothing)."""
        key = self._key(endpoint, customer, body, scheme or self.scheme, tuple(omit))
        return key in self._memory

    def send(
        self,
        endpoint: Endpoint,
        customer: CustomerSelector,
        body: dict[str, Any],
        *,
        cost: int,
        scheme: str | None = None,
        omit: Iterable[str] = (),
    ) -> Exchange:
        """POST ``body``; ``OverBudgetError`` (nothing sent) when ``cost`` does not fit."""
        scheme = scheme or self.scheme
        omitted = tuple(omit)
        key = self._key(endpoint, customer, body, scheme, omitted)
        if key in self._memory:
            return self._memory[key]
        if not self.fits(cost):
            raise OverBudgetError(cost, self.left)
        exchange = self._post(endpoint, customer, body, scheme, omitted, cost)
        self.spent += exchange.tokens
        self.exchanges.append(exchange)
        self._memory[key] = exchange
        return exchange

    def redact(self, text: str) -> str:
        """``text`` with the API token replaced by ``<token>``."""
        return text.replace(self.api.token, "<token>") if self.api.token else text

    # -- internals ---------------------------------------------------------------------------

    @staticmethod
    def _key(
        endpoint: Endpoint,
        customer: CustomerSelector,
        body: dict[str, Any],
        scheme: str,
        omit: tuple[str, ...],
    ) -> str:
        return json.dumps(
            [endpoint.value, customer.header_value, body, scheme, sorted(omit)], sort_keys=True
        )

    def _headers(self, customer: CustomerSelector, scheme: str, omit: tuple[str, ...]) -> dict:
        settings = self.api
        if scheme == (settings.auth_scheme or contract.AUTH_CLIENT_TOKEN):
            # the configured credential, with its header overrides (PLACEWISE_AUTH_HEADER, ...)
            settings = replace(settings, auth_scheme=scheme)
        else:
            # another scheme is tried as documented, without the configured header overrides
            settings = replace(settings, auth_scheme=scheme, auth_header=None, auth_format=None)
        headers = contract.request_headers(settings, customer)
        dropped = {name.lower() for name in omit}
        return {k: v for k, v in headers.items() if k.lower() not in dropped}

    def _post(
        self,
        endpoint: Endpoint,
        customer: CustomerSelector,
        body: dict[str, Any],
        scheme: str,
        omit: tuple[str, ...],
        cost: int,
    ) -> Exchange:
        headers = self._headers(customer, scheme, omit)
        content = json.dumps(body, separators=(",", ":")).encode()
        exchange = Exchange(endpoint, customer.header_value, body, scheme, None)
        for _ in range(MAX_RATE_LIMIT_WAITS + 1):
            try:
                response = self._http.post(endpoint.value, content=content, headers=headers)
            except httpx.HTTPError as exc:
                exchange.transport_error = self.redact(f"{type(exc).__name__}: {exc}")[:200]
                exchange.tokens = 0
                return exchange
            exchange.status = response.status_code
            exchange.headers = response.headers
            exchange.text = self.redact(response.text)
            charged = _int(response.headers.get(contract.HEADER_RATELIMIT_COST))
            exchange.tokens = (
                charged if charged is not None else (cost if response.is_success else 0)
            )
            try:
                exchange.data = json.loads(exchange.text) if exchange.text.strip() else None
            except ValueError:
                exchange.data = None
            if response.status_code != contract.STATUS_RATE_LIMITED:
                return exchange
            wait = _float(response.headers.get(contract.HEADER_RETRY_AFTER))
            if wait is None or wait > MAX_RETRY_AFTER_S:
                return exchange
            self.spent += exchange.tokens
            if not self.fits(cost):
                return exchange
            self._sleep(wait)
        return exchange


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value.strip()))
    except ValueError:
        return None


def _float(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        return None
