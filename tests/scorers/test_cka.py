from __future__ import annotations

import itertools

import numpy as np
import pytest

from neurrator_bench.scorers.cka import linear_cka


def _hsic_centering(k, gram_y):
    n = k.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    return np.trace(k @ h @ gram_y @ h) / (n - 1) ** 2


def _cka_centering_matrices(x, y):
    k, gram_y = x @ x.T, y @ y.T
    return _hsic_centering(k, gram_y) / np.sqrt(_hsic_centering(k, k) * _hsic_centering(gram_y, gram_y))


def _hsic_u_statistic(k, gram_y):
    """Unbiased HSIC as the average of the order-4 kernel over all distinct index quadruples."""
    n = k.shape[0]
    total = 0.0
    count = 0
    for quad in itertools.permutations(range(n), 4):
        h = 0.0
        for t, u, v, w in itertools.permutations(quad):
            h += k[t, u] * gram_y[t, u] + k[t, u] * gram_y[v, w] - 2.0 * k[t, u] * gram_y[t, v]
        total += h / 24.0
        count += 1
    return total / count


def test_biased_matches_centering_matrix_hsic():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 5)) + 3.0
    y = x @ rng.normal(size=(5, 7)) + rng.normal(size=(30, 7))
    assert linear_cka(x, y) == pytest.approx(_cka_centering_matrices(x, y), rel=1e-10)


def test_debiased_matches_u_statistic_definition():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(7, 3)) + 1.0
    y = x @ rng.normal(size=(3, 2)) + 0.5 * rng.normal(size=(7, 2))
    k, gram_y = x @ x.T, y @ y.T
    expected = _hsic_u_statistic(k, gram_y) / np.sqrt(_hsic_u_statistic(k, k) * _hsic_u_statistic(gram_y, gram_y))
    assert linear_cka(x, y, debiased=True) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("debiased", [False, True])
def test_invariances_give_one(debiased):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(40, 6))
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    assert linear_cka(x, x, debiased=debiased) == pytest.approx(1.0)
    assert linear_cka(x, x @ q, debiased=debiased) == pytest.approx(1.0)
    assert linear_cka(x, 7.5 * x + 2.0, debiased=debiased) == pytest.approx(1.0)


def test_symmetric():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(20, 4)), rng.normal(size=(20, 9))
    assert linear_cka(x, y) == pytest.approx(linear_cka(y, x))
    assert linear_cka(x, y, debiased=True) == pytest.approx(linear_cka(y, x, debiased=True))


def test_independent_data_debiased_near_zero_biased_inflated():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(50, 500)), rng.normal(size=(50, 500))
    assert linear_cka(x, y) > 0.8
    assert abs(linear_cka(x, y, debiased=True)) < 0.05


def test_inputs_not_mutated():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(10, 3)), rng.normal(size=(10, 2))
    x0, y0 = x.copy(), y.copy()
    linear_cka(x, y, debiased=True)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(y, y0)


def test_errors():
    rng = np.random.default_rng(6)
    with pytest.raises(ValueError, match=r"needs n >= 4 samples, found n=3"):
        linear_cka(rng.normal(size=(3, 2)), rng.normal(size=(3, 2)), debiased=True)
    with pytest.raises(ValueError, match=r"needs n >= 2 samples, found n=1"):
        linear_cka(rng.normal(size=(1, 2)), rng.normal(size=(1, 2)))
    with pytest.raises(ValueError, match=r"same number of rows, found \(5, 2\) and \(6, 2\)"):
        linear_cka(rng.normal(size=(5, 2)), rng.normal(size=(6, 2)))
    with pytest.raises(ValueError, match="y: every column is constant"):
        linear_cka(rng.normal(size=(5, 2)), np.ones((5, 3)))
    bad = rng.normal(size=(5, 2))
    bad[4, 1] = -np.inf
    with pytest.raises(ValueError, match=r"x: expected finite values, found -inf at index \(4, 1\)"):
        linear_cka(bad, rng.normal(size=(5, 2)))
