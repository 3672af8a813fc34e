"""placewise_doctor: wiring in placewise.airflow.dags.build_doctor; README "First contact"."""

from placewise.airflow.dags import build_doctor

dag = build_doctor()
