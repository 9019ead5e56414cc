"""SBERT narration scores and their floors (paper Sec. 4.1, A.4, A.5).

All inputs are sentence embeddings computed elsewhere (default scorer model all-MiniLM-L6-v2);
this module only does array arithmetic. For sample ``i`` with narration embedding ``n_i`` and
reference-caption embedding ``r_i``:

* ``matched_i = cos(n_i, r_i)`` (Sec. 4.1 "SBERT cosine").
* ``word_salad_floor_i = mean_p cos(w_p, r_i)`` over the fixed word-salad pool (Sec. 4.1 floor):
  what a content-free sentence scores against this reference.
* ``off_topic_floor_i = mean_q cos(o_q, r_i)`` over the fixed off-topic pool (A.4 "pairing each
  reference with topic-unrelated sentences from a fixed pool"). Table A1's caption pairs the
  decoded caption with the pool instead; we follow A.4 so the floor is independent of the model.
* ``shuffled_floor_i = cos(n_pi(i), r_i)`` with ``pi`` a true derangement (A.5 shuffled
  pairing): the narration of another sample scored against this reference.
* ``delta_* = matched - floor`` and a one-sided paired Wilcoxon p-value (matched > floor).
* ``distinct_narration_ratio = n_unique(narrations) / n`` (A.5: "45 of 50 ... distinct").

Order independence: before drawing the derangement the samples are sorted by ``sample_id``; the
derangement is drawn over that sorted order with ``np.random.default_rng(seed)`` and mapped back,
so each sample's shuffled partner depends only on the set of ids and the seed, never on row order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from neurrator_bench.scorers.metric_registry import (
    MetricSpec,
    as_finite_array,
    as_unique_ids,
    check_length,
    check_same_shape,
    register_metric,
    unit_rows,
)
from neurrator_bench.scorers.paired_tests import paired_wilcoxon_greater

_SECTION = "Sec. 4.1, A.4, A.5"
_MAX_REJECTION_DRAWS = 64

register_metric(
    MetricSpec(
        name="sbert_matched",
        higher_is_better=True,
        value_range=(-1.0, 1.0),
        chance="read against the per-sample floors sbert_*_floor (deltas sbert_delta_*)",
        paper_section=_SECTION,
        description="Mean SBERT cosine between each narration and its own reference caption.",
    )
)


def _register_floor_metrics(pool: str, text: str) -> None:
    """Register the floor metric and the matched-minus-floor delta for one floor."""
    register_metric(
        MetricSpec(
            name=f"sbert_{pool}_floor",
            higher_is_better=False,
            value_range=(-1.0, 1.0),
            chance="is itself a floor: the score of content-free text; reference level, not ranked",
            paper_section=_SECTION,
            description=f"Mean SBERT cosine of {text} against each reference caption.",
        )
    )
    register_metric(
        MetricSpec(
            name=f"sbert_delta_{pool}",
            higher_is_better=True,
            value_range=(-2.0, 2.0),
            chance="0 (matched indistinguishable from the floor); paired one-sided Wilcoxon p reported",
            paper_section=_SECTION,
            description=f"Mean per-sample SBERT cosine gain of the narration over {text}.",
        )
    )


_register_floor_metrics("word_salad", "the fixed 30-sentence word-salad pool (floor_pools.WORD_SALAD)")
_register_floor_metrics("off_topic", "the fixed 30-sentence off-topic pool (floor_pools.OFF_TOPIC)")
_register_floor_metrics("shuffled", "another sample's narration under a seeded derangement")
register_metric(
    MetricSpec(
        name="distinct_narration_ratio",
        higher_is_better=True,
        value_range=(0.0, 1.0),
        chance="1/n when every narration is the same sentence (collapse); 1 when all differ",
        paper_section="A.5",
        description="Number of distinct narration strings divided by the number of samples.",
    )
)


@dataclass(frozen=True)
class SbertReport:
    """Per-sample SBERT scores, floors and paired tests, aligned with the input rows.

    Attributes:
        sample_ids: Ids of the rows, shape ``(n,)``, in input order.
        matched: ``cos(narration_i, reference_i)``, shape ``(n,)``.
        word_salad_floor: Mean cosine of the word-salad pool to ``reference_i``, shape ``(n,)``.
        off_topic_floor: Mean cosine of the off-topic pool to ``reference_i``, shape ``(n,)``.
        shuffled_floor: ``cos(narration_pi(i), reference_i)``, shape ``(n,)``.
        shuffled_partner_ids: Id of the sample whose narration gave ``shuffled_floor_i``.
        p_word_salad: One-sided Wilcoxon p-value, matched > word-salad floor.
        p_off_topic: One-sided Wilcoxon p-value, matched > off-topic floor.
        p_shuffled: One-sided Wilcoxon p-value, matched > shuffled floor.
        distinct_narration_ratio: ``n_unique(narrations) / n``; ``None`` when narrations were not given.
        seed: Seed of the derangement.
    """

    sample_ids: tuple[str, ...]
    matched: np.ndarray
    word_salad_floor: np.ndarray
    off_topic_floor: np.ndarray
    shuffled_floor: np.ndarray
    shuffled_partner_ids: tuple[str, ...]
    p_word_salad: float
    p_off_topic: float
    p_shuffled: float
    distinct_narration_ratio: float | None
    seed: int

    @property
    def delta_word_salad(self) -> np.ndarray:
        """``matched - word_salad_floor``, shape ``(n,)``."""
        return self.matched - self.word_salad_floor

    @property
    def delta_off_topic(self) -> np.ndarray:
        """``matched - off_topic_floor``, shape ``(n,)``."""
        return self.matched - self.off_topic_floor

    @property
    def delta_shuffled(self) -> np.ndarray:
        """``matched - shuffled_floor``, shape ``(n,)``."""
        return self.matched - self.shuffled_floor

    def per_sample(self) -> dict[str, np.ndarray]:
        """Per-sample arrays keyed by registered metric name (``distinct_narration_ratio`` excluded).

        Returns:
            Mapping ``metric name -> (n,)`` array, ready for :func:`bootstrap_ci`.
        """
        return {
            "sbert_matched": self.matched,
            "sbert_word_salad_floor": self.word_salad_floor,
            "sbert_off_topic_floor": self.off_topic_floor,
            "sbert_shuffled_floor": self.shuffled_floor,
            "sbert_delta_word_salad": self.delta_word_salad,
            "sbert_delta_off_topic": self.delta_off_topic,
            "sbert_delta_shuffled": self.delta_shuffled,
        }

    def means(self) -> dict[str, float]:
        """Mean of every per-sample metric plus ``distinct_narration_ratio`` when known.

        Returns:
            Mapping ``metric name -> value``.
        """
        out = {name: float(np.mean(values)) for name, values in self.per_sample().items()}
        if self.distinct_narration_ratio is not None:
            out["distinct_narration_ratio"] = self.distinct_narration_ratio
        return out


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row of ``a`` with the same row of ``b``.

    Args:
        a: Embeddings, shape ``(n, d)``.
        b: Embeddings, shape ``(n, d)``.

    Returns:
        Float64 array of shape ``(n,)`` with values in ``[-1, 1]``.

    Raises:
        ValueError: On non-finite values, shape mismatch or an all-zero row.
    """
    a_arr = as_finite_array("a", a, ndim=2)
    b_arr = as_finite_array("b", b, ndim=2)
    check_same_shape("a", a_arr, "b", b_arr)
    sims = np.einsum("ij,ij->i", unit_rows("a", a_arr), unit_rows("b", b_arr))
    return np.clip(sims, -1.0, 1.0)


