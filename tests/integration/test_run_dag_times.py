"""A DAG run by ``placewise.local.run_dag`` (the demo's runs) is recorded with its real start
and duration in the Airflow metadata, not as if it had started at its logical date."""

from __future__ import annotations

import sqlite3
import textwrap
from datetime import UTC, datetime, timedelta

import pytest
from placewise.local.airflow_env import airflow_environment
from placewise.local.run_dag import run_in_child

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TINY_DAG = textwrap.dedent(
    """
    import time
    from datetime import datetime, UTC

    from airflow.sdk import dag, task


    @dag(schedule="@daily", start_date=datetime(2026, 1, 1, tzinfo=UTC), catchup=False)
    def run_times_probe():
        @task
        def wait_a_second() -> None:
            time.sleep(1)

        wait_a_second()


    run_times_probe()
    """
)


def _utc(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def test_a_run_for_midnight_is_recorded_as_started_when_it_ran(tmp_path):
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "run_times_probe.py").write_text(TINY_DAG)
    home = tmp_path / "airflow"
    env = airflow_environment(
        home,
        warehouse_url="postgresql://unused@127.0.0.1:1/unused",
        api_url="http://127.0.0.1:1",
        api_token="unused",
        clubs_file=tmp_path / "clubs.yml",
        landing_root=tmp_path / "landing",
        extra={"AIRFLOW__CORE__DAGS_FOLDER": str(dags)},
    )
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    began = datetime.now(UTC)
    result = run_in_child(
        env, "run_times_probe", midnight.isoformat(), None, tmp_path / "run.log", timeout_s=900
    )
    ended = datetime.now(UTC)
    assert result["state"] == "success", (tmp_path / "run.log").read_text()[-4000:]

    with sqlite3.connect(home / "airflow.db") as db:
        run_start, run_end, logical = db.execute(
            "select start_date, end_date, logical_date from dag_run where run_id = ?",
            (result["run_id"],),
        ).fetchone()
        task_times = db.execute(
            "select start_date, end_date from task_instance where run_id = ?",
            (result["run_id"],),
        ).fetchall()
    run_start, run_end = _utc(run_start), _utc(run_end)
    # The logical date stays midnight (the data interval the DAG reads is unchanged) ...
    assert _utc(logical) == midnight
    # ... but the run starts and ends inside this test's own wall-clock window.
    assert began - timedelta(seconds=5) <= run_start <= run_end <= ended + timedelta(seconds=5)
    assert run_end - run_start < timedelta(minutes=10)
    assert len(task_times) == 1
    task_start, task_end = (_utc(t) for t in task_times[0])
    assert run_start <= task_start <= task_end <= run_end
    assert task_end - task_start >= timedelta(seconds=1)
