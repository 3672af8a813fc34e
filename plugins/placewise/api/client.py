"""The streaming, retrying HTTP client of the Reporting API.

``download`` is the one primitive: it POSTs a call, and for a 2xx response writes the body into a
sink exactly as received, so the bytes landed are the bytes the API sent. A body that breaks off
midway raises through the sink's context manager (the sink throws its partial file away) and the
call is retried with a fresh sink. Failures are classified once, here: client errors fail fast,
429 waits for Retry-After, 5xx and transport errors back off exponentially, and whatever gives up
raises a typed ``PlacewiseApiError`` carrying every attempt.
"""

from __future__ import annotations

import io
import json
import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, BinaryIO

import httpx

from placewise.api import contract
from placewise.api.catalog import get_report
from placewise.api.contract import Endpoint
from placewise.api.customer import CustomerSelector
from placewise.api.errors import (
    AttemptRecord,
    AuthenticationError,
    HeaderError,
    InvalidQueryError,
    PermissionDeniedError,
    PlacewiseApiError,
    RateLimitExhaustedError,
    ResultShapeError,
    ServerError,
    TransportError,
)
from placewise.api.pacing import Pacer
from placewise.api.settings import ApiSettings
from placewise.api.variants import ApiVariants

__all__ = [
    "ApiCall",
    "AttemptRecord",
    "CallResult",
    "PlacewiseClient",
    "RetryPolicy",
]

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
_ERROR_BODY_LIMIT = 64 * 1024
_FAIL_FAST: dict[int, type[PlacewiseApiError]] = {
    400: InvalidQueryError,
    401: AuthenticationError,
    402: PermissionDeniedError,
    403: PermissionDeniedError,
    404: InvalidQueryError,
    405: InvalidQueryError,
    422: InvalidQueryError,
    contract.STATUS_MISSING_HEADER: HeaderError,
    contract.STATUS_BAD_HEADER: HeaderError,
}


@dataclass(frozen=True)
class ApiCall:
    """One API call: where, for whom, what body, and a human description for logs and errors."""

    endpoint: Endpoint
    customer: CustomerSelector
    body: dict[str, Any]
    description: str

    @property
    def report(self) -> str:
        """The report named in the body."""
        return str(self.body.get(contract.KEY_REPORT))

    @classmethod
    def build(cls, endpoint: Endpoint, customer: CustomerSelector, body: dict[str, Any]) -> ApiCall:
        """An ``ApiCall`` with the standard description derived from the body and customer."""
        return cls(endpoint, customer, body, describe_call(endpoint, customer, body))


def describe_call(endpoint: Endpoint, customer: CustomerSelector, body: dict[str, Any]) -> str:
    """E.g. ``sendings_stats agg=reporting_id club 1001 window 2026-11-27..2026-11-28``."""
    parts = [str(body.get(contract.KEY_REPORT))]
    if endpoint in contract.METADATA_ENDPOINTS:
        parts.insert(0, endpoint.name.lower())
    elif endpoint is not Endpoint.QUERY:
        parts.append(f"({endpoint.name.lower()})")
    if body.get(contract.KEY_AGGREGATE_BY):
        parts.append(f"agg={body[contract.KEY_AGGREGATE_BY]}")
    if body.get(contract.KEY_INTERVAL):
        parts.append(f"interval={body[contract.KEY_INTERVAL]}")
    parts.append(str(customer))
    if body.get(contract.KEY_FROM) or body.get(contract.KEY_TO):
        parts.append(
            f"window {body.get(contract.KEY_FROM) or ''}..{body.get(contract.KEY_TO) or ''}"
        )
    if body.get(contract.KEY_PAGE_INFO):
        parts.append(f"page {body[contract.KEY_PAGE_INFO]}")
    return " ".join(parts)


