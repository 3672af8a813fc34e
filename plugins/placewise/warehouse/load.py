"""Loading one landed slice into ``placewise_raw``: delete, COPY, record, all in ONE transaction.

Replacing a slice is the only write the pipeline makes to raw tables, and it is atomic: readers
see the previous version of a slice until the transaction commits, and a killed load (worker lost,
OOM, ``kill -9``) leaves exactly that previous version. Rerunning any slice any number of times
leaves identical tables, because the rows of a (scope, report, aggregation, interval, local day)
partition are always replaced as a whole.

Ownership follows the answer's as-of time (the API's ``Date`` header, else the request time),
not the commit order: a slice never takes a partition from a slice whose answer is newer, so an
older answer that happens to commit last cannot put a stale figure back. Whatever the database
refuses for one slice (``psycopg.errors.DataError``: a character or number it cannot hold) is
quarantined like a payload the row builders refuse, and the run goes on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.adapt import PyFormat, Transformer

from placewise.api.errors import ResultShapeError
from placewise.extract.windows import Window
from placewise.landing.store import LandingStore, SliceManifest
from placewise.warehouse.rows import (
    COLUMNS,
    PARTITION_DATE_COLUMN,
    ROW_BUILDERS,
    BadPayloadError,
    PayloadStats,
    SliceContext,
)
from placewise.warehouse.schema import OPS_SCHEMA, RAW_SCHEMA, SliceStatus, raw_table

log = logging.getLogger(__name__)

LINEAGE_COLUMNS = ("_slice_id", "_scope", "_loaded_at", "_response_sha256", "_row_no")


class QuarantinedError(RuntimeError):
    """A slice's payload failed validation; it was quarantined, not loaded."""

    def __init__(self, message: str, quarantine_id: int) -> None:
        super().__init__(message)
        self.quarantine_id = quarantine_id


@dataclass
class LoadResult:
    """What one load did (returned to the task and written to the slice's manifest row)."""

    slice_id: int
    slice_key: str
    rows: int
    load_seconds: float
    unknown_enum_values: dict[str, int] = field(default_factory=dict)
    unchanged: bool = False
    #: A newer answer owns every partition of the slice: it was recorded, nothing was loaded.
    superseded: bool = False
    #: Buckets of the answer outside the slice's own days, dropped rather than loaded.
    dropped_buckets: int = 0


def context_of(manifest: SliceManifest) -> SliceContext:
    """The loader's view of the request behind a manifest."""
    window = (
        Window(
            datetime.fromisoformat(manifest.window_start),
            datetime.fromisoformat(manifest.window_end),
        )
        if manifest.window_start and manifest.window_end
        else None
    )
    return SliceContext(
        report=manifest.report,
        scope=manifest.scope,
        club_ids=tuple(manifest.club_ids or ()),
        is_multi=not manifest.scope.startswith("club:"),
        aggregation=manifest.aggregation,
        interval=manifest.interval,
        window=window,
    )


def _insert_slice(
    conn: psycopg.Connection,
    store: LandingStore | None,
    manifest: SliceManifest,
    result_type: str,
    status: str,
    run_id: str | None,
) -> tuple[int, datetime]:
    row = conn.execute(
        f"""
        insert into {OPS_SCHEMA}.slices (
            slice_key, scope, club_ids, report, result_type, aggregation, interval,
            window_start, window_end, endpoint, request_body, response_sha256, landed_paths,
            bytes, tokens_spent, attempts, requested_at, server_date, as_of, as_of_source,
            fetch_seconds,
            loaded_at, status, run_id)
        values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s,
                %s, %s, %s, %s, %s, %s, %s, %s, now(), %s, %s)
        returning slice_id, loaded_at
        """,
        (
            manifest.slice_key,
            manifest.scope,
            manifest.club_ids,
            manifest.report,
            result_type,
            manifest.aggregation,
            manifest.interval,
            manifest.window_start,
            manifest.window_end,
            manifest.endpoint,
            json.dumps(manifest.request_body),
            _combined_sha(manifest),
            _landed_paths(store, manifest),
            sum(p.bytes for p in manifest.parts),
            manifest.tokens_spent,
            manifest.attempts,
            manifest.fetched_at,
            manifest.server_date,
            *as_of(manifest),
            manifest.fetch_seconds,
            status,
            run_id,
        ),
    ).fetchone()
    if row is None:  # an insert ... returning always returns its row
        raise RuntimeError("the warehouse returned no row for an insert ... returning")
    return int(row[0]), row[1]


