"""Airflow as separate services on one machine: the shape of a multi-host deployment.

What the docker compose deployment runs in containers, this runs as child processes: a
PostgreSQL metadata database (Celery cannot share SQLite), the api-server (tasks report to its
execution API), the scheduler, the dag-processor and, with the CeleryExecutor, Redis as the
broker and N Celery workers. Each worker gets its own name (``--celery-hostname`` and the
hostname Airflow records on every task instance), so a run shows which worker ran which task,
as it would across machines. With the LocalExecutor (no workers) the scheduler runs the tasks.

Only triggered runs run (``use_job_schedule`` off): a scheduled nightly for today must not mix
into a run under test. The broker is isolated from anything else on the same Redis by a database
number, a key prefix and a queue name of its own. Every process is started in its own session
and stopped by its pid (its process group: Airflow's services fork task runners), also when a
start fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

#: Environment variable that names a worker; read by ``worker_hostname``.
WORKER_NAME_ENV = "PLACEWISE_WORKER_NAME"


def worker_hostname() -> str:
    """Airflow's ``[core] hostname_callable`` for the workers: their name, else the FQDN.

    Two workers on one machine would otherwise record the same hostname on their task
    instances.
    """
    return os.environ.get(WORKER_NAME_ENV) or socket.getfqdn()


def redis_reachable(url: str, timeout_s: float = 2.0) -> bool:
    """True when something answers PING at the Redis ``url``."""
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or 6379), timeout=timeout_s
        ) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def sqlalchemy_url(libpq_url: str) -> str:
    """A libpq ``postgresql://`` URL as SQLAlchemy's psycopg2 URL (Airflow's metadata DB)."""
    parts = urlsplit(libpq_url)
    return parts._replace(scheme="postgresql+psycopg2").geturl()


def log_tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file ('' when it does not exist)."""
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Service:
    """One long-running Airflow command (its own process group) and its log file."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, grace_s: float = 20.0) -> None:
        """SIGTERM the service's process group, SIGKILL it after ``grace_s``."""
        if self.process.poll() is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)  # leftover task runners
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)


class ClusterError(RuntimeError):
    """A service did not come up or a run did not finish in time (message has log tails)."""


