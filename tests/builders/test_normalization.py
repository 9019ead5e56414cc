"""Training statistics: every distinct training bin once, from grids or from windows alike; scale 1 for silence."""

from __future__ import annotations

import numpy as np

from neurrator_bench.builders.binning import grid_windows
from neurrator_bench.builders.normalization import TaskMoments, covered_bins
from neurrator_bench.dataset_access import zscore_windows


def test_covered_bins() -> None:
    assert covered_bins(np.array([0, 2]), 3, 8).tolist() == [True] * 5 + [False] * 3
    assert covered_bins(np.array([6]), 3, 8).tolist() == [False] * 6 + [True] * 2  # clipped at the end
    assert not covered_bins(np.array([], dtype=int), 3, 8).any()


def test_each_training_bin_counts_once_from_grids_and_from_windows() -> None:
    rng = np.random.default_rng(0)
    grids = [rng.poisson(0.3, size=(5, 60)).astype(np.uint8), rng.poisson(2.0, size=(5, 45)).astype(np.uint8)]
    segment = np.repeat([0, 1], [41, 26])
    first = np.concatenate([np.arange(41), np.arange(26)])
    split = np.where(rng.random(67) < 0.6, "train", "validation").astype(object)
    split[:5] = "train"
    from_grids = TaskMoments(5)
    from_grids.add_training_grids({"t": split}, grids, segment, first, 20)
    windows = np.concatenate([grid_windows(grids[s], first[segment == s], 20) for s in (0, 1)])
    from_windows = TaskMoments(5)
    from_windows.add_training_windows({"t": split}, windows, segment.astype(str), first)
    # independent: the union of bins covered by training windows, each once
    bins = [np.zeros(g.shape[1], bool) for g in grids]
    for s, f, sp in zip(segment, first, split, strict=True):
        if sp == "train":
            bins[s][f : f + 20] = True
    values = np.concatenate([g[:, b] for g, b in zip(grids, bins, strict=True)], axis=1).astype(float)
    for m in (from_grids.by_task["t"], from_windows.by_task["t"]):
        mean, std = m.mean_std()
        assert m.n_bins == values.shape[1] < 20 * int((split == "train").sum())
        np.testing.assert_allclose(mean, values.mean(axis=1), rtol=1e-12)
        np.testing.assert_allclose(std, values.std(axis=1), rtol=1e-9)


def test_zero_variance_units_take_scale_one() -> None:
    spikes = np.array([[[0, 1, 3]], [[2, 0, 0]]], dtype=np.uint8)  # (n=2, units=1, bins=3)
    z = zscore_windows(spikes, np.array([0.0], dtype=np.float32), np.array([0.0], dtype=np.float32))
    np.testing.assert_array_equal(z[:, 0], [[0, 1, 3], [2, 0, 0]])  # raw deviation from the mean, never / 1e-6
    z = zscore_windows(spikes, np.array([1.0], dtype=np.float32), np.array([2.0], dtype=np.float32))
    np.testing.assert_allclose(z[0, 0], [-0.5, 0.0, 1.0])
