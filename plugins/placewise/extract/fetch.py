"""Fetching planned slices into the landing root.

The documented query endpoint is the default; the undocumented exports (one streamed request
per slice, no paging, no bucket limit, no data-point cap, 5x the tokens) are used when configured
or needed. The query endpoint's silent traps are handled here so that no data point is ever lost:

* records are paged to the end (``next_page_info``, sent back under the API's ``cursor_key``),
  every page landed as its own part; a cursor that does not advance stops the slice;
* a timeseries answer that reaches the 1000-point cap is discarded, its window halved at a bucket
  boundary and both halves fetched again (down to one bucket, then the export is used);
* a statistics answer that reaches the cap is fetched again through the export;
* where the API has no exports (``exports=absent``) such a slice fails with an error naming it.

Each fetched slice ends as a ``SliceManifest`` sidecar in the landing root.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from placewise.api.client import ApiCall, CallResult, PlacewiseClient
from placewise.api.contract import MAX_PAGE_LIMIT, MAX_QUERY_DATA_POINTS, Endpoint
from placewise.extract.plan import SliceSpec
from placewise.extract.windows import halve
from placewise.formats.results import iter_records, parse_statistics, parse_timeseries
from placewise.landing.store import (
    LandedPart,
    LandingStore,
    ManifestStatus,
    SliceManifest,
    utc_now_iso,
)

log = logging.getLogger(__name__)


class SliceFetchError(RuntimeError):
    """A slice cannot be fetched the way the API answers; the message names the slice and the
    setting to check (the records cursor key, the exports)."""


@dataclass
class _Accumulator:
    """Costs of all calls made for one slice."""

    tokens: int = 0
    attempts: int = 0
    server_date: str | None = None

    def add(self, result: CallResult) -> None:
        self.tokens += result.tokens_spent
        self.attempts += len(result.attempts)
        if result.server_date is not None:
            self.server_date = result.server_date.isoformat()


def _manifest(
    spec: SliceSpec,
    parts: list[LandedPart],
    acc: _Accumulator,
    started: float,
    fetched_at: str,
    status: ManifestStatus = ManifestStatus.LANDED,
) -> SliceManifest:
    return SliceManifest(
        slice_key=spec.slice_key,
        report=spec.report,
        scope=spec.scope,
        club_ids=list(spec.customer.club_ids) if spec.customer.club_ids else None,
        aggregation=spec.aggregation_name,
        interval=spec.partition_interval,
        window_start=spec.window.start.isoformat() if spec.window else None,
        window_end=spec.window.end.isoformat() if spec.window else None,
        endpoint=str(spec.endpoint),
        request_body=spec.body(),
        parts=parts,
        fetched_at=fetched_at,
        server_date=acc.server_date,
        tokens_spent=acc.tokens,
        attempts=acc.attempts,
        fetch_seconds=round(time.monotonic() - started, 3),
        status=status,
    )


def _same_as_current(store: LandingStore, manifest: SliceManifest) -> bool:
    """True if the slice's newest manifest already records exactly this answer to this request.

    A rerun that changed nothing then writes nothing new to the landing root (the bodies are
    content-addressed, so no new object either); the manifest is still returned for loading,
    where the warehouse reports the slice unchanged.
    """
    current = store.current_manifest(manifest.report, manifest.scope, manifest.slice_key)
    return (
        current is not None
        and current.status == manifest.status
        and current.endpoint == manifest.endpoint
        and current.request_body == manifest.request_body
        and [p.sha256 for p in current.parts] == [p.sha256 for p in manifest.parts]
    )


def _download(
    client: PlacewiseClient, store: LandingStore, spec: SliceSpec, body: dict, acc: _Accumulator
) -> LandedPart:
    parts: list[LandedPart] = []
    call = ApiCall(spec.endpoint, spec.customer, body, spec.description)
    result = client.download(call, lambda: store.open_sink(parts))
    acc.add(result)
    return parts[-1]


def _query_points(store: LandingStore, part: LandedPart, result_type: str) -> int:
    """``data_points`` of a landed query answer (read after the series, so drain them)."""
    with store.open_part(part) as fp:
        parse = parse_timeseries if result_type == "timeseries" else parse_statistics
        header, series = parse(fp)
        for _ in series:
            pass
    return header.data_points or 0


def fetch_slice(
    client: PlacewiseClient,
    store: LandingStore,
    spec: SliceSpec,
    *,
    page_limit: int = MAX_PAGE_LIMIT,
) -> list[SliceManifest]:
    """Fetch ``spec`` and land it; return the manifests of the slice(s) that hold its data.

    Usually one manifest; several when a capped query answer had to be split. A manifest with
    status ``capped`` is written for a discarded answer (the body stays in the landing root for
    inspection) but is not returned for loading.
    """
    started = time.monotonic()
    fetched_at = utc_now_iso()
    acc = _Accumulator()
    result_type = spec.result_type

    def finish(
        parts: list[LandedPart], status: ManifestStatus = ManifestStatus.LANDED
    ) -> SliceManifest:
        manifest = _manifest(spec, parts, acc, started, fetched_at, status)
        if not _same_as_current(store, manifest):
            store.write_manifest(manifest)
        return manifest

    if spec.endpoint is not Endpoint.QUERY:
        return [finish([_download(client, store, spec, spec.body(), acc)])]

    if result_type == "records":
        return [finish(_fetch_pages(client, store, spec, acc, page_limit))]

    part = _download(client, store, spec, spec.body(), acc)
    if _query_points(store, part, result_type) < MAX_QUERY_DATA_POINTS:
        return [finish([part])]

    finish([part], status=ManifestStatus.CAPPED)
    halves = halve(spec.window, spec.interval or "1d") if spec.window else None
    if result_type == "statistics" or halves is None:
        if client.variants.exports != "present":
            raise SliceFetchError(
                f"{spec.description}: the query answer reached the {MAX_QUERY_DATA_POINTS}-point "
                "cap, so it is incomplete, and this API has no export to fetch it whole "
                "(exports=absent in the API settings file); narrow the slice with a filter or "
                "check the exports setting"
            )
        log.info(
            "%s: query answer hit the %s-point cap; using the export",
            spec.description,
            MAX_QUERY_DATA_POINTS,
        )
        return fetch_slice(client, store, spec.with_endpoint(Endpoint.EXPORT))
    log.info(
        "%s: query answer hit the %s-point cap; splitting the window",
        spec.description,
        MAX_QUERY_DATA_POINTS,
    )
    manifests: list[SliceManifest] = []
    for piece in halves:
        manifests.extend(fetch_slice(client, store, spec.with_window(piece)))
    return manifests


def _fetch_pages(
    client: PlacewiseClient,
    store: LandingStore,
    spec: SliceSpec,
    acc: _Accumulator,
    page_limit: int,
) -> list[LandedPart]:
    """Every page of a records query, each landed as a part, to the last one.

    The cursor goes back under the body key the API reads (variant ``cursor_key``). An API that
    ignores the key answers page 1 again, forever: a cursor seen before, or a page identical to
    the one before it, stops the slice with an error instead of looping.
    """
    cursor_key = client.variants.cursor_key
    parts: list[LandedPart] = []
    seen: set[str] = set()
    cursor: str | None = None
    while True:
        body = spec.body(page_info=cursor, limit=page_limit, cursor_key=cursor_key)
        part = _download(client, store, spec, body, acc)
        if parts and part.sha256 == parts[-1].sha256:
            raise _repeated(
                spec, cursor_key, f"page {len(parts) + 1} is identical to page {len(parts)}"
            )
        parts.append(part)
        with store.open_part(part) as fp:
            stream = iter_records(fp)
            for _ in stream:
                pass
            cursor = stream.next_page_info
        if not cursor:
            return parts
        if cursor in seen:
            raise _repeated(spec, cursor_key, f"page {len(parts)} repeats cursor {cursor!r}")
        seen.add(cursor)


def _repeated(spec: SliceSpec, cursor_key: str, what: str) -> SliceFetchError:
    return SliceFetchError(
        f"{spec.description}: paging does not advance ({what}): the API does not read the "
        f"cursor sent under {cursor_key!r}; set cursor_key in the API settings file to the "
        "body key it reads (page_info, next_page_info or cursor)"
    )
