"""Concept scores, movie curves and the one-vs-rest Welch test."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from neurrator_bench.interrogation.concept_axes import (
    concept_scores,
    feature_concept_loadings,
    movie_curve,
    one_vs_rest_welch,
)


def test_movie_curve_by_hand():
    # frame 2 appears twice (two repeats): its mean is (4 + 8) / 2 = 6
    frames, per, smooth = movie_curve(np.array([0.0, 2.0, 4.0, 8.0, 6.0]), np.array([0, 1, 2, 2, 3]), window=3)
    assert frames.tolist() == [0, 1, 2, 3]
    assert per.tolist() == [0.0, 2.0, 6.0, 6.0]
    assert smooth.tolist() == pytest.approx([1.0, 8 / 3, 14 / 3, 6.0])


def test_scores_and_loadings():
    emb = np.array([[2.0, 0.0], [0.0, 3.0], [1.0, 1.0]])
    concepts = np.array([[1.0, 0.0], [0.0, 1.0]])
    s = concept_scores(emb, concepts)
    assert s[:, 0] == pytest.approx([1.0, 0.0, np.sqrt(0.5)])
    loads = feature_concept_loadings(emb, {"A": np.array([[0, 0]]), "B": np.array([[1, 2]])}, concepts)
    assert loads["A"][0].tolist() == pytest.approx([1.0, 0.0])
    assert loads["B"][0, 1] == pytest.approx((1.0 + np.sqrt(0.5)) / 2)


def test_welch_matches_scipy():
    rng = np.random.default_rng(0)
    loads = {"A": rng.normal(1, 1, (10, 2)), "B": rng.normal(0, 1, (10, 2)), "C": rng.normal(0, 2, (10, 2))}
    rows = one_vs_rest_welch(loads, ["x", "y"])
    a = next(r for r in rows if r["population"] == "A" and r["concept"] == "x")
    t, p = stats.ttest_ind(loads["A"][:, 0], np.concatenate([loads["B"][:, 0], loads["C"][:, 0]]), equal_var=False)
    assert a["t"] == pytest.approx(t) and a["p"] == pytest.approx(p)
    assert len(rows) == 6


def test_tracking_and_its_contrast_by_hand():
    from neurrator_bench.interrogation.planted import tracking, tracking_contrast

    has = np.array([True, True, False, False])
    a = np.array([1.0, 1.0, 0.0, 0.0])  # follows the concept by 1
    b = np.array([0.5, 0.5, 0.5, 0.5])  # does not follow it
    t = tracking(a, has, n_boot=50)
    assert t["value"] == 1.0 and t["low"] == t["high"] == 1.0  # constant within each stratum
    k = tracking_contrast({"a": a, "b": b, "c": b}, has, n_boot=50)
    assert k["a"]["value"] == pytest.approx(1.0) and k["b"]["value"] == pytest.approx(-0.5)
    assert np.isnan(tracking(a, np.ones(4, bool))["value"])
