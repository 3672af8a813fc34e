import hashlib
from pathlib import Path

import pytest
from placewise.landing.store import LandedPart, LandingStore, SliceManifest, utc_now_iso


class Boom(Exception):
    pass


@pytest.fixture
def store(tmp_path):
    return LandingStore(tmp_path / "landing")


def land(store: LandingStore, *chunks: bytes) -> LandedPart:
    parts: list[LandedPart] = []
    with store.open_sink(parts) as sink:
        for chunk in chunks:
            sink.write(chunk)
    [part] = parts
    return part


def files(root: Path, sub: str) -> list[Path]:
    base = root / sub
    return sorted(p for p in base.rglob("*") if p.is_file()) if base.exists() else []


def manifest(key="r|club:1|none|statistics|-", fetched_at="2026-11-28T06:00:00.000000+00:00", **kw):
    fields = {
        "slice_key": key,
        "report": "sendings_stats",
        "scope": "club:1001",
        "club_ids": [1001],
        "aggregation": "none",
        "interval": "statistics",
        "window_start": "2026-11-27T00:00:00",
        "window_end": "2026-11-28T00:00:00",
        "endpoint": "/v1/reporting/query/export",
        "request_body": {"report": "sendings_stats", "filter": None, "aggregate_by": None},
        "parts": [LandedPart("ab" * 32, 10, "/x/ab.json")],
        "fetched_at": fetched_at,
    }
    fields.update(kw)
    return SliceManifest(**fields)


# -- content addressing ---------------------------------------------------------------------------


def test_a_body_is_stored_under_its_sha256(store, tmp_path):
    body = b'{"records": [], "result_type": "records"}'
    part = land(store, body[:10], body[10:])
    sha = hashlib.sha256(body).hexdigest()
    assert part.sha256 == sha and part.bytes == len(body)
    assert Path(store.locate(part)) == tmp_path / "landing" / "objects" / sha[:2] / f"{sha}.json"
    assert Path(store.locate(part)).read_bytes() == body


def test_the_same_body_twice_is_one_object(store, tmp_path):
    first = land(store, b"same body")
    second = land(store, b"same", b" body")
    assert first == second
    assert files(tmp_path / "landing", "objects") == [Path(store.locate(first))]
    assert files(tmp_path / "landing", "tmp") == []


def test_different_bodies_are_different_objects(store, tmp_path):
    a, b = land(store, b"a"), land(store, b"b")
    assert a.sha256 != b.sha256
    assert len(files(tmp_path / "landing", "objects")) == 2


def test_a_sink_that_raises_mid_write_leaves_no_object_and_no_temp_file(store, tmp_path):
    parts: list[LandedPart] = []
    with pytest.raises(Boom), store.open_sink(parts) as sink:
        sink.write(b'{"records": [1, 2')
        raise Boom("connection dropped")
    assert parts == []
    assert files(tmp_path / "landing", "objects") == []
    assert files(tmp_path / "landing", "tmp") == []


def test_a_retry_after_a_broken_body_lands_only_the_whole_body(store, tmp_path):
    parts: list[LandedPart] = []
    with pytest.raises(Boom), store.open_sink(parts) as sink:
        sink.write(b"partial")
        raise Boom()
    with store.open_sink(parts) as sink:
        sink.write(b"partial and complete")
    assert len(parts) == 1
    assert Path(store.locate(parts[0])).read_bytes() == b"partial and complete"
    assert len(files(tmp_path / "landing", "objects")) == 1


def test_open_part_streams_the_body_back(store):
    part = land(store, b"0123456789")
    with store.open_part(part) as fp:
        assert fp.read(4) == b"0123"
        assert fp.read() == b"456789"


# -- verify ---------------------------------------------------------------------------------------


def test_verify_accepts_an_untouched_body(store):
    assert store.verify(land(store, b"untouched"))


def test_verify_detects_a_tampered_body(store):
    part = land(store, b'{"value": 1520}')
    Path(store.locate(part)).write_bytes(b'{"value": 1521}')
    assert not store.verify(part)


def test_verify_detects_a_truncated_body(store):
    part = land(store, b'{"value": 1520}')
    Path(store.locate(part)).write_bytes(b'{"value": 15')
    assert not store.verify(part)


# -- manifests ------------------------------------------------------------------------------------


def test_manifest_json_round_trip():
    original = manifest(
        server_date="2026-11-28T06:00:00+00:00",
        tokens_spent=15,
        attempts=2,
        fetch_seconds=0.25,
        status="capped",
        extra={"note": 1},
    )
    restored = SliceManifest.from_json(original.to_json())
    assert restored == original
    assert isinstance(restored.parts[0], LandedPart)


def test_written_manifests_are_read_back(store, tmp_path):
    part = land(store, b"body")
    written = manifest(parts=[part])
    path = store.write_manifest(written)
    assert Path(path.path).exists()
    assert list(store.iter_manifests()) == [written]
    assert list(store.iter_manifests("sendings_stats")) == [written]
    assert list(store.iter_manifests("sendings")) == []
    assert not list((tmp_path / "landing" / "manifests").rglob("*.tmp"))


