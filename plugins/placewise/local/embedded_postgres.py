"""An embedded PostgreSQL server for machines that have none.

The default path of the project (``make demo``, ``make test``) must work with pip alone, so we run
the PostgreSQL binaries that the ``pgserver`` wheel ships. We drive ``initdb``/``pg_ctl`` ourselves
rather than through pgserver's handle API because we want a TCP listener on 127.0.0.1 (Airflow
Connections, dbt profiles and psycopg all take an ordinary ``host:port`` URL) and an explicit
start/stop lifecycle that a Makefile, a test session or the demo can own.

As root, PostgreSQL refuses to run, so the server runs as a dedicated system user (``pgserver``,
created on first use, as the pgserver package itself does).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

SYSTEM_USER = "pgserver"
SUPERUSER = "postgres"


def _runtime_dir() -> None:
    """Name the per-user runtime directory before pgserver is imported.

    Importing pgserver asks platformdirs for ``XDG_RUNTIME_DIR``; where a login session has not
    set it (a container, CI, ``sudo``) platformdirs warns and falls back to
    ``$TMPDIR/runtime-<uid>``. We set the variable to that same directory (mode 0700, as the
    XDG spec asks), so nothing changes but the warning in a first ``make demo``.
    """
    if os.environ.get("XDG_RUNTIME_DIR"):
        return
    path = Path(tempfile.gettempdir()) / f"runtime-{os.geteuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    info = path.stat()
    if info.st_uid == os.geteuid() and info.st_mode & 0o077 == 0:
        os.environ["XDG_RUNTIME_DIR"] = str(path)


def _bin_dir() -> Path:
    _runtime_dir()
    from pgserver import _commands  # imported lazily: only the embedded path needs the wheel

    return Path(_commands.POSTGRES_BIN_PATH)


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _running_as_root() -> bool:
    return os.geteuid() == 0


def _prepare_for_system_user(data_dir: Path) -> str | None:
    """Make ``data_dir`` usable by the unprivileged server user when we run as root."""
    if not _running_as_root():
        return None
    _runtime_dir()
    from pgserver.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    entry = ensure_user_exists(SYSTEM_USER)
    if entry is None:
        raise RuntimeError(
            f"could not find or create the system user {SYSTEM_USER!r} the embedded PostgreSQL "
            "runs as"
        )
    ensure_prefix_permissions(data_dir)
    bin_dir = _bin_dir()
    ensure_prefix_permissions(bin_dir)
    ensure_folder_permissions(bin_dir, 0o055)
    ensure_folder_permissions(bin_dir.parent / "lib", 0o044)
    for path in [data_dir, *data_dir.rglob("*")]:
        os.chown(path, entry.pw_uid, entry.pw_gid)
    return SYSTEM_USER


@dataclass
class EmbeddedPostgres:
    """One PostgreSQL cluster in ``data_dir``, listening on 127.0.0.1:``port``.

    ``start()`` reuses a server that is already running on the same data directory (a second
    ``make demo`` in another terminal shares it) and only ``stop()`` ends a server this object
    started.
    """

    data_dir: Path
    port: int | None = None
    host: str = "127.0.0.1"
    _started_here: bool = False

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    def url(self, database: str = "postgres") -> str:
        """Connection URL of a database on this server (trust auth, no password)."""
        if self.port is None:
            raise RuntimeError("embedded PostgreSQL is not started")
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def _run(self, args: list[str], user: str | None, timeout: float = 60) -> None:
        subprocess.run(
            args,
            check=True,
            user=user,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            cwd="/",
        )

    def _running_port(self) -> int | None:
        pid_file = self.pgdata / "postmaster.pid"
        if not pid_file.exists():
            return None
        lines = pid_file.read_text().splitlines()
        try:
            pid, port = int(lines[0]), int(lines[3])
        except (IndexError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except OSError:
            return None
        return port

    def start(self) -> str:
        """Initialise (first time) and start the cluster; return the ``postgres`` database URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        running = self._running_port()
        if running is not None:
            self.port = running
            log.info("embedded PostgreSQL already running on port %s", running)
            return self.url()
        self.pgdata.mkdir(exist_ok=True)
        user = _prepare_for_system_user(self.data_dir)
        bin_dir = _bin_dir()
        if not (self.pgdata / "PG_VERSION").exists():
            self._run(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(self.pgdata),
                    "--auth=trust",
                    "--encoding=utf8",
                    "--no-instructions",
                    "-U",
                    SUPERUSER,
                ],
                user,
            )
        self.port = self.port or free_port(self.host)
        socket_dir = self.pgdata
        options = (
            f"-h {self.host} -p {self.port} -k {socket_dir} -c fsync=off -c max_connections=200"
        )
        self._run(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(self.pgdata),
                "-w",
                "-t",
                "60",
                "-o",
                options,
                "-l",
                str(self.pgdata / "server.log"),
                "start",
            ],
            user,
            timeout=90,
        )
        self._started_here = True
        log.info(
            "embedded PostgreSQL started on %s:%s (data in %s)", self.host, self.port, self.pgdata
        )
        return self.url()

    def stop(self) -> None:
        """Stop the server if this object started it (fast shutdown: sessions are rolled back)."""
        if not self._started_here:
            return
        user = SYSTEM_USER if _running_as_root() else None
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self._run(
                [str(_bin_dir() / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"],
                user,
            )
        self._started_here = False

    def destroy(self) -> None:
        """Stop the server and delete its data directory."""
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def ensure_database(server_url: str, name: str) -> str:
    """Create database ``name`` on the server of ``server_url`` if missing; return its URL."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return replace_database(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    """Drop database ``name`` (terminating its sessions first)."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity "
            "where datname = %s and pid <> pg_backend_pid()",
            (name,),
        )
        conn.execute(sql.SQL("drop database if exists {}").format(sql.Identifier(name)))


def replace_database(url: str, name: str) -> str:
    """Return ``url`` pointing at database ``name`` (keeps credentials, host and query)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))
