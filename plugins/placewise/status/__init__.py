"""What operators look at: the pipeline's state read from the warehouse, as tables and plots.

``queries`` reads ``placewise_ops`` and ``placewise_audit`` in a read-only transaction into
pandas DataFrames, ``render`` turns them into one self-contained HTML page (the Airflow plugin's
page and ``placewise status --html``), ``text`` into terminal tables (``placewise status``).
Nothing here imports Airflow.
"""