@dataclass
class CallResult:
    """What a successful call cost and returned (the body itself went to the sink)."""

    status: int
    bytes_received: int
    tokens_spent: int
    attempts: list[AttemptRecord]
    started_at: datetime
    finished_at: datetime
    server_date: datetime | None = None
    ratelimit_bucket: str | None = None
    ratelimit_remaining: int | None = None
    content_type: str | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying.

    ``max_attempts`` bounds attempts that end in 5xx or transport errors; 429s have their own
    budget ``max_rate_limit_waits`` because waiting for tokens is expected and not a failure.
    A Retry-After longer than ``max_retry_after_s`` is not waited out: the call fails instead of
    blocking a worker for that long.
    """

    max_attempts: int = 6
    base_delay_s: float = 1.0
    max_delay_s: float = 60.0
    jitter: float = 0.5
    max_rate_limit_waits: int = 30
    max_retry_after_s: float = 300.0

    def backoff(self, failures: int, rng: Callable[[], float] = random.random) -> float:
        """Delay before retry number ``failures``: capped exponential, jitter only shortens it."""
        delay = min(self.max_delay_s, self.base_delay_s * 2 ** max(failures - 1, 0))
        return delay * (1.0 - self.jitter * rng())


class _TruncatedBody(Exception):
    """The body ended before its announced length (or the sink swallowed a failure)."""


@dataclass
class _Attempt:
    """What one attempt found out: the response's status and headers, or the error that ended it."""

    status: int | None = None
    body_started: bool = False
    headers: httpx.Headers = field(default_factory=httpx.Headers)
    error_message: str | None = None
    bytes_received: int = 0
    outcome: str = ""
    retry_after_s: float | None = None
    transport_error: Exception | None = None

    @property
    def tokens_charged(self) -> int | None:
        return _int_header(self.headers, contract.HEADER_RATELIMIT_COST)


_RATE_LIMITED = f"http_{contract.STATUS_RATE_LIMITED}"


