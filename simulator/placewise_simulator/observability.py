"""Request and token counters behind ``GET /_simulator/stats``.

Tests and demos use them to check that a client spent what it should, e.g. that a backfill did not
re-download settled days or that retries stayed within budget.
"""

from __future__ import annotations

from threading import Lock


class Counters:
    """Requests per (endpoint, report, status) and tokens spent per bucket."""

    def __init__(self) -> None:
        self._lock = Lock()
        self._requests: dict[tuple[str, str, str], int] = {}
        self._tokens: dict[str, int] = {}
        self._bytes = 0

    def request(self, endpoint: str, report: str | None, status: int | str) -> None:
        """Count one finished (or deliberately broken) request."""
        key = (endpoint, report or "", str(status))
        with self._lock:
            self._requests[key] = self._requests.get(key, 0) + 1

    def spent(self, bucket: str, tokens: int) -> None:
        """Count tokens charged to a bucket."""
        with self._lock:
            self._tokens[bucket] = self._tokens.get(bucket, 0) + tokens

    def snapshot(self) -> dict[str, object]:
        """JSON body of the stats endpoint."""
        with self._lock:
            rows = [
                {"endpoint": e, "report": r or None, "status": s, "count": n}
                for (e, r, s), n in sorted(self._requests.items())
            ]
            return {
                "requests_total": sum(self._requests.values()),
                "requests": rows,
                "tokens_spent": dict(sorted(self._tokens.items())),
                "tokens_spent_total": sum(self._tokens.values()),
            }

    def reset(self) -> None:
        """Forget everything counted so far."""
        with self._lock:
            self._requests.clear()
            self._tokens.clear()
