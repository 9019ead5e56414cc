"""intervals: producers contain their value exactly; checkers forgive float noise, not real violations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from neurrator_bench.scorers.intervals import RELATIVE_TOLERANCE, enclose, leq, within

# 0.1 + 0.1 + 0.1 = 0.30000000000000004: the mean of three equal draws is one ulp above each draw, while
# the percentiles of the draws are the draw itself (the failure of issue 16, by construction, no BLAS).
DRAWS = np.full(3, 0.1)


def test_the_summation_order_case_is_real() -> None:
    assert DRAWS.mean() > 0.1
    assert np.percentile(DRAWS, 2.5) == 0.1 == np.percentile(DRAWS, 97.5)


def test_enclose_widens_only_where_needed() -> None:
    value = float(DRAWS.mean())
    assert enclose(value, 0.1, 0.1) == (0.1, value)
    assert enclose(0.5, 0.4, 0.6) == (0.4, 0.6)
    assert enclose(0.7, 0.4, 0.6) == (0.4, 0.7)
    assert enclose(0.5, None, None) == (None, None)
    with pytest.raises(ValueError, match="value: expected a finite number, found nan"):
        enclose(math.nan, 0.0, 1.0)


def test_leq_tolerates_ulps_not_real_gaps() -> None:
    v = 0.0543568771160066
    assert leq(np.nextafter(v, 1.0), v)  # one ulp above
    assert leq(v + 8 * np.spacing(v), v)
    assert not leq(v * (1 + 1e-9), v)  # nine significant digits apart: a real violation
    assert not leq(0.35, 0.3)
    assert leq(1e-13, 0.0)  # absolute floor near zero
    assert not leq(1e-9, 0.0)
    assert within(1.0 + 2 * np.spacing(1.0), 0.0, 1.0)
    assert not within(1.0 + 1e-9, 0.0, 1.0)
    assert within(5.0, 1.0, math.inf)
    assert RELATIVE_TOLERANCE < 1e-14
