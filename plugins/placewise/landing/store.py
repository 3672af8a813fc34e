"""The landing root: every response body exactly as received, content-addressed by sha256.

Layout under the root (a local directory, or any fsspec URL such as ``s3://bucket/prefix`` so that
several workers share it)::

    objects/<sha[:2]>/<sha256>.json          response bodies, byte for byte
    manifests/<report>/<scope>/<key-hash>/<fetched-at>-<sha[:12]>.json
                                             one sidecar per fetched slice: the request and the
                                             parts that make up its answer (replay needs nothing
                                             else: not the API, not the warehouse)
    tmp/                                     partial downloads (removed on failure)

A body is written to a temporary file while it streams in and only becomes visible under
``objects/`` once it arrived whole, so a truncated or killed download never leaves a corrupt
object behind. Identical bodies share one object.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from upath import UPath


class ManifestStatus(StrEnum):
    """A manifest's ``status``: ``landed`` answers are loaded; ``capped`` ones were discarded
    (a query answer at the data-point cap, refetched split or through the export)."""

    LANDED = "landed"
    CAPPED = "capped"


@dataclass
class LandedPart:
    """One response body in the landing root."""

    sha256: str
    bytes: int
    path: str


@dataclass
class SliceManifest:
    """The sidecar of one fetched slice: enough to reload it without calling the API."""

    slice_key: str
    report: str
    scope: str
    club_ids: list[int] | None
    aggregation: str
    interval: str
    window_start: str | None
    window_end: str | None
    endpoint: str
    request_body: dict[str, Any]
    parts: list[LandedPart]
    fetched_at: str
    server_date: str | None = None
    tokens_spent: int = 0
    attempts: int = 0
    fetch_seconds: float = 0.0
    status: ManifestStatus = ManifestStatus.LANDED
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SliceManifest:
        data = json.loads(text)
        data["parts"] = [LandedPart(**p) for p in data["parts"]]
        data["status"] = ManifestStatus(data.get("status", ManifestStatus.LANDED))
        return cls(**data)


class _HashingWriter:
    """A binary file wrapper that hashes and counts what passes through it."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self._raw.write(data)

    def flush(self) -> None:
        self._raw.flush()


class LandingStore:
    """Content-addressed storage of raw response bodies plus per-slice manifests."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = UPath(root)
        self.is_local = self.root.protocol in ("", "file", "local")
        if self.is_local:
            Path(self.root.path).mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"LandingStore({str(self.root)!r})"

    def object_path(self, sha256: str) -> UPath:
        return self.root / "objects" / sha256[:2] / f"{sha256}.json"

    @contextlib.contextmanager
    def open_sink(self, parts: list[LandedPart]) -> Iterator[_HashingWriter]:
        """Receive one body; on clean exit it becomes an object and is appended to ``parts``.

        If the body breaks mid-stream the exception passes through here and the partial file is
        deleted, so a retry starts from nothing.
        """
        tmp_dir = Path(tempfile.gettempdir()) if not self.is_local else Path(self.root.path) / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        tmp_path = tmp_dir / f"{uuid.uuid4().hex}.part"
        try:
            with open(tmp_path, "wb") as raw:
                writer = _HashingWriter(raw)
                yield writer
                raw.flush()
                os.fsync(raw.fileno())
            sha = writer.digest.hexdigest()
            target = self.object_path(sha)
            self._publish(tmp_path, target)
            parts.append(LandedPart(sha256=sha, bytes=writer.size, path=str(target)))
        finally:
            tmp_path.unlink(missing_ok=True)

    def _publish(self, tmp_path: Path, target: UPath) -> None:
        if self.is_local:
            local_target = Path(target.path)
            local_target.parent.mkdir(parents=True, exist_ok=True)
            if not local_target.exists():
                os.replace(tmp_path, local_target)
        elif not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.fs.put_file(str(tmp_path), target.path)

    @contextlib.contextmanager
    def open_part(self, part: LandedPart) -> Iterator[IO[bytes]]:
        """Open a landed body for streaming reads."""
        with UPath(part.path).open("rb") as fp:
            yield fp

    def verify(self, part: LandedPart) -> bool:
        """True if the stored body still hashes to its name (replay checks before loading)."""
        digest = hashlib.sha256()
        with self.open_part(part) as fp:
            for chunk in iter(lambda: fp.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest() == part.sha256

    def manifest_dir(self, report: str, scope: str, slice_key: str) -> UPath:
        key_hash = hashlib.sha256(slice_key.encode()).hexdigest()[:16]
        return self.root / "manifests" / report / scope.replace(":", "-") / key_hash

    def write_manifest(self, manifest: SliceManifest) -> UPath:
        """Write the sidecar of a fetched slice (atomically for local roots)."""
        directory = self.manifest_dir(manifest.report, manifest.scope, manifest.slice_key)
        stamp = manifest.fetched_at.replace(":", "").replace("-", "")
        tag = manifest.parts[0].sha256[:12] if manifest.parts else "empty"
        path = directory / f"{stamp}-{tag}.json"
        text = manifest.to_json()
        if self.is_local:
            local = Path(path.path)
            local.parent.mkdir(parents=True, exist_ok=True)
            tmp = local.with_suffix(".tmp")
            tmp.write_text(text)
            os.replace(tmp, local)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        return path

    def iter_manifests(self, report: str | None = None) -> Iterator[SliceManifest]:
        """Every manifest under the root (optionally of one report), oldest first per slice."""
        base = self.root / "manifests"
        if report:
            base = base / report
        if not base.exists():
            return
        paths = sorted((p for p in base.rglob("*.json")), key=lambda p: str(p))
        for path in paths:
            yield SliceManifest.from_json(path.read_text())

    def latest_manifests(self, report: str | None = None) -> dict[str, SliceManifest]:
        """The newest landed manifest per slice key: what a replay reloads."""
        latest: dict[str, SliceManifest] = {}
        for manifest in self.iter_manifests(report):
            current = latest.get(manifest.slice_key)
            if current is None or manifest.fetched_at >= current.fetched_at:
                latest[manifest.slice_key] = manifest
        return latest


def utc_now_iso() -> str:
    """Current UTC time as ISO text with microseconds (sortable)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")
