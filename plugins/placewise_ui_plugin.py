"""Registers the "Placewise" status page with Airflow (see ``placewise.airflow.ui``).

Airflow's plugin loader imports every ``.py`` file of the plugins folder as a top-level module
and skips the ``placewise`` package (``.airflowignore``); this file is the one it loads.
"""

from placewise.airflow.ui import PlacewisePlugin

__all__ = ["PlacewisePlugin"]
