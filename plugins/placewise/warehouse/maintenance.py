"""Planner statistics of the tables the pipeline writes, kept fresh by the pipeline itself.

PostgreSQL plans with the statistics ``ANALYZE`` last gathered. Where autovacuum is off (or
slower than a backfill), the raw and ops tables grow by orders of magnitude without new
statistics, and the join of ``placewise_ops.loaded_partitions`` with a raw table that dbt's
incremental facts run turns into a nested loop over the whole history. Every sync and replay
therefore ends with :func:`analyze_changed`: it analyses exactly the tables in ``placewise_raw``
and ``placewise_ops`` whose statistics went stale since their last analyse (PostgreSQL's own
counter, ``pg_stat_user_tables.n_mod_since_analyze``, measured against autovacuum's default rule:
at least 50 rows plus 10% of the table changed), so a run that changed nothing costs one catalog
query, a backfill leaves every table it grew with fresh statistics, and a nightly that touched a
few partitions of a long history does not re-read the whole table every night.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import psycopg
from psycopg import pq, sql

from placewise.warehouse.schema import OPS_SCHEMA, RAW_SCHEMA

log = logging.getLogger(__name__)

#: The schemas the loader writes to (dbt analyses nothing of its own here).
PIPELINE_SCHEMAS: tuple[str, ...] = (RAW_SCHEMA, OPS_SCHEMA)
#: A table's statistics are stale once this many rows plus STALE_FRACTION of its rows changed
#: (PostgreSQL's autovacuum_analyze_threshold / autovacuum_analyze_scale_factor defaults).
STALE_ROWS = 50
STALE_FRACTION = 0.1


def changed_tables(
    conn: psycopg.Connection, schemas: Iterable[str] = PIPELINE_SCHEMAS
) -> list[tuple[str, str]]:
    """(schema, table) of every table in ``schemas`` whose statistics are stale.

    Stale: more than ``STALE_ROWS`` + ``STALE_FRACTION`` x its rows were modified since the last
    analyse; a table that holds rows but was never analysed is stale too. The statistics
    counters of this connection's own writes reach the shared counters only when the backend
    is idle, so they are flushed first (``pg_stat_force_next_flush``).
    """
    if conn.info.transaction_status != pq.TransactionStatus.IDLE:
        raise RuntimeError(
            "analyze_changed needs a connection outside a transaction: its own writes are "
            "counted only once they are committed (commit first, or use an autocommit "
            "connection)"
        )
    wanted = list(schemas)
    was_autocommit = conn.autocommit
    conn.autocommit = True
    try:
        conn.execute("select pg_stat_force_next_flush()")
        rows = conn.execute(
            """
            select s.schemaname, s.relname
            from pg_stat_user_tables as s
            join pg_class as c on c.oid = s.relid
            where s.schemaname = any(%s)
              and ((c.reltuples >= 0
                    and s.n_mod_since_analyze > %s + %s * c.reltuples)
                   or (c.reltuples < 0
                       and (s.n_mod_since_analyze > 0 or pg_relation_size(c.oid) > 0)))
            order by s.schemaname, s.relname
            """,
            (wanted, STALE_ROWS, STALE_FRACTION),
        ).fetchall()
    finally:
        conn.autocommit = was_autocommit
    return [(str(schema), str(table)) for schema, table in rows]


def analyze_changed(
    conn: psycopg.Connection, schemas: Iterable[str] = PIPELINE_SCHEMAS
) -> list[str]:
    """ANALYZE every raw/ops table whose statistics went stale; return their names.

    Call it once at the end of a run that loaded anything (sync, replay, backfill) on a
    connection outside a transaction. Cheap when nothing changed; safe to run concurrently
    (PostgreSQL serialises two ANALYZEs of one table, loads are not blocked).
    """
    analysed: list[str] = []
    for schema, table in changed_tables(conn, schemas):
        name = f"{schema}.{table}"
        was_autocommit = conn.autocommit
        conn.autocommit = True
        try:
            conn.execute(sql.SQL("analyze {}").format(sql.Identifier(schema, table)))
        except psycopg.errors.UndefinedTable:
            # Dropped between the catalog query and now (a test or an operator): nothing to do.
            continue
        finally:
            conn.autocommit = was_autocommit
        analysed.append(name)
    if analysed:
        log.info("analysed %d changed table(s): %s", len(analysed), ", ".join(analysed))
    return analysed
