"""SBERT narration scores and their floors (paper Sec. 4.1, A.4, A.5).

All inputs are sentence embeddings computed elsewhere (default scorer model all-MiniLM-L6-v2);
this module only does array arithmetic. For sample ``i`` with narration embedding ``n_i`` and
reference-caption embedding ``r_i``:

* ``matched_i = cos(n_i, r_i)`` (Sec. 4.1 "SBERT cosine").
* Pool floors, for the fixed word-salad and off-topic pools (``floor_pools``), each in two forms:

  - against the reference, ``{pool}_floor_i = mean_p cos(w_p, r_i)``: what content-free text scores
    against this reference (Sec. 4.1 "0.020 +- 0.077 for a word-salad floor"; A.4 "pairing each reference
    with topic-unrelated sentences from a fixed pool"); independent of the model;
  - against the narration, ``{pool}_narration_floor_i = mean_p cos(w_p, n_i)``: Table A1's definition
    ("SBERT cosine of each decoded caption against a fixed pool of 30 off-topic sentences"), what the
    paper's code computes; it rises when a model emits generic text.

* Shuffled floors (A.5: "decoded sentences paired with a random other held-out caption"). The partner is
  drawn over *distinct frames*: a seeded permutation of the test frames in which every frame's partner has
  a different frame **and** a different reference caption (:func:`caption_derangement`), so no pair can
  match by construction. Sample ``i`` of frame ``f`` (the ``j``-th of ``f``'s samples in sample-id order)
  takes the ``j mod n``-th sample (sample-id order) of the partner frame. Two forms:

  - ``shuffled_narration_floor_i = cos(n_i, r_partner(i))``: the narration against another frame's
    caption, the paper's control;
  - ``shuffled_floor_i = cos(n_partner(i), r_i)``: another frame's narration against this reference.

* ``delta_* = matched - floor``, tested in ``neurrator_bench.scoring`` with the frame-level paired
  bootstrap (:mod:`neurrator_bench.scorers.frame_stats`).
* ``distinct_narration_ratio = n_unique(narrations) / n`` (A.5: "45 of 50 ... distinct").

Order independence: frames are put in sorted key order and samples in id order before the permutation is
drawn with ``np.random.default_rng(seed)``, so each sample's partner depends only on the set of ids, frames
and captions and the seed, never on row order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from neurrator_bench.scorers.metric_registry import (
    MetricGroup,
    MetricSpec,
    MetricValues,
    ScoreInputs,
    as_finite_array,
    as_unique_ids,
    check_length,
    check_same_shape,
    register_group,
    register_metric,
    unit_rows,
)

_SECTION = "Sec. 4.1, A.4, A.5"
_MAX_REPAIR_PASSES = 50
FLOOR_KINDS = ("word_salad", "off_topic", "shuffled")


class NoShuffledPairing(ValueError):
    """The test frames' captions admit no pairing with a different caption (one caption on > half the frames)."""


register_metric(
    MetricSpec(
        name="sbert_matched",
        higher_is_better=True,
        value_range=(-1.0, 1.0),
        chance="read against the per-sample floors sbert_*_floor (deltas sbert_delta_*)",
        paper_section=_SECTION,
        description="Mean SBERT cosine between each narration and its own reference caption.",
        ceiling="1 (the narration is the reference caption)",
    )
)


def _register_floor_metrics(pool: str, text: str, narration_text: str) -> None:
    """Register both forms of one floor and the matched-minus-floor deltas."""
    for suffix, what in (("", text), ("_narration", narration_text)):
        register_metric(
            MetricSpec(
                name=f"sbert_{pool}{suffix}_floor",
                higher_is_better=False,
                value_range=(-1.0, 1.0),
                chance="is itself a floor: the score of unrelated text; reference level, not ranked",
                paper_section=_SECTION,
                description=f"Mean SBERT cosine of {what}.",
            )
        )
    for suffix, what in (("", text), ("_narration", narration_text)):
        register_metric(
            MetricSpec(
                name=f"sbert_delta_{pool}{suffix}",
                higher_is_better=True,
                value_range=(-2.0, 2.0),
                chance="0 (matched indistinguishable from the floor); one-sided frame-block bootstrap p reported",
                paper_section=_SECTION,
                description=f"Mean gain of the matched SBERT cosine over {what}.",
            )
        )


