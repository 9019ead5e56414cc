"""Paired significance tests for matched-versus-floor comparisons (paper Sec. 4.1, A.4, A.5).

The paper reports one-sided Wilcoxon signed-rank tests of per-sample matched SBERT cosine
against each per-sample floor (word salad, off-topic pool, shuffled pairing).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from neurrator_bench.scorers.metric_registry import as_finite_array, check_same_shape


def paired_wilcoxon_greater(a: np.ndarray, b: np.ndarray) -> float:
    """One-sided Wilcoxon signed-rank p-value for ``a > b`` on paired samples.

    Zero differences are dropped before ranking (``zero_method="wilcox"``). When every
    difference is zero there is no evidence either way and the p-value is ``1.0`` (scipy would
    warn and may return NaN there). scipy picks the exact null distribution for small samples
    without ties and the normal approximation otherwise.

    Args:
        a: Per-sample scores, shape ``(n,)`` (e.g. matched SBERT cosine).
        b: Paired per-sample scores, shape ``(n,)`` (e.g. a floor), same sample order as ``a``.

    Returns:
        p-value in ``[0, 1]``.

    Raises:
        ValueError: If an input is not 1-d, empty or non-finite, or the shapes differ.
    """
    a_arr = as_finite_array("a", a, ndim=1)
    b_arr = as_finite_array("b", b, ndim=1)
    check_same_shape("a", a_arr, "b", b_arr)
    diff = a_arr - b_arr
    if not np.any(diff != 0.0):
        return 1.0
    result = stats.wilcoxon(diff, alternative="greater", zero_method="wilcox")
    return float(result.pvalue)
