"""Warehouse DDL owned by the pipeline: raw landing tables and operations tables.

The code owns every schema and table it writes to (idempotent ``IF NOT EXISTS`` migrations), so
a new warehouse needs no hand-run SQL: ``placewise migrate`` (or the ``migrate`` task that starts
every DAG) runs ``migrate``. Migrating is an explicit step, never a side effect of connecting;
``connect_migrated`` checks the tables are there and otherwise fails with a message that says to
run ``placewise migrate``, instead of a raw "relation does not exist" halfway through a run.
dbt reads these tables as sources and owns everything downstream (``placewise_staging``,
``placewise_marts``, ``placewise_audit``).

Raw tables hold one table per report, shaped by the report's result format:

* statistics  -> one row per statistics series of a slice,
* timeseries  -> one row per (series x bucket) with a non-null value,
* records     -> one row per record.

Every raw row carries typed lineage columns (``_slice_id``, ``_scope``, ``_loaded_at``,
``_response_sha256``, ``_row_no``) so any row can be traced to the landed file it came from.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

import psycopg

RAW_SCHEMA = "placewise_raw"
OPS_SCHEMA = "placewise_ops"
#: The shared API token buckets of ``placewise.api.pacing.PostgresPacer``.
TOKEN_BUCKETS_TABLE = f"{OPS_SCHEMA}.api_token_buckets"
#: Every ops table ``migrate`` creates (the raw tables are listed by ``all_raw_tables``).
OPS_TABLES: tuple[str, ...] = (
    "slices",
    "loaded_partitions",
    "clubs",
    "quarantine",
    "api_token_buckets",
    "api_findings",
    "report_metadata",
)


class SliceStatus(StrEnum):
    """``placewise_ops.slices.status``: what became of one landed slice in the warehouse."""

    LOADED = "loaded"
    SUPERSEDED = "superseded"
    QUARANTINED = "quarantined"


class WarehouseNotMigratedError(RuntimeError):
    """The warehouse lacks tables the pipeline needs; ``placewise migrate`` creates them."""


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
#: Per result type, the raw table of every report without a table of its own: a report the
#: API's Metadata describes and the static catalog lacks is loaded there, keyed by ``report``.
GENERIC_TABLES: dict[str, str] = {
    "statistics": "generic_statistics",
    "timeseries": "generic_series",
    "records": "generic_records",
}

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
-- Columns added after the first release (idempotent for warehouses migrated before):
-- buckets of an answer outside the slice's own days, dropped rather than loaded; and the
-- as-of time of the answer: its Date header, else the time it was requested.
alter table {OPS_SCHEMA}.slices add column if not exists dropped_buckets integer not null default 0;
alter table {OPS_SCHEMA}.slices add column if not exists as_of timestamptz;
alter table {OPS_SCHEMA}.slices add column if not exists as_of_source text;
create index if not exists slices_key_idx on {OPS_SCHEMA}.slices (slice_key, slice_id);
create index if not exists slices_report_idx on {OPS_SCHEMA}.slices (report, scope, status);
-- The loaded slices of one (report, scope, aggregation, interval) whose window ends after a
-- day: the candidates a load may supersede. Partial, so superseded history is not read.
create index if not exists slices_loaded_window_idx
    on {OPS_SCHEMA}.slices (report, scope, aggregation, interval, window_end)
    where status = 'loaded';

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
-- Partitions a slice still owns, by slice alone: the loader's supersede and unchanged checks.
create index if not exists loaded_partitions_owner_idx
    on {OPS_SCHEMA}.loaded_partitions (slice_id);
-- Partitions (re)loaded since a point in time: which days a dbt run's data tests look at.
create index if not exists loaded_partitions_loaded_at_idx
    on {OPS_SCHEMA}.loaded_partitions (loaded_at);

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

-- The pacer's view of the API's token buckets, shared by every task and process of a run;
-- state holds the line of waiting requests and the outstanding leases (placewise.api.fairness).
create table if not exists {TOKEN_BUCKETS_TABLE} (
    bucket      text             primary key,
    tokens      double precision not null,
    updated_at  timestamptz      not null,
    state       jsonb            not null default '{{}}'
);
-- Warehouses migrated before the column existed get it; checked first, because ALTER TABLE would
-- lock the table (and the running pacers) even when there is nothing to add.
do $$
begin
    if not exists (select 1 from information_schema.columns
                   where table_schema = '{OPS_SCHEMA}' and table_name = 'api_token_buckets'
                     and column_name = 'state') then
        alter table {TOKEN_BUCKETS_TABLE} add column state jsonb not null default '{{}}';
    end if;
end
$$;

-- What `placewise doctor` found, one row per assumption and run (the table it prints).
create table if not exists {OPS_SCHEMA}.api_findings (
    run_id       text        not null,
    position     integer     not null,
    checked_at   timestamptz not null,
    api_url      text        not null,
    assumption   text        not null,
    variant      text,
    value        text,
    we_assume    text        not null,
    api_does     text        not null,
    verdict      text        not null,
    tokens       integer     not null,
    blocker      text,
    primary key (run_id, position)
);

-- The API's own Metadata of each report, as the doctor last read it: the live catalog.
create table if not exists {OPS_SCHEMA}.report_metadata (
    report       text        primary key,
    metadata     jsonb       not null,
    api_url      text        not null,
    fetched_at   timestamptz not null
);
"""


