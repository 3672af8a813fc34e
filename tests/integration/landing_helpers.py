"""Landing bodies by hand as the fetcher would, for loader tests that need no API."""

from __future__ import annotations

from placewise.extract.plan import SliceSpec
from placewise.landing.store import LandedPart, LandingStore, SliceManifest, utc_now_iso


def land(
    store: LandingStore, spec: SliceSpec, *bodies: bytes, request: dict | None = None
) -> SliceManifest:
    """Land ``bodies`` as the parts of ``spec``'s answer and write its manifest (with
    ``request`` as the request body sent, if given, else ``spec``'s own)."""
    parts: list[LandedPart] = []
    for body in bodies:
        with store.open_sink(parts) as sink:
            sink.write(body)
    manifest = SliceManifest(
        slice_key=spec.slice_key,
        report=spec.report,
        scope=spec.scope,
        club_ids=list(spec.customer.club_ids or []),
        aggregation=spec.aggregation_name,
        interval=spec.partition_interval,
        window_start=spec.window.start.isoformat() if spec.window else None,
        window_end=spec.window.end.isoformat() if spec.window else None,
        endpoint=str(spec.endpoint),
        request_body=request or spec.body(),
        parts=parts,
        fetched_at=utc_now_iso(),
    )
    store.write_manifest(manifest)
    return manifest
