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
object behind. Identical bodies share one object. A download killed outright (``kill -9``) can
leave its ``tmp/*.part`` file behind: opening a store removes parts older than
``STALE_PART_SECONDS``, far longer than any download streams.

Manifests name their parts relative to the root (``objects/ab/<sha256>.json``) and a part is
always read as the object of its sha256 under the current root, so a landing root restored or
copied elsewhere replays as it is; older manifests with absolute paths are read the same way.
On a local filesystem everything landed is private to the pipeline's user: files ``0600``,
directories ``0700`` (a body holds member data).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from upath import UPath

log = logging.getLogger(__name__)


#: A partial download older than this is left over from a killed process and is removed.
STALE_PART_SECONDS = 3600
_FILE_MODE = 0o600
_DIR_MODE = 0o700


def _private_dirs(path: Path) -> None:
    """Create ``path`` and its missing parents with mode 0700 (``mkdir(parents=True)`` would
    give the parents the default mode)."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=_DIR_MODE)
        except FileExistsError:  # another worker created it meanwhile
            continue
        directory.chmod(_DIR_MODE)  # whatever the umask


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to a new file with mode 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as fp:
        fp.write(text)


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
        #: How many stale partial downloads opening the store removed.
        self.swept_parts = 0
        if self.is_local:
            _private_dirs(Path(self.root.path))
            self.swept_parts = self.sweep_stale_parts()

    def sweep_stale_parts(self, older_than: float = STALE_PART_SECONDS) -> int:
        """Remove partial downloads left by killed processes (older than ``older_than`` s)."""
        tmp_dir = Path(self.root.path) / "tmp"
        if not self.is_local or not tmp_dir.is_dir():
            return 0
        cutoff = time.time() - older_than
        swept = 0
        for part in tmp_dir.glob("*.part"):
            try:
                if part.stat().st_mtime < cutoff:
                    part.unlink()
                    swept += 1
            except FileNotFoundError:  # finished or swept by another process meanwhile
                continue
        if swept:
            log.info("%s: removed %d stale partial download(s) from tmp/", self, swept)
        return swept

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
        _private_dirs(tmp_dir)
        tmp_path = tmp_dir / f"{uuid.uuid4().hex}.part"
        try:
            fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
            with os.fdopen(fd, "wb") as raw:
                writer = _HashingWriter(raw)
                yield writer
                raw.flush()
                os.fsync(raw.fileno())
            sha = writer.digest.hexdigest()
            target = self.object_path(sha)
            self._publish(tmp_path, target)
            parts.append(LandedPart(sha256=sha, bytes=writer.size, path=self.relative(sha)))
        finally:
            tmp_path.unlink(missing_ok=True)

    @staticmethod
    def relative(sha256: str) -> str:
        """Where the object of ``sha256`` lives relative to the root (what manifests record)."""
        return f"objects/{sha256[:2]}/{sha256}.json"

    def locate(self, part: LandedPart) -> str:
        """The full path or URL of a landed part under this root (for messages and ops tables).

        Always the object of the part's sha256 here, whatever path an older manifest recorded:
        a root restored elsewhere is read where it is now.
        """
        return str(self.object_path(part.sha256))

    def _publish(self, tmp_path: Path, target: UPath) -> None:
        if self.is_local:
            local_target = Path(target.path)
            _private_dirs(local_target.parent)
            if not local_target.exists():
                os.replace(tmp_path, local_target)
        elif not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.fs.put_file(str(tmp_path), target.path)

    @contextlib.contextmanager
    def open_part(self, part: LandedPart) -> Iterator[IO[bytes]]:
        """Open a landed body for streaming reads."""
        with self.object_path(part.sha256).open("rb") as fp:
            yield fp

    def verify(self, part: LandedPart) -> bool:
        """True if the stored body still hashes to its name (replay checks before loading)."""
        digest = hashlib.sha256()
        if not self.object_path(part.sha256).exists():
            return False
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
            _private_dirs(local.parent)
            tmp = local.with_suffix(f".{uuid.uuid4().hex[:8]}.tmp")
            _write_private(tmp, text)
            os.replace(tmp, local)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        return path

    def current_manifest(self, report: str, scope: str, slice_key: str) -> SliceManifest | None:
        """The newest manifest written for ``slice_key`` (None if it was never landed)."""
        directory = self.manifest_dir(report, scope, slice_key)
        if not directory.exists():
            return None
        newest: SliceManifest | None = None
        for path in directory.glob("*.json"):
            manifest = SliceManifest.from_json(path.read_text())
            if manifest.slice_key == slice_key and (
                newest is None or manifest.fetched_at >= newest.fetched_at
            ):
                newest = manifest
        return newest

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