def _landed_paths(store: LandingStore | None, manifest: SliceManifest) -> list[str]:
    """Where the slice's bodies are now: under the store's root (as recorded without a store)."""
    if store is None:
        return [p.path for p in manifest.parts]
    return [store.locate(p) for p in manifest.parts]


def _combined_sha(manifest: SliceManifest) -> str:
    """The body's sha256, or for a paged slice the sha256 of its parts' hashes in order."""
    if len(manifest.parts) == 1:
        return manifest.parts[0].sha256
    return hashlib.sha256("".join(p.sha256 for p in manifest.parts).encode()).hexdigest()


#: Where a slice's as-of time came from (``placewise_ops.slices.as_of_source``).
AS_OF_DATE_HEADER = "date_header"
AS_OF_REQUEST_TIME = "request_time"


def as_of(manifest: SliceManifest) -> tuple[str, str]:
    """The time the answer describes, and where that came from.

    The answer's ``Date`` header when the API sends one; an API without it
    (``date_header=absent``) gets the time the request was made, which is no later than the
    moment the answer was computed, so "settled" never comes too early. Every consumer (the
    reconciliation's settled days, sync_status, which answer owns a partition) reads ``as_of``.
    """
    if manifest.server_date is not None:
        return manifest.server_date, AS_OF_DATE_HEADER
    return manifest.fetched_at, AS_OF_REQUEST_TIME


#: The as-of time of a recorded slice, in SQL (``s`` is ``placewise_ops.slices``; rows recorded
#: before the ``as_of`` column existed fall back the same way ``as_of`` does).
_SLICE_AS_OF = "coalesce(s.as_of, s.server_date, s.requested_at)"


def _days_owned_by_newer(
    conn: psycopg.Connection, ctx: SliceContext, interval: str, days: list[date], as_of: str
) -> dict[date, int]:
    """Partition day -> owning slice, for the days of ``days`` a newer answer owns."""
    rows = conn.execute(
        f"""
        select p.partition_date, p.slice_id
        from {OPS_SCHEMA}.loaded_partitions p
        join {OPS_SCHEMA}.slices s on s.slice_id = p.slice_id
        where p.scope = %s and p.report = %s and p.aggregation = %s and p.interval = %s
          and p.partition_date = any(%s) and {_SLICE_AS_OF} > %s::timestamptz
        """,
        (ctx.scope, ctx.report, ctx.aggregation, interval, days, as_of),
    ).fetchall()
    return {day: int(slice_id) for day, slice_id in rows}


def _records_owned_by_newer(conn: psycopg.Connection, ctx: SliceContext, as_of: str) -> int | None:
    """The loaded records slice of the same (report, scope, aggregation) with a newer answer."""
    row = conn.execute(
        f"""
        select s.slice_id from {OPS_SCHEMA}.slices s
        where s.report = %s and s.scope = %s and s.aggregation = %s and s.status = 'loaded'
          and {_SLICE_AS_OF} > %s::timestamptz
        order by s.slice_id desc limit 1
        """,
        (ctx.report, ctx.scope, ctx.aggregation, as_of),
    ).fetchone()
    return None if row is None else int(row[0])


