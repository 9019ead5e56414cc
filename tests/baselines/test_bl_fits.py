"""Closed forms and pure pieces of the baselines: ridge, PCA, KNN, folds, CEBRA persistence, floors' draws."""

from __future__ import annotations

import numpy as np
import pytest

from neurrator_bench.baselines.cebra_knn import embed, fit_cebra, frame_labels, load_network, save_network
from neurrator_bench.baselines.floors import most_frequent_caption, random_captions
from neurrator_bench.baselines.pca_knn import KnnTargetBank, fit_pca, knn_indices, unique_rows
from neurrator_bench.baselines.retrieval_encoder import fit_encoder, nearest_captions
from neurrator_bench.baselines.ridge import fit_ridge, frame_folds, ridge_cv

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")


def _regression(n=300, d=6, t=4, noise=0.05, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    w = rng.normal(size=(d, t))
    return x, x @ w + 0.5 + noise * rng.normal(size=(n, t)), w


def test_fit_ridge_matches_normal_equations():
    x, y, _ = _regression()
    coef, intercept = fit_ridge(x, y, alpha=3.0)
    xc, yc = x - x.mean(0), y - y.mean(0)
    expected = np.linalg.solve(xc.T @ xc + 3.0 * np.eye(x.shape[1]), xc.T @ yc)
    np.testing.assert_allclose(coef, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(intercept, y.mean(0) - x.mean(0) @ expected, rtol=1e-4, atol=1e-5)


def test_fit_ridge_on_distinct_target_rows_equals_the_repeated_fit():
    x, _, _ = _regression()
    rng = np.random.default_rng(3)
    distinct = rng.normal(size=(7, 5))
    rows = rng.integers(0, 7, size=len(x))
    rows[:7] = np.arange(7)
    coef, intercept = fit_ridge(x, distinct, alpha=2.0, rows=rows)
    expected_coef, expected_intercept = fit_ridge(x, distinct[rows], alpha=2.0)
    np.testing.assert_allclose(coef, expected_coef, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(intercept, expected_intercept, rtol=1e-5, atol=1e-6)


def test_ridge_cv_prefers_small_alpha_on_clean_linear_data_and_is_deterministic():
    x, y, _ = _regression(noise=0.01)
    folds = np.arange(len(x)) % 5
    alpha, mse = ridge_cv(x, y, folds, (0.01, 1.0, 1e4, 1e6))
    assert alpha == 0.01 and mse.shape == (4,) and np.all(np.diff(mse) > 0)
    again = ridge_cv(x, y, folds, (0.01, 1.0, 1e4, 1e6))
    assert again[0] == alpha and np.array_equal(again[1], mse)


def test_frame_folds_keep_frames_together():
    stim = np.array(["a"] * 40 + ["b"] * 20)
    frame = np.concatenate([np.repeat(np.arange(10), 4), np.repeat(np.arange(5), 4)])
    folds = frame_folds(stim, frame, 5, seed=0)
    for s, f in set(zip(stim, frame, strict=True)):
        assert len(set(folds[(stim == s) & (frame == f)])) == 1
    assert np.bincount(folds).tolist() == [12] * 5
    np.testing.assert_array_equal(folds, frame_folds(stim, frame, 5, seed=0))
    assert not np.array_equal(folds, frame_folds(stim, frame, 5, seed=1))
    with pytest.raises(ValueError, match="cv_folds"):
        frame_folds(stim, frame, 1, seed=0)


def test_fit_pca_matches_svd():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 8)) * np.arange(1, 9)
    mean, comps, var = fit_pca(x, 3)
    _, s, vt = np.linalg.svd(x - x.mean(0), full_matrices=False)
    np.testing.assert_allclose(np.abs(comps), np.abs(vt[:3]), atol=1e-4)
    np.testing.assert_allclose(var, s[:3] ** 2 / 199, rtol=1e-4)
    np.testing.assert_allclose(mean, x.mean(0), rtol=1e-5)
    assert np.all(comps[np.arange(3), np.abs(comps).argmax(1)] > 0)
    assert fit_pca(x, 64)[1].shape == (8, 8)  # capped by the feature count


def test_knn_known_answer_and_ties():
    bank = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [-1.0, 0.0]])
    idx = knn_indices(bank, np.array([[2.0, 0.1], [0.0, -1.0]]), 2)
    assert idx[0].tolist() == [0, 2]  # equal similarity: lower index first
    assert idx[1].tolist() == [0, 2]  # all similarities 0 except -1 for row 1 -> 0, 2 (ties) before 3
    targets, index = unique_rows(np.array([[5.0, 5.0], [1.0, 1.0], [5.0, 5.0], [3.0, 3.0]]))
    assert targets.tolist() == [[5.0, 5.0], [1.0, 1.0], [3.0, 3.0]] and index.tolist() == [0, 1, 0, 2]
    bank_obj = KnnTargetBank(bank, np.array([0, 1, 0, 2]), targets, k=2)
    np.testing.assert_allclose(bank_obj.decode(np.array([[1.0, 0.0]])), [[5.0, 5.0]])
    with pytest.raises(ValueError, match="k: expected"):
        knn_indices(bank, bank, 0)


