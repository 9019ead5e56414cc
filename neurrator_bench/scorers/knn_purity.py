"""K-nearest-neighbour frame purity in predicted feature space (paper A.6, Table A2).

For each test sample (query), take its ``k`` nearest *other* test samples by cosine similarity
of the predicted features and count the fraction whose true frame equals the query's frame;
the score is the mean over queries. Chance for a query of frame ``f`` is
``(n_f - 1) / (n - 1)`` (about ``1/900`` for 900 frames with repeats, Table A2).

Ties: similarities within ``1e-10`` of the ``k``-th largest count as tied, and tied neighbours
are taken in ascending ``sample_id`` order (row index when ids are not given). Samples are put
in id order before any arithmetic, so with ``sample_ids`` the result is identical for any input
row order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from neurrator_bench.scorers.metric_registry import (
    MetricSpec,
    as_finite_array,
    as_unique_ids,
    check_length,
    register_metric,
    unit_rows,
)

TIE_TOLERANCE = 1e-10

register_metric(
    MetricSpec(
        name="knn_purity",
        higher_is_better=True,
        value_range=(0.0, 1.0),
        chance="mean over queries of (n_same_frame - 1)/(n - 1), about 1/n_frames",
        paper_section="A.6 (Table A2)",
        description="Fraction of the k=10 cosine-nearest other test samples (predicted space) sharing "
        "the query's true frame.",
    )
)


def knn_purity(
    pred: np.ndarray,
    frame_labels: np.ndarray,
    k: int = 10,
    *,
    sample_ids: Sequence[str] | None = None,
    max_chunk_elements: int = 2**22,
) -> float:
    """Mean fraction of each sample's ``k`` cosine-nearest other samples that share its frame.

    Args:
        pred: Predicted features, shape ``(n, d)``.
        frame_labels: True frame (any hashable label: int or str) of each row, shape ``(n,)``.
        k: Number of neighbours, ``1 <= k < n``.
        sample_ids: Unique ids, length ``n``; break ties and make the result order independent.
        max_chunk_elements: Upper bound on the number of similarities held in memory at once.

    Returns:
        Purity in ``[0, 1]``.

    Raises:
        ValueError: On non-finite values, an all-zero row, a length mismatch, duplicate ids,
            ``k < 1`` or ``n <= k``.
    """
    x = as_finite_array("pred", pred, ndim=2)
    n = x.shape[0]
    labels = np.asarray(frame_labels)
    if labels.ndim != 1:
        raise ValueError(f"frame_labels: expected a 1-d array of shape ({n},), found shape {labels.shape}")
    check_length("frame_labels", labels, n, "pred")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k: expected an int >= 1, found {k!r}")
    if n <= k:
        raise ValueError(f"knn_purity needs more than k={k} samples (k neighbours besides the query), found n={n}")
    if max_chunk_elements < 1:
        raise ValueError(f"max_chunk_elements: expected >= 1, found {max_chunk_elements}")

    unit = unit_rows("pred", x)
    if sample_ids is not None:
        ids = as_unique_ids("sample_ids", sample_ids, n, "pred")
        order = np.argsort(ids, kind="stable")
        unit = unit[order]
        labels = labels[order]
    _, codes = np.unique(labels, return_inverse=True)

    hits = 0
    step = max(1, min(n, max_chunk_elements // n))
    for start in range(0, n, step):
        stop = min(n, start + step)
        rows = np.arange(stop - start)
        sims = unit[start:stop] @ unit.T  # (chunk, n)
        sims[rows, rows + start] = -np.inf  # a query is not its own neighbour
        kth = np.partition(sims, n - k, axis=1)[:, n - k]  # k-th largest similarity
        above = sims > (kth + TIE_TOLERANCE)[:, None]
        tied = ~above & (sims >= (kth - TIE_TOLERANCE)[:, None])
        room = k - above.sum(axis=1)  # how many tied neighbours still fit
        chosen = above | (tied & (np.cumsum(tied, axis=1) <= room[:, None]))
        same = codes[None, :] == codes[start:stop, None]
        hits += int(np.count_nonzero(chosen & same))
    return hits / (n * k)