_register_floor_metrics(
    "word_salad",
    "the 30-sentence word-salad pool against each reference caption",
    "the 30-sentence word-salad pool against each narration",
)
_register_floor_metrics(
    "off_topic",
    "the 30-sentence off-topic pool against each reference caption",
    "the 30-sentence off-topic pool against each narration (Table A1's random-sentence floor)",
)
_register_floor_metrics(
    "shuffled",
    "another frame's narration (different frame and caption) against each reference caption",
    "each narration against another frame's reference caption (A.5's shuffled pairing)",
)
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
    """Per-sample SBERT scores and floors, aligned with the input rows.

    Attributes:
        sample_ids: Ids of the rows, shape ``(n,)``, in input order.
        matched: ``cos(narration_i, reference_i)``, shape ``(n,)``.
        floors: Floor metric name (``sbert_word_salad_floor``, ``sbert_shuffled_narration_floor``, ...) ->
            ``(n,)`` per-sample floor.
        shuffled_partner_ids: Id of each row's shuffled partner sample (another frame, another caption), or
            ``None`` when no such pairing exists.
        distinct_narration_ratio: ``n_unique(narrations) / n``; ``None`` when narrations were not given.
        seed: Seed of the permutation.
        shuffled_error: Why the shuffled floors are missing (``None`` when present).
    """

    sample_ids: tuple[str, ...]
    matched: np.ndarray
    floors: dict[str, np.ndarray]
    shuffled_partner_ids: tuple[str, ...] | None
    distinct_narration_ratio: float | None
    seed: int
    shuffled_error: str | None = None

    @property
    def word_salad_floor(self) -> np.ndarray:
        """Word-salad pool against each reference, shape ``(n,)``."""
        return self.floors["sbert_word_salad_floor"]

    @property
    def off_topic_floor(self) -> np.ndarray:
        """Off-topic pool against each reference, shape ``(n,)``."""
        return self.floors["sbert_off_topic_floor"]

    @property
    def shuffled_floor(self) -> np.ndarray:
        """The partner's narration against each reference, shape ``(n,)``."""
        return self.floors["sbert_shuffled_floor"]

    @property
    def shuffled_narration_floor(self) -> np.ndarray:
        """Each narration against the partner's reference, shape ``(n,)``."""
        return self.floors["sbert_shuffled_narration_floor"]

    def deltas(self) -> dict[str, np.ndarray]:
        """``sbert_delta_<floor>`` -> ``matched - floor`` for every floor."""
        return {
            name.replace("sbert_", "sbert_delta_", 1).removesuffix("_floor"): self.matched - values
            for name, values in self.floors.items()
        }

    def per_sample(self) -> dict[str, np.ndarray]:
        """Per-sample arrays keyed by registered metric name (``distinct_narration_ratio`` excluded)."""
        return {"sbert_matched": self.matched, **self.floors, **self.deltas()}

    def means(self) -> dict[str, float]:
        """Mean of every per-sample metric plus ``distinct_narration_ratio`` when known."""
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


def caption_derangement(captions: Sequence[str], rng: np.random.Generator) -> np.ndarray:
    """A permutation of ``m`` distinct frames in which every frame's partner has a different caption.

    A seeded uniform permutation is drawn; every position whose partner shares its caption (or is itself) is
    then swapped with a random position for which the swap leaves both valid, until none is left.

    Args:
        captions: (m,) reference caption of each distinct frame, frames in canonical (sorted) order.
        rng: Source of randomness.

    Returns:
        Int64 array ``pi`` of shape ``(m,)`` with ``captions[pi[f]] != captions[f]`` for every ``f``.

    Raises:
        ValueError: If one caption belongs to more than half of the frames (no such permutation exists).
    """
    values, groups, counts = np.unique(np.asarray(captions, dtype=str), return_inverse=True, return_counts=True)
    groups = groups.reshape(-1)
    m = groups.size
    if m < 2 or 2 * counts.max() > m:
        top = int(np.argmax(counts))
        raise NoShuffledPairing(
            f"shuffled floor: the caption {str(values[top])[:60]!r} belongs to {int(counts[top])} of {m} test "
            "frames (more than half), so no pairing with a different caption exists for every frame"
        )
    perm = rng.permutation(m)
    for _ in range(_MAX_REPAIR_PASSES):
        bad = np.flatnonzero(groups[perm] == groups)
        if bad.size == 0:
            return perm.astype(np.int64)
        for i in bad:
            if groups[perm[i]] != groups[i]:
                continue  # repaired by an earlier swap
            # swapping i and j gives i the partner perm[j] and j the partner perm[i]
            ok = np.flatnonzero((groups[perm] != groups[i]) & (groups != groups[perm[i]]))
            if ok.size:
                j = int(ok[rng.integers(ok.size)])
                perm[i], perm[j] = perm[j], perm[i]
    raise NoShuffledPairing(f"shuffled floor: no valid pairing found over {m} frames after {_MAX_REPAIR_PASSES} passes")


