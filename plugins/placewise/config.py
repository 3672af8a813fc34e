"""Pipeline settings that are not credentials, from the environment: every ``PLACEWISE_*`` value
the pipeline reads outside the API connection lives here, validated in one place.

Credentials live in Airflow Connections (``placewise_api``, ``placewise_warehouse``) or, outside
Airflow, in ``PLACEWISE_API_TOKEN`` / ``WAREHOUSE_URL``; how the client talks to the API
(``PLACEWISE_API_URL``, ``PLACEWISE_USER_AGENT``, ...) is ``placewise.api.settings.ApiSettings``.
Everything here is plain configuration with defaults that work from a checkout of the repository;
a bad value raises ``PipelineSettingsError`` naming the variable and the value.

Reading the settings does no I/O beyond the environment, so the DAG files may read them at parse
time (retries, the nightly schedule, the dbt project directory).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from placewise.api.variants import ApiVariants, load_variants

REPO_ROOT = Path(__file__).resolve().parents[2]

DEFAULT_NIGHTLY_CRON = "30 2 * * *"
#: ``query`` (the documented endpoint, the default) or ``export`` (the undocumented exports).
EXTRACT_MODES = ("query", "export")
DBT_EXECUTION_MODES = ("watcher", "local")
DEFAULT_API_CONTRACT_FILE = REPO_ROOT / "config" / "api-contract.yml"


class PipelineSettingsError(ValueError):
    """A ``PLACEWISE_*`` variable has a value the pipeline cannot use; the message names it."""


def _text(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip()


def _int(env: Mapping[str, str], name: str, default: int, *, positive: bool = False) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise PipelineSettingsError(f"{name} must be an integer, got {raw!r}") from exc
    if value < 0:
        raise PipelineSettingsError(f"{name} must not be negative, got {value}")
    if positive and value == 0:
        raise PipelineSettingsError(f"{name} must be positive, got 0")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise PipelineSettingsError(f"{name} must be a number, got {raw!r}") from exc
    if not 0 < value < float("inf"):
        raise PipelineSettingsError(f"{name} must be positive, got {raw!r}")
    return value


def _cron(env: Mapping[str, str], name: str, default: str) -> str:
    """Five cron fields or one ``@preset`` (``@daily``); Airflow checks the fields themselves
    when the DAG is built."""
    value = " ".join(_text(env, name, default).split())
    fields = value.split(" ")
    if not (len(fields) == 5 or (len(fields) == 1 and value.startswith("@"))):
        raise PipelineSettingsError(
            f"{name} must be a cron expression of five fields (e.g. {DEFAULT_NIGHTLY_CRON!r}) "
            f"or a preset such as '@daily', got {env.get(name)!r}"
        )
    return value


@dataclass(frozen=True)
class PipelineSettings:
    """Where things are, how far back the nightly run looks, and how hard it may use the API."""

    landing_root: str
    clubs_file: Path
    dbt_project_dir: Path
    restatement_days: int = 7
    use_export: bool = False
    backfill_token_reserve: int = 20
    nightly_token_floor: int = 20
    rate_capacity: int = 60
    rate_refill_per_s: float = 6.0
    task_retries: int = 2
    nightly_cron: str = DEFAULT_NIGHTLY_CRON
    dbt_execution: str = "watcher"
    progress_every: int = 25
    #: The API settings file ``placewise doctor`` writes (which reading of the docs the API has).
    api_contract_file: Path = DEFAULT_API_CONTRACT_FILE

    def api_variants(self) -> ApiVariants:
        """Which reading of the docs' open points the API has, from ``api_contract_file``
        (the assumed readings when the file does not exist)."""
        return load_variants(self.api_contract_file)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PipelineSettings:
        """Read and validate every setting (``os.environ`` when no mapping is given)."""
        env = os.environ if env is None else env
        mode = env.get("PLACEWISE_EXTRACT_MODE", "query")
        if mode not in EXTRACT_MODES:
            raise PipelineSettingsError(
                f"PLACEWISE_EXTRACT_MODE must be 'export' or 'query', got {mode!r}"
            )
        dbt_execution = env.get("PLACEWISE_DBT_EXECUTION") or "watcher"
        if dbt_execution not in DBT_EXECUTION_MODES:
            raise PipelineSettingsError(
                f"PLACEWISE_DBT_EXECUTION must be 'watcher' or 'local', got {dbt_execution!r}"
            )
        return cls(
            landing_root=_text(env, "PLACEWISE_LANDING_ROOT", str(REPO_ROOT / ".demo" / "landing")),
            clubs_file=Path(
                _text(env, "PLACEWISE_CLUBS_FILE", str(REPO_ROOT / "config" / "clubs.yml"))
            ),
            dbt_project_dir=Path(
                _text(env, "PLACEWISE_DBT_PROJECT_DIR", str(REPO_ROOT / "dbt_project"))
            ),
            restatement_days=_int(env, "PLACEWISE_RESTATEMENT_DAYS", 7),
            use_export=mode == "export",
            api_contract_file=Path(
                _text(env, "PLACEWISE_API_CONTRACT_FILE", str(DEFAULT_API_CONTRACT_FILE))
            ),
            backfill_token_reserve=_int(env, "PLACEWISE_BACKFILL_TOKEN_RESERVE", 20),
            nightly_token_floor=_int(env, "PLACEWISE_NIGHTLY_TOKEN_FLOOR", 20),
            rate_capacity=_int(env, "PLACEWISE_RATE_CAPACITY", 60, positive=True),
            rate_refill_per_s=_float(env, "PLACEWISE_RATE_REFILL_PER_S", 6.0),
            task_retries=_int(env, "PLACEWISE_TASK_RETRIES", 2),
            nightly_cron=_cron(env, "PLACEWISE_NIGHTLY_CRON", DEFAULT_NIGHTLY_CRON),
            dbt_execution=dbt_execution,
            progress_every=_int(env, "PLACEWISE_PROGRESS_EVERY", 25, positive=True),
        )