def _delete_previous(
    conn: psycopg.Connection,
    ctx: SliceContext,
    result_type: str,
    days: list[date] | None = None,
) -> int:
    """Delete the rows the slice replaces: its scope's records, or the rows of its window's days
    (only ``days`` when a newer answer owns the others). A generic table holds several reports."""
    name, generic = raw_table(ctx.report, result_type)
    table = sql.Identifier(RAW_SCHEMA, name)
    of_report = sql.SQL("report = %s and ") if generic else sql.SQL("")
    head: list[Any] = [ctx.report] if generic else []
    if result_type == "records":
        cur = conn.execute(
            sql.SQL("delete from {} where {}_scope = %s and aggregation = %s").format(
                table, of_report
            ),
            (*head, ctx.scope, ctx.aggregation),
        )
        return cur.rowcount
    window = ctx.owned_window()
    date_column = sql.Identifier(PARTITION_DATE_COLUMN[result_type])
    extra = sql.SQL(" and interval = %s") if result_type == "timeseries" else sql.SQL("")
    params: list[Any] = [*head, ctx.scope, ctx.aggregation]
    if days is None:
        where = sql.SQL("{} >= %s and {} < %s").format(date_column, date_column)
        params += [window.start.date(), window.end]
    else:
        where = sql.SQL("{} = any(%s)").format(date_column)
        params.append(days)
    if result_type == "timeseries":
        params.append(ctx.interval)
    cur = conn.execute(
        sql.SQL("delete from {} where {}_scope = %s and aggregation = %s and {}{}").format(
            table, of_report, where, extra
        ),
        params,
    )
    return cur.rowcount


#: Per result type: the raw columns of a row's grain within its slice, and how a repeat of it is
#: named (the in-memory check of ``warehouse.rows`` names them the same way).
_GRAIN_COLUMNS: dict[str, tuple[tuple[str, ...], str]] = {
    "statistics": (("loyalty_club_id", "aggregation", "label"), "series {2}"),
    "timeseries": (
        ("loyalty_club_id", "aggregation", "interval", "label", "bucket_local", "bucket_start"),
        "series {3} at bucket {4}",
    ),
    "records": (("loyalty_club_id", "aggregation", "record_key"), "record key {2!r}"),
}


def _refuse_repeated_grain(
    conn: psycopg.Connection, ctx: SliceContext, result_type: str, slice_id: int, after_row: int
) -> None:
    """Refuse a slice that holds one grain twice among its rows numbered above ``after_row``,
    checked in the database after its COPY.

    Only slices larger than ``rows.GRAIN_MEMORY_ROWS`` come here: the client remembers the grain
    of that many rows and no more, so the memory of a load stays bounded however large the
    answer, and it has checked every row against those (``PayloadStats.spilled_after``). One
    grouped read of the slice's own later rows (by the raw table's ``_slice_id`` index), inside
    the load's transaction, so a refusal rolls the whole load back.
    """
    name, generic = raw_table(ctx.report, result_type)
    columns, shown = _GRAIN_COLUMNS[result_type]
    keys = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    of_report = sql.SQL(" and report = %s") if generic else sql.SQL("")
    row = conn.execute(
        sql.SQL(
            "select {keys} from {table} where _slice_id = %s and _row_no > %s{of_report}"
            " group by {keys} having count(*) > 1 limit 1"
        ).format(keys=keys, table=sql.Identifier(RAW_SCHEMA, name), of_report=of_report),
        (slice_id, after_row, *([ctx.report] if generic else [])),
    ).fetchone()
    if row is not None:
        values = [json.dumps(v, separators=(",", ":")) if isinstance(v, dict) else v for v in row]
        raise BadPayloadError(
            f"{ctx.report} {ctx.scope}: duplicate {shown.format(*values)} (the slice's grain, "
            "checked after its COPY)"
        )


