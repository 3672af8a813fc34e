"""Typed errors of the Reporting API client, and the error of a body that breaks the contract.

Each ``PlacewiseApiError`` names the call (report, club(s), window, from the call's description),
the status, what to fix, and carries the full history of attempts so an operator can see retries
and waits. No error text ever contains the API token: the client redacts it from server messages
as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass
class AttemptRecord:
    """One HTTP attempt of a call: when, how long, what came back, and what was waited before it.

    ``outcome`` is one of ``ok``, ``http_<status>`` (e.g. ``http_429``, ``http_503``),
    ``timeout``, ``connection_error``, ``truncated_body``. ``waited_s`` is the time spent before
    this attempt (pacing plus backoff or Retry-After).
    """

    number: int
    started_at: datetime
    duration_s: float
    status: int | None
    outcome: str
    retry_after_s: float | None = None
    waited_s: float = 0.0
    tokens_charged: int | None = None


class ResultShapeError(ValueError):
    """A response body that does not have the shape the contract promises.

    Raised by the client for a metadata answer and by ``placewise.formats`` for a result body
    (not JSON, truncated, or JSON of the wrong shape). It lives here, beside the client's errors,
    so that ``placewise.formats`` depends on ``placewise.api`` and never the other way round.
    """


class PlacewiseApiError(Exception):
    """A Reporting API call that failed for good."""

    hint = "see the server's message"

    def __init__(
        self,
        call_description: str,
        *,
        status: int | None = None,
        server_message: str | None = None,
        attempts: list[AttemptRecord] | None = None,
        detail: str | None = None,
    ) -> None:
        self.call_description = call_description
        self.status = status
        self.server_message = server_message
        self.attempts: list[AttemptRecord] = list(attempts or [])
        self.detail = detail
        super().__init__(self._message())

    def _message(self) -> str:
        parts = [self.call_description + ":"]
        parts.append(f"HTTP {self.status}" if self.status is not None else "no HTTP response")
        if self.detail:
            parts.append(f"({self.detail})")
        if self.server_message:
            parts.append(f"- server says: {self.server_message!r}")
        if len(self.attempts) > 1:
            outcomes = ", ".join(a.outcome for a in self.attempts)
            parts.append(f"- after {len(self.attempts)} attempts [{outcomes}]")
        parts.append(f"- {self.hint}")
        return " ".join(parts)


class AuthenticationError(PlacewiseApiError):
    """401: the token is wrong, expired, or not valid for this club or product."""

    hint = (
        "check the token in the placewise_api Connection / PLACEWISE_API_TOKEN, and that it is "
        "issued for this club and X-Product-Name"
    )


class PermissionDeniedError(PlacewiseApiError):
    """403 (missing permit) or 402 (feature not enabled for the club)."""

    hint = (
        "the token lacks the report's permit (Reporting:Api:Query and "
        "Reporting:Api:Report:<Name>) or the feature is not enabled for this club: ask Placewise "
        "support to extend the token or drop the report/club from the sync"
    )


class HeaderError(PlacewiseApiError):
    """470 (required header missing) or 471 (header value incorrect)."""

    @property
    def hint(self) -> str:  # type: ignore[override]
        if self.status == 470:
            return (
                "a required header is missing: X-User-Agent and X-Product-Name must be set "
                "(user_agent / product_name in the Connection extras or PLACEWISE_USER_AGENT / "
                "PLACEWISE_PRODUCT_NAME)"
            )
        return (
            "a header value was rejected: check X-Customer (club ids, at most 40; id=1_2, "
            "all=all or chain=X;country=Y) and the X-User-Agent / X-Product-Name values"
        )


class InvalidQueryError(PlacewiseApiError):
    """400/404/405/422: the request itself is wrong; retrying cannot help."""

    hint = (
        "fix the query: report name, filter (filterable fields only), aggregation, interval, and a "
        "window of at most 150 time buckets"
    )


class RateLimitExhaustedError(PlacewiseApiError):
    """429 more times than the retry policy allows."""

    hint = (
        "the rate-limit bucket stayed empty: lower the sync's concurrency or the pacer's refill "
        "rate, or run the backfill with a larger reserve"
    )


class ServerError(PlacewiseApiError):
    """5xx after every retry (including 503 maintenance)."""

    hint = "the API kept failing; check its status and re-run the task later"


class TransportError(PlacewiseApiError):
    """Timeouts, connection errors or truncated bodies after every retry."""

    hint = (
        "the connection kept failing: check network access to the API base URL, and raise "
        "timeout_s for large exports"
    )
