"""Session-scoped simulated sessions and a dataset built from them (shared by builder/harness tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from neurrator_bench.realdata import REAL_NM1_EXTRACT as REAL_MAT  # shipped in the package


@pytest.fixture(scope="session")
def sim_dir(tmp_path_factory) -> Path:
    """Three mini-preset simulated sessions (Pvalb, Sst, Vip lines) with their stimulus bundle."""
    from neurrator_bench.builders.simulator import simulate

    return simulate(tmp_path_factory.mktemp("sim") / "sim", "mini", seed=0).out_dir


@pytest.fixture(scope="session")
def built_dataset(sim_dir, tmp_path_factory) -> Path:
    """A dataset built from ``sim_dir`` with every task, plus the real pre-binned extract."""
    from neurrator_bench.builders.build import build_dataset

    out = tmp_path_factory.mktemp("ds") / "dataset"
    return build_dataset([sim_dir], out, prebinned=[REAL_MAT]).path
