"""Every assumption about the Reporting API wire format, in one module.

docs/api-contract.md marks some facts SEEN in the public docs and others DECIDED (paths of all
endpoints except ``/v1/reporting/query``, the ``page_info``/``limit`` body keys, the export
endpoints and their cost, the statistics result shape, the cost formula). When the live API
disagrees with a DECIDED item, this module is the one file to correct: endpoint paths, header
names, status codes, body keys and builders, costs, limits, retention and the key names of the
result bodies all live here.

The result bodies are read by ``placewise.formats.results``, which takes every key name from
this module; the error it raises for a body that breaks the contract is
``placewise.api.errors.ResultShapeError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from placewise.api.catalog import ReportSpec
from placewise.api.customer import CustomerSelector
from placewise.api.filters import filter_cost

if TYPE_CHECKING:
    from placewise.api.settings import ApiSettings
    from placewise.api.variants import ApiVariants

# --- endpoints (SEEN: /v1/reporting/query; DECIDED: the rest) -----------------------------------

API_PREFIX = "/v1/reporting"


class Endpoint(StrEnum):
    """The Reporting API endpoints; the value is the path below the base URL."""

    QUERY = f"{API_PREFIX}/query"
    EXPORT = f"{API_PREFIX}/query/export"
    TENANTS_EXPORT = f"{API_PREFIX}/tenants/query/export"
    METADATA = f"{API_PREFIX}/metadata"
    FIELD_METADATA = f"{API_PREFIX}/field_metadata"


EXPORT_ENDPOINTS = frozenset({Endpoint.EXPORT, Endpoint.TENANTS_EXPORT})
METADATA_ENDPOINTS = frozenset({Endpoint.METADATA, Endpoint.FIELD_METADATA})

# --- headers (SEEN) ------------------------------------------------------------------------------

HEADER_AUTHORIZATION = "X-Client-Authorization"
HEADER_USER_AGENT = "X-User-Agent"
HEADER_PRODUCT_NAME = "X-Product-Name"
HEADER_CUSTOMER = "X-Customer"
HEADER_RATELIMIT_BUCKET = "ratelimit-bucket"
HEADER_RATELIMIT_REMAINING = "ratelimit-remaining"
HEADER_RATELIMIT_COST = "ratelimit-cost"
HEADER_RETRY_AFTER = "Retry-After"
CONTENT_TYPE_JSON = "application/json"

# --- authorization (SEEN: X-Client-Authorization; variant ``auth``: a user token) -----------------

AUTH_CLIENT_TOKEN = "client_token"
AUTH_USER_TOKEN = "user_token"
#: Per scheme: the header that carries the credential and how its value is written.
AUTH_SCHEMES: Mapping[str, tuple[str, str]] = {
    AUTH_CLIENT_TOKEN: (HEADER_AUTHORIZATION, "{token}"),
    AUTH_USER_TOKEN: ("Authorization", "Bearer {token}"),
}

# Header names whose values must never be logged or put into an exception (the configured
# ``auth_header`` of a setting is added to these by ``secret_headers``).
SECRET_HEADERS = frozenset(header.lower() for header, _ in AUTH_SCHEMES.values())


def auth_header(settings: ApiSettings, variants: ApiVariants | None = None) -> tuple[str, str]:
    """The credential header (name, value) for ``settings``; contains the token.

    The scheme is the settings' ``auth_scheme``, else the ``auth`` variant of the configured
    API (``client_token`` when nothing says otherwise); ``auth_header``/``auth_format`` of the
    settings override the scheme's header name and value format.
    """
    scheme = settings.auth_scheme or (variants.auth if variants is not None else AUTH_CLIENT_TOKEN)
    header, template = AUTH_SCHEMES[scheme]
    return settings.auth_header or header, (settings.auth_format or template).replace(
        "{token}", settings.token
    )


def secret_headers(settings: ApiSettings) -> frozenset[str]:
    """Lower-case names of every header whose value is a secret for ``settings``."""
    if settings.auth_header:
        return SECRET_HEADERS | {settings.auth_header.lower()}
    return SECRET_HEADERS


# --- statuses (SEEN) -----------------------------------------------------------------------------

STATUS_MISSING_HEADER = 470
STATUS_BAD_HEADER = 471
STATUS_RATE_LIMITED = 429
RETRYABLE_SERVER_STATUSES = frozenset({500, 502, 503, 504})

# --- body keys (SEEN except page_info and limit, DECIDED) ----------------------------------------

KEY_REPORT = "report"
KEY_FILTER = "filter"
KEY_AGGREGATE_BY = "aggregate_by"
KEY_INTERVAL = "interval"
KEY_FROM = "from"
KEY_TO = "to"
KEY_PAGE_INFO = "page_info"
#: The body keys a records cursor may go back under (variant ``cursor_key``; first = assumed).
CURSOR_KEYS: tuple[str, ...] = (KEY_PAGE_INFO, "next_page_info", "cursor")
KEY_LIMIT = "limit"
KEY_FIELD = "field"
INTERVALS: tuple[str, ...] = ("5m", "1h", "1d", "1w", "1mo")
INTERVAL_AUTO = "auto"

# --- costs and limits ----------------------------------------------------------------------------

EXPORT_COST_MULTIPLIER = 5  # DECIDED
METADATA_COST = 1  # SEEN for Metadata; DECIDED for Field metadata
DEFAULT_PAGE_LIMIT = 100  # DECIDED
MAX_PAGE_LIMIT = 1000  # DECIDED
MAX_TIMESERIES_BUCKETS = 150  # SEEN: more -> 422
#: Buckets a planned query window may span: one fewer than the limit, because an answer may
#: also carry the bucket starting at ``to`` (variant ``window_end=bucket_at_to``, the docs'
#: own example), which the API counts toward the 150. Planned so under every reading: it costs
#: one extra request per 149 days of a 1d backfill and nothing on nightly windows.
MAX_PLANNED_BUCKETS = MAX_TIMESERIES_BUCKETS - 1
MAX_QUERY_DATA_POINTS = 1000  # SEEN: more are silently capped
RETENTION: Mapping[str, timedelta | None] = {
    "5m": timedelta(days=14),
    "1h": timedelta(days=183),
    "1d": timedelta(days=730),
    "1w": None,
    "1mo": None,
}

# --- result shapes (SEEN for records/timeseries, DECIDED for statistics) -------------------------

RESULT_RECORDS = "records"
RESULT_TIMESERIES = "timeseries"
RESULT_STATISTICS = "statistics"
RANGE_TIMEZONE_LOCAL = "local"
KEY_RECORDS = "records"
KEY_PAGINATION = "pagination"
KEY_NEXT_PAGE_INFO = "next_page_info"
KEY_TIME_BUCKETS = "time_buckets"
KEY_SERIES = "series"
KEY_LABEL = "label"
KEY_VALUES = "values"
KEY_VALUE = "value"
KEY_TIMEZONE = "timezone"
KEY_DATA_POINTS = "data_points"
KEY_RANGE_TIMEZONE = "range_timezone"
KEY_RESULT_TYPE = "result_type"
KEY_ERROR = "error"
KEY_CLUB_LABEL = "loyalty_club_id"  # DECIDED: cross-club series carry their club in the label

# --- rate-limit buckets (SEEN: owner x type; DECIDED: the key spelling) --------------------------


def bucket_key(customer: CustomerSelector, organization: str) -> str:
    """The rate-limit bucket a call is charged to: Customer for one club, else Organization."""
    if not customer.is_multi and customer.club_ids:
        return f"Customer:{customer.club_ids[0]}:Reporting"
    return f"Organization:{organization}:Reporting"


def call_cost(
    endpoint: Endpoint,
    report_spec: ReportSpec | None,
    filter: dict[str, Any] | None,
) -> int:
    """Tokens a call costs: report cost + filter nodes, x5 for exports, 1 for metadata."""
    if endpoint in METADATA_ENDPOINTS:
        return METADATA_COST
    if report_spec is None:
        raise ValueError(f"a report spec is needed to cost a call to {endpoint.value}")
    cost = report_spec.token_cost + filter_cost(filter)
    if endpoint in EXPORT_ENDPOINTS:
        cost *= EXPORT_COST_MULTIPLIER
    return cost


def request_headers(
    settings: ApiSettings, customer: CustomerSelector, variants: ApiVariants | None = None
) -> dict[str, str]:
    """The headers of every request. Contains the token: never log the result."""
    name, value = auth_header(settings, variants)
    return {
        name: value,
        HEADER_USER_AGENT: settings.user_agent,
        HEADER_PRODUCT_NAME: settings.product_name,
        HEADER_CUSTOMER: customer.header_value,
        "Content-Type": CONTENT_TYPE_JSON,
        "Accept": CONTENT_TYPE_JSON,
    }


# --- request bodies ------------------------------------------------------------------------------


def format_time(value: datetime | date | str) -> str:
    """ISO 8601 for a body's ``from``/``to``, millisecond precision.

    An aware datetime is an instant and keeps its offset. A naive datetime (or a date) is a
    wall-clock time, sent without an offset, which the API applies in each club's own timezone.
    A string is passed through unchanged.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds")
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day).isoformat(timespec="milliseconds")
    raise TypeError(f"from/to must be a datetime, date or ISO string, got {type(value).__name__}")


