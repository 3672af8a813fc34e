"""``placewise doctor``: what this API does where the docs leave a reading open.

Run once against an API before the first sync. It spends a bounded number of tokens (the plan
and its cost are printed first), checks transport, auth and every assumption the client makes
with one probe each (``probes``), prints one table (``findings``), writes the readings found to
the API settings file the client reads (``settings_file``), and records its findings and the
API's report Metadata in the warehouse when one is configured (``store``). Nothing here imports
Airflow: the CLI and the ``placewise_doctor`` DAG both call ``run_doctor``.
"""

from placewise.doctor.findings import Finding, Verdict, render_table
from placewise.doctor.run import (
    DEFAULT_MAX_TOKENS,
    DoctorResult,
    configured_reports,
    run_doctor,
)
from placewise.doctor.settings_file import check_settings_file, write_settings

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "DoctorResult",
    "Finding",
    "Verdict",
    "check_settings_file",
    "configured_reports",
    "render_table",
    "run_doctor",
    "write_settings",
]