def raw_table_ddl(report: str, result_type: str, *, generic: bool = False) -> str:
    """Return the CREATE TABLE statement of one report's raw table.

    A ``generic`` table holds several reports: its rows carry the ``report`` they belong to,
    which leads the partition index as the slice replacement deletes by it.
    """
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
    if generic:
        columns = "    report           text        not null," + columns
        partition_columns = "report, " + partition_columns
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


def generic_table_ddl(result_type: str) -> str:
    """The CREATE TABLE of one generic raw table: a report's own columns plus ``report``."""
    return raw_table_ddl(GENERIC_TABLES[result_type], result_type, generic=True)


def raw_table(report: str, result_type: str) -> tuple[str, bool]:
    """The raw table a report loads into and whether it is a generic one (keyed by report)."""
    own = {"statistics": STATISTICS_REPORTS, "timeseries": TIMESERIES_REPORTS,
           "records": RECORDS_REPORTS}[result_type]  # fmt: skip
    if report in own:
        return report, False
    return GENERIC_TABLES[result_type], True


def connect(conninfo: str) -> psycopg.Connection:
    """Open an autocommit connection (every write runs in an explicit transaction).

    It only connects: the schema is created by ``migrate``, an explicit step.
    """
    return psycopg.connect(conninfo, autocommit=True, application_name="placewise-warehouse")


def migrate(conn: psycopg.Connection) -> None:
    """Create the raw and ops schemas and tables if missing. Safe to run any number of times.

    An advisory lock serialises concurrent migrations from several workers.
    """
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('placewise_migrate'))")
        conn.execute(_OPS_DDL)
        conn.execute(f"create schema if not exists {RAW_SCHEMA}")
        for report, result_type in all_raw_tables():
            conn.execute(raw_table_ddl(report, result_type))
        for result_type in GENERIC_TABLES:
            conn.execute(generic_table_ddl(result_type))


def migrate_warehouse(conninfo: str) -> None:
    """Connect to the warehouse at ``conninfo`` and migrate it (``placewise migrate``)."""
    with connect(conninfo) as conn:
        migrate(conn)


def expected_tables() -> list[str]:
    """Every table ``migrate`` creates, as ``schema.table``."""
    return (
        [f"{OPS_SCHEMA}.{t}" for t in OPS_TABLES]
        + [f"{RAW_SCHEMA}.{report}" for report, _ in all_raw_tables()]
        + [f"{RAW_SCHEMA}.{table}" for table in GENERIC_TABLES.values()]
    )


#: Columns ``migrate`` adds to tables that older warehouses already have (``schema.table.column``).
ADDED_COLUMNS: tuple[str, ...] = (
    f"{OPS_SCHEMA}.slices.dropped_buckets",
    f"{OPS_SCHEMA}.slices.as_of",
    f"{OPS_SCHEMA}.slices.as_of_source",
)


def missing_tables(conn: psycopg.Connection) -> list[str]:
    """The tables ``migrate`` would create that the warehouse does not have, and the columns
    it would add to the tables it has (one query)."""
    wanted = expected_tables()
    rows = conn.execute(
        """
        select name from unnest(%s::text[]) as name where to_regclass(name) is null
        union all
        select name from unnest(%s::text[]) as name
        where to_regclass(split_part(name, '.', 1) || '.' || split_part(name, '.', 2)) is not null
          and not exists (
            select 1 from information_schema.columns c
            where c.table_schema = split_part(name, '.', 1)
              and c.table_name = split_part(name, '.', 2)
              and c.column_name = split_part(name, '.', 3))
        """,
        (wanted, list(ADDED_COLUMNS)),
    ).fetchall()
    return [name for (name,) in rows]


def not_migrated_message(missing: list[str]) -> str:
    """The error text for a warehouse without the pipeline's tables: what is missing and the fix."""
    shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    return (
        f"the warehouse is not migrated ({shown} missing): run `placewise migrate` "
        "(in Airflow, the DAGs' migrate task does it)"
    )


def require_migrated(conn: psycopg.Connection) -> None:
    """Raise ``WarehouseNotMigratedError`` unless every table ``migrate`` creates exists."""
    missing = missing_tables(conn)
    if missing:
        raise WarehouseNotMigratedError(not_migrated_message(missing))


def connect_migrated(conninfo: str) -> psycopg.Connection:
    """Connect, then fail with a clear ``placewise migrate`` hint if the schema is not there."""
    conn = connect(conninfo)
    try:
        require_migrated(conn)
    except BaseException:
        conn.close()
        raise
    return conn