def _record_partitions(
    conn: psycopg.Connection, ctx: SliceContext, interval: str, slice_id: int, days: list[date]
) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            f"""
            insert into {OPS_SCHEMA}.loaded_partitions as p
                (scope, loyalty_club_id, report, aggregation, interval, partition_date,
                 slice_id, loaded_at)
            values (%s, %s, %s, %s, %s, %s, %s, now())
            on conflict (scope, report, aggregation, interval, partition_date)
            do update set slice_id = excluded.slice_id, loaded_at = excluded.loaded_at
            """,
            [
                (ctx.scope, ctx.single_club, ctx.report, ctx.aggregation, interval, d, slice_id)
                for d in days
            ],
        )


def _supersede(
    conn: psycopg.Connection,
    manifest: SliceManifest,
    ctx: SliceContext,
    slice_id: int,
    windowed: bool,
) -> None:
    if windowed:
        window = ctx.owned_window()
        # Only a slice whose window overlaps this one can have lost partitions to it.
        conn.execute(
            f"""
            update {OPS_SCHEMA}.slices s set status = 'superseded'
            where s.status = 'loaded' and s.report = %s and s.scope = %s
              and s.aggregation = %s and s.interval = %s and s.slice_id <> %s
              and s.window_start < %s and s.window_end > %s
              and not exists (select 1 from {OPS_SCHEMA}.loaded_partitions p
                              where p.slice_id = s.slice_id)
            """,
            (
                ctx.report,
                ctx.scope,
                ctx.aggregation,
                manifest.interval,
                slice_id,
                window.end,
                window.start,
            ),
        )
    else:
        conn.execute(
            f"""
            update {OPS_SCHEMA}.slices set status = 'superseded'
            where status = 'loaded' and slice_key = %s and slice_id <> %s
            """,
            (manifest.slice_key, slice_id),
        )


#: Characters of COPY text collected before they are sent (about 256 kB per write).
COPY_CHUNK_CHARS = 1 << 18
#: Rendered timestamps/dates kept per load (a slice has few distinct ones; this only caps it).
_MEMO_SIZE = 4096
#: COPY text escapes, the same set psycopg's own ``write_row`` uses.
_COPY_ESCAPES = str.maketrans(
    {"\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\v": "\\v", "\f": "\\f", "\r": "\\r"}
)


class CopyText:
    """Python values as fields of COPY's text format, byte for byte as ``Copy.write_row`` sends.

    Rows are joined into large text chunks here instead of going through ``write_row`` one by
    one: psycopg's per-row adaptation (timestamps above all) costs the client more than twice
    what this does (measured on the load benchmark's bodies), and the client is the slower side
    of a load. ``str``, ``int`` and ``None`` (nearly every field) are rendered directly; any other
    type goes through psycopg's own text dumper, so the values that reach the table are the same.
    """

    def __init__(self, conn: psycopg.Connection) -> None:
        self._transformer = Transformer(conn)
        self._encoding = conn.info.encoding
        self._memo: dict[Any, str] = {}

    def field(self, value: Any) -> str:
        """The COPY text of one value."""
        kind = type(value)
        if kind is str:
            if (
                "\\" in value
                or "\t" in value
                or "\n" in value
                or "\r" in value
                or "\b" in value
                or "\f" in value
                or "\v" in value
            ):
                return value.translate(_COPY_ESCAPES)
            return value
        if kind is int:
            return str(value)
        if value is None:
            return "\\N"
        if kind is datetime or kind is date:  # few distinct values per slice: render once
            # equal instants in different zones are rendered with their own offsets
            key = (value, value.tzinfo) if kind is datetime else value
            text = self._memo.get(key)
            if text is None:
                if len(self._memo) >= _MEMO_SIZE:
                    self._memo.clear()
                text = self._memo[key] = self._dump(value)
            return text
        return self._dump(value)

    def _dump(self, value: Any) -> str:
        (dumped,) = self._transformer.dump_sequence((value,), (PyFormat.TEXT,))
        if dumped is None:
            return "\\N"
        return self.field(bytes(dumped).decode(self._encoding))


