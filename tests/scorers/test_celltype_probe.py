from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from neurrator_bench.scorers.celltype_probe import _folds, celltype_classifier

CELL_TYPES = np.array(["PV", "SST", "VIP"])


@pytest.fixture(autouse=True)
def _single_blas_thread():
    # hundreds of tiny lbfgs fits: BLAS thread start-up dominates on a shared 2-core machine
    with threadpool_limits(limits=1):
        yield


def _frames_data(separation, seed, n_frames=20, d=6):
    """One narration embedding per (frame, cell type); returns embeddings, labels, frame groups."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, d)) * separation
    labels = np.tile(CELL_TYPES, n_frames)
    groups = np.repeat(np.arange(n_frames), 3)
    codes = np.tile(np.arange(3), n_frames)
    emb = centres[codes] + rng.normal(size=(3 * n_frames, d))
    return emb, labels, groups


def test_separable_clusters_near_perfect_and_significant():
    emb, labels, groups = _frames_data(separation=6.0, seed=0)
    res = celltype_classifier(emb, labels, groups=groups, n_splits=3, n_permutations=19, seed=0)
    assert res.accuracy >= 0.95
    assert res.p_value == pytest.approx(1 / 20)
    assert res.chance == pytest.approx(1 / 3)
    assert res.classes == ("PV", "SST", "VIP")
    assert res.per_fold.shape == (3,)
    assert res.confusion.sum() == 60
    assert np.trace(res.confusion) == round(res.accuracy * 60)


def test_random_labels_near_chance_not_significant():
    emb, labels, _ = _frames_data(separation=0.0, seed=1)
    res = celltype_classifier(emb, labels, n_splits=3, n_permutations=9, seed=0)
    assert abs(res.accuracy - 1 / 3) < 0.2
    assert res.p_value > 0.1


def test_reproducible_and_inputs_not_mutated():
    emb, labels, groups = _frames_data(separation=1.0, seed=2)
    copies = (emb.copy(), labels.copy(), groups.copy())
    a = celltype_classifier(emb, labels, groups=groups, n_splits=3, n_permutations=2, seed=3)
    b = celltype_classifier(emb, labels, groups=groups, n_splits=3, n_permutations=2, seed=3)
    assert a.accuracy == b.accuracy and a.p_value == b.p_value
    np.testing.assert_array_equal(a.confusion, b.confusion)
    for before, after in zip(copies, (emb, labels, groups), strict=True):
        np.testing.assert_array_equal(before, after)


def test_zero_permutations_skip_p_value_and_chance_is_majority():
    rng = np.random.default_rng(4)
    labels = np.array(["PV"] * 10 + ["SST"] * 5 + ["VIP"] * 5)
    res = celltype_classifier(rng.normal(size=(20, 3)), labels, n_permutations=0, n_splits=5)
    assert res.p_value is None
    assert res.chance == 0.5


def test_group_folds_never_split_a_frame():
    _, labels, groups = _frames_data(separation=0.0, seed=5)
    codes = np.unique(labels, return_inverse=True)[1]
    for train, test in _folds(codes, groups, 5, seed=0):
        assert not set(groups[train]) & set(groups[test])


def test_errors():
    emb, labels, groups = _frames_data(separation=1.0, seed=6, n_frames=4)
    with pytest.raises(ValueError, match=r"every class needs >= n_splits=5 samples, found 4 of 'PV'"):
        celltype_classifier(emb, labels, n_splits=5)
    with pytest.raises(ValueError, match=r"labels: expected length 12 \(rows of embeddings\), found length 11"):
        celltype_classifier(emb, labels[:11], n_splits=2)
    with pytest.raises(ValueError, match="at least 2 classes"):
        celltype_classifier(emb, np.array(["PV"] * 12), n_splits=2)
    with pytest.raises(ValueError, match="need >= n_splits=3 distinct groups, found 2"):
        celltype_classifier(emb, labels, groups=groups % 2, n_splits=3)
    bad = emb.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match=r"embeddings: expected finite values, found nan at index \(0, 0\)"):
        celltype_classifier(bad, labels, n_splits=2)
