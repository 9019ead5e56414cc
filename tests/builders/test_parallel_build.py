"""Sessions built in a process pool, or through any concurrent.futures executor, give byte-identical datasets."""

from __future__ import annotations

import hashlib
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from neurrator_bench.builders.build import build_dataset
from neurrator_bench.schemas.dataset import WindowSpec

TASK = "nm1-contiguous-middle"


def _digests(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


class _RecordingExecutor(Executor):
    """A cluster engine's stand-in: runs each submitted call on a thread and records what it was given."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=2)
        self.calls: list[str] = []

    def submit(self, fn, /, *args, **kwargs) -> Future:
        self.calls.append(Path(args[0]).name)
        return self.pool.submit(fn, *args, **kwargs)


def test_workers_and_executors_give_byte_identical_output(sim_dir, tmp_path):
    common = {"window": WindowSpec(stride=4), "tasks": [TASK]}
    serial = build_dataset([sim_dir], tmp_path / "serial", workers=1, **common)
    pooled = build_dataset([sim_dir], tmp_path / "pooled", workers=2, **common)
    engine = _RecordingExecutor()
    try:
        external = build_dataset([sim_dir], tmp_path / "external", executor=engine, **common)
    finally:
        engine.pool.shutdown()
    reference = _digests(serial.path)
    assert len([rel for rel in reference if rel.startswith("data/")]) > 10
    assert _digests(pooled.path) == reference
    assert _digests(external.path) == reference
    assert serial.manifest.fingerprint == pooled.manifest.fingerprint == external.manifest.fingerprint
    # the executor ran the per-session step (builders.build.session_step) once per session, in input order
    assert engine.calls == sorted(p.name for p in sim_dir.glob("session_*/session_*.nwb"))
    with pytest.raises(ValueError, match="workers: expected >= 1"):
        build_dataset([sim_dir], tmp_path / "bad", workers=0, **common)
