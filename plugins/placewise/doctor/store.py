"""The doctor's only writes to the warehouse: its findings and the API's report Metadata.

``placewise_ops.api_findings`` keeps every run's table (keyed by run id and row, so writing a
run again replaces its rows); ``placewise_ops.report_metadata`` keeps the newest Metadata body of
each report, which ``load_live_catalog`` installs as the live catalog for plans and loads. Both
tables are created by ``placewise migrate``; nothing here creates or touches anything else.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import psycopg

from placewise.api.catalog import ReportSpec
from placewise.api.live_catalog import MetadataError, use_metadata
from placewise.doctor.findings import Finding
from placewise.doctor.run import DoctorResult
from placewise.warehouse.schema import OPS_SCHEMA, connect, connect_migrated

FINDINGS_TABLE = f"{OPS_SCHEMA}.api_findings"
METADATA_TABLE = f"{OPS_SCHEMA}.report_metadata"


def store_findings(conninfo: str, run_id: str, result: DoctorResult, api_url: str) -> int:
    """Write one run's findings and the Metadata it read, in one transaction; rows written."""
    with connect_migrated(conninfo) as conn, conn.transaction():
        write_findings(conn, run_id, result.findings, result, api_url)
        write_metadata(conn, result.metadata, api_url, result)
    return len(result.findings)


def write_findings(
    conn: psycopg.Connection,
    run_id: str,
    findings: Sequence[Finding],
    result: DoctorResult,
    api_url: str,
) -> None:
    conn.execute(f"delete from {FINDINGS_TABLE} where run_id = %s", (run_id,))
    with conn.cursor() as cur:
        cur.executemany(
            f"""
            insert into {FINDINGS_TABLE} (run_id, position, checked_at, api_url, assumption,
                variant, value, we_assume, api_does, verdict, tokens, blocker)
            values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            """,
            [
                (
                    run_id,
                    position,
                    result.checked_at,
                    api_url,
                    f.assumption,
                    f.variant,
                    f.value,
                    f.we_assume,
                    f.api_does,
                    f.verdict.value,
                    f.tokens,
                    f.blocker,
                )
                for position, f in enumerate(findings, start=1)
            ],
        )


def write_metadata(
    conn: psycopg.Connection,
    metadata: dict[str, dict[str, Any]],
    api_url: str,
    result: DoctorResult,
) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            f"""
            insert into {METADATA_TABLE} (report, metadata, api_url, fetched_at)
            values (%s, %s::jsonb, %s, %s)
            on conflict (report) do update set metadata = excluded.metadata,
                api_url = excluded.api_url, fetched_at = excluded.fetched_at
            where {METADATA_TABLE}.metadata is distinct from excluded.metadata
               or {METADATA_TABLE}.api_url is distinct from excluded.api_url
            """,
            [
                (report, json.dumps(body), api_url, result.checked_at)
                for report, body in sorted(metadata.items())
            ],
        )


def cached_metadata(conninfo: str) -> list[dict[str, Any]]:
    """Every cached Metadata body (none when the warehouse has no cache table yet)."""
    with connect(conninfo) as conn:
        exists = conn.execute("select to_regclass(%s)", (METADATA_TABLE,)).fetchone()
        if exists is None or exists[0] is None:
            return []
        rows = conn.execute(f"select metadata from {METADATA_TABLE} order by report").fetchall()
    return [row[0] for row in rows if isinstance(row[0], dict)]


def load_live_catalog(conninfo: str) -> dict[str, ReportSpec]:
    """Install the cached Metadata as the live catalog; the specs installed.

    A cached body that cannot describe its report raises ``MetadataError`` naming it: loading
    with half a catalog would put rows where a later run would not look for them.
    """
    bodies = cached_metadata(conninfo)
    try:
        return use_metadata(bodies)
    except MetadataError as exc:
        raise MetadataError(f"{METADATA_TABLE}: {exc}; run `placewise doctor` again") from exc
