"""The "Placewise" page of the Airflow UI: a FastAPI app on the api-server and its nav entry.

Airflow 3 plugins can mount FastAPI apps on the api-server (``fastapi_apps``) and add entries to
the UI's navigation (``external_views``); an external view with a ``url_route`` is shown inside
the UI, framed, at ``/plugin/<url_route>``. The page is the one ``placewise status --html``
writes (``placewise.status``), read from the ``placewise_warehouse`` Connection in a read-only
transaction, for users logged in to Airflow (the UI's session cookie or a bearer token).

Airflow's plugin loader skips the ``placewise`` package (``plugins/.airflowignore``);
``plugins/placewise_ui_plugin.py`` imports ``PlacewisePlugin`` so the loader finds it. Importing
this module stays cheap (no FastAPI, pandas or matplotlib): every component of Airflow loads the
plugins, and only the api-server serves the page, so the app is built on its first request.
"""

from __future__ import annotations

import html
import logging
import os
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from airflow.plugins_manager import AirflowPlugin
from placewise.airflow.connections import WAREHOUSE_CONN_ID, conninfo_from_connection
from placewise.status import UI_ROUTE

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger(__name__)

#: Where the app is mounted on the api-server, and the UI route that frames it.
URL_PREFIX = f"/{UI_ROUTE}"
URL_ROUTE = UI_ROUTE

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def server_warehouse_conninfo() -> str:
    """The ``placewise_warehouse`` Connection as seen by the api-server, else ``WAREHOUSE_URL``.

    The api-server is not a task: it reads Connections through the core secrets backends
    (environment variables, the metadata database, a configured backend).
    """
    from airflow.exceptions import AirflowNotFoundException
    from airflow.models.connection import Connection

    try:
        return conninfo_from_connection(Connection.get_connection_from_secrets(WAREHOUSE_CONN_ID))
    except AirflowNotFoundException:
        url = os.environ.get("WAREHOUSE_URL", "")
        if not url:
            raise RuntimeError(
                f"no warehouse configured: define the Airflow Connection {WAREHOUSE_CONN_ID!r} "
                "or set WAREHOUSE_URL"
            ) from None
        return url


def build_app(
    conninfo: Callable[[], str] = server_warehouse_conninfo, *, require_login: bool = True
) -> FastAPI:
    """The status page's FastAPI app: ``GET /`` is the page, ``GET /status.txt`` the tables.

    ``require_login`` makes both routes need an Airflow user (``get_user``: the UI's session
    cookie or a bearer token); tests that run the app without an api-server turn it off.
    """
    from fastapi import Depends, FastAPI
    from fastapi.responses import HTMLResponse, PlainTextResponse

    dependencies = []
    if require_login:
        from airflow.api_fastapi.core_api.security import get_user

        dependencies.append(Depends(get_user))

    app = FastAPI(
        title="Placewise status",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=dependencies,
    )

    def _report():  # noqa: ANN202 - a StatusReport, imported lazily
        from placewise.status.queries import read_status

        return read_status(conninfo())

    @app.get("/", response_class=HTMLResponse)
    def status_page() -> HTMLResponse:
        from placewise.status.queries import WarehouseNotReadyError
        from placewise.status.render import render_html

        try:
            page = render_html(_report())
        except WarehouseNotReadyError as exc:
            return HTMLResponse(f"<p>{html.escape(str(exc))}</p>", status_code=503)
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    @app.get("/status.txt", response_class=PlainTextResponse)
    def status_text() -> PlainTextResponse:
        from placewise.status.queries import WarehouseNotReadyError
        from placewise.status.text import render_text

        try:
            return PlainTextResponse(render_text(_report()))
        except WarehouseNotReadyError as exc:
            return PlainTextResponse(str(exc), status_code=503)

    return app


class LazyStatusApp:
    """An ASGI app that builds ``build_app()`` on its first request (see the module docstring)."""

    def __init__(self, factory: Callable[[], FastAPI] = build_app) -> None:
        self._factory = factory
        self._app: FastAPI | None = None
        self._lock = threading.Lock()

    def app(self) -> FastAPI:
        if self._app is None:
            with self._lock:
                if self._app is None:
                    self._app = self._factory()
        return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app()(scope, receive, send)


status_app = LazyStatusApp()


class PlacewisePlugin(AirflowPlugin):
    """Mounts the status page at ``/placewise`` and adds "Placewise" to the UI's navigation."""

    name = "placewise"
    fastapi_apps = [{"app": status_app, "url_prefix": URL_PREFIX, "name": "Placewise status"}]
    external_views = [
        {
            "name": "Placewise",
            # Relative: the UI resolves it against its base URL (works under a path prefix).
            "href": URL_PREFIX.lstrip("/") + "/",
            "url_route": URL_ROUTE,
            "destination": "nav",
            "nav_top_level": True,
        }
    ]