def test_cebra_state_dict_roundtrip_reproduces_transform(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(30), 12)
    x = (rng.normal(size=(30, 10))[labels] + 0.3 * rng.normal(size=(360, 10))).astype(np.float32)
    kwargs = dict(
        output_dimension=3,
        num_hidden_units=16,
        max_iterations=30,
        batch_size=64,
        learning_rate=3e-3,
        temperature=1.0,
        model_architecture="offset1-model",
    )
    network, arch, estimator = fit_cebra(x, labels, seed=0, **kwargs)
    save_network(tmp_path, network, arch)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cebra.json", "cebra.safetensors"]
    rebuilt, arch2 = load_network(tmp_path)
    assert arch2 == arch
    np.testing.assert_allclose(embed(rebuilt, x), estimator.transform(x), atol=1e-6)
    state = np.random.get_state()[1].copy()  # noqa: NPY002 - the global RNG is left as it was
    fit_cebra(x, labels, seed=0, **{**kwargs, "max_iterations": 3})
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # noqa: NPY002


def test_frame_labels_one_per_stimulus_frame():
    labels = frame_labels(np.array(["a", "a", "b", "a"]), np.array([3, 4, 3, 3]))
    assert labels[0] == labels[3] and len(set(labels.tolist())) == 3


def test_retrieval_encoder_learns_separable_captions():
    rng = np.random.default_rng(0)
    cls = np.repeat(np.arange(4), 50)
    x = (3 * rng.normal(size=(4, 12))[cls] + rng.normal(size=(200, 12))).astype(np.float32)
    bank = np.linalg.qr(rng.normal(size=(8, 4)))[0].T.astype(np.float32)  # 4 orthonormal "caption" vectors
    kwargs = dict(hidden=32, head_dim=16, epochs=30, batch_size=50, learning_rate=1e-2, weight_decay=0.0)
    model, losses = fit_encoder(x, cls, bank, seed=0, temperature=0.1, **kwargs)
    import torch

    with torch.no_grad():
        z = model(torch.from_numpy(x)).numpy()
    captions = ["a", "b", "c", "d"]
    assert nearest_captions(z, bank, captions) == [captions[c] for c in cls]
    assert losses["cosine"] < 0.2
    model2, _ = fit_encoder(x, cls, bank, seed=0, temperature=0.1, **kwargs)
    for (k1, v1), (k2, v2) in zip(model.state_dict().items(), model2.state_dict().items(), strict=True):
        assert k1 == k2 and torch.equal(v1, v2)


def test_most_frequent_caption_ties_lexicographic():
    assert most_frequent_caption(["b", "a", "c"], np.array([3, 3, 1])) == "a"
    assert most_frequent_caption(["a", "b"], np.array([1, 2])) == "b"


def test_random_captions_seeded_by_position_and_weighted():
    captions, counts = ["x", "y", "z"], np.array([1, 0 + 1, 98])
    draws = random_captions(captions, counts, 500, seed=3)
    assert draws == random_captions(captions, counts, 500, seed=3)
    assert draws[:7] == random_captions(captions, counts, 7, seed=3)
    assert draws != random_captions(captions, counts, 500, seed=4)
    assert 0.93 < draws.count("z") / 500 <= 1.0
    expected0 = captions[int(np.searchsorted(np.cumsum(counts), np.random.default_rng([3, 0]).integers(100), "right"))]
    assert draws[0] == expected0