def shuffled_partners(
    sample_ids: np.ndarray, frame_keys: Sequence[str], captions: Sequence[str], seed: int
) -> np.ndarray:
    """Row of each sample's shuffled partner: a sample of another frame with another caption (module doc).

    Args:
        sample_ids: (n,) unique ids.
        frame_keys: (n,) frame key of each row (e.g. ``"natural_movie_one:412"``).
        captions: (n,) reference caption of each row (one per frame).
        seed: Seed of the permutation.

    Returns:
        (n,) int64 partner row of each row.

    Raises:
        ValueError: If a frame has two different captions, or no valid pairing exists.
    """
    keys = np.asarray(frame_keys, dtype=str)
    caps = np.asarray(captions, dtype=str)
    frames, first, codes = np.unique(keys, return_index=True, return_inverse=True)
    codes = codes.reshape(-1)
    frame_caption = caps[first]
    if (frame_caption[codes] != caps).any():
        row = int(np.flatnonzero(frame_caption[codes] != caps)[0])
        raise ValueError(
            f"captions: frame {str(keys[row])!r} has more than one reference caption "
            f"(sample_id {str(sample_ids[row])!r})"
        )
    partner_frame = caption_derangement(frame_caption, np.random.default_rng(seed))
    order = np.lexsort((sample_ids, codes))  # by frame, then sample id
    bounds = np.searchsorted(codes[order], np.arange(frames.size + 1))
    position = np.empty(codes.size, dtype=np.int64)
    position[order] = np.arange(codes.size) - bounds[codes[order]]
    target = partner_frame[codes]
    size = bounds[target + 1] - bounds[target]
    return order[bounds[target] + position % size]


def _pool_floor(name: str, pool_emb: np.ndarray, unit: np.ndarray) -> np.ndarray:
    """Mean cosine of every pool sentence to each row of ``unit``, shape ``(n,)``."""
    pool = as_finite_array(name, pool_emb, ndim=2)
    if pool.shape[1] != unit.shape[1]:
        raise ValueError(
            f"{name}: expected embedding dimension {unit.shape[1]} (like reference_emb), found shape {pool.shape}"
        )
    sims = np.clip(unit @ unit_rows(name, pool).T, -1.0, 1.0)
    return sims.mean(axis=1)


