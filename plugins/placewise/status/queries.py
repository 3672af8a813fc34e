"""The pipeline's state, read from the warehouse into DataFrames for the status page.

Every query runs in one read-only transaction (``default_transaction_read_only`` for the
session and ``SET TRANSACTION READ ONLY`` for the snapshot), so the page can be served with the
pipeline's own credentials and still cannot change anything, and all sections agree with each
other. ``placewise_ops`` exists once the warehouse is migrated; ``placewise_audit`` only after
dbt built it, so the reconciliation sections are empty (and say why) until then.

Definitions the page relies on:

* a club's *last loaded day* is the newest club-local day it has a loaded partition for;
* its *lag* is the age of the API's as-of (``server_date``) of its stalest report: the report
  whose newest loaded slice is the oldest;
* a *run* is a ``run_id`` (an Airflow run or a CLI invocation); its rows and tokens are those of
  the slices it recorded (a re-fetched slice whose answer had not changed records nothing);
* a quarantine entry is *open* while no slice with the same key was loaded after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import psycopg

if TYPE_CHECKING:
    import pandas as pd

OPS = "placewise_ops"
AUDIT = "placewise_audit"
RECON_TABLE = f"{AUDIT}.recon_sendings_stats_totals"

#: Recent runs listed, and days of history the trend plots and the reconciliation table cover.
DEFAULT_RUNS = 10
DEFAULT_DAYS = 60

#: A quarantine entry ``q`` is open while no slice with its key was loaded after it.
OPEN_QUARANTINE = f"""not exists (
    select 1 from {OPS}.slices as s
    where
        s.slice_key = q.slice_key
        and s.status in ('loaded', 'superseded')
        and s.loaded_at > q.quarantined_at
)"""

CLUBS_SQL = f"""
with club_slices as (
    select split_part(scope, ':', 2)::bigint as loyalty_club_id, *
    from {OPS}.slices
    where scope like 'club:%%'
),
per_report as (
    select loyalty_club_id, report, max(server_date) as newest_as_of
    from club_slices
    where status = 'loaded'
    group by 1, 2
),
stalest as (
    select loyalty_club_id, min(newest_as_of) as data_as_of
    from per_report
    group by 1
),
last_day as (
    select
        coalesce(loyalty_club_id, split_part(scope, ':', 2)::bigint) as loyalty_club_id,
        max(partition_date) as last_loaded_day
    from {OPS}.loaded_partitions
    where scope like 'club:%%'
    group by 1
),
ranked_runs as (
    select
        loyalty_club_id,
        run_id,
        max(coalesce(loaded_at, requested_at)) as run_at,
        sum(rows)::bigint as rows,
        sum(tokens_spent)::bigint as tokens,
        count(*)::integer as slices
    from club_slices
    where run_id is not null
    group by 1, 2
),
last_run as (
    select distinct on (loyalty_club_id) *
    from ranked_runs
    order by loyalty_club_id, run_at desc
),
quarantined as (
    select split_part(q.scope, ':', 2)::bigint as loyalty_club_id, count(*)::integer as open
    from {OPS}.quarantine as q
    where q.scope like 'club:%%' and {OPEN_QUARANTINE}
    group by 1
),
club_ids as (
    select loyalty_club_id from {OPS}.clubs
    union
    select loyalty_club_id from stalest
    union
    select loyalty_club_id from last_day
)
select
    ids.loyalty_club_id as club_id,
    clubs.name as club,
    clubs.enabled,
    last_day.last_loaded_day,
    stalest.data_as_of,
    extract(epoch from now() - stalest.data_as_of) / 3600.0 as lag_hours,
    last_run.run_id as last_run,
    last_run.slices as last_run_slices,
    last_run.rows as last_run_rows,
    last_run.tokens as last_run_tokens,
    coalesce(quarantined.open, 0) as open_quarantine
from club_ids as ids
left join {OPS}.clubs as clubs on ids.loyalty_club_id = clubs.loyalty_club_id
left join stalest on ids.loyalty_club_id = stalest.loyalty_club_id
left join last_day on ids.loyalty_club_id = last_day.loyalty_club_id
left join last_run on ids.loyalty_club_id = last_run.loyalty_club_id
left join quarantined on ids.loyalty_club_id = quarantined.loyalty_club_id
order by ids.loyalty_club_id
"""

RUNS_SQL = f"""
select
    run_id,
    min(requested_at) as started_at,
    max(coalesce(loaded_at, requested_at)) as finished_at,
    string_agg(distinct scope, ' ' order by scope) as scopes,
    count(*)::integer as slices,
    count(*) filter (where status = 'quarantined')::integer as quarantined,
    sum(rows)::bigint as rows,
    sum(tokens_spent)::bigint as tokens
from {OPS}.slices
where run_id is not null
group by run_id
order by max(coalesce(loaded_at, requested_at)) desc
limit %(runs)s
"""

QUARANTINE_SQL = f"""
select
    q.quarantine_id,
    q.quarantined_at,
    q.scope,
    q.report,
    q.aggregation,
    q.window_start,
    q.window_end,
    q.reason,
    q.run_id,
    array_to_string(q.landed_paths, ' ') as landed_paths
