"""Connection settings for the Reporting API, read from the environment or an Airflow Connection.

The token is the only secret in this package. It is kept out of ``repr``/``str`` (and therefore out
of logs and exception text) by the dataclass field definition, so a settings object can be logged
or put in an error message safely.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

_TRUE = {"1", "true", "yes", "on"}
#: The credential schemes ``auth_scheme`` may name (their headers are in ``api.contract``).
AUTH_SCHEMES = ("client_token", "user_token")
_FALSE = {"0", "false", "no", "off"}


class SettingsError(ValueError):
    """Raised when the API settings are missing or malformed; the message names the setting."""


def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise SettingsError(f"{name} must be a boolean (true/false), got {value!r}")


def _as_timeout(name: str, value: Any) -> float:
    try:
        timeout = float(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{name} must be a number of seconds, got {value!r}") from None
    if timeout <= 0:
        raise SettingsError(f"{name} must be positive, got {value!r}")
    return timeout


@dataclass(frozen=True)
class ApiSettings:
    """Where the API is and how this client identifies itself to it."""

    base_url: str
    token: str = field(repr=False)
    user_agent: str = "placewise-warehouse/0.1"
    product_name: str = "placewise-warehouse"
    organization: str = "default"
    timeout_s: float = 60.0
    verify_tls: bool = True
    #: ``client_token`` or ``user_token``; None = what the API settings file says (``auth``).
    auth_scheme: str | None = None
    #: Header name and value format (``{token}`` marks the token) overriding the scheme's own.
    auth_header: str | None = None
    auth_format: str | None = None

    def __post_init__(self) -> None:
        if self.auth_scheme is not None and self.auth_scheme not in AUTH_SCHEMES:
            raise SettingsError(
                f"auth_scheme must be one of {', '.join(AUTH_SCHEMES)}, got {self.auth_scheme!r}"
            )
        if self.auth_header is not None and (
            not self.auth_header.strip() or any(c in self.auth_header for c in ": \t\r\n")
        ):
            raise SettingsError(f"auth_header must be a header name, got {self.auth_header!r}")
        if self.auth_format is not None and self.auth_format.count("{token}") != 1:
            raise SettingsError(
                "auth_format must contain {token} exactly once (e.g. 'Bearer {token}'), "
                f"got {self.auth_format!r}"
            )
        if not self.base_url:
            raise SettingsError("base_url is empty: set PLACEWISE_API_URL or the Connection host")
        if not urlsplit(self.base_url).scheme or not urlsplit(self.base_url).netloc:
            raise SettingsError(f"base_url must be an absolute http(s) URL, got {self.base_url!r}")
        if not self.token:
            raise SettingsError(
                "the API token is empty: set PLACEWISE_API_TOKEN or the password of the "
                "placewise_api Connection"
            )
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ApiSettings:
        """Build settings from ``PLACEWISE_*`` variables (used by the CLI and local runs)."""
        url = env.get("PLACEWISE_API_URL", "").strip()
        if not url:
            raise SettingsError(
                "PLACEWISE_API_URL is not set (e.g. https://api.mpc.placewise.com or the local "
                "simulator's http://127.0.0.1:8765)"
            )
        token = env.get("PLACEWISE_API_TOKEN", "").strip()
        if not token:
            raise SettingsError("PLACEWISE_API_TOKEN is not set")
        kwargs: dict[str, Any] = {}
        if env.get("PLACEWISE_USER_AGENT"):
            kwargs["user_agent"] = env["PLACEWISE_USER_AGENT"]
        if env.get("PLACEWISE_PRODUCT_NAME"):
            kwargs["product_name"] = env["PLACEWISE_PRODUCT_NAME"]
        if env.get("PLACEWISE_ORGANIZATION"):
            kwargs["organization"] = env["PLACEWISE_ORGANIZATION"]
        for key in ("auth_scheme", "auth_header", "auth_format"):
            if env.get(f"PLACEWISE_{key.upper()}", "").strip():
                kwargs[key] = env[f"PLACEWISE_{key.upper()}"].strip()
        if env.get("PLACEWISE_API_TIMEOUT_S"):
            kwargs["timeout_s"] = _as_timeout(
                "PLACEWISE_API_TIMEOUT_S", env["PLACEWISE_API_TIMEOUT_S"]
            )
        return cls(base_url=url, token=token, **kwargs)

    @classmethod
    def from_connection(
        cls,
        host: str,
        password: str,
        extra: Mapping[str, Any],
        schema: str | None = None,
        port: int | None = None,
    ) -> ApiSettings:
        """Build settings from an Airflow Connection's fields, without importing Airflow.

        ``host`` may be a full URL (``https://api.mpc.placewise.com``) or a bare host name, in
        which case ``schema`` (as Airflow's HTTP connections use it) gives the scheme, https by
        default. The token is the Connection's password.
        """
        host = (host or "").strip()
        if not host:
            raise SettingsError("the placewise_api Connection has no host")
        if "://" in host:
            parts = urlsplit(host)
            netloc = parts.netloc
            if port and parts.port is None:
                netloc = f"{netloc}:{port}"
            base_url = f"{parts.scheme}://{netloc}{parts.path}"
        else:
            scheme = (schema or "https").strip() or "https"
            if scheme not in ("http", "https"):
                scheme = "https"
            base_url = f"{scheme}://{host}" + (f":{port}" if port else "")
        if not password:
            raise SettingsError("the placewise_api Connection has no password (the API token)")
        extra = dict(extra or {})
        kwargs: dict[str, Any] = {}
        for key in ("user_agent", "product_name", "organization", "auth_header", "auth_format"):
            if extra.get(key):
                kwargs[key] = str(extra[key])
        if extra.get("auth_scheme") not in (None, ""):
            kwargs["auth_scheme"] = str(extra["auth_scheme"]).strip()
        if extra.get("timeout_s") not in (None, ""):
            kwargs["timeout_s"] = _as_timeout("extra.timeout_s", extra["timeout_s"])
        if extra.get("verify_tls") not in (None, ""):
            kwargs["verify_tls"] = _as_bool("extra.verify_tls", extra["verify_tls"])
        return cls(base_url=base_url, token=password, **kwargs)
