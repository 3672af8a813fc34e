"""``make docs``: the dbt docs site (models, columns, lineage, metrics) over the local warehouse.

The catalog part of the site (column types, row counts) is read from a live warehouse, so this
needs the same database as the demo: ``WAREHOUSE_URL`` if set, else the demo's embedded
PostgreSQL in ``.demo/postgres`` (started here if it is not running, and stopped again on the
way out). ``dbt docs generate`` writes into ``.demo/dbt-docs`` rather than
``dbt_project/target``, so the manifest Cosmos renders the DAGs from is left alone; then
``dbt docs serve`` runs until Ctrl-C (or SIGTERM) and everything started here is stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from placewise.config import REPO_ROOT
from placewise.local.dbt_profile import dbt_profile_env
from placewise.local.embedded_postgres import EmbeddedPostgres, ensure_database
from placewise.local.stack import DEMO_DIR, demo_postgres_port

DBT_PROJECT = REPO_ROOT / "dbt_project"
DOCS_TARGET = DEMO_DIR / "dbt-docs"
DBT_LOGS = DEMO_DIR / "logs" / "dbt"
DEFAULT_PORT = 8081


def _dbt(*args: str, target_path: Path) -> list[str]:
    return [
        str(Path(sys.executable).parent / "dbt"),
        *args,
        "--project-dir",
        str(DBT_PROJECT),
        "--profiles-dir",
        str(DBT_PROJECT),
        "--target-path",
        str(target_path),
    ]


def generate(
    warehouse_url: str, target_path: Path = DOCS_TARGET, log_path: Path = DBT_LOGS
) -> subprocess.CompletedProcess[str]:
    """``dbt docs generate`` against the warehouse; raises with dbt's output if it fails."""
    target_path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        _dbt("docs", "generate", target_path=target_path),
        env=dbt_profile_env(warehouse_url, log_path),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"dbt docs generate failed:\n{result.stdout[-4000:]}{result.stderr}")
    return result


def serve(warehouse_url: str, port: int, target_path: Path = DOCS_TARGET) -> int:
    """``dbt docs serve`` until it exits or we are interrupted; then stop its process group."""
    server = subprocess.Popen(
        [*_dbt("docs", "serve", target_path=target_path), "--port", str(port), "--no-browser"],
        env=dbt_profile_env(warehouse_url, DBT_LOGS),
        cwd=REPO_ROOT,
        start_new_session=True,
    )
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        return server.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)


@contextlib.contextmanager
def docs_warehouse() -> Iterator[str]:
    """``WAREHOUSE_URL``, else the demo's embedded warehouse (stopped on exit if started here)."""
    configured = os.environ.get("WAREHOUSE_URL")
    if configured:
        yield configured
        return
    postgres = EmbeddedPostgres(DEMO_DIR / "postgres", port=demo_postgres_port())
    try:
        yield ensure_database(postgres.start(), "warehouse")
    finally:
        postgres.stop()


def has_marts(warehouse_url: str) -> bool:
    with psycopg.connect(warehouse_url) as conn:
        return (
            conn.execute("select 1 from pg_namespace where nspname = 'placewise_marts'").fetchone()
            is not None
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make docs", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="docs server port")
    parser.add_argument(
        "--generate-only", action="store_true", help="write the site, do not serve it"
    )
    args = parser.parse_args(argv)
    DEMO_DIR.mkdir(exist_ok=True)
    try:
        with docs_warehouse() as url:
            parts = urlsplit(url)
            where = f"{parts.hostname}:{parts.port}/{parts.path.lstrip('/')}"
            if not has_marts(url):
                print(
                    f"note: {where} has no placewise_marts yet (run `make demo` first); the"
                    " site will show models and metrics without table details"
                )
            print(f"dbt docs generate against {where} ...", flush=True)
            generate(url)
            print(f"site written to {DOCS_TARGET}", flush=True)
            if args.generate_only:
                return 0
            print(f"dbt docs: http://localhost:{args.port} (Ctrl-C stops it)", flush=True)
            return serve(url, args.port)
    except (RuntimeError, ValueError, psycopg.OperationalError) as exc:
        print(exc, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
