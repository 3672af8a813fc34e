"""Operator docs shown in the Airflow UI (doc_md): what each DAG does and how to triage."""

_TRIAGE = """
### Triage
Every run starts with **migrate** (creates or updates the warehouse tables; idempotent); if it
fails, the `placewise_warehouse` Connection or the database is wrong and nothing after it runs.

1. Open the **summary** task's log: it names every failed club and slice with the error.
2. `AuthenticationError` / `HeaderError`: the `placewise_api` Connection's token or extras are
   wrong (see README, "Rotating the API token"); nothing else will work until it is fixed.
3. `PermissionDeniedError` for one club: the token lacks that club or report; ask Placewise
   support, or disable the club in the registry.
4. `QuarantinedError`: the API sent a payload we refuse to load (wrong shape, foreign club id,
   negative counts). The raw file is kept; see `placewise_ops.quarantine`. Fix and run
   `placewise_replay` for that slice.
5. `ServerError` / `TransportError` / `RateLimitExhaustedError`: the API was unhealthy. Clear the
   failed task: a retry skips slices that already loaded.
6. dbt test failure in `recon_sendings_stats_totals`: the rebuilt totals differ from the API's on
   a settled day. Query `placewise_audit.recon_sendings_stats_totals where status = 'difference'`.
"""

NIGHTLY_DOC = (
    """
## placewise_nightly
Every enabled club of the registry (`config/clubs.yml`, one mapped task per club), every
registered report: extract -> land -> load for the run's day **plus the restatement window**
(`PLACEWISE_RESTATEMENT_DAYS`, default 7) so late opens and deliveries are picked up. Then the
cross-club tenants exports (the API's own `total_*` figures), then dbt (Cosmos, incremental over
exactly the replaced partitions), then the summary. A failing club does not stop the others;
the run ends failed and the summary names what failed.
"""
    + _TRIAGE
)

BACKFILL_DOC = (
    """
## placewise_backfill
Manual. Params: `start_date`, `end_date` (club-local days, inclusive; empty: the 30 days
before the run), `clubs` (default: all enabled), `reports` (default: each club's registered
reports), `priority` (`low`/`normal`/`high`: its turn in the shared API token bucket and the
tokens it leaves for the nightly run). The **plan_backfill** task logs the token cost and an ETA
before anything is spent. Days load newest first; a rerun skips slices already loaded by the
same request, so a failed backfill is resumed by running it again. Backfill tasks run at a lower
priority weight than nightly, wait behind the nightly run in the shared token bucket and always
leave it a floor of tokens (even at `high`).

Airflow's own backfill works too:
`airflow backfill create --dag-id placewise_nightly --from-date 2026-10-01 --to-date 2026-10-31`
(each run then loads only its own day, without the restatement window).
"""
    + _TRIAGE
)

REPLAY_DOC = (
    """
## placewise_replay
Manual. Reloads slices from the landing root (raw bodies exactly as received) and rebuilds the
marts; **no API call is made**. Params: `start_date`, `end_date`, `clubs`, `reports` (empty =
everything landed). Each landed body is checked against its sha256 before it is loaded.
"""
    + _TRIAGE
)

SUMMARY_TASK_DOC = "Collects every club's and the tenants' outcome; fails naming each failed slice."

MIGRATE_TASK_DOC = (
    "Create or update the warehouse's schemas and tables (`placewise migrate`; idempotent), so "
    "every later task finds them."
)

DOCTOR_DOC = (
    """
## placewise_doctor
Manual; run once against an API before the first sync, and again after Placewise changes it.
It probes the API within a token budget (param `max_tokens`, default 100; probes that do not fit
are reported `unknown`) and logs the plan with its cost first, then one table: `assumption |
we assume | the API does | holds / differs / unknown | tokens`. The findings go to
`placewise_ops.api_findings` (one row per assumption and run) and each report's Metadata to
`placewise_ops.report_metadata` (the live catalog the syncs read); the readings found are
written to the API settings file `PLACEWISE_API_CONTRACT_FILE` **on the worker that ran it**,
so point that variable at storage every worker reads. No other data is written. The task fails
when a difference cannot be absorbed, with one line per such difference saying what to change.
Same as `placewise doctor` on the command line (README, "First contact with your API").
"""
    + _TRIAGE
)
