from __future__ import annotations

import numpy as np
import pytest

from neurrator_bench.scorers.frame_identification import (
    frame_identification_accuracy,
    template_decode,
    template_scores,
)
from neurrator_bench.scorers.metric_registry import get_metric

METRICS = ("euclidean", "correlation")


def _poisson(shape, seed=0, lam=3.0):
    return np.random.default_rng(seed).poisson(lam, size=shape).astype(np.float64)


def _brute_force(train, test, metric):
    """Reference: explicit loops over every (test repeat, test frame, template)."""
    r_test, n_test, n_units = test.shape
    n_frames = train.shape[1]
    templates = [np.mean([train[r, f] for r in range(train.shape[0])], axis=0) for f in range(n_frames)]
    flat = train.reshape(-1, n_units)
    mean, std = flat.mean(axis=0), flat.std(axis=0)
    std[std == 0] = 1.0
    pred = np.zeros((r_test, n_test), dtype=int)
    for r in range(r_test):
        for f in range(n_test):
            best, best_score = 0, -np.inf
            for g in range(n_frames):
                if metric == "euclidean":
                    score = -np.linalg.norm((test[r, f] - mean) / std - (templates[g] - mean) / std)
                else:
                    a, b = test[r, f], templates[g]
                    score = 0.0 if a.std() == 0 or b.std() == 0 else np.corrcoef(a, b)[0, 1]
                if score > best_score + 1e-12:
                    best, best_score = g, score
            pred[r, f] = best
    return pred


@pytest.mark.parametrize("metric", METRICS)
def test_matches_brute_force_loop(metric):
    rng = np.random.default_rng(1)
    rates = rng.gamma(2.0, 2.0, size=(12, 9))  # (n_frames, n_units) tuned rates
    train = rng.poisson(rates, size=(6, 12, 9)).astype(float)
    test = rng.poisson(rates, size=(3, 12, 9)).astype(float)
    np.testing.assert_array_equal(template_decode(train, test, metric=metric), _brute_force(train, test, metric))


@pytest.mark.parametrize("metric", METRICS)
def test_identical_repeats_decode_perfectly(metric):
    base = _poisson((1, 15, 8), seed=2)
    train = np.repeat(base, 4, axis=0)
    test = np.repeat(base, 2, axis=0)
    pred = template_decode(train, test, metric=metric)
    assert frame_identification_accuracy(pred, np.arange(15)) == 1.0


@pytest.mark.parametrize("metric", METRICS)
def test_untuned_noise_is_at_chance(metric):
    train = _poisson((10, 20, 12), seed=3)
    test = _poisson((40, 20, 12), seed=4)
    acc = frame_identification_accuracy(template_decode(train, test, metric=metric), np.arange(20))
    assert abs(acc - 1 / 20) < 0.03  # 800 test samples: sd ~0.008


@pytest.mark.parametrize("metric", METRICS)
def test_ties_go_to_lowest_frame(metric):
    base = _poisson((1, 5, 6), seed=5)
    base[0, 3] = base[0, 1]  # frames 1 and 3 have identical templates
    train = np.repeat(base, 3, axis=0)
    pred = template_decode(train, base, metric=metric)
    assert pred[0, 3] == 1
    assert pred[0, 1] == 1


def test_constant_vectors_have_zero_correlation_and_tie_to_frame_zero():
    train = np.ones((3, 4, 5))
    test = np.zeros((2, 4, 5))
    scores = template_scores(train, test, metric="correlation")
    assert np.all(scores == 0.0)
    np.testing.assert_array_equal(template_decode(train, test, metric="correlation"), np.zeros((2, 4), int))
    np.testing.assert_array_equal(template_decode(train, test, metric="euclidean"), np.zeros((2, 4), int))


@pytest.mark.parametrize("metric", METRICS)
def test_unit_order_and_frame_order_do_not_matter(metric):
    rng = np.random.default_rng(6)
    rates = rng.gamma(2.0, 2.0, size=(10, 7))
    train = rng.poisson(rates, size=(5, 10, 7)).astype(float)
    test = rng.poisson(rates, size=(2, 10, 7)).astype(float)
    pred = template_decode(train, test, metric=metric)
    units = rng.permutation(7)
    np.testing.assert_array_equal(template_decode(train[:, :, units], test[:, :, units], metric=metric), pred)
    frames = rng.permutation(10)  # template g of the permuted train is original frame frames[g]
    np.testing.assert_array_equal(frames[template_decode(train[:, frames], test, metric=metric)], pred)


def test_inputs_are_not_modified_and_test_frames_may_differ():
    train = _poisson((4, 6, 5), seed=7)
    test = _poisson((2, 3, 5), seed=8)
    before = (train.copy(), test.copy())
    pred = template_decode(train, test)
    assert pred.shape == (2, 3)
    assert pred.dtype == np.int64
    assert pred.min() >= 0
    assert pred.max() < 6
    np.testing.assert_array_equal(train, before[0])
    np.testing.assert_array_equal(test, before[1])


def test_accuracy_closed_forms():
    true = np.arange(4)
    assert frame_identification_accuracy(np.array([[0, 1, 2, 3], [0, 0, 0, 0]]), true) == pytest.approx(5 / 8)
    assert frame_identification_accuracy(np.array([3, 2, 1, 0]), np.array([3, 0, 1, 2])) == 0.5


@pytest.mark.parametrize(
    ("train", "test", "kwargs", "match"),
    [
        (np.ones((2, 3)), np.ones((1, 3, 4)), {}, r"train_counts: expected a 3-d array, found shape \(2, 3\)"),
        (np.ones((2, 3, 4)), -np.ones((1, 3, 4)), {}, "test_counts: expected non-negative spike counts, found -1.0"),
        (np.full((2, 3, 4), np.nan), np.ones((1, 3, 4)), {}, "train_counts: expected finite values, found nan"),
        (np.ones((2, 3, 4)), np.ones((1, 3, 5)), {}, "same number of units .* found 4 and 5"),
        (np.ones((2, 3, 4)), np.ones((1, 3, 4)), {"metric": "cosine"}, "metric: expected one of .* found 'cosine'"),
        (np.ones((0, 3, 4)), np.ones((1, 3, 4)), {}, "train_counts: expected a non-empty array"),
    ],
)
def test_decode_errors(train, test, kwargs, match):
    with pytest.raises(ValueError, match=match):
        template_decode(train, test, **kwargs)


def test_accuracy_errors():
    with pytest.raises(ValueError, match=r"true: expected shape \(2, 4\) .* or \(4,\) .* found \(3,\)"):
        frame_identification_accuracy(np.zeros((2, 4), int), np.arange(3))
    with pytest.raises(ValueError, match="pred: expected integer frame indices, found dtype float64"):
        frame_identification_accuracy(np.zeros(4), np.arange(4))
    with pytest.raises(ValueError, match="true: expected a non-empty integer array"):
        frame_identification_accuracy(np.zeros(4, int), np.array([], dtype=int))


def test_metric_is_registered_with_chance():
    spec = get_metric("frame_identification_accuracy")
    assert spec.higher_is_better is True
    assert spec.value_range == (0.0, 1.0)
    assert spec.chance == "1/n_frames"
    assert "Sec. 4.2" in spec.paper_section