def build_query_body(
    report: str,
    *,
    filter: dict[str, Any] | None = None,
    aggregate_by: str | None = None,
    interval: str | None = None,
    from_: datetime | date | str | None = None,
    to: datetime | date | str | None = None,
    page_info: str | None = None,
    limit: int | None = None,
    cursor_key: str = KEY_PAGE_INFO,
) -> dict[str, Any]:
    """A query/export body with keys in the documented order.

    ``filter`` and ``aggregate_by`` are always present (``null`` when unused, as in the docs'
    examples); ``interval``, ``from``, ``to``, ``page_info`` and ``limit`` are left out when None.
    The records cursor goes back under ``cursor_key`` (variant ``cursor_key``: ``page_info``
    unless the API settings file says otherwise).
    """
    if cursor_key not in CURSOR_KEYS:
        raise ValueError(f"cursor_key must be one of {', '.join(CURSOR_KEYS)}, got {cursor_key!r}")
    if interval is not None and interval not in (*INTERVALS, INTERVAL_AUTO):
        raise ValueError(
            f"interval must be one of {', '.join(INTERVALS)} or auto, got {interval!r}"
        )
    if limit is not None and not (1 <= limit <= MAX_PAGE_LIMIT):
        raise ValueError(f"limit must be between 1 and {MAX_PAGE_LIMIT}, got {limit}")
    body: dict[str, Any] = {KEY_REPORT: report, KEY_FILTER: filter, KEY_AGGREGATE_BY: aggregate_by}
    if interval is not None:
        body[KEY_INTERVAL] = interval
    if from_ is not None:
        body[KEY_FROM] = format_time(from_)
    if to is not None:
        body[KEY_TO] = format_time(to)
    if page_info is not None:
        body[cursor_key] = page_info
    if limit is not None:
        body[KEY_LIMIT] = limit
    return body


def build_metadata_body(report: str) -> dict[str, Any]:
    """The Metadata body (DECIDED): ``{"report": NAME}``."""
    return {KEY_REPORT: report}


def build_field_metadata_body(
    report: str, field_name: str, from_: datetime | date | str, to: datetime | date | str
) -> dict[str, Any]:
    """The Field metadata body (DECIDED): ``{"report", "field", "from", "to"}``."""
    return {
        KEY_REPORT: report,
        KEY_FIELD: field_name,
        KEY_FROM: format_time(from_),
        KEY_TO: format_time(to),
    }
