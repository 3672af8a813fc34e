"""Loading landed payloads into PostgreSQL: DDL, COPY, slice replacement, quarantine."""
