"""Pipeline settings that are not credentials, from the environment.

Credentials live in Airflow Connections (``placewise_api``, ``placewise_warehouse``) or, outside
Airflow, in ``PLACEWISE_API_TOKEN`` / ``WAREHOUSE_URL``; everything here is plain configuration
with defaults that work from a checkout of the repository.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc
    if not 0 < value < float("inf"):
        raise ValueError(f"{name} must be positive, got {raw!r}")
    return value


@dataclass(frozen=True)
class PipelineSettings:
    """Where things are and how far back the nightly run looks."""

    landing_root: str
    clubs_file: Path
    dbt_project_dir: Path
    restatement_days: int = 7
    use_export: bool = True
    backfill_token_reserve: int = 20
    rate_capacity: int = 60
    rate_refill_per_s: float = 6.0
    dbt_execution: str = "watcher"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PipelineSettings:
        env = os.environ if env is None else env
        mode = env.get("PLACEWISE_EXTRACT_MODE", "export")
        if mode not in ("export", "query"):
            raise ValueError(f"PLACEWISE_EXTRACT_MODE must be 'export' or 'query', got {mode!r}")
        rate_capacity = _int(env, "PLACEWISE_RATE_CAPACITY", 60)
        if rate_capacity == 0:
            raise ValueError("PLACEWISE_RATE_CAPACITY must be positive, got 0")
        dbt_execution = env.get("PLACEWISE_DBT_EXECUTION") or "watcher"
        if dbt_execution not in ("watcher", "local"):
            raise ValueError(
                f"PLACEWISE_DBT_EXECUTION must be 'watcher' or 'local', got {dbt_execution!r}"
            )
        return cls(
            landing_root=env.get("PLACEWISE_LANDING_ROOT", str(REPO_ROOT / ".demo" / "landing")),
            clubs_file=Path(
                env.get("PLACEWISE_CLUBS_FILE", str(REPO_ROOT / "config" / "clubs.yml"))
            ),
            dbt_project_dir=Path(
                env.get("PLACEWISE_DBT_PROJECT_DIR", str(REPO_ROOT / "dbt_project"))
            ),
            restatement_days=_int(env, "PLACEWISE_RESTATEMENT_DAYS", 7),
            use_export=mode == "export",
            backfill_token_reserve=_int(env, "PLACEWISE_BACKFILL_TOKEN_RESERVE", 20),
            rate_capacity=rate_capacity,
            rate_refill_per_s=_float(env, "PLACEWISE_RATE_REFILL_PER_S", 6.0),
            dbt_execution=dbt_execution,
        )
