"""Concept axes: how strongly each narration mentions a concept, over the movie (paper Fig. 7B-C, A5, A.8).

Paper Sec. 5: "projecting decoded sentences onto the 'darkness or shadows' and 'a car or vehicle' axes (i.e.
measuring how strongly each decoded narration mentions these two concepts over time) shows that all three
populations track the gross content of the movie but with different baselines and amplitudes". Fig. 7: "lines:
smoothed per-cell-type means, dots: individual frames". A.7 adds four axes, "projected onto each text-concept
embedding using CLIP-text".

Here a narration's score on an axis is the cosine between its embedding and the concept prompt's, both in the
scorer's sentence space (the CLIP-text variant needs a CLIP text tower, which this package does not load: our
difference, named in the report). The curve of a population is its per-frame mean over bins (a frame shown in
several repeats is averaged), in frame order, smoothed by a centred moving average over ``window`` positions
among the frames present (our choice; the paper does not give its smoother; on a sparse split neighbouring
positions can be several movie frames apart).

A.8's validation of SAE features against a concept bank is :func:`feature_concept_loadings`: the mean cosine of a
feature's top frames (their pooled targets) to each concept, compared one-vs-rest across populations by Welch's
t-test. On the embedded default the targets live in the sentence space, so concept prompts are embedded there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats

DEFAULT_CONCEPTS = (
    "darkness or shadows",
    "a car or vehicle",
    "bright lighting",
    "a person walking",
    "an indoor room",
    "an outdoor street scene",
)
CONCEPT_BANK = (
    "darkness or shadows",
    "a dark night scene",
    "bright lighting",
    "a car or vehicle",
    "a bus",
    "a bicycle",
    "a boat on the water",
    "a small round object",
    "a cat or a dog",
    "a teapot",
    "a person walking",
    "an indoor room",
    "an outdoor street scene",
    "a shop window",
)
"""The target-space concept bank of the A.8 test (14 prompts, as the paper's bank has 14; our wording)."""


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(n > 0, n, 1.0)


def concept_scores(embeddings: np.ndarray, concepts: np.ndarray) -> np.ndarray:
    """(n, c) cosine of each of n embeddings to each of c concept embeddings."""
    e, c = np.asarray(embeddings), np.asarray(concepts)
    if e.ndim != 2 or c.ndim != 2 or e.shape[1] != c.shape[1]:
        raise ValueError(f"embeddings {e.shape} and concepts {c.shape}: expected (n, d) and (c, d)")
    return _unit(e) @ _unit(c).T


def movie_curve(values: np.ndarray, frames: np.ndarray, window: int = 9) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame mean of ``values`` in frame order and its centred moving average.

    Returns:
        ``(frames sorted unique, per-frame mean, smoothed)``; the smoother averages the frames available within
        ``window // 2`` positions on each side (shorter at the ends).
    """
    if window < 1:
        raise ValueError(f"window: expected >= 1, found {window}")
    v, f = np.asarray(values, dtype=np.float64), np.asarray(frames)
    uniq, inv = np.unique(f, return_inverse=True)
    per = np.bincount(inv, weights=v, minlength=uniq.size) / np.bincount(inv, minlength=uniq.size)
    half = window // 2
    csum = np.concatenate([[0.0], np.cumsum(per)])
    lo = np.clip(np.arange(uniq.size) - half, 0, uniq.size)
    hi = np.clip(np.arange(uniq.size) + half + 1, 0, uniq.size)
    return uniq, per, (csum[hi] - csum[lo]) / (hi - lo)


def feature_concept_loadings(
    frame_vectors: np.ndarray, top_frames: Mapping[str, np.ndarray], concepts: np.ndarray
) -> dict[str, np.ndarray]:
    """Per population, (n_features, c): mean cosine of each feature's top frames to each concept (A.8).

    Args:
        frame_vectors: (n_frames, d) pooled target of every corpus frame.
        top_frames: population -> (n_features, n_top) corpus row indices of each feature's top frames.
        concepts: (c, d) concept embeddings in the same space.
    """
    sims = concept_scores(frame_vectors, concepts)  # (n_frames, c)
    return {name: sims[np.asarray(idx)].mean(axis=1) for name, idx in top_frames.items()}


def one_vs_rest_welch(loadings: Mapping[str, np.ndarray], concept_names: Sequence[str]) -> list[dict]:
    """For each population and concept: Welch's t-test of its features' loadings against the others' features.

    A feature in two populations' lists counts on both sides of a comparison (the samples are not independent;
    read the tests as descriptive). ``q`` is the Benjamini-Hochberg adjusted p over every row returned.

    Returns:
        Rows ``{"population", "concept", "mean", "mean_rest", "t", "p", "q"}`` (two-sided p).
    """
    out: list[dict] = []
    names = list(loadings)
    for name in names:
        mine = np.asarray(loadings[name])
        rest = np.concatenate([np.asarray(loadings[o]) for o in names if o != name])
        for j, concept in enumerate(concept_names):
            t, p = stats.ttest_ind(mine[:, j], rest[:, j], equal_var=False)
            out.append(
                {
                    "population": name,
                    "concept": concept,
                    "mean": float(mine[:, j].mean()),
                    "mean_rest": float(rest[:, j].mean()),
                    "t": float(t) if np.isfinite(t) else 0.0,
                    "p": float(p) if np.isfinite(p) else 1.0,
                }
            )
    if out:
        q = stats.false_discovery_control([r["p"] for r in out], method="bh")
        for r, qv in zip(out, q, strict=True):
            r["q"] = float(qv)
    return out
