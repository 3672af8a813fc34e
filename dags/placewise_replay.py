"""placewise_replay: wiring in placewise.airflow.dags.build_replay; runbook in README."""

from placewise.airflow.dags import build_replay

dag = build_replay()