def sbert_report(
    narration_emb: np.ndarray,
    reference_emb: np.ndarray,
    word_salad_emb: np.ndarray,
    off_topic_emb: np.ndarray,
    *,
    sample_ids: Sequence[str],
    frame_keys: Sequence[str],
    captions: Sequence[str],
    narrations: Sequence[str] | None,
    seed: int,
) -> SbertReport:
    """Score narrations against reference captions and against every floor (module doc).

    Args:
        narration_emb: SBERT embeddings of the decoded narrations, shape ``(n, d)``.
        reference_emb: SBERT embeddings of the reference captions, shape ``(n, d)``, same rows.
        word_salad_emb: Embeddings of the word-salad pool, shape ``(p, d)``.
        off_topic_emb: Embeddings of the off-topic pool, shape ``(q, d)``.
        sample_ids: Unique id of each row, length ``n``.
        frame_keys: Frame of each row (shuffled partners are drawn over distinct frames), length ``n``.
        captions: Reference caption of each row (partners never share it), length ``n``.
        narrations: The narration strings (length ``n``) for the distinct-narration ratio, or ``None``.
        seed: Seed of the shuffled pairing.

    Returns:
        :class:`SbertReport` with per-sample arrays in input row order.

    Raises:
        ValueError: On non-finite values, shape mismatches, all-zero rows, duplicate or missing ids or a
            wrong narration count. Test frames whose captions admit no pairing with a different caption leave
            the shuffled floors out (``shuffled_error`` says why); the other floors stay.
    """
    narr = as_finite_array("narration_emb", narration_emb, ndim=2)
    ref = as_finite_array("reference_emb", reference_emb, ndim=2)
    check_same_shape("narration_emb", narr, "reference_emb", ref)
    n = narr.shape[0]
    ids = as_unique_ids("sample_ids", sample_ids, n, "narration_emb")
    check_length("frame_keys", frame_keys, n, "narration_emb")
    check_length("captions", captions, n, "narration_emb")
    narr_unit = unit_rows("narration_emb", narr)
    ref_unit = unit_rows("reference_emb", ref)

    matched = np.clip(np.einsum("ij,ij->i", narr_unit, ref_unit), -1.0, 1.0)
    floors = {
        "sbert_word_salad_floor": _pool_floor("word_salad_emb", word_salad_emb, ref_unit),
        "sbert_word_salad_narration_floor": _pool_floor("word_salad_emb", word_salad_emb, narr_unit),
        "sbert_off_topic_floor": _pool_floor("off_topic_emb", off_topic_emb, ref_unit),
        "sbert_off_topic_narration_floor": _pool_floor("off_topic_emb", off_topic_emb, narr_unit),
    }
    partner_ids: tuple[str, ...] | None = None
    shuffled_error: str | None = None
    try:
        partner = shuffled_partners(ids, frame_keys, captions, seed)
    except NoShuffledPairing as exc:  # too few distinct captions: only the shuffled floors are undefined
        shuffled_error = str(exc)
    else:
        floors["sbert_shuffled_floor"] = np.clip(np.einsum("ij,ij->i", narr_unit[partner], ref_unit), -1.0, 1.0)
        floors["sbert_shuffled_narration_floor"] = np.clip(
            np.einsum("ij,ij->i", narr_unit, ref_unit[partner]), -1.0, 1.0
        )
        partner_ids = tuple(ids[partner].tolist())
    ratio: float | None = None
    if narrations is not None:
        check_length("narrations", narrations, n, "narration_emb")
        ratio = len(set(narrations)) / n
    for arr in (matched, *floors.values()):
        arr.setflags(write=False)
    return SbertReport(
        sample_ids=tuple(ids.tolist()),
        matched=matched,
        floors=floors,
        shuffled_partner_ids=partner_ids,
        distinct_narration_ratio=ratio,
        seed=seed,
        shuffled_error=shuffled_error,
    )


def _sbert_group(inputs: ScoreInputs) -> list[MetricValues]:
    """Matched SBERT, the six floors, the six deltas (tested against 0) and the distinct-narration ratio."""
    keys = np.char.add(np.char.add(inputs.stimulus.astype(str), ":"), inputs.frame.astype(str))
    report = sbert_report(
        inputs.narration_emb,
        inputs.reference_emb,
        inputs.floor_pools["word_salad"],
        inputs.floor_pools["off_topic"],
        sample_ids=inputs.sample_ids,
        frame_keys=keys,
        captions=inputs.captions,
        narrations=inputs.narrations,
        seed=inputs.seed,
    )
    out = [MetricValues(name="sbert_matched", per_sample=report.matched, ceiling=1.0)]
    if report.shuffled_error is not None:
        out += [
            MetricValues(name=name, note=report.shuffled_error)
            for name in (
                "sbert_shuffled_floor",
                "sbert_shuffled_narration_floor",
                "sbert_delta_shuffled",
                "sbert_delta_shuffled_narration",
            )
        ]
    out += [MetricValues(name=name, per_sample=values) for name, values in report.floors.items()]
    out += [
        MetricValues(name=name, per_sample=values, floor=np.zeros_like(values), chance=0.0)
        for name, values in report.deltas().items()
    ]
    out.append(
        MetricValues(
            name="distinct_narration_ratio",
            value=report.distinct_narration_ratio,
            no_interval_reason="a count of distinct strings is not a mean of per-sample values: resampling "
            "duplicates strings and biases it toward 0, so no bootstrap interval is given",
        )
    )
    return out


register_group(
    MetricGroup(
        name="sbert",
        needs=frozenset({"narration"}),
        metrics=(
            "sbert_matched",
            *(f"sbert_{k}{s}_floor" for k in FLOOR_KINDS for s in ("", "_narration")),
            *(f"sbert_delta_{k}{s}" for k in FLOOR_KINDS for s in ("", "_narration")),
            "distinct_narration_ratio",
        ),
        compute=_sbert_group,
    )
)
