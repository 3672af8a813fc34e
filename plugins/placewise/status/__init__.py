"""What operators look at: the pipeline's state read from the warehouse, as tables and plots.

``queries`` reads ``placewise_ops`` and ``placewise_audit`` in a read-only transaction into
pandas DataFrames, ``render`` turns them into one self-contained HTML page (the Airflow plugin's
page and ``placewise status --html``), ``text`` into terminal tables (``placewise status``).
Nothing here imports Airflow.
"""

#: Where the Airflow UI shows the page (the nav entry "Placewise"): ``/plugin/<UI_ROUTE>``, framing
#: the app the plugin mounts on the api-server at ``/<UI_ROUTE>/``.
UI_ROUTE = "placewise"
