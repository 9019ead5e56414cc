"""Session-scoped simulated sessions and a dataset built from them (shared by builder/harness tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from neurrator_bench.realdata import REAL_NM1_EXTRACT as REAL_MAT  # shipped in the package

TEST_STRIDE = 4


@pytest.fixture(scope="session", autouse=True)
def _hash_cache(tmp_path_factory):
    """Keep the source-file hash cache of the builds inside the test run (never the user's ~/.cache)."""
    import os

    old = os.environ.get("NEURRATOR_BENCH_HASH_CACHE")
    os.environ["NEURRATOR_BENCH_HASH_CACHE"] = str(tmp_path_factory.mktemp("hash-cache") / "sha256.json")
    yield
    if old is None:
        os.environ.pop("NEURRATOR_BENCH_HASH_CACHE", None)
    else:
        os.environ["NEURRATOR_BENCH_HASH_CACHE"] = old


@pytest.fixture(scope="session")
def sim_dir(tmp_path_factory) -> Path:
    """Three mini-preset simulated sessions (Pvalb, Sst, Vip lines) with their stimulus bundle."""
    from neurrator_bench.builders.simulator import simulate

    return simulate(tmp_path_factory.mktemp("sim") / "sim", "mini", seed=0).out_dir


@pytest.fixture(scope="session")
def built_dataset(sim_dir, tmp_path_factory) -> Path:
    """A dataset built from ``sim_dir`` with every task, plus the real pre-binned extract."""
    from neurrator_bench.builders.build import build_dataset
    from neurrator_bench.schemas.dataset import WindowSpec

    out = tmp_path_factory.mktemp("ds") / "dataset"
    # stride 4 (about one sample per movie frame) keeps the suite fast; the rules are the same at stride 1
    return build_dataset([sim_dir], out, prebinned=[REAL_MAT], window=WindowSpec(stride=TEST_STRIDE)).path


@pytest.fixture(scope="module")
def ds(built_dataset):
    """The opened ``built_dataset`` (one handle per test module)."""
    from neurrator_bench.dataset_access import open_dataset

    return open_dataset(built_dataset)


@pytest.fixture(scope="module")
def encoder():
    """The offline SBERT encoder (all-MiniLM-L6-v2), loaded once per test module."""
    from neurrator_bench.text_embedding import SentenceEncoder

    return SentenceEncoder()


SEALED_TASKS = ("nm1-contiguous-middle", "nm1-repeat-holdout", "scenes-identity-holdout")


@pytest.fixture(scope="session")
def sealed_build(sim_dir, tmp_path_factory):
    """``(dataset, references)`` of ``sim_dir`` built with ``--seal-final 0.3`` (three tasks).

    0.3 gives the final test of nm1-contiguous-middle several 30-frame resampling blocks (0.1 gives one).
    """
    from neurrator_bench.builders.build import build_dataset
    from neurrator_bench.schemas.dataset import WindowSpec

    out = tmp_path_factory.mktemp("sealed") / "dataset"
    result = build_dataset(
        [sim_dir], out, tasks=list(SEALED_TASKS), window=WindowSpec(stride=TEST_STRIDE), seal_final=0.3
    )
    return result.path, result.sealed_dir
