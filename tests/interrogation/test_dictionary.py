"""Top features, unique-by-magnitude, specificity and bootstrap stability on hand-made activations."""

from __future__ import annotations

import numpy as np
import pytest

from neurrator_bench.interrogation.dictionary import bootstrap_stability, build_dictionary, top_frames


def _acts():
    rows = {
        "PV": [5, 4, 1, 0, 0],
        "SST": [5, 1, 4, 1, 0],
        "VIP": [5, 2, 0, 1, 4],
    }
    return {k: np.tile(np.array(v, dtype=float), (3, 1)) for k, v in rows.items()}


def test_unique_features_and_specificity_by_hand():
    d = build_dictionary(_acts(), k=2)
    assert d.top.tolist() == [[0, 1], [0, 2], [0, 4]]
    assert [u.tolist() for u in d.unique] == [[1], [2], [4]]  # feature 0 is in every top-2
    assert d.specificity[0, 1] == pytest.approx(4 / 2)  # PV's 4 over VIP's 2
    assert d.specificity[1, 2] == pytest.approx(4 / 1)
    assert np.isinf(d.specificity[2, 4])  # nobody else activates feature 4
    # z-scored across populations: feature 0 is the same everywhere
    assert np.allclose(d.zscored[:, 0], 0.0)
    assert d.zscored[0, 1] > 0 > d.zscored[1, 1]


def test_constant_bins_are_perfectly_stable():
    acts = _acts()
    d = build_dictionary(acts, k=2)
    s = bootstrap_stability(acts, d, n_boot=25, seed=3)
    assert s.overlap.shape == (3, 25) and (s.overlap == 2).all()
    assert (s.survival == 1.0).all()
    assert all((u == 1.0).all() for u in s.unique_survival)
    assert s.summary()["PV"] == {
        "mean_overlap": 2.0,
        "min_overlap": 2,
        "share_at_least_75pct": 1.0,
        "top_k_in_every_resample": 2,
        "unique_in_every_resample": 1,
        "n_unique": 1,
    }


def test_one_outlier_bin_is_unstable():
    # feature 3 is PV's second only because of one huge bin: resamples without it drop it
    acts = _acts()
    acts["PV"] = np.array([[5, 4, 1, 0, 0], [5, 4, 1, 0, 0], [5, 0, 1, 30, 0], [5, 0, 1, 0, 0]], dtype=float)
    acts = {k: v if k == "PV" else np.tile(v[0], (4, 1)) for k, v in acts.items()}
    d = build_dictionary(acts, k=2)
    assert d.top[0].tolist() == [3, 0]
    s = bootstrap_stability(acts, d, n_boot=200, seed=0)
    survival = dict(zip(s.order[0].tolist(), s.survival[0].tolist(), strict=True))
    # feature 3 stays in the top-2 exactly when bin 2 is drawn: P = 1 - (3/4)^4 = 0.68
    assert 0.5 < survival[3] < 0.9
    assert survival[0] == 1.0


def test_top_frames_and_errors():
    corpus = np.array([[0.0, 1.0], [2.0, 0.0], [1.0, 3.0]])
    assert top_frames(corpus, np.array([0, 1]), 2).tolist() == [[1, 2], [2, 0]]
    with pytest.raises(ValueError, match="at least two populations"):
        build_dictionary({"PV": np.zeros((2, 3))})
    with pytest.raises(ValueError, match="expected shape"):
        build_dictionary({"PV": np.zeros((2, 3)), "SST": np.zeros((3, 3))})
