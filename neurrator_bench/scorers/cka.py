"""Linear Centered Kernel Alignment between predicted and true features (paper A.6, Table A2).

Biased (Kornblith et al. 2019) linear CKA with column-centred features ``X`` and ``Y``:

    CKA = ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F),

equal to ``HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))`` with ``HSIC(K, L) = tr(K H L H)/(n-1)^2``
on the linear Gram matrices ``K = X X^T``, ``L = Y Y^T``. It lies in ``[0, 1]`` and is invariant
to orthogonal transforms and isotropic scaling of either side; for independent data it is
biased upwards (towards 1 when the dimension is large relative to ``n``).

Debiased CKA replaces each HSIC by the unbiased U-statistic of Song et al. (2012),

    HSIC_u(K, L) = [tr(K~ L~) + 1^T K~ 1 * 1^T L~ 1 / ((n-1)(n-2)) - 2/(n-2) * 1^T K~ L~ 1] / (n(n-3)),

with ``K~`` the Gram matrix with its diagonal set to 0; it is near 0 for independent data and may
be slightly negative. Every term is computed in feature space (no ``n x n`` matrix), so memory is
``O(n d + d^2)``.
"""

from __future__ import annotations

import numpy as np

from neurrator_bench.scorers.frame_stats import replicate_weights
from neurrator_bench.scorers.intervals import enclose
from neurrator_bench.scorers.metric_registry import (
    MetricGroup,
    MetricSpec,
    MetricValues,
    ScoreInputs,
    as_finite_array,
    register_group,
    register_metric,
)

CKA_MAX_BOOT = 50

register_metric(
    MetricSpec(
        name="cka_linear",
        higher_is_better=True,
        value_range=(0.0, 1.0),
        chance="near 0 for independent features only when debiased; the reported (biased) CKA of "
        "independent data is > 0 and grows with d/n",
        paper_section="A.6 (Table A2)",
        description="Biased linear CKA between predicted features and true pooled target features.",
    )
)


def _hsic_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Song et al. unbiased HSIC of the linear kernels of ``x (n, dx)`` and ``y (n, dy)``."""
    n = x.shape[0]
    diag_k = np.einsum("ij,ij->i", x, x)
    diag_l = np.einsum("ij,ij->i", y, y)
    trace_kl = float(np.sum((y.T @ x) ** 2)) - float(diag_k @ diag_l)
    k_one = x @ x.sum(axis=0) - diag_k  # K~ 1, shape (n,)
    l_one = y @ y.sum(axis=0) - diag_l
    sum_k = float(k_one.sum())
    sum_l = float(l_one.sum())
    cross = float(k_one @ l_one)
    return (trace_kl + sum_k * sum_l / ((n - 1) * (n - 2)) - 2.0 * cross / (n - 2)) / (n * (n - 3))


def linear_cka(x: np.ndarray, y: np.ndarray, *, debiased: bool = False) -> float:
    """Linear CKA between two representations of the same ``n`` samples.

    Args:
        x: Features, shape ``(n, dx)`` (e.g. predicted pooled features).
        y: Features, shape ``(n, dy)`` (e.g. true CLIP pooled features), same sample rows as ``x``.
        debiased: Use the unbiased HSIC estimator (needs ``n >= 4``).

    Returns:
        CKA; in ``[0, 1]`` when biased, near 0 for independent data when debiased.

    Raises:
        ValueError: On non-finite values, mismatched sample counts, too few samples (``n < 2``,
            or ``n < 4`` when debiased) or a constant representation (CKA undefined).
    """
    x_arr = as_finite_array("x", x, ndim=2)
    y_arr = as_finite_array("y", y, ndim=2)
    if x_arr.shape[0] != y_arr.shape[0]:
        raise ValueError(f"x and y must have the same number of rows, found {x_arr.shape} and {y_arr.shape}")
    n = x_arr.shape[0]
    minimum = 4 if debiased else 2
    if n < minimum:
        kind = "debiased" if debiased else "biased"
        raise ValueError(f"linear_cka ({kind}) needs n >= {minimum} samples, found n={n}")
    xc = x_arr - x_arr.mean(axis=0)
    yc = y_arr - y_arr.mean(axis=0)
    for name, arr in (("x", xc), ("y", yc)):
        if not np.any(arr):
            raise ValueError(f"{name}: every column is constant over the {n} samples; CKA is undefined")
    if debiased:
        hsic_xy = _hsic_unbiased(xc, yc)
        denom_sq = _hsic_unbiased(xc, xc) * _hsic_unbiased(yc, yc)
        if denom_sq <= 0.0:
            raise ValueError(f"debiased CKA undefined: unbiased HSIC self-terms product is {denom_sq:.3g} <= 0 (n={n})")
        return float(hsic_xy / np.sqrt(denom_sq))
    cross = float(np.sum((yc.T @ xc) ** 2))
    norm_x = float(np.linalg.norm(xc.T @ xc))
    norm_y = float(np.linalg.norm(yc.T @ yc))
    return float(min(1.0, cross / (norm_x * norm_y)))


def _cka_group(inputs: ScoreInputs) -> list[MetricValues]:
    """Linear CKA with a frame-cluster bootstrap interval, re-centred on the estimate.

    CKA is a set statistic, not a mean of per-sample values. Replicate ``b`` takes the rows of the frame
    clusters drawn by :func:`neurrator_bench.scorers.frame_stats.replicate_weights` (the same draws as
    every other metric). Repeated rows bias linear CKA upward, so the percentile interval is shifted to be
    centred on the estimate: its width is kept and its bias removed. At most 50 replicates, because each
    one is a full CKA.
    """
    emb = inputs.embedding
    if np.ptp(emb, axis=0).max() == 0:
        return [MetricValues(name="cka_linear", note="predictions are identical for every sample: CKA undefined")]
    true = inputs.true_embedding()
    value = linear_cka(emb, true)
    clusters = inputs.clusters
    block = clusters.block
    members = [np.flatnonzero(block == c) for c in range(clusters.n_blocks)]
    n_boot = min(inputs.n_boot, CKA_MAX_BOOT)
    replicates = []
    for b in range(n_boot):
        counts, _ = replicate_weights(clusters, b, inputs.seed)
        rows = np.concatenate([np.repeat(members[c], counts[c]) for c in np.flatnonzero(counts)])
        replicates.append(linear_cka(emb[rows], true[rows]))
    low, high = np.quantile(replicates, [0.025, 0.975])
    shift = value - (low + high) / 2
    low, high = enclose(value, max(0.0, float(low + shift)), min(1.0, float(high + shift)))
    return [
        MetricValues(
            name="cka_linear",
            value=value,
            ci=(low, high),
            n_boot=n_boot,
            interval="frame-blocks (re-centred)",
            ceiling=1.0,
        )
    ]


register_group(MetricGroup(name="cka", needs=frozenset({"embedding"}), metrics=("cka_linear",), compute=_cka_group))