def _repair_fixed_points(perm: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Remove fixed points of ``perm`` by swapping each with a random other position.

    Swapping a fixed point ``i`` with any ``j != i`` leaves neither ``i`` nor ``j`` fixed, so the
    result is a derangement after one pass. Returns a new array.
    """
    out = perm.copy()
    n = out.size
    for i in np.flatnonzero(out == np.arange(n)):
        if out[i] != i:  # already repaired by an earlier swap
            continue
        j = int(rng.integers(0, n - 1))
        j = j + 1 if j >= i else j
        out[i], out[j] = out[j], out[i]
    return out


def derangement(n: int, rng: np.random.Generator) -> np.ndarray:
    """Draw a permutation of ``range(n)`` with no fixed point.

    Rejection sampling of uniform permutations (acceptance probability about ``1/e``, so this
    is a uniform draw over derangements); after 64 rejections, which has probability below
    ``1e-11``, the last draw's fixed points are swapped away so the function always terminates.

    Args:
        n: Number of elements, ``n >= 2``.
        rng: Source of randomness.

    Returns:
        Int64 array ``pi`` of shape ``(n,)`` with ``pi[i] != i`` for every ``i``.

    Raises:
        ValueError: If ``n < 2`` (no derangement exists).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"derangement: n must be an integer >= 2 (no derangement otherwise), found {n!r}")
    identity = np.arange(n)
    perm = rng.permutation(n)
    for _ in range(_MAX_REJECTION_DRAWS):
        if not np.any(perm == identity):
            return perm.astype(np.int64)
        perm = rng.permutation(n)
    return _repair_fixed_points(perm, rng).astype(np.int64)


