"""K-nearest-neighbour frame purity in predicted feature space (paper A.6, Table A2).

For each test sample (query), take its ``k`` nearest *other* test samples by cosine similarity
of the predicted features and count the fraction whose true frame equals the query's frame.

The benchmark's metric (:func:`session_knn_purity`) follows Table A2: "KNN purity: fraction of the K=10
nearest test bins (in predicted feature space) that share the query's true frame". Our choice, which Table
A2 does not state: neighbours are searched among the test bins of the query's own session, and the value is
averaged over the bins of a session and then over sessions, so it does not depend on how many sessions were
pooled (pooled over sessions, a query would meet the other sessions' bins of its frame). Beside it the entry
reports the chance level, ``(n_f - 1) / (n_s - 1)`` per query (the query's frame has ``n_f`` bins among the
``n_s`` test bins of its session), and the **ceiling**: the purity that the true targets themselves reach on
the same test set. A frame shown ``r`` times has only ``r - 1`` other bins, so a perfect model cannot exceed
``(r - 1) / k``; identical targets of different frames tie and lower it further. A session with ``n_s <= k``
test bins has no ``k`` neighbours and is left out (recorded).

Ties: similarities within ``1e-10`` of the ``k``-th largest count as tied, and tied neighbours
are taken in ascending ``sample_id`` order (row index when ids are not given). Samples are put
in id order before any arithmetic, so with ``sample_ids`` the result is identical for any input
row order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from neurrator_bench.scorers.metric_registry import (
    MetricGroup,
    MetricSpec,
    MetricValues,
    ScoreInputs,
    as_finite_array,
    as_unique_ids,
    check_length,
    register_group,
    register_metric,
    unit_rows,
)

TIE_TOLERANCE = 1e-10

register_metric(
    MetricSpec(
        name="knn_purity",
        higher_is_better=True,
        value_range=(0.0, 1.0),
        chance="mean over a session's test bins of (n_same_frame - 1)/(n_session - 1), then over sessions",
        paper_section="A.6 (Table A2)",
        description="Fraction of the k=10 cosine-nearest other test bins of the same session (predicted space) "
        "sharing the query's true frame; mean over bins, then sessions.",
        ceiling="the purity of the true targets on the same test set (repeats per frame bound it)",
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

    Same arguments and errors as :func:`knn_purity_per_sample`; returns the mean of its values (from the
    integer hit counts, so the result does not depend on summation order).
    """
    per_sample = knn_purity_per_sample(
        pred, frame_labels, k, sample_ids=sample_ids, max_chunk_elements=max_chunk_elements
    )
    return float(np.rint(per_sample * k).sum() / (per_sample.size * k))


def knn_purity_per_sample(
    pred: np.ndarray,
    frame_labels: np.ndarray,
    k: int = 10,
    *,
    sample_ids: Sequence[str] | None = None,
    max_chunk_elements: int = 2**22,
) -> np.ndarray:
    """Fraction of each sample's ``k`` cosine-nearest other samples that share its frame, per sample.

    Args:
        pred: Predicted features, shape ``(n, d)``.
        frame_labels: True frame (any hashable label: int or str) of each row, shape ``(n,)``.
        k: Number of neighbours, ``1 <= k < n``.
        sample_ids: Unique ids, length ``n``; break ties and make the result order independent.
        max_chunk_elements: Upper bound on the number of similarities held in memory at once.

    Returns:
        (n,) purity of each row (input row order), values in ``[0, 1]``.

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
    order = np.arange(n)
    if sample_ids is not None:
        ids = as_unique_ids("sample_ids", sample_ids, n, "pred")
        order = np.argsort(ids, kind="stable")
        unit = unit[order]
        labels = labels[order]
    _, codes = np.unique(labels, return_inverse=True)

    hits = np.zeros(n)
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
        hits[start:stop] = np.count_nonzero(chosen & same, axis=1)
    out = np.empty(n)
    out[order] = hits / k
    return out


def session_knn_purity(
    pred: np.ndarray,
    truth: np.ndarray,
    frame_labels: np.ndarray,
    sessions: np.ndarray,
    *,
    k: int = 10,
    sample_ids: Sequence[str],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Within-session KNN purity of the predictions and of the true targets (the ceiling), per sample.

    Args:
        pred: (n, d) predicted features.
        truth: (n, d) true targets of the same rows (the oracle).
        frame_labels: (n,) true frame labels.
        sessions: (n,) session of each row.
        k: Neighbours.
        sample_ids: (n,) unique ids (tie order).

    Returns:
        ``(purity, ceiling, chance, left_out_sessions)``: three (n,) arrays, NaN on rows of sessions with
        ``n_s <= k`` test bins, and those sessions' ids.
    """
    labels = np.asarray(frame_labels)
    sess = np.asarray(sessions).astype(str)
    ids = np.asarray([str(i) for i in sample_ids])
    purity, ceiling, chance = (np.full(labels.size, np.nan) for _ in range(3))
    left_out = []
    for session in sorted(set(sess)):
        rows = np.flatnonzero(sess == session)
        if rows.size <= k:
            left_out.append(session)
            continue
        purity[rows] = knn_purity_per_sample(pred[rows], labels[rows], k, sample_ids=ids[rows])
        ceiling[rows] = knn_purity_per_sample(truth[rows], labels[rows], k, sample_ids=ids[rows])
        _, codes, counts = np.unique(labels[rows], return_inverse=True, return_counts=True)
        chance[rows] = (counts[codes.reshape(-1)] - 1) / (rows.size - 1)
    return purity, ceiling, chance, left_out


def _knn_group(inputs: ScoreInputs) -> list[MetricValues]:
    labels = np.char.add(np.char.add(inputs.stimulus.astype(str), ":"), inputs.frame.astype(str))
    purity, ceiling, chance, left_out = session_knn_purity(
        inputs.embedding,
        inputs.true_embedding(),
        labels,
        inputs.session,
        k=inputs.knn_k,
        sample_ids=inputs.sample_ids,
    )
    covered = np.isfinite(purity)
    if not covered.any():
        return [
            MetricValues(
                name="knn_purity",
                value=None,
                note=f"every session has <= k={inputs.knn_k} test bins: no k neighbours within a session",
            )
        ]
    weights = np.zeros(covered.size)
    weights[covered] = inputs.clusters.subset(covered).session_then_bin_weights()
    note = f"sessions with <= k={inputs.knn_k} test bins left out: {left_out}" if left_out else None
    return [
        MetricValues(
            name="knn_purity",
            per_sample=purity,
            weights="session-then-bin",
            chance=float(np.sum(weights[covered] * chance[covered])),
            ceiling=float(np.sum(weights[covered] * ceiling[covered])),
            note=note,
        )
    ]


register_group(
    MetricGroup(name="knn_purity", needs=frozenset({"embedding"}), metrics=("knn_purity",), compute=_knn_group)
)