@dataclass
class AirflowCluster:
    """The running services and the environment they share."""

    env: dict[str, str]
    log_dir: Path
    workers: list[str]
    services: list[Service] = field(default_factory=list)

    def airflow(self) -> str:
        return str(Path(sys.executable).parent / "airflow")

    def start(self, name: str, args: list[str], extra: Mapping[str, str] | None = None) -> Service:
        log_path = self.log_dir / f"{name}.log"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [self.airflow(), *args],
                env={**self.env, **(extra or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.log_dir,
            )
        service = Service(name, process, log_path)
        self.services.append(service)
        return service

    def diagnostics(self, lines: int = 30) -> str:
        """The tail of every service's log, for failure messages."""
        parts = []
        for service in self.services:
            state = "running" if service.running() else f"exited {service.process.returncode}"
            parts.append(
                f"----- {service.name} ({state}) {service.log_path}\n"
                f"{log_tail(service.log_path, lines)}"
            )
        return "\n".join(parts)

    def wait_for(self, what: str, ready: Callable[[], bool], timeout_s: float) -> None:
        """Poll ``ready`` until it is true; fail with every log tail after ``timeout_s`` or as
        soon as a service has died."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            dead = [s.name for s in self.services if not s.running()]
            if dead:
                raise ClusterError(f"{', '.join(dead)} exited while waiting for {what}\n"
                                   + self.diagnostics())  # fmt: skip
            if ready():
                return
            time.sleep(1)
        raise ClusterError(f"timed out after {timeout_s:.0f} s waiting for {what}\n"
                           + self.diagnostics())  # fmt: skip

    def query(self, sql: str, *params: object) -> list[tuple]:
        """Rows of ``sql`` on the metadata database."""
        import psycopg

        url = self.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("+psycopg2", "", 1)
        with psycopg.connect(url) as conn:
            return conn.execute(sql, params).fetchall()

    def wait_until_parsed(self, dag_id: str, timeout_s: float = 240.0) -> None:
        """Wait until the dag-processor has serialised ``dag_id`` (before it can be triggered)."""
        self.wait_for(
            f"the dag-processor to serialise {dag_id}",
            lambda: bool(self.query("select 1 from serialized_dag where dag_id = %s", dag_id)),
            timeout_s,
        )

    def trigger(
        self, dag_id: str, run_id: str, logical_date: str, conf: dict | None = None
    ) -> None:
        """Trigger one run as ``dag.test()`` would for ``logical_date`` (see ``trigger_run``)."""
        command = [sys.executable, "-m", __name__, dag_id, run_id, logical_date,
                   json.dumps(conf or {})]  # fmt: skip
        done = subprocess.run(
            command, env=self.env, capture_output=True, text=True, timeout=180, check=False
        )
        if done.returncode != 0:
            raise ClusterError(f"triggering {dag_id} failed:\n{done.stderr[-3000:]}")

    def wait_for_run(self, dag_id: str, run_id: str, timeout_s: float) -> str:
        """Wait until the run has finished; its final state (``success`` or ``failed``)."""

        def state() -> str | None:
            rows = self.query(
                "select state from dag_run where dag_id = %s and run_id = %s", dag_id, run_id
            )
            return rows[0][0] if rows else None

        try:
            self.wait_for(f"{dag_id} {run_id} to finish",
                          lambda: state() in ("success", "failed"), timeout_s)  # fmt: skip
        except ClusterError as exc:
            tasks = self.query(
                "select task_id, map_index, state, hostname from task_instance "
                "where dag_id = %s and run_id = %s order by task_id, map_index",
                dag_id,
                run_id,
            )
            raise ClusterError(f"task instances: {tasks}\n{exc}") from exc
        return str(state())

    def stop(self) -> None:
        """Stop the services in reverse start order (workers last started, first stopped)."""
        for service in reversed(self.services):
            service.stop()


def cluster_environment(
    base_env: Mapping[str, str],
    *,
    metadata_url: str,
    api_port: int,
    redis_url: str | None = None,
    worker_concurrency: int = 2,
) -> dict[str, str]:
    """``base_env`` (see ``airflow_env.airflow_environment``) on a PostgreSQL metadata DB, with
    the CeleryExecutor when ``redis_url`` names a broker, else the LocalExecutor."""
    tag = uuid.uuid4().hex[:10]
    secret = uuid.uuid4().hex
    executor: dict[str, str] = {"AIRFLOW__CORE__EXECUTOR": "LocalExecutor"}
    if redis_url:
        executor = {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CELERY__BROKER_URL": redis_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + sqlalchemy_url(metadata_url),
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX": f"placewise-{tag}-",
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": f"placewise-{tag}",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(worker_concurrency),
        }
    return {
        **base_env,
        **executor,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sqlalchemy_url(metadata_url),
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{__name__}.worker_hostname",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API_AUTH__JWT_SECRET": secret,
        "AIRFLOW__API__SECRET_KEY": secret,
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
    }


@contextlib.contextmanager
def airflow_cluster(
    env: Mapping[str, str],
    log_dir: Path,
    *,
    workers: int = 0,
    start_timeout_s: float = 240.0,
) -> Iterator[AirflowCluster]:
    """Migrate the metadata DB, start api-server, scheduler, dag-processor and ``workers``
    Celery workers (none for the LocalExecutor), wait until all are up; stop every one of
    them on exit."""
    log_dir.mkdir(parents=True, exist_ok=True)
    names = [f"worker{i + 1}" for i in range(workers)]
    cluster = AirflowCluster(dict(env), log_dir, names)
    try:
        migrate = subprocess.run(
            [cluster.airflow(), "db", "migrate"],
            env=cluster.env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if migrate.returncode != 0:
            raise ClusterError(f"airflow db migrate failed:\n{migrate.stdout[-3000:]}"
                               f"\n{migrate.stderr[-3000:]}")  # fmt: skip
        port = cluster.env["AIRFLOW__API__PORT"]
        cluster.start(
            "api-server",
            ["api-server", "--host", "127.0.0.1", "--port", port, "--workers", "1",
             "--apps", "execution"],
        )  # fmt: skip
        cluster.start("scheduler", ["scheduler"])
        cluster.start("dag-processor", ["dag-processor"])
        queue = cluster.env.get("AIRFLOW__OPERATORS__DEFAULT_QUEUE", "default")
        for name in names:
            cluster.start(
                name,
                ["celery", "worker", "--celery-hostname", f"{name}@%h", "--queues", queue,
                 "--skip-serve-logs", "--without-mingle", "--without-gossip"],
                extra={WORKER_NAME_ENV: name},
            )  # fmt: skip
        cluster.wait_for(
            "the api-server's execution API",
            lambda: _answers(f"http://127.0.0.1:{port}/execution/health"),
            start_timeout_s,
        )
        for name in names:
            worker_log = log_dir / f"{name}.log"
            cluster.wait_for(
                f"Celery {name} to be ready",
                lambda path=worker_log: " ready." in log_tail(path, 200),
                start_timeout_s,
            )
        yield cluster
    finally:
        cluster.stop()


def _answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=5).status_code < 500
    except httpx.HTTPError:
        return False


def trigger_run(dag_id: str, run_id: str, logical_date: str, conf: dict) -> None:
    """Create a manual run whose data interval follows from ``logical_date``.

    ``airflow dags trigger --logical-date`` derives the data interval from the current time,
    so a nightly triggered for a past date would load the days before today; ``dag.test()``
    (the single-process reference) derives it from the logical date, and so does this.
    """
    from datetime import datetime

    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.utils.types import DagRunTriggeredByType

    when = datetime.fromisoformat(logical_date)
    trigger_dag(
        dag_id,
        triggered_by=DagRunTriggeredByType.CLI,
        run_id=run_id,
        logical_date=when,
        run_after=when,
        conf=conf,
    )


if __name__ == "__main__":
    trigger_run(sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4]))
