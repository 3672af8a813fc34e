"""The one exception type that turns into an API error response."""

from __future__ import annotations


class ApiError(Exception):
    """An error with its HTTP status; rendered as ``{"error": message}``.

    ``empty_body`` exists because the docs say an unparseable body gives 400 with an empty body.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        empty_body: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.empty_body = empty_body
        self.headers = headers or {}
