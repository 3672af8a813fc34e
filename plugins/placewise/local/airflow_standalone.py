"""``make airflow``: Airflow standalone (UI, scheduler, triggerer, dag-processor), local stack.

Same services as the demo (embedded PostgreSQL in ``.demo/postgres`` unless ``WAREHOUSE_URL``,
the simulator unless ``PLACEWISE_API_URL``), same ``.demo/airflow`` home, so the demo's runs show
up in the UI. Parallelism is sized for the machine. Ctrl-C (or SIGTERM) stops Airflow and then
every process started here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from placewise.config import REPO_ROOT
from placewise.demo import demo_postgres_port
from placewise.local.airflow_env import airflow_environment
from placewise.local.embedded_postgres import EmbeddedPostgres, ensure_database
from placewise.local.processes import SimulatorProcess, start_simulator
from placewise.registry import Club, render_registry

DEMO_DIR = REPO_ROOT / ".demo"


def main() -> int:
    DEMO_DIR.mkdir(exist_ok=True)
    postgres: EmbeddedPostgres | None = None
    simulator: SimulatorProcess | None = None
    airflow: subprocess.Popen[bytes] | None = None
    try:
        warehouse_url = os.environ.get("WAREHOUSE_URL")
        if not warehouse_url:
            postgres = EmbeddedPostgres(DEMO_DIR / "postgres", port=demo_postgres_port())
            warehouse_url = ensure_database(postgres.start(), "warehouse")
        api_url = os.environ.get("PLACEWISE_API_URL")
        token = os.environ.get("PLACEWISE_API_TOKEN", "")
        clubs_file = Path(
            os.environ.get("PLACEWISE_CLUBS_FILE", REPO_ROOT / "config" / "clubs.yml")
        )
        if not api_url:
            simulator = start_simulator(
                ["--clubs", "3", "--history-days", "60"],
                log_path=DEMO_DIR / "logs" / "simulator.log",
            )
            api_url, token = simulator.url, "dev-token"
            clubs_file = DEMO_DIR / "clubs.yml"
            clubs_file.write_text(
                render_registry([Club(c["id"], c["name"]) for c in simulator.clubs()])
            )
        cores = os.cpu_count() or 2
        env = airflow_environment(
            DEMO_DIR / "airflow",
            warehouse_url=warehouse_url,
            api_url=api_url,
            api_token=token,
            clubs_file=clubs_file,
            landing_root=os.environ.get("PLACEWISE_LANDING_ROOT", str(DEMO_DIR / "landing")),
            extra={
                "AIRFLOW__CORE__PARALLELISM": str(2 * cores),
                "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(2 * cores),
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            },
        )
        print(f"warehouse: {warehouse_url}\nAPI: {api_url}\nclubs: {clubs_file}", flush=True)
        print("Airflow UI: http://localhost:8080 (the admin password is printed below)", flush=True)
        airflow = subprocess.Popen(
            [str(Path(sys.executable).parent / "airflow"), "standalone"],
            env=env,
            start_new_session=True,
        )
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        return airflow.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if airflow is not None and airflow.poll() is None:
            os.killpg(airflow.pid, signal.SIGTERM)
            try:
                airflow.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(airflow.pid, signal.SIGKILL)
        if simulator is not None:
            simulator.stop()
        if postgres is not None:
            postgres.stop()


if __name__ == "__main__":
    sys.exit(main())
