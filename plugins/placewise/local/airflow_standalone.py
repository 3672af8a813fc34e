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

from placewise.local.stack import LocalStack, StackConfigError, local_stack


def main() -> int:
    try:
        with local_stack() as stack:
            return _standalone(stack)
    except StackConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


def _standalone(stack: LocalStack) -> int:
    """Run ``airflow standalone`` until it exits or we are interrupted, then stop its group."""
    cores = os.cpu_count() or 2
    env = stack.airflow_env(
        {
            "AIRFLOW__CORE__PARALLELISM": str(2 * cores),
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(2 * cores),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            # The UI on this machine only (SimpleAuthManager keeps its passwords in plain text,
            # and warns when the api-server listens beyond localhost); set it to expose the UI.
            "AIRFLOW__API__HOST": os.environ.get("AIRFLOW__API__HOST", "127.0.0.1"),
        }
    )
    print(f"warehouse: {stack.warehouse_url}\nAPI: {stack.api_url}\nclubs: {stack.clubs_file}")
    print("Airflow UI: http://localhost:8080 (the admin password is printed below)", flush=True)
    airflow = subprocess.Popen(
        [str(Path(sys.executable).parent / "airflow"), "standalone"],
        env=env,
        start_new_session=True,
    )
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        return airflow.wait()
    finally:
        if airflow.poll() is None:
            os.killpg(airflow.pid, signal.SIGTERM)
            try:
                airflow.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(airflow.pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())
