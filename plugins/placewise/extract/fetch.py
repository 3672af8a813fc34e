"""Fetching planned slices into the landing root.

Exports are the default: one streamed request per slice, no paging, no bucket limit, no data-point
cap. The query endpoint is cheaper in tokens but has the API's silent traps, which are handled
here so that no data point is ever lost:

* records are paged to the end (``next_page_info``), every page landed as its own part;
* a timeseries answer that reaches the 1000-point cap is discarded, its window halved at a bucket
  boundary and both halves fetched again (down to one bucket, then the export is used);
* a statistics answer that reaches the cap is fetched again through the export.

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
        store.write_manifest(manifest)
        return manifest

    if spec.endpoint is not Endpoint.QUERY:
        return [finish([_download(client, store, spec, spec.body(), acc)])]

    if result_type == "records":
        parts: list[LandedPart] = []
        cursor: str | None = None
        while True:
            part = _download(
                client, store, spec, spec.body(page_info=cursor, limit=MAX_PAGE_LIMIT), acc
            )
            parts.append(part)
            with store.open_part(part) as fp:
                stream = iter_records(fp)
                for _ in stream:
                    pass
                cursor = stream.next_page_info
            if not cursor:
                return [finish(parts)]

    part = _download(client, store, spec, spec.body(), acc)
    if _query_points(store, part, result_type) < MAX_QUERY_DATA_POINTS:
        return [finish([part])]

    finish([part], status=ManifestStatus.CAPPED)
    halves = halve(spec.window, spec.interval or "1d") if spec.window else None
    if result_type == "statistics" or halves is None:
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
