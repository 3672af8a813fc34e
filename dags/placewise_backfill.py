"""placewise_backfill: wiring in placewise.airflow.dags.build_backfill; runbook in README."""

from placewise.airflow.dags import build_backfill

dag = build_backfill()