class PlacewiseClient:
    """A Reporting API client; use as a context manager so its connection pool is closed."""

    def __init__(
        self,
        settings: ApiSettings,
        *,
        pacer: Pacer | None = None,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        variants: ApiVariants | None = None,
    ) -> None:
        self.settings = settings
        #: Which reading of the docs' open points this API has (``api.variants``).
        self.variants = variants or ApiVariants()
        self._pacer = pacer
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=settings.base_url,
            transport=transport,
            verify=settings.verify_tls,
            timeout=httpx.Timeout(settings.timeout_s, connect=CONNECT_TIMEOUT_S),
            follow_redirects=False,
        )

    def __enter__(self) -> PlacewiseClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    # -- public calls ----------------------------------------------------------------------------

    def download(
        self, call: ApiCall, open_sink: Callable[[], AbstractContextManager[BinaryIO]]
    ) -> CallResult:
        """Run ``call`` and write a 2xx body into a fresh ``open_sink()`` per attempt.

        Raises a ``PlacewiseApiError`` subclass when the call fails for good.
        """
        metadata = call.endpoint in contract.METADATA_ENDPOINTS
        spec = None if metadata else get_report(call.report)
        cost = contract.call_cost(call.endpoint, spec, call.body.get(contract.KEY_FILTER))
        bucket = contract.bucket_key(call.customer, self.settings.organization)
        content = json.dumps(call.body, separators=(",", ":")).encode("utf-8")
        headers = contract.request_headers(self.settings, call.customer, self.variants)

        attempts: list[AttemptRecord] = []
        waited = 0.0
        started_at = _utcnow()
        while True:
            if self._pacer is not None:
                waited += self._pacer.acquire(bucket, cost)
            attempt_started = _utcnow()
            clock = time.monotonic()
            state = self._attempt(call, content, headers, bucket, open_sink)
            attempts.append(
                AttemptRecord(
                    number=len(attempts) + 1,
                    started_at=attempt_started,
                    duration_s=time.monotonic() - clock,
                    status=state.status,
                    outcome=state.outcome,
                    retry_after_s=state.retry_after_s,
                    waited_s=waited,
                    tokens_charged=state.tokens_charged,
                )
            )
            if state.outcome == "ok":
                return CallResult(
                    status=state.status or 0,
                    bytes_received=state.bytes_received,
                    tokens_spent=sum(a.tokens_charged or 0 for a in attempts),
                    attempts=attempts,
                    started_at=started_at,
                    finished_at=_utcnow(),
                    server_date=_server_date(state.headers),
                    ratelimit_bucket=state.headers.get(contract.HEADER_RATELIMIT_BUCKET),
                    ratelimit_remaining=_int_header(
                        state.headers, contract.HEADER_RATELIMIT_REMAINING
                    ),
                    content_type=state.headers.get("content-type"),
                )
            wait = self._wait_before_retry(call, state, attempts)
            log.warning(
                "%s: attempt %d ended %s; retrying in %.1f s",
                call.description,
                len(attempts),
                state.outcome,
                wait,
            )
            self._sleep(wait)
            waited = wait

    def query_json(self, call: ApiCall) -> tuple[Any, CallResult]:
        """Run a call whose body is small (a query page, metadata) and return it parsed."""
        landed: list[io.BytesIO] = []

        @contextmanager
        def memory_sink() -> Iterator[BinaryIO]:
            buffer = io.BytesIO()
            yield buffer
            landed.append(buffer)

        result = self.download(call, memory_sink)
        try:
            return json.loads(landed[-1].getvalue()), result
        except ValueError as exc:
            raise ResultShapeError(
                f"{call.description}: the body is not valid JSON: {exc}"
            ) from exc

    def metadata(self, report: str, customer: CustomerSelector) -> dict[str, Any]:
        """The Metadata of ``report``: its filterable fields, aggregations and data format."""
        call = ApiCall.build(Endpoint.METADATA, customer, contract.build_metadata_body(report))
        data, _ = self.query_json(call)
        if not isinstance(data, dict):
            raise ResultShapeError(f"{call.description}: metadata is not an object: {data!r}")
        return data

    def field_metadata(
        self,
        report: str,
        field_name: str,
        customer: CustomerSelector,
        from_: datetime | str,
        to: datetime | str,
    ) -> dict[str, Any]:
        """Field metadata: details of one field (e.g. the values seen in ``[from_, to)``)."""
        body = contract.build_field_metadata_body(report, field_name, from_, to)
        call = ApiCall.build(Endpoint.FIELD_METADATA, customer, body)
        data, _ = self.query_json(call)
        if not isinstance(data, dict):
            raise ResultShapeError(f"{call.description}: field metadata is not an object")
        return data

    # -- internals -------------------------------------------------------------------------------

    def _attempt(
        self,
        call: ApiCall,
        content: bytes,
        headers: dict[str, str],
        bucket: str,
        open_sink: Callable[[], AbstractContextManager[BinaryIO]],
    ) -> _Attempt:
        """Send the request once; a failure is recorded in the result, never raised."""
        state = _Attempt()
        try:
            with self._http.stream(
                "POST", call.endpoint.value, content=content, headers=headers
            ) as response:
                state.status = response.status_code
                state.headers = response.headers
                if state.status == contract.STATUS_RATE_LIMITED:
                    state.retry_after_s = _retry_after_s(response.headers)
                if self._pacer is not None:
                    self._pacer.observe(
                        bucket,
                        remaining=_int_header(
                            response.headers, contract.HEADER_RATELIMIT_REMAINING
                        ),
                        cost=state.tokens_charged,
                        retry_after_s=state.retry_after_s,
                    )
                if response.is_success:
                    self._write_body(response, open_sink, state)
                else:
                    state.error_message = self._read_error(response)
            state.outcome = "ok" if response.is_success else f"http_{state.status}"
        except httpx.TimeoutException as exc:
            state.outcome, state.transport_error = "timeout", exc
        except (httpx.TransportError, httpx.DecodingError, _TruncatedBody) as exc:
            state.outcome = "truncated_body" if state.body_started else "connection_error"
            state.transport_error = exc
        return state

    def _wait_before_retry(
        self, call: ApiCall, state: _Attempt, attempts: list[AttemptRecord]
    ) -> float:
        """Seconds to wait before the next attempt, or raise the error that ends the call.

        A 429 spends the rate-limit budget and waits its Retry-After; a retryable 5xx or a
        transport error spends the failure budget and backs off; any other status fails at once.
        """
        status = state.status
        message = self._redact(state.error_message)
        error = state.transport_error
        if state.outcome == _RATE_LIMITED:
            waits = sum(1 for a in attempts if a.outcome == _RATE_LIMITED)
            if waits > self._retry.max_rate_limit_waits:
                raise RateLimitExhaustedError(
                    call.description,
                    status=status,
                    server_message=message,
                    attempts=attempts,
                    detail=f"{waits - 1} rate-limit waits used up",
                )
            retry_after = state.retry_after_s
            if retry_after is None:
                return self._retry.backoff(1)
            if retry_after > self._retry.max_retry_after_s:
                raise RateLimitExhaustedError(
                    call.description,
                    status=status,
                    server_message=message,
                    attempts=attempts,
                    detail=(
                        f"Retry-After {retry_after:.0f} s exceeds the "
                        f"{self._retry.max_retry_after_s:.0f} s the retry policy waits"
                    ),
                )
            return retry_after
        if error is None and status not in contract.RETRYABLE_SERVER_STATUSES:
            error_class = _FAIL_FAST.get(status or 0)
            if error_class is None:
                error_class = ServerError if (status or 0) >= 500 else PlacewiseApiError
            raise error_class(
                call.description, status=status, server_message=message, attempts=attempts
            )
        failures = sum(1 for a in attempts if a.outcome != _RATE_LIMITED)
        if failures >= self._retry.max_attempts:
            if error is None:
                raise ServerError(
                    call.description, status=status, server_message=message, attempts=attempts
                )
            reason = self._redact(str(error)) or type(error).__name__
            raise TransportError(
                call.description,
                status=None,
                server_message=message,
                attempts=attempts,
                detail=f"{state.outcome}: {reason}",
            ) from error
        wait = self._retry.backoff(failures)
        server_hint = _retry_after_s(state.headers)
        if server_hint is not None:
            wait = max(wait, min(server_hint, self._retry.max_delay_s))
        return wait

    @staticmethod
    def _write_body(
        response: httpx.Response,
        open_sink: Callable[[], AbstractContextManager[BinaryIO]],
        state: _Attempt,
    ) -> None:
        expected = None
        if response.headers.get("content-encoding", "identity").lower() == "identity":
            expected = _int_header(response.headers, "content-length")
        completed = False
        with open_sink() as sink:
            state.body_started = True
            for chunk in response.iter_bytes():
                sink.write(chunk)
                state.bytes_received += len(chunk)
            if expected is not None and state.bytes_received != expected:
                raise _TruncatedBody(
                    f"received {state.bytes_received} of {expected} announced bytes"
                )
            completed = True
        if not completed:
            raise _TruncatedBody("the sink suppressed an error while the body was written")

    @staticmethod
    def _read_error(response: httpx.Response) -> str | None:
        """The server's ``{"error": ...}`` text, or the start of a non-JSON body."""
        data = bytearray()
        try:
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) >= _ERROR_BODY_LIMIT:
                    break
        except (httpx.TransportError, httpx.DecodingError):
            pass
        text = data[:_ERROR_BODY_LIMIT].decode("utf-8", errors="replace").strip()
        if not text:
            return None
        try:
            parsed = json.loads(text)
        except ValueError:
            return text[:500]
        if isinstance(parsed, dict) and contract.KEY_ERROR in parsed:
            return str(parsed[contract.KEY_ERROR])[:500]
        return text[:500]

    def _redact(self, text: str | None) -> str | None:
        if text is None or not self.settings.token:
            return text
        return text.replace(self.settings.token, "***")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _int_header(headers: httpx.Headers, name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        try:
            return int(float(value))
        except ValueError:
            return None


def _server_date(headers: httpx.Headers) -> datetime | None:
    value = headers.get("date")
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).astimezone(UTC)
    except (TypeError, ValueError):
        return None


def _retry_after_s(headers: httpx.Headers) -> float | None:
    """Retry-After as seconds; it may be a number of seconds or an HTTP-date."""
    value = headers.get(contract.HEADER_RETRY_AFTER)
    if value is None or not value.strip():
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - _utcnow()).total_seconds())
