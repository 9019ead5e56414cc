from __future__ import annotations

import numpy as np
import pytest

from neurrator_bench.scorers.knn_purity import knn_purity


def _brute_force(pred, labels, k, ids):
    unit = pred / np.linalg.norm(pred, axis=1, keepdims=True)
    n = len(pred)
    total = 0
    for i in range(n):
        others = [j for j in range(n) if j != i]
        # sort by similarity (descending), ties by id ascending
        others.sort(key=lambda j: (-round(float(unit[i] @ unit[j]), 12), ids[j]))
        total += sum(labels[j] == labels[i] for j in others[:k])
    return total / (n * k)


@pytest.fixture
def tied_data():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(8, 5))
    pred = base[rng.integers(0, 8, size=30)]  # many exact duplicate vectors -> ties
    labels = rng.integers(0, 4, size=30)
    ids = np.array([f"x{i:02d}" for i in rng.permutation(30)])
    return pred, labels, ids


def test_matches_brute_force_with_ties(tied_data):
    pred, labels, ids = tied_data
    for k in (1, 3, 5, 10):
        assert knn_purity(pred, labels, k, sample_ids=ids) == pytest.approx(_brute_force(pred, labels, k, ids))


def test_matches_brute_force_random():
    rng = np.random.default_rng(1)
    pred = rng.normal(size=(40, 6))
    labels = rng.integers(0, 5, size=40)
    ids = [f"{i:02d}" for i in range(40)]
    assert knn_purity(pred, labels, 4) == pytest.approx(_brute_force(pred, labels, 4, ids))


def test_independent_of_input_order(tied_data):
    pred, labels, ids = tied_data
    base = knn_purity(pred, labels, 5, sample_ids=ids)
    for seed in range(5):
        p = np.random.default_rng(seed).permutation(len(ids))
        assert knn_purity(pred[p], labels[p], 5, sample_ids=ids[p]) == base


def test_chunking_does_not_change_result(tied_data):
    pred, labels, ids = tied_data
    base = knn_purity(pred, labels, 5, sample_ids=ids)
    assert knn_purity(pred, labels, 5, sample_ids=ids, max_chunk_elements=1) == base
    assert knn_purity(pred, labels, 5, sample_ids=ids, max_chunk_elements=70) == base


def test_perfect_clusters_give_one():
    rng = np.random.default_rng(2)
    centres = rng.normal(size=(6, 20)) * 10
    labels = np.repeat(np.arange(6), 11)
    pred = centres[labels] + 0.01 * rng.normal(size=(66, 20))
    assert knn_purity(pred, labels, k=10) == 1.0
    assert knn_purity(pred, labels.astype(str), k=10) == 1.0


def test_random_predictions_at_chance():
    rng = np.random.default_rng(3)
    n_frames, repeats = 20, 10
    labels = np.repeat(np.arange(n_frames), repeats)
    purity = knn_purity(rng.normal(size=(n_frames * repeats, 16)), labels, k=10)
    chance = (repeats - 1) / (n_frames * repeats - 1)
    assert abs(purity - chance) < 0.03


def test_inputs_not_mutated(tied_data):
    pred, labels, ids = tied_data
    copies = (pred.copy(), labels.copy(), ids.copy())
    knn_purity(pred, labels, 3, sample_ids=ids)
    for before, after in zip(copies, (pred, labels, ids), strict=True):
        np.testing.assert_array_equal(before, after)


def test_errors():
    rng = np.random.default_rng(4)
    pred = rng.normal(size=(10, 3))
    labels = np.arange(10)
    with pytest.raises(ValueError, match="more than k=10 samples.*found n=10"):
        knn_purity(pred, labels, k=10)
    with pytest.raises(ValueError, match=r"frame_labels: expected length 10 \(rows of pred\), found length 9"):
        knn_purity(pred, labels[:9], k=3)
    with pytest.raises(ValueError, match="k: expected an int >= 1, found 0"):
        knn_purity(pred, labels, k=0)
    bad = pred.copy()
    bad[7, 2] = np.nan
    with pytest.raises(ValueError, match=r"pred: expected finite values, found nan at index \(7, 2\)"):
        knn_purity(bad, labels, k=3)
    with pytest.raises(ValueError, match="sample_ids: expected unique ids"):
        knn_purity(pred, labels, k=3, sample_ids=["a"] * 10)


def test_session_knn_purity_ceiling_chance_and_left_out_sessions():
    from neurrator_bench.scorers.knn_purity import session_knn_purity

    rng = np.random.default_rng(0)
    targets = rng.normal(size=(20, 8))
    # session a: 20 frames x 3 repeats; session b: only 5 bins (<= k) and is left out
    frame = np.concatenate([np.repeat(np.arange(20), 3), np.arange(5)])
    session = np.array(["a"] * 60 + ["b"] * 5)
    truth = targets[frame]
    ids = np.array([f"x{i:03d}" for i in range(frame.size)])
    purity, ceiling, chance, left_out = session_knn_purity(truth, truth, frame, session, k=10, sample_ids=ids)
    assert left_out == ["b"] and np.isnan(purity[60:]).all()
    # each bin has 2 other bins of its frame among its 10 neighbours: the oracle's ceiling is 2/10
    np.testing.assert_allclose(ceiling[:60], 0.2)
    np.testing.assert_allclose(purity[:60], 0.2)
    np.testing.assert_allclose(chance[:60], 2 / 59)


def test_session_knn_purity_of_shuffled_oracle_is_at_chance():
    """Must-show: oracle targets permuted over the samples of each session score KNN purity at chance."""
    from neurrator_bench.scorers.frame_stats import cluster_bootstrap, make_clusters
    from neurrator_bench.scorers.knn_purity import session_knn_purity

    rng = np.random.default_rng(1)
    targets = rng.normal(size=(300, 16))
    frame = np.tile(np.repeat(np.arange(300), 3), 2)
    session = np.repeat(["s0", "s1"], 900)
    ids = np.array([f"x{i:04d}" for i in range(frame.size)])
    pred = np.concatenate([targets[rng.permutation(frame[:900])], targets[rng.permutation(frame[900:])]])
    purity, _, chance, _ = session_knn_purity(pred, targets[frame], frame, session, k=10, sample_ids=ids)
    clusters = make_clusters(
        np.array(["natural_movie_one"] * frame.size), frame, session, movie_stimuli=("natural_movie_one",)
    )
    ci = cluster_bootstrap(purity, clusters, base_weights=clusters.session_then_bin_weights(), n_boot=300)
    assert ci.low <= float(np.mean(chance)) <= ci.high, (ci, np.mean(chance))