def _pool_floor(name: str, pool_emb: np.ndarray, ref_unit: np.ndarray) -> np.ndarray:
    """Mean cosine of every pool sentence to each reference row, shape ``(n,)``."""
    pool = as_finite_array(name, pool_emb, ndim=2)
    if pool.shape[1] != ref_unit.shape[1]:
        raise ValueError(
            f"{name}: expected embedding dimension {ref_unit.shape[1]} (like reference_emb), found shape {pool.shape}"
        )
    sims = np.clip(ref_unit @ unit_rows(name, pool).T, -1.0, 1.0)
    return sims.mean(axis=1)


def sbert_report(
    narration_emb: np.ndarray,
    reference_emb: np.ndarray,
    word_salad_emb: np.ndarray,
    off_topic_emb: np.ndarray,
    *,
    sample_ids: Sequence[str],
    narrations: Sequence[str] | None,
    seed: int,
) -> SbertReport:
    """Score narrations against reference captions and against three floors.

    Args:
        narration_emb: SBERT embeddings of the decoded narrations, shape ``(n, d)``.
        reference_emb: SBERT embeddings of the reference captions, shape ``(n, d)``, same rows.
        word_salad_emb: Embeddings of the word-salad pool, shape ``(p, d)``.
        off_topic_emb: Embeddings of the off-topic pool, shape ``(q, d)``.
        sample_ids: Unique id of each row, length ``n``; fixes the derangement independently of row order.
        narrations: The narration strings (length ``n``) for the distinct-narration ratio, or ``None``.
        seed: Seed for ``np.random.default_rng`` drawing the shuffled pairing.

    Returns:
        :class:`SbertReport` with per-sample arrays in input row order.

    Raises:
        ValueError: On non-finite values, shape mismatches, all-zero rows, duplicate or missing
            ids, ``n < 2`` (the shuffled floor needs a derangement) or a wrong narration count.
    """
    narr = as_finite_array("narration_emb", narration_emb, ndim=2)
    ref = as_finite_array("reference_emb", reference_emb, ndim=2)
    check_same_shape("narration_emb", narr, "reference_emb", ref)
    n = narr.shape[0]
    ids = as_unique_ids("sample_ids", sample_ids, n, "narration_emb")
    if n < 2:
        raise ValueError(f"sbert_report: the shuffled floor needs n >= 2 samples, found n={n}")
    narr_unit = unit_rows("narration_emb", narr)
    ref_unit = unit_rows("reference_emb", ref)

    matched = np.clip(np.einsum("ij,ij->i", narr_unit, ref_unit), -1.0, 1.0)
    word_salad = _pool_floor("word_salad_emb", word_salad_emb, ref_unit)
    off_topic = _pool_floor("off_topic_emb", off_topic_emb, ref_unit)

    order = np.argsort(ids, kind="stable")  # canonical order: sorted by sample id
    pi_sorted = derangement(n, np.random.default_rng(seed))
    partner = np.empty(n, dtype=np.int64)
    partner[order] = order[pi_sorted]  # row order[j] takes the narration of row order[pi[j]]
    shuffled = np.clip(np.einsum("ij,ij->i", narr_unit[partner], ref_unit), -1.0, 1.0)

    ratio: float | None = None
    if narrations is not None:
        check_length("narrations", narrations, n, "narration_emb")
        ratio = len(set(narrations)) / n

    for arr in (matched, word_salad, off_topic, shuffled):
        arr.setflags(write=False)
    return SbertReport(
        sample_ids=tuple(ids.tolist()),
        matched=matched,
        word_salad_floor=word_salad,
        off_topic_floor=off_topic,
        shuffled_floor=shuffled,
        shuffled_partner_ids=tuple(ids[partner].tolist()),
        p_word_salad=paired_wilcoxon_greater(matched, word_salad),
        p_off_topic=paired_wilcoxon_greater(matched, off_topic),
        p_shuffled=paired_wilcoxon_greater(matched, shuffled),
        distinct_narration_ratio=ratio,
        seed=seed,
    )