from {OPS}.quarantine as q
where {OPEN_QUARANTINE}
order by q.quarantined_at desc, q.quarantine_id desc
"""

TOKENS_PER_NIGHT_SQL = f"""
select
    (requested_at at time zone 'UTC')::date as night,
    case when scope like 'club:%%' then 'club ' || split_part(scope, ':', 2) else 'tenants' end
        as scope,
    sum(tokens_spent)::bigint as tokens
from {OPS}.slices
where requested_at >= (select max(requested_at) from {OPS}.slices) - make_interval(days => %(days)s)
group by 1, 2
order by 1, 2
"""

LAG_HISTORY_SQL = f"""
with club_loads as (
    select
        split_part(scope, ':', 2)::bigint as club_id,
        (loaded_at at time zone 'UTC')::date as night,
        (window_end - interval '1 microsecond')::date as last_day
    from {OPS}.slices
    where
        scope like 'club:%%'
        and status in ('loaded', 'superseded')
        and loaded_at is not null
        and window_end is not null
),
per_night as (
    select club_id, night, max(last_day) as newest_that_night
    from club_loads
    group by 1, 2
),
running as (
    -- The newest day loaded by the end of each night, whichever night loaded it.
    select
        club_id,
        night,
        max(newest_that_night) over (partition by club_id order by night) as newest_day
    from per_night
)
select club_id, night, newest_day, night - newest_day as lag_days
from running
where night >= (select max(night) from per_night) - %(days)s
order by 1, 2
"""

RECON_BY_DAY_SQL = f"""
select
    stat_date,
    count(*)::integer as compared,
    count(*) filter (where status = 'match')::integer as match,
    count(*) filter (where status = 'unsettled')::integer as unsettled,
    count(*) filter (where status = 'incomplete')::integer as incomplete,
    count(*) filter (where status = 'difference')::integer as difference,
    coalesce(sum(abs(difference)), 0)::bigint as abs_difference,
    bool_and(is_settled) as settled,
    case
        when count(*) filter (where status = 'difference') > 0 then 'difference'
        when count(*) filter (where status = 'incomplete') > 0 then 'incomplete'
        when count(*) filter (where status = 'unsettled') > 0 then 'unsettled'
        else 'match'
    end as status
from {RECON_TABLE}
where stat_date >= (select max(stat_date) from {RECON_TABLE}) - %(days)s
group by stat_date
order by stat_date desc
"""


@dataclass(frozen=True)
class StatusReport:
    """One consistent snapshot of every section of the status page."""

    generated_at: datetime
    database: str
    clubs: pd.DataFrame
    runs: pd.DataFrame
    reconciliation: pd.DataFrame
    quarantine: pd.DataFrame
    tokens_per_night: pd.DataFrame
    lag_history: pd.DataFrame
    audit_built: bool


def read_only_connection(conninfo: str) -> psycopg.Connection:
    """A connection whose every transaction is read-only (the server refuses any write)."""
    conn = psycopg.connect(
        conninfo,
        application_name="placewise-status",
        options="-c default_transaction_read_only=on",
    )
    conn.read_only = True
    return conn


def _frame(conn: psycopg.Connection, sql: str, params: dict[str, int]) -> pd.DataFrame:
    import pandas as pd

    with conn.cursor() as cur:
        cur.execute(sql, params)
        columns = [c.name for c in cur.description or []]
        return pd.DataFrame(cur.fetchall(), columns=columns)


def _exists(conn: psycopg.Connection, relation: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (relation,)).fetchone()[0]


def _empty(sql_columns: list[str]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(columns=sql_columns)


RECON_COLUMNS = [
    "stat_date",
    "compared",
    "match",
    "unsettled",
    "incomplete",
    "difference",
    "abs_difference",
    "settled",
    "status",
]


def read_status(
    conninfo: str, *, runs: int = DEFAULT_RUNS, days: int = DEFAULT_DAYS
) -> StatusReport:
    """Read every section of the status page in one read-only snapshot of the warehouse."""
    if runs <= 0 or days <= 0:
        raise ValueError(f"runs and days must be positive, got runs={runs} days={days}")
    params = {"runs": runs, "days": days}
    with read_only_connection(conninfo) as conn:
        conn.execute("set transaction isolation level repeatable read, read only")
        generated_at = conn.execute("select now()").fetchone()[0]
        database = conn.info.dbname
        tables = ("slices", "loaded_partitions", "quarantine", "clubs")
        if not all(_exists(conn, f"{OPS}.{t}") for t in tables):
            raise WarehouseNotReadyError(
                f"the warehouse {database!r} has no {OPS} tables yet: run `placewise migrate` "
                "(or the pipeline) first"
            )
        audit_built = _exists(conn, RECON_TABLE)
        return StatusReport(
            generated_at=generated_at,
            database=database,
            clubs=_frame(conn, CLUBS_SQL, params),
            runs=_frame(conn, RUNS_SQL, params),
            reconciliation=_frame(conn, RECON_BY_DAY_SQL, params)
            if audit_built
            else _empty(RECON_COLUMNS),
            quarantine=_frame(conn, QUARANTINE_SQL, params),
            tokens_per_night=_frame(conn, TOKENS_PER_NIGHT_SQL, params),
            lag_history=_frame(conn, LAG_HISTORY_SQL, params),
            audit_built=audit_built,
        )


class WarehouseNotReadyError(RuntimeError):
    """The warehouse has no pipeline tables yet; the message says what to run."""