def _copy_rows(
    conn: psycopg.Connection,
    store: LandingStore,
    manifest: SliceManifest,
    ctx: SliceContext,
    result_type: str,
    slice_id: int,
    loaded_at: datetime,
    stats: PayloadStats,
    keep_days: frozenset[date] | None = None,
) -> int:
    """COPY the rows of the slice's parts (only those of ``keep_days`` if given); their number."""
    name, generic = raw_table(ctx.report, result_type)
    columns = LINEAGE_COLUMNS + (("report",) if generic else ()) + COLUMNS[result_type]
    day_index = (
        COLUMNS[result_type].index(PARTITION_DATE_COLUMN[result_type])
        if keep_days is not None
        else -1
    )
    statement = sql.SQL("copy {} ({}) from stdin").format(
        sql.Identifier(RAW_SCHEMA, name),
        sql.SQL(", ").join(sql.Identifier(c) for c in columns),
    )
    builder = ROW_BUILDERS[result_type]
    text = CopyText(conn)
    field = text.field
    tab = "\t"
    # a generic table's ``report`` column follows the lineage columns
    report_field = field(ctx.report) + tab if generic else ""
    row_no = 0
    with conn.cursor() as cur, cur.copy(statement) as copy:
        pending: list[str] = []
        size = 0
        for part in manifest.parts:
            head = "".join(field(v) + "\t" for v in (slice_id, ctx.scope, loaded_at, part.sha256))
            with ExitStack() as stack:
                fp = stack.enter_context(store.open_part(part))
                for row in builder(ctx, fp, stats):
                    if day_index >= 0 and row[day_index] not in keep_days:  # type: ignore[operator]
                        continue
                    row_no += 1
                    line = f"{head}{row_no}\t{report_field}{tab.join(map(field, row))}\n"
                    pending.append(line)
                    size += len(line)
                    if size >= COPY_CHUNK_CHARS:
                        copy.write("".join(pending))
                        pending.clear()
                        size = 0
        if pending:
            copy.write("".join(pending))
    return row_no


