"""Credentials from Airflow Connections, with environment fallbacks for local use.

``placewise_api`` (host = base URL, password = token, extras = user_agent / product_name /
organization / auth_scheme / auth_header / auth_format) and ``placewise_warehouse`` (a postgres
Connection) are the one place credentials live. Outside a configured Airflow (a laptop, the
demo) the same values come from ``PLACEWISE_API_URL`` / ``PLACEWISE_API_TOKEN`` (and
``PLACEWISE_AUTH_*``) and ``WAREHOUSE_URL``.

These functions are only called inside tasks, never at DAG parse time.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

from placewise.api.settings import ApiSettings

API_CONN_ID = "placewise_api"
WAREHOUSE_CONN_ID = "placewise_warehouse"


def _connection(conn_id: str):  # noqa: ANN202 - Airflow's Connection type differs by runtime
    """The Connection, or None when it is not defined (then the environment fallback applies)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None


def api_settings() -> ApiSettings:
    """API settings from the ``placewise_api`` Connection, else from the environment."""
    conn = _connection(API_CONN_ID)
    if conn is None:
        return ApiSettings.from_env()
    return ApiSettings.from_connection(
        host=conn.host or "",
        password=conn.password or "",
        extra=conn.extra_dejson,
        schema=conn.schema,
        port=conn.port,
    )


def warehouse_conninfo() -> str:
    """A libpq URL for the ``placewise_warehouse`` Connection, else ``WAREHOUSE_URL``."""
    conn = _connection(WAREHOUSE_CONN_ID)
    if conn is None:
        url = os.environ.get("WAREHOUSE_URL")
        if not url:
            raise RuntimeError(
                f"no warehouse configured: define the Airflow Connection {WAREHOUSE_CONN_ID!r} "
                "or set WAREHOUSE_URL"
            )
        return url
    return conninfo_from_connection(conn)


def conninfo_from_connection(conn: Any) -> str:
    """A libpq URL for a postgres Connection (task SDK or core ``Connection``: same fields)."""
    auth = quote(conn.login or "", safe="")
    if conn.password:
        auth += ":" + quote(conn.password, safe="")
    host = conn.host or "127.0.0.1"
    port = conn.port or 5432
    database = conn.schema or "postgres"
    return f"postgresql://{auth}@{host}:{port}/{database}"
