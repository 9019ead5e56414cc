from __future__ import annotations

import numpy as np
import pytest

from neurrator_bench.scorers.paired_tests import paired_wilcoxon_greater


def test_all_zero_differences_give_one():
    a = np.array([0.3, 0.1, 0.5])
    assert paired_wilcoxon_greater(a, a.copy()) == 1.0


def test_exact_closed_form_all_positive():
    # n = 4 positive differences with distinct magnitudes: exact one-sided p = 1 / 2**4.
    a = np.array([1.0, 2.0, 3.0, 4.0])
    assert paired_wilcoxon_greater(a, np.zeros(4)) == pytest.approx(1 / 16)


def test_direction():
    rng = np.random.default_rng(0)
    b = rng.normal(size=60)
    a = b + 0.5 + 0.1 * rng.normal(size=60)
    assert paired_wilcoxon_greater(a, b) < 1e-6
    assert paired_wilcoxon_greater(b, a) > 0.99


def test_inputs_not_mutated():
    a = np.array([0.2, 0.4, 0.9])
    b = np.array([0.1, 0.1, 0.1])
    a0, b0 = a.copy(), b.copy()
    paired_wilcoxon_greater(a, b)
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)


def test_errors():
    with pytest.raises(ValueError, match=r"same shape, found \(3,\) and \(2,\)"):
        paired_wilcoxon_greater(np.ones(3), np.ones(2))
    with pytest.raises(ValueError, match=r"b: expected finite values, found nan at index 1"):
        paired_wilcoxon_greater(np.ones(3), np.array([0.0, np.nan, 1.0]))
    with pytest.raises(ValueError, match=r"a: expected a 1-d array"):
        paired_wilcoxon_greater(np.ones((2, 2)), np.ones((2, 2)))
