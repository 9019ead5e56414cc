"""Weighted log-odds (Monroe et al. 2008) against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from neurrator_bench.interrogation.log_odds import distinctive_words, log_odds_counts, tokenize


def test_two_groups_two_words_by_hand():
    # group 0 says word 0 twice, group 1 word 1 twice; prior a = (1, 1), a0 = 2
    delta, z = log_odds_counts(np.array([[2, 0], [0, 2]]), np.array([1.0, 1.0]))
    # delta = log(3 / (2 + 2 - 2 - 1)) - log(1 / (2 + 2 - 0 - 1)) = 2 log 3; var = 1/3 + 1/1
    assert delta[0, 0] == pytest.approx(2 * math.log(3))
    assert z[0, 0] == pytest.approx(2 * math.log(3) / math.sqrt(4 / 3))
    assert delta[0, 1] == pytest.approx(-2 * math.log(3))
    assert z[1, 1] == pytest.approx(z[0, 0])


def test_distinctive_words_with_the_pooled_prior_by_hand():
    dw = distinctive_words({"a": ["A red car.", "a red car"], "b": ["the blue boat", "blue boat!"]})
    assert dw.vocabulary == ("blue", "boat", "car", "red")  # "a" and "the" are stop words
    # "car" for a: y = 2, rest = 0, n_i = n_j = 4, a_w = 2 (pooled count), a0 = 8
    expected_delta = math.log(4 / 8) - math.log(2 / 10)
    j = dw.vocabulary.index("car")
    assert dw.delta[0, j] == pytest.approx(expected_delta)
    assert dw.z[0, j] == pytest.approx(expected_delta / math.sqrt(1 / 4 + 1 / 2))
    assert [w for w, _ in dw.top("a", 2)] == ["car", "red"]  # equal z: alphabetical
    assert [w for w, _ in dw.top("b", 2)] == ["blue", "boat"]


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="at least two populations"):
        distinctive_words({"a": ["x"]})
    with pytest.raises(ValueError, match="prior"):
        log_odds_counts(np.array([[1, 0], [0, 1]]), np.array([1.0, 0.0]))
    assert tokenize("The dark street, at night.") == ["dark", "street", "night"]
