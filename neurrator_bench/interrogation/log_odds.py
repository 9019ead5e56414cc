"""Distinctive words per population: weighted log-odds with an informative Dirichlet prior.

Paper Sec. 5: "the most distinctive words (highest log-odds against the other two populations) are tree /
foreground / background for PV, building / boat / water for SST, and scene / lot / bushes for VIP". The paper
does not give the estimator; we use Monroe, Colaresi & Quinn (2008), "Fightin' words", eq. 16-22: for word w,
population i against the pooled other populations j,

    delta_w = log((y_iw + a_w) / (n_i + a_0 - y_iw - a_w)) - log((y_jw + a_w) / (n_j + a_0 - y_jw - a_w))
    var_w   ~ 1 / (y_iw + a_w) + 1 / (y_jw + a_w)
    z_w     = delta_w / sqrt(var_w)

with the informative prior ``a_w = prior_scale * y_w`` (``y_w``: the word's count over every population's
narrations, the corpus the comparison is drawn from; ``a_0 = sum_w a_w``). Our choices: that prior corpus,
``prior_scale`` 1 by default, lower-cased ``[a-z]+`` tokens, and scikit-learn's English stop-word list removed
(the paper's lists hold no stop words).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

_TOKEN = re.compile(r"[a-z]+")


def tokenize(text: str, *, stop_words: frozenset[str] = ENGLISH_STOP_WORDS) -> list[str]:
    """Lower-cased alphabetic tokens of ``text`` without stop words."""
    return [t for t in _TOKEN.findall(text.lower()) if t not in stop_words]


def word_counts(narrations: Mapping[str, Sequence[str]]) -> tuple[list[str], np.ndarray]:
    """``(vocabulary sorted, counts (n_populations, n_words))`` of every population's narrations."""
    per = [Counter(t for text in texts for t in tokenize(text)) for texts in narrations.values()]
    vocab = sorted(set().union(*per)) if per else []
    counts = np.array([[c.get(w, 0) for w in vocab] for c in per], dtype=np.float64).reshape(len(per), len(vocab))
    return vocab, counts


@dataclass(frozen=True)
class DistinctiveWords:
    """Weighted log-odds of every word, per population against the rest.

    Attributes:
        populations: Row order.
        vocabulary: Column order.
        delta: (n_populations, n_words) log-odds ratios.
        z: (n_populations, n_words) z-scores.
    """

    populations: tuple[str, ...]
    vocabulary: tuple[str, ...]
    delta: np.ndarray
    z: np.ndarray

    def top(self, population: str, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` words with the largest z-score for ``population`` (ties by word), with their z."""
        row = self.z[self.populations.index(population)]
        order = sorted(range(row.size), key=lambda j: (-row[j], self.vocabulary[j]))[:k]
        return [(self.vocabulary[j], float(row[j])) for j in order]


def log_odds_counts(counts: np.ndarray, prior: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Monroe et al. (2008) log-odds of each row against the sum of the other rows.

    Args:
        counts: (n_groups, n_words) word counts, >= 0.
        prior: (n_words,) Dirichlet prior ``a_w`` > 0.

    Returns:
        ``(delta, z)``, each (n_groups, n_words).

    Raises:
        ValueError: Fewer than two groups, negative counts, or a non-positive prior (names which).
    """
    y = np.asarray(counts, dtype=np.float64)
    a = np.asarray(prior, dtype=np.float64)
    if y.ndim != 2 or y.shape[0] < 2:
        raise ValueError(f"counts: expected (n_groups >= 2, n_words), found shape {y.shape}")
    if a.shape != (y.shape[1],):
        raise ValueError(f"prior: expected shape ({y.shape[1]},), found {a.shape}")
    if (y < 0).any():
        raise ValueError("counts: negative count")
    if (a <= 0).any():
        raise ValueError("prior: every a_w must be > 0 (a word with no prior mass has no defined log-odds)")
    a0 = a.sum()
    rest = y.sum(axis=0, keepdims=True) - y
    n_i = y.sum(axis=1, keepdims=True)
    n_j = rest.sum(axis=1, keepdims=True)
    delta = np.log((y + a) / (n_i + a0 - y - a)) - np.log((rest + a) / (n_j + a0 - rest - a))
    z = delta / np.sqrt(1.0 / (y + a) + 1.0 / (rest + a))
    return delta, z


def distinctive_words(narrations: Mapping[str, Sequence[str]], *, prior_scale: float = 1.0) -> DistinctiveWords:
    """Weighted log-odds with the pooled narrations as informative prior (module docstring).

    Raises:
        ValueError: Fewer than two populations, no word at all, or ``prior_scale <= 0``.
    """
    if len(narrations) < 2:
        raise ValueError(f"narrations: expected at least two populations, found {list(narrations)}")
    if prior_scale <= 0:
        raise ValueError(f"prior_scale: expected > 0, found {prior_scale}")
    vocab, counts = word_counts(narrations)
    if not vocab:
        raise ValueError("narrations: no word left after tokenizing and removing stop words")
    delta, z = log_odds_counts(counts, prior_scale * counts.sum(axis=0))
    return DistinctiveWords(tuple(narrations), tuple(vocab), delta, z)