def test_manifest_with_no_parts_can_be_written(store):
    empty = manifest(parts=[])
    store.write_manifest(empty)
    assert list(store.iter_manifests()) == [empty]


def test_iter_manifests_of_an_empty_root_yields_nothing(store):
    assert list(store.iter_manifests()) == []
    assert store.latest_manifests() == {}


def test_latest_manifests_picks_the_newest_per_slice_key(store):
    old = manifest("k1", "2026-11-27T06:00:00.000000+00:00", parts=[land(store, b"old")])
    new = manifest("k1", "2026-11-28T06:00:00.000000+00:00", parts=[land(store, b"new")])
    other = manifest("k2", "2026-11-26T06:00:00.000000+00:00", parts=[land(store, b"k2")])
    for m in (new, other, old):
        store.write_manifest(m)
    latest = store.latest_manifests()
    assert latest == {"k1": new, "k2": other}


def test_latest_manifests_can_be_limited_to_one_report(store):
    stats = manifest("k1")
    sendings = manifest("k2", report="sendings", interval="snapshot", window_start=None)
    store.write_manifest(stats)
    store.write_manifest(sendings)
    assert store.latest_manifests("sendings") == {"k2": sendings}
    assert set(store.latest_manifests()) == {"k1", "k2"}


def test_manifests_of_different_scopes_live_in_different_directories(store):
    a = store.manifest_dir("sendings_stats", "club:1001", "k")
    b = store.manifest_dir("sendings_stats", "clubs:1001_1002", "k")
    assert a != b
    assert ":" not in a.name and "club-1001" in str(a)


def test_utc_now_iso_is_sortable_text_with_microseconds():
    first, second = utc_now_iso(), utc_now_iso()
    assert first <= second
    assert first.endswith("+00:00") and len(first.split(".")[1]) == len("000000+00:00")


# -- relative paths, private files, stale partial downloads ---------------------------------------


def test_a_landed_part_is_recorded_relative_to_the_landing_root(store):
    part = land(store, b"{}")
    assert part.path == f"objects/{part.sha256[:2]}/{part.sha256}.json"
    assert store.locate(part) == str(store.object_path(part.sha256))


def test_a_landing_root_copied_elsewhere_reads_its_bodies_there(store, tmp_path):
    import shutil

    part = land(store, b'{"a": 1}')
    store.write_manifest(manifest(parts=[part]))
    shutil.copytree(tmp_path / "landing", tmp_path / "restored")
    shutil.rmtree(tmp_path / "landing")
    restored = LandingStore(tmp_path / "restored")
    [again] = restored.iter_manifests()
    with restored.open_part(again.parts[0]) as fp:
        assert fp.read() == b'{"a": 1}'
    assert restored.verify(again.parts[0])


def test_an_old_manifest_with_absolute_paths_is_read_under_the_current_root(store, tmp_path):
    import shutil

    part = land(store, b'{"old": true}')
    absolute = LandedPart(part.sha256, part.bytes, str(tmp_path / "landing" / part.path))
    store.write_manifest(manifest(parts=[absolute]))
    shutil.copytree(tmp_path / "landing", tmp_path / "moved")
    shutil.rmtree(tmp_path / "landing")
    moved = LandingStore(tmp_path / "moved")
    [old] = moved.iter_manifests()
    assert old.parts[0].path.startswith(str(tmp_path / "landing"))
    with moved.open_part(old.parts[0]) as fp:
        assert fp.read() == b'{"old": true}'
    assert moved.locate(old.parts[0]).startswith(str(tmp_path / "moved"))


def test_landed_objects_manifests_and_directories_are_private(store, tmp_path):
    part = land(store, b"{}")
    written = store.write_manifest(manifest(parts=[part]))
    root = tmp_path / "landing"
    assert (root / part.path).stat().st_mode & 0o777 == 0o600
    assert Path(written.path).stat().st_mode & 0o777 == 0o600
    for directory in [root, *(p for p in root.rglob("*") if p.is_dir())]:
        assert directory.stat().st_mode & 0o777 == 0o700, directory


def test_a_partial_download_is_private_while_it_streams_in(store, tmp_path):
    parts: list[LandedPart] = []
    with store.open_sink(parts) as sink:
        sink.write(b"{")
        [tmp] = (tmp_path / "landing" / "tmp").glob("*.part")
        assert tmp.stat().st_mode & 0o777 == 0o600
        sink.write(b"}")


def test_opening_a_store_sweeps_stale_partial_downloads_and_keeps_fresh_ones(tmp_path):
    import os
    import time

    tmp = tmp_path / "landing" / "tmp"
    tmp.mkdir(parents=True)
    stale, fresh = tmp / "killed.part", tmp / "streaming.part"
    stale.write_bytes(b"{")
    fresh.write_bytes(b"{")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    store = LandingStore(tmp_path / "landing")
    assert not stale.exists()
    assert fresh.exists()
    assert store.swept_parts == 1
