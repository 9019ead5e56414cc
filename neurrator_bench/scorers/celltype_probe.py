"""Cell-type identification from narration embeddings (paper Sec. 5: 76 % accuracy, chance 33 %).

A standardized multinomial logistic regression is cross-validated on narration embeddings
labelled by source population (PV / SST / VIP). Folds come from ``StratifiedKFold`` or, when
``groups`` (e.g. frame ids) are given, ``StratifiedGroupKFold`` so one frame never sits in both
train and test. Accuracy is pooled over all out-of-fold predictions. Significance is a label
permutation test: the whole cross-validation is rerun on permuted labels (permuted within
groups when groups are given, which keeps each frame's label composition), and
``p = (1 + #{permuted accuracy >= observed}) / (1 + n_permutations)``.

Cost: ``(1 + n_permutations) * n_splits`` logistic-regression fits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from neurrator_bench.scorers.metric_registry import (
    MetricSpec,
    as_finite_array,
    check_length,
    register_metric,
)

register_metric(
    MetricSpec(
        name="celltype_accuracy",
        higher_is_better=True,
        value_range=(0.0, 1.0),
        chance="majority-class fraction (1/3 for balanced PV/SST/VIP); permutation p-value reported",
        paper_section="Sec. 5",
        description="Cross-validated accuracy of a logistic-regression probe naming the source cell "
        "type of each narration embedding.",
    )
)


@dataclass(frozen=True)
class CellTypeProbeResult:
    """Outcome of :func:`celltype_classifier`.

    Attributes:
        accuracy: Pooled out-of-fold accuracy in ``[0, 1]``.
        chance: Majority-class fraction.
        per_fold: Accuracy of each test fold, shape ``(n_splits,)``.
        p_value: Permutation p-value (``None`` when ``n_permutations == 0``).
        confusion: Counts, shape ``(n_classes, n_classes)``; rows true class, columns predicted.
        classes: Class labels, sorted; index order of ``confusion``.
        n_permutations: Number of label permutations run.
        seed: Seed of folds and permutations.
        correct: (n,) whether each sample's out-of-fold prediction is right (for frame-level intervals).
    """

    accuracy: float
    chance: float
    per_fold: np.ndarray
    p_value: float | None
    confusion: np.ndarray
    classes: tuple[str, ...]
    n_permutations: int
    seed: int
    correct: np.ndarray


def _folds(
    codes: np.ndarray, groups: np.ndarray | None, n_splits: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified (group) k-fold train/test index pairs for class codes ``(n,)``."""
    placeholder = np.zeros((codes.size, 1))
    if groups is None:
        splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        return list(splitter.split(placeholder, codes))
    group_splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return list(group_splitter.split(placeholder, codes, groups))


def _out_of_fold(x: np.ndarray, codes: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Out-of-fold predicted class codes, shape ``(n,)``."""
    predicted = np.empty_like(codes)
    for train, test in folds:
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        model.fit(x[train], codes[train])
        predicted[test] = model.predict(x[test])
    return predicted


def _permute(codes: np.ndarray, groups: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """Permute labels globally, or within each group when ``groups`` is given."""
    if groups is None:
        return codes[rng.permutation(codes.size)]
    out = codes.copy()
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        out[members] = codes[members[rng.permutation(members.size)]]
    return out


def celltype_classifier(
    embeddings: np.ndarray,
    labels: np.ndarray,
    *,
    groups: np.ndarray | None = None,
    n_splits: int = 5,
    n_permutations: int = 200,
    seed: int = 0,
) -> CellTypeProbeResult:
    """Cross-validated cell-type probe on narration embeddings with a permutation test.

    Args:
        embeddings: Narration embeddings, shape ``(n, d)``.
        labels: Source cell type of each row (``"PV"``, ``"SST"``, ``"VIP"``), shape ``(n,)`` str.
        groups: Group of each row (e.g. frame id), shape ``(n,)``, kept within one fold; or ``None``.
        n_splits: Number of cross-validation folds, ``>= 2``.
        n_permutations: Label permutations for the p-value, ``>= 0`` (0 skips the test).
        seed: Seed for fold shuffling and permutations.

    Returns:
        :class:`CellTypeProbeResult`.

    Raises:
        ValueError: On non-finite embeddings, length mismatches, fewer than two classes, a class
            (or, with groups, the number of groups) smaller than ``n_splits``, or bad counts.
    """
    x = as_finite_array("embeddings", embeddings, ndim=2)
    n = x.shape[0]
    label_arr = np.asarray(labels)
    if label_arr.ndim != 1:
        raise ValueError(f"labels: expected a 1-d array of shape ({n},), found shape {label_arr.shape}")
    check_length("labels", label_arr, n, "embeddings")
    label_arr = label_arr.astype(str)
    group_arr: np.ndarray | None = None
    if groups is not None:
        group_arr = np.asarray(groups)
        if group_arr.ndim != 1:
            raise ValueError(f"groups: expected a 1-d array of shape ({n},), found shape {group_arr.shape}")
        check_length("groups", group_arr, n, "embeddings")
    if isinstance(n_splits, bool) or not isinstance(n_splits, (int, np.integer)) or n_splits < 2:
        raise ValueError(f"n_splits: expected an int >= 2, found {n_splits!r}")
    if n_permutations < 0:
        raise ValueError(f"n_permutations: expected >= 0, found {n_permutations}")

    classes, codes = np.unique(label_arr, return_inverse=True)
    counts = np.bincount(codes, minlength=classes.size)
    if classes.size < 2:
        raise ValueError(f"labels: expected at least 2 classes, found {classes.tolist()}")
    if counts.min() < n_splits:
        small = str(classes[int(np.argmin(counts))])
        raise ValueError(
            f"labels: every class needs >= n_splits={n_splits} samples, found {int(counts.min())} of {small!r}"
        )
    if group_arr is not None and np.unique(group_arr).size < n_splits:
        raise ValueError(f"groups: need >= n_splits={n_splits} distinct groups, found {np.unique(group_arr).size}")

    folds = _folds(codes, group_arr, n_splits, seed)
    predicted = _out_of_fold(x, codes, folds)
    accuracy = float(np.mean(predicted == codes))
    per_fold = np.array([np.mean(predicted[test] == codes[test]) for _, test in folds])
    confusion = np.zeros((classes.size, classes.size), dtype=np.int64)
    np.add.at(confusion, (codes, predicted), 1)

    p_value: float | None = None
    if n_permutations > 0:
        rng = np.random.default_rng(seed)
        at_least = 0
        for _ in range(n_permutations):
            permuted = _permute(codes, group_arr, rng)
            perm_pred = _out_of_fold(x, permuted, _folds(permuted, group_arr, n_splits, seed))
            at_least += int(np.mean(perm_pred == permuted) >= accuracy)
        p_value = (1 + at_least) / (1 + n_permutations)

    return CellTypeProbeResult(
        accuracy=accuracy,
        chance=float(counts.max() / n),
        per_fold=per_fold,
        p_value=p_value,
        confusion=confusion,
        classes=tuple(classes.tolist()),
        n_permutations=n_permutations,
        seed=seed,
        correct=(predicted == codes).astype(float),
    )
