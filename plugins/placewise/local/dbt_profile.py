"""The environment a command-line dbt run needs to reach a warehouse named by a libpq URL.

``dbt_project/profiles.yml`` reads only ``PLACEWISE_PG_*`` variables, so the demo, ``make docs``,
the benchmarks and the tests all turn a ``WAREHOUSE_URL`` into those variables here, the same way.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit


def dbt_profile_env(
    warehouse_url: str, log_path: Path, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """``base`` (default ``os.environ``) plus the ``PLACEWISE_PG_*`` variables of profiles.yml.

    The password travels in the environment only; nothing here prints or writes it.
    """
    parts = urlsplit(warehouse_url)
    database = parts.path.lstrip("/")
    if not database:
        raise ValueError(f"warehouse URL names no database: {parts.hostname}:{parts.port}")
    env = dict(os.environ if base is None else base)
    env.update(
        PLACEWISE_PG_HOST=parts.hostname or "127.0.0.1",
        PLACEWISE_PG_PORT=str(parts.port or 5432),
        PLACEWISE_PG_USER=unquote(parts.username or "postgres"),
        PLACEWISE_PG_PASSWORD=unquote(parts.password or ""),
        PLACEWISE_PG_DBNAME=database,
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        DBT_LOG_PATH=str(log_path),
    )
    return env
