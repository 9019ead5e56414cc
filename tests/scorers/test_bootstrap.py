from __future__ import annotations

import numpy as np
import pytest

from neurrator_bench.scorers.bootstrap import bootstrap_ci


def test_mean_of_standard_normal_covers_zero_with_expected_width():
    x = np.random.default_rng(0).normal(size=400)
    ci = bootstrap_ci(x, n_boot=2000, seed=0)
    assert ci.low < 0.0 < ci.high
    assert ci.value == pytest.approx(float(np.mean(x)))
    expected_width = 2 * 1.96 * np.std(x, ddof=1) / np.sqrt(400)
    assert (ci.high - ci.low) == pytest.approx(expected_width, rel=0.15)
    assert abs((ci.high - ci.low) - 2 * 1.96 / np.sqrt(400)) < 0.04
    assert (ci.n, ci.n_boot, ci.seed) == (400, 2000, 0)


def test_reproducible_seed_dependent_and_chunk_independent():
    x = np.random.default_rng(1).exponential(size=150)
    a = bootstrap_ci(x, n_boot=500, seed=3)
    assert a == bootstrap_ci(x, n_boot=500, seed=3)
    assert a != bootstrap_ci(x, n_boot=500, seed=4)
    assert a == bootstrap_ci(x, n_boot=500, seed=3, chunk=7)
    assert a == bootstrap_ci(x, n_boot=500, seed=3, chunk=500)


def test_paired_statistic_on_aligned_arrays():
    rng = np.random.default_rng(2)
    b = rng.normal(size=300)
    a = b + 0.3 + 0.05 * rng.normal(size=300)  # paired: a - b has tiny spread

    def mean_diff(u, v, axis):
        return np.mean(u - v, axis=axis)

    ci = bootstrap_ci((a, b), mean_diff, n_boot=500)
    assert ci.value == pytest.approx(float(np.mean(a - b)))
    assert 0.28 < ci.low < ci.value < ci.high < 0.32
    assert ci.high - ci.low < 0.02  # far narrower than resampling a and b independently would give


def test_rank_based_statistics():
    ranks = np.random.default_rng(3).integers(1, 101, size=500)
    med = bootstrap_ci(ranks, np.median, n_boot=300)
    assert med.value == float(np.median(ranks))
    assert med.low <= med.value <= med.high

    def r10(r, axis):
        return np.mean(r <= 10, axis=axis)

    rec = bootstrap_ci(ranks, r10, n_boot=300)
    assert rec.value == pytest.approx(float(np.mean(ranks <= 10)))
    assert 0.0 <= rec.low <= rec.value <= rec.high <= 1.0


def test_non_vectorized_statistic_equals_vectorized():
    x = np.random.default_rng(4).normal(size=(60, 3))  # multi-dimensional samples

    def vec(arr, axis):
        return np.mean(arr[..., 0] * arr[..., 1], axis=axis)

    def scalar(arr):
        return float(np.mean(arr[:, 0] * arr[:, 1]))

    a = bootstrap_ci(x, vec, n_boot=200, seed=5)
    b = bootstrap_ci(x, scalar, n_boot=200, seed=5, vectorized=False)
    assert a.value == pytest.approx(b.value)
    assert a.low == pytest.approx(b.low)
    assert a.high == pytest.approx(b.high)


def test_constant_values_give_degenerate_interval_and_inputs_not_mutated():
    x = np.full(20, 0.25)
    x0 = x.copy()
    ci = bootstrap_ci(x, n_boot=50)
    assert ci.value == ci.low == ci.high == 0.25
    np.testing.assert_array_equal(x, x0)


def test_errors():
    x = np.arange(10.0)
    with pytest.raises(ValueError, match=r"values\[1\]: expected 10 samples like values\[0\]"):
        bootstrap_ci((x, np.arange(9.0)), lambda a, b, axis: np.mean(a - b, axis=axis))
    bad = x.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="values: expected finite values, found nan at index 3"):
        bootstrap_ci(bad)
    with pytest.raises(ValueError, match=r"statistic: expected output shape \(1,\)"):
        bootstrap_ci(x, lambda a, axis: np.mean(a))
    with pytest.raises(ValueError, match="alpha: expected a value in"):
        bootstrap_ci(x, alpha=1.5)
    with pytest.raises(ValueError, match="n_boot: expected an int >= 1, found 0"):
        bootstrap_ci(x, n_boot=0)
    with pytest.raises(ValueError, match="chunk: expected an int >= 1"):
        bootstrap_ci(x, chunk=0)
    with pytest.raises(ValueError, match="values: expected a non-empty array"):
        bootstrap_ci(np.array([]))
    with pytest.raises(ValueError, match="statistic: expected finite values"):
        bootstrap_ci(x, lambda a, axis: np.full(a.shape[0], np.nan))