def load_manifest(
    conn: psycopg.Connection,
    store: LandingStore,
    manifest: SliceManifest,
    *,
    run_id: str | None = None,
) -> LoadResult:
    """Replace the slice described by ``manifest`` with the rows of its landed parts.

    One transaction: record the slice, delete the rows of the partitions it replaces, COPY the
    new rows, point the partitions at the new slice, mark fully replaced slices superseded.
    A payload that fails validation rolls all of that back and is quarantined instead.
    """
    ctx = context_of(manifest)
    result_type = ctx.spec.result_type
    windowed = result_type != "records"
    started = time.monotonic()
    unchanged = _identical_current(
        conn, manifest, len(ctx.window.day_list()) if windowed and ctx.window else None
    )
    if unchanged is not None:
        return unchanged
    stats = PayloadStats()
    answer_as_of, _ = as_of(manifest)
    try:
        with conn.transaction():
            conn.execute(
                "select pg_advisory_xact_lock(hashtext(%s))",
                (f"{ctx.report}|{ctx.scope}|{ctx.aggregation}|{manifest.interval}",),
            )
            # the days this slice takes: all of its window's but those a newer answer owns
            all_days = ctx.window.day_list() if windowed and ctx.window else []
            newer = (
                _days_owned_by_newer(conn, ctx, manifest.interval, all_days, answer_as_of)
                if windowed
                else {}
            )
            days = [d for d in all_days if d not in newer]
            if windowed:
                owner = next(iter(newer.values())) if newer and not days else None
            else:
                owner = _records_owned_by_newer(conn, ctx, answer_as_of)
            if owner is not None:
                return _superseded_on_arrival(conn, store, manifest, result_type, owner, run_id)
            slice_id, loaded_at = _insert_slice(
                conn, store, manifest, result_type, SliceStatus.LOADED, run_id
            )
            only = days if newer else None
            _delete_previous(conn, ctx, result_type, only)
            keep = frozenset(only) if only is not None else None
            stats.rows = _copy_rows(
                conn, store, manifest, ctx, result_type, slice_id, loaded_at, stats, keep
            )
            if stats.spilled_after is not None:
                # rows are numbered as the builder yields them unless some days are skipped
                after = stats.spilled_after if keep is None else 0
                _refuse_repeated_grain(conn, ctx, result_type, slice_id, after)
            if windowed:
                _record_partitions(conn, ctx, manifest.interval, slice_id, days)
            _supersede(conn, manifest, ctx, slice_id, windowed)
            elapsed = time.monotonic() - started
            conn.execute(
                f"""update {OPS_SCHEMA}.slices set rows = %s, load_seconds = %s,
                    dropped_buckets = %s, unknown_enum_values = %s::jsonb
                    where slice_id = %s""",
                (
                    stats.rows,
                    elapsed,
                    stats.dropped_buckets,
                    json.dumps(dict(stats.unknown_enum_values))
                    if stats.unknown_enum_values
                    else None,
                    slice_id,
                ),
            )
    except (BadPayloadError, ResultShapeError, UnicodeDecodeError, psycopg.errors.DataError) as exc:
        # the database's message spans lines (DETAIL, CONTEXT): one line in the reason
        reason = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        empty = [i for i, p in enumerate(manifest.parts) if p.bytes == 0]
        if empty:  # say so plainly rather than only through the parser's complaint
            reason = f"empty body (0 bytes) in part {empty[0]}: {reason}"
        quarantine_id = quarantine(conn, manifest, reason, run_id=run_id, store=store)
        paths = ", ".join(_landed_paths(store, manifest))
        raise QuarantinedError(
            f"{manifest.report} {manifest.scope} agg={manifest.aggregation} "
            f"window {manifest.window_start}..{manifest.window_end}: payload quarantined "
            f"(placewise_ops.quarantine id {quarantine_id}): {reason}. Raw body kept at {paths}",
            quarantine_id,
        ) from exc
    if stats.unknown_enum_values:
        log.warning(
            "%s %s: unknown enum values kept: %s",
            manifest.report,
            manifest.scope,
            dict(stats.unknown_enum_values),
        )
    if stats.dropped_buckets:
        log.info(
            "%s: %d bucket(s) of the answer lie outside the slice's days and were dropped",
            manifest.slice_key,
            stats.dropped_buckets,
        )
    if manifest.server_date is None:
        log.info(
            "%s: the answer has no Date header; its as-of time is the request time %s",
            manifest.slice_key,
            manifest.fetched_at,
        )
    return LoadResult(
        slice_id=slice_id,
        slice_key=manifest.slice_key,
        rows=stats.rows,
        load_seconds=elapsed,
        unknown_enum_values=dict(stats.unknown_enum_values),
        dropped_buckets=stats.dropped_buckets,
    )


def _superseded_on_arrival(
    conn: psycopg.Connection,
    store: LandingStore,
    manifest: SliceManifest,
    result_type: str,
    owner: int,
    run_id: str | None,
) -> LoadResult:
    """Record a slice whose every partition a newer answer owns: ``superseded``, nothing loaded.

    Recorded once: the same answer to the same request arriving again (a rerun, a replay) finds
    its earlier ``superseded`` row and writes nothing, as an unchanged loaded slice does.
    Ownership only ever passes to newer answers, so that row's verdict still holds.
    """
    earlier = _same_answer(conn, manifest, SliceStatus.SUPERSEDED)
    if earlier is not None:
        return LoadResult(
            slice_id=int(earlier[0]),
            slice_key=manifest.slice_key,
            rows=0,
            load_seconds=0.0,
            superseded=True,
        )
    slice_id, _ = _insert_slice(conn, store, manifest, result_type, SliceStatus.SUPERSEDED, run_id)
    detail = (
        f"answer as of {as_of(manifest)[0]} is older than that of slice {owner}, "
        "which owns its partitions"
    )
    conn.execute(
        f"update {OPS_SCHEMA}.slices set status_detail = %s, load_seconds = 0 where slice_id = %s",
        (detail, slice_id),
    )
    log.info("%s: %s", manifest.slice_key, detail)
    return LoadResult(
        slice_id=slice_id,
        slice_key=manifest.slice_key,
        rows=0,
        load_seconds=0.0,
        superseded=True,
    )


