"""Local stand-ins so the pipeline runs with pip alone (embedded PostgreSQL, processes)."""
