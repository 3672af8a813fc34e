"""placewise_nightly: wiring in placewise.airflow.dags.build_nightly; runbook in README."""

from placewise.airflow.dags import build_nightly

dag = build_nightly()