def _same_answer(
    conn: psycopg.Connection,
    manifest: SliceManifest,
    status: SliceStatus,
    partition_days: int | None = None,
) -> tuple[int, int] | None:
    """(slice_id, rows) of the newest slice in ``status`` that recorded exactly this answer to
    exactly this request; with ``partition_days``, only while it still owns that many
    partitions."""
    return conn.execute(
        f"""
        select s.slice_id, s.rows from {OPS_SCHEMA}.slices s
        where s.slice_key = %s and s.status = %s and s.response_sha256 = %s
          and s.request_body = %s::jsonb
          and (not %s or (select count(*) from {OPS_SCHEMA}.loaded_partitions p
                          where p.slice_id = s.slice_id) = %s)
        order by s.slice_id desc limit 1
        """,
        (
            manifest.slice_key,
            str(status),
            _combined_sha(manifest),
            json.dumps(manifest.request_body),
            partition_days is not None,
            partition_days or 0,
        ),
    ).fetchone()


def _identical_current(
    conn: psycopg.Connection, manifest: SliceManifest, partition_days: int | None
) -> LoadResult | None:
    """The current slice if it already holds exactly this answer to exactly this request.

    Reloading it would only renumber lineage columns; skipping keeps a rerun byte-identical and
    spares dbt a rebuild of partitions whose data did not change. A windowed slice counts only
    while it still owns all ``partition_days`` of its partitions.
    """
    row = _same_answer(conn, manifest, SliceStatus.LOADED, partition_days)
    if row is None:
        return None
    return LoadResult(
        slice_id=int(row[0]),
        slice_key=manifest.slice_key,
        rows=int(row[1]),
        load_seconds=0.0,
        unchanged=True,
    )


def quarantine(
    conn: psycopg.Connection,
    manifest: SliceManifest,
    reason: str,
    *,
    run_id: str | None = None,
    store: LandingStore | None = None,
) -> int:
    """Record a rejected slice (status 'quarantined' + a quarantine row); the raw file stays.

    With ``store``, the landed paths recorded are where the bodies are under its root.
    """
    result_type = context_of(manifest).spec.result_type
    with conn.transaction():
        _insert_slice(conn, store, manifest, result_type, SliceStatus.QUARANTINED, run_id)
        row = conn.execute(
            f"""
            insert into {OPS_SCHEMA}.quarantine
                (slice_key, scope, report, aggregation, window_start, window_end,
                 landed_paths, reason, run_id)
            values (%s, %s, %s, %s, %s, %s, %s, %s, %s)
            returning quarantine_id
            """,
            (
                manifest.slice_key,
                manifest.scope,
                manifest.report,
                manifest.aggregation,
                manifest.window_start,
                manifest.window_end,
                _landed_paths(store, manifest),
                reason,
                run_id,
            ),
        ).fetchone()
    if row is None:  # an insert ... returning always returns its row
        raise RuntimeError("the warehouse returned no row for an insert ... returning")
    log.error("quarantined %s: %s", manifest.slice_key, reason)
    return int(row[0])


def already_loaded(conn: psycopg.Connection, slice_key: str, request_body: dict[str, Any]) -> bool:
    """True if the current version of ``slice_key`` came from exactly this request.

    Backfills use it to resume: a slice loaded by an earlier attempt with the same request is
    not fetched again.
    """
    row = conn.execute(
        f"""
        select 1 from {OPS_SCHEMA}.slices
        where slice_key = %s and status = 'loaded' and request_body = %s::jsonb
        limit 1
        """,
        (slice_key, json.dumps(request_body)),
    ).fetchone()
    return row is not None
