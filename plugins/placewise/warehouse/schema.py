"""Warehouse DDL owned by the pipeline: raw landing tables and operations tables.

The code creates every schema and table it writes to (idempotent ``IF NOT EXISTS`` migrations), so
a new warehouse needs no hand-run SQL. dbt reads these tables as sources and owns everything
downstream (``placewise_staging``, ``placewise_marts``, ``placewise_audit``).

Raw tables hold one table per report, shaped by the report's result format:

* statistics  -> one row per statistics series of a slice,
* timeseries  -> one row per (series x bucket) with a non-null value,
* records     -> one row per record.

Every raw row carries typed lineage columns (``_slice_id``, ``_scope``, ``_loaded_at``,
``_response_sha256``, ``_row_no``) so any row can be traced to the landed file it came from.
"""

from __future__ import annotations

from collections.abc import Iterable

import psycopg

RAW_SCHEMA = "placewise_raw"
OPS_SCHEMA = "placewise_ops"

STATISTICS_REPORTS: tuple[str, ...] = ("sendings_stats",)
TIMESERIES_REPORTS: tuple[str, ...] = (
    "sendings_events_history",
    "sendings_recipients_statistics",
    "links_visits_history",
    "member_balance",
    "members_count_history",
    "members_count_snapshot",
)
RECORDS_REPORTS: tuple[str, ...] = (
    "sendings",
    "sendings_links",
    "sendings_links_stats",
    "members",
    "members_grouped_count",
)

_LINEAGE = """
    _slice_id         bigint      not null,
    _scope            text        not null,
    _loaded_at        timestamptz not null,
    _response_sha256  text        not null,
    _row_no           integer     not null,
"""

_STATISTICS_COLUMNS = """
    loyalty_club_id     bigint,
    aggregation         text        not null,
    window_start_local  timestamp   not null,
    window_end_local    timestamp   not null,
    stat_date           date        not null,
    timezone            text,
    label               jsonb       not null,
    value               numeric     not null
"""

_TIMESERIES_COLUMNS = """
    loyalty_club_id  bigint,
    aggregation      text        not null,
    interval         text        not null,
    bucket_local     timestamp   not null,
    bucket_start     timestamptz,
    bucket_date      date        not null,
    timezone         text,
    label            jsonb       not null,
    value            numeric     not null
"""

_RECORDS_COLUMNS = """
    loyalty_club_id  bigint,
    aggregation      text        not null,
    record_key       text        not null,
    record           jsonb       not null
"""

_OPS_DDL = f"""
create schema if not exists {OPS_SCHEMA};

-- One row per slice: one API request (or one paged request set) for
-- (scope, report, aggregation, interval, window), as landed and loaded.
create table if not exists {OPS_SCHEMA}.slices (
    slice_id          bigserial   primary key,
    slice_key         text        not null,
    scope             text        not null,
    club_ids          bigint[],
    report            text        not null,
    result_type       text        not null,
    aggregation       text        not null,
    interval          text,
    window_start      timestamp,
    window_end        timestamp,
    endpoint          text        not null,
    request_body      jsonb       not null,
    response_sha256   text,
    landed_paths      text[]      not null default '{{}}',
    bytes             bigint      not null default 0,
    rows              bigint      not null default 0,
    tokens_spent      integer     not null default 0,
    attempts          integer     not null default 0,
    requested_at      timestamptz,
    server_date       timestamptz,
    fetch_seconds     double precision,
    load_seconds      double precision,
    loaded_at         timestamptz,
    status            text        not null,
    status_detail     text,
    run_id            text,
    unknown_enum_values jsonb
);
create index if not exists slices_key_idx on {OPS_SCHEMA}.slices (slice_key, slice_id);
create index if not exists slices_report_idx on {OPS_SCHEMA}.slices (report, scope, status);

-- Which slice currently owns each (scope, report, aggregation, interval, local day).
-- dbt's incremental models rebuild exactly the partitions whose owner changed.
create table if not exists {OPS_SCHEMA}.loaded_partitions (
    scope            text        not null,
    loyalty_club_id  bigint,
    report           text        not null,
    aggregation      text        not null,
    interval         text        not null,
    partition_date   date        not null,
    slice_id         bigint      not null,
    loaded_at        timestamptz not null,
    primary key (scope, report, aggregation, interval, partition_date)
);
create index if not exists loaded_partitions_slice_idx
    on {OPS_SCHEMA}.loaded_partitions (report, slice_id);

-- The club registry as last synced from config/clubs.yml (dbt's dim_loyalty_clubs reads it).
create table if not exists {OPS_SCHEMA}.clubs (
    loyalty_club_id  bigint      primary key,
    name             text        not null,
    timezone         text,
    enabled          boolean     not null,
    reports          text[]      not null default '{{}}',
    updated_at       timestamptz not null default now()
);

-- Payloads that failed validation: never loaded, kept for inspection and replay.
create table if not exists {OPS_SCHEMA}.quarantine (
    quarantine_id    bigserial   primary key,
    slice_key        text        not null,
    scope            text        not null,
    report           text        not null,
    aggregation      text        not null,
    window_start     timestamp,
    window_end       timestamp,
    landed_paths     text[]      not null,
    reason           text        not null,
    quarantined_at   timestamptz not null default now(),
    run_id           text
);
"""


def raw_table_ddl(report: str, result_type: str) -> str:
    """Return the CREATE TABLE statement of one report's raw table."""
    columns = {
        "statistics": _STATISTICS_COLUMNS,
        "timeseries": _TIMESERIES_COLUMNS,
        "records": _RECORDS_COLUMNS,
    }[result_type]
    partition_columns = {
        "statistics": "_scope, aggregation, stat_date",
        "timeseries": "_scope, aggregation, interval, bucket_date",
        "records": "_scope, aggregation",
    }[result_type]
    return (
        f"create table if not exists {RAW_SCHEMA}.{report} ({_LINEAGE}{columns});\n"
        f"create index if not exists {report}_slice_idx on {RAW_SCHEMA}.{report} (_slice_id);\n"
        f"create index if not exists {report}_partition_idx "
        f"on {RAW_SCHEMA}.{report} ({partition_columns});\n"
    )


def all_raw_tables() -> Iterable[tuple[str, str]]:
    """Yield (report, result_type) for every raw table the pipeline owns."""
    for report in STATISTICS_REPORTS:
        yield report, "statistics"
    for report in TIMESERIES_REPORTS:
        yield report, "timeseries"
    for report in RECORDS_REPORTS:
        yield report, "records"


def connect(conninfo: str) -> psycopg.Connection:
    """Open an autocommit connection (every write below runs in an explicit transaction)
    and make sure the schemas exist."""
    conn = psycopg.connect(conninfo, autocommit=True, application_name="placewise-warehouse")
    migrate(conn)
    return conn


def migrate(conn: psycopg.Connection) -> None:
    """Create the raw and ops schemas and tables if missing. Safe to run on every start.

    An advisory lock serialises concurrent migrations from several workers.
    """
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('placewise_migrate'))")
        conn.execute(_OPS_DDL)
        conn.execute(f"create schema if not exists {RAW_SCHEMA}")
        for report, result_type in all_raw_tables():
            conn.execute(raw_table_ddl(report, result_type))
