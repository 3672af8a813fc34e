"""HTTP client layer for the Placewise Reporting API.

Everything the rest of the warehouse needs to talk to the API lives here: settings, the customer
selector behind ``X-Customer``, the report catalog, filter building, the contract (paths, headers,
body keys, result key names), typed errors, the retrying streaming client and token-bucket pacing.
Nothing in this package imports Airflow, so it runs in tests, the CLI and workers alike.
"""

from placewise.api.catalog import CATALOG, UnknownReportError, get_report
from placewise.api.client import ApiCall, AttemptRecord, CallResult, PlacewiseClient, RetryPolicy
from placewise.api.contract import Endpoint, build_query_body
from placewise.api.customer import CustomerSelector
from placewise.api.errors import PlacewiseApiError, ResultShapeError
from placewise.api.pacing import InMemoryPacer, Pacer, PostgresPacer
from placewise.api.settings import ApiSettings

__all__ = [
    "CATALOG",
    "ApiCall",
    "ApiSettings",
    "AttemptRecord",
    "CallResult",
    "CustomerSelector",
    "Endpoint",
    "InMemoryPacer",
    "Pacer",
    "PlacewiseApiError",
    "PlacewiseClient",
    "PostgresPacer",
    "ResultShapeError",
    "RetryPolicy",
    "UnknownReportError",
    "build_query_body",
    "get_report",
]
