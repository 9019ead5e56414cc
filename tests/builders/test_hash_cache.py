"""Source files are hashed once per (path, size, mtime), and the NWB checksums land in the manifest."""

from __future__ import annotations

import os

from neurrator_bench.builders import hash_cache
from neurrator_bench.builders.hash_cache import cached_sha256
from neurrator_bench.builders.shards import file_sha256


def test_hashes_once_and_again_after_a_change(tmp_path, monkeypatch):
    calls = []

    def counting(path, *a, **k):
        calls.append(path)
        return file_sha256(path, *a, **k)

    monkeypatch.setattr(hash_cache, "file_sha256", counting)
    cache = tmp_path / "cache.json"
    f = tmp_path / "session.nwb"
    f.write_bytes(b"x" * 1000)
    first = cached_sha256(f, cache)
    assert cached_sha256(f, cache) == first == file_sha256(f) and len(calls) == 1
    f.write_bytes(b"y" * 1000)  # same size, new content and mtime
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 10**9))
    assert cached_sha256(f, cache) == file_sha256(f) != first and len(calls) == 2
    cache.write_text("{not json")  # a broken cache is ignored, not fatal
    assert cached_sha256(f, cache) == file_sha256(f) and len(calls) == 3


def test_a_resumed_build_does_not_rehash_its_sources(sim_dir, tmp_path, monkeypatch):
    from neurrator_bench.builders.build import build_dataset

    nwb = sorted(sim_dir.glob("session_*/session_*.nwb"))[0]
    calls = []
    real = hash_cache.file_sha256
    monkeypatch.setattr(hash_cache, "file_sha256", lambda p, *a, **k: calls.append(p) or real(p, *a, **k))
    monkeypatch.setenv("NEURRATOR_BENCH_HASH_CACHE", str(tmp_path / "h.json"))
    kw = {"tasks": ["nm1-front-only"], "stimuli_dir": sim_dir / "stimuli"}
    a = build_dataset([nwb], tmp_path / "a", **kw)
    b = build_dataset([nwb], tmp_path / "b", **kw)
    assert calls == [nwb.resolve()]  # hashed for the first build only
    assert a.manifest.source_sha256 == b.manifest.source_sha256 == {nwb.name: file_sha256(nwb)}
