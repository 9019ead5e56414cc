"""The SAE feature dictionary of each population: top features, unique-by-magnitude, bootstrap stability.

Pure array functions. Every population's SAE activations come as a ``(K, m)`` matrix over the same ``K`` test
bins (rows aligned by bin; :mod:`.populations` makes them), each row the mean over the bin's predicted patches
(and over the population's sessions when it spans several) of every feature's activation.

Paper Sec. 5: "For each cell-type we rank features by mean activation across the NM1 test bins and keep its
top-20; features that appear uniquely in a single cell-type's top-20 we call unique-by-magnitude." A.8: "We
resample the 7,186 NM1 test bins with replacement (n=200 bootstraps), recompute mean activation per feature per
cell type, and re-rank specificity from scratch each time. For every cell type, the bootstrapped top-20 recovers
at least 15 of the canonical 20 features in 100% of resamples". The paper does not define specificity; ours is
``mean_p / max over the other populations of mean_q`` ("activates 29% more strongly in VIP than in PV or SST"
reads as this ratio minus 1), used to order unique features and a population's top-10 (A.8's concept test).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

TOP_K = 20


def _stack(acts: Mapping[str, np.ndarray]) -> tuple[tuple[str, ...], np.ndarray]:
    names = tuple(acts)
    if len(names) < 2:
        raise ValueError(f"activations: expected at least two populations, found {list(names)}")
    arrs = [np.asarray(acts[n], dtype=np.float64) for n in names]
    shape = arrs[0].shape
    for n, a in zip(names, arrs, strict=True):
        if a.ndim != 2 or a.shape != shape:
            raise ValueError(
                f"activations[{n!r}]: expected shape {shape} like {names[0]!r} (bins x features), found {a.shape}"
            )
        if not np.isfinite(a).all():
            raise ValueError(f"activations[{n!r}]: non-finite values")
    return names, np.stack(arrs)  # (P, K, m)


def top_features(means: np.ndarray, k: int = TOP_K) -> np.ndarray:
    """Indices of the ``k`` largest entries of each row of ``means`` (P, m), largest first (ties: lower index)."""
    order = np.argsort(-means, axis=-1, kind="stable")
    return order[..., :k]


def specificity(means: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """``means[p, f] / max_{q != p} means[q, f]`` for (P, m) means (module docstring); inf where others are 0."""
    m = np.asarray(means, dtype=np.float64)
    out = np.empty_like(m)
    for p in range(m.shape[0]):
        other = np.delete(m, p, axis=0).max(axis=0)
        out[p] = np.where(other > eps, m[p] / np.maximum(other, eps), np.where(m[p] > eps, np.inf, 1.0))
    return out


def unique_by_magnitude(tops: np.ndarray) -> list[np.ndarray]:
    """Per population, the features of its top list that are in no other population's top list (input order)."""
    out = []
    for p in range(tops.shape[0]):
        others = set(np.delete(tops, p, axis=0).ravel().tolist())
        out.append(np.array([f for f in tops[p] if f not in others], dtype=np.int64))
    return out


@dataclass(frozen=True)
class Dictionary:
    """The canonical dictionary of the populations.

    Attributes:
        populations: Row order.
        means: (P, m) mean activation over the test bins.
        top: (P, k) top-k features by mean activation, largest first.
        specificity: (P, m) :func:`specificity`.
        unique: Per population, its unique-by-magnitude features, most specific first.
        zscored: (P, m) each feature's means z-scored across populations (Fig. 8 left).
    """

    populations: tuple[str, ...]
    means: np.ndarray
    top: np.ndarray
    specificity: np.ndarray
    unique: list[np.ndarray]
    zscored: np.ndarray

    def most_specific(self, p: int, n: int) -> np.ndarray:
        """Population ``p``'s top-k features ordered by specificity, first ``n``."""
        feats = self.top[p]
        return feats[np.argsort(-self.specificity[p, feats], kind="stable")][:n]


def build_dictionary(acts: Mapping[str, np.ndarray], k: int = TOP_K) -> Dictionary:
    """Canonical means, top-k, specificity and unique-by-magnitude features of aligned (K, m) activations."""
    names, stack = _stack(acts)
    if not 1 <= k <= stack.shape[2]:
        raise ValueError(f"k: expected 1..{stack.shape[2]} (the number of features), found {k}")
    means = stack.mean(axis=1)
    top = top_features(means, k)
    spec = specificity(means)
    unique = [u[np.argsort(-spec[p, u], kind="stable")] for p, u in enumerate(unique_by_magnitude(top))]
    sd = means.std(axis=0, keepdims=True)
    z = np.where(sd > 0, (means - means.mean(axis=0, keepdims=True)) / np.where(sd > 0, sd, 1.0), 0.0)
    return Dictionary(names, means, top, spec, unique, z)


@dataclass(frozen=True)
class Stability:
    """Bootstrap stability of each population's top-k (paper A.8, Fig. A6).

    Attributes:
        populations: Row order.
        overlap: (P, n_boot) canonical top-k features recovered in each resample's top-k.
        survival: (P, k) per canonical top-k feature (canonical specificity order, ``order``), the fraction of
            resamples whose top-k holds it.
        order: (P, k) the canonical top-k features in specificity order (columns of ``survival``).
        unique_survival: Per population, per canonical unique feature, the fraction of resamples in which it is
            still unique-by-magnitude.
        n_boot / seed: Resamples and their seed.
    """

    populations: tuple[str, ...]
    overlap: np.ndarray
    survival: np.ndarray
    order: np.ndarray
    unique_survival: list[np.ndarray]
    n_boot: int
    seed: int

    def summary(self) -> dict[str, dict[str, float]]:
        """Per population: mean / min overlap, share of resamples >= 75 % of k, features kept in every resample."""
        k = self.order.shape[1]
        return {
            name: {
                "mean_overlap": float(self.overlap[p].mean()),
                "min_overlap": int(self.overlap[p].min()),
                "share_at_least_75pct": float(np.mean(self.overlap[p] >= int(np.ceil(0.75 * k)))),
                "top_k_in_every_resample": int(np.sum(self.survival[p] == 1.0)),
                "unique_in_every_resample": int(np.sum(self.unique_survival[p] == 1.0)),
                "n_unique": int(self.unique_survival[p].size),
            }
            for p, name in enumerate(self.populations)
        }


def bootstrap_stability(
    acts: Mapping[str, np.ndarray], canonical: Dictionary, *, n_boot: int = 200, seed: int = 0
) -> Stability:
    """Resample the K bins with replacement (the same draw for every population) and re-rank from scratch.

    Raises:
        ValueError: ``n_boot < 1`` or activations unlike the canonical dictionary's.
    """
    if n_boot < 1:
        raise ValueError(f"n_boot: expected >= 1, found {n_boot}")
    names, stack = _stack(acts)
    if names != canonical.populations:
        raise ValueError(f"activations: populations {names} differ from the dictionary's {canonical.populations}")
    n_pop, n_bins, _ = stack.shape
    k = canonical.top.shape[1]
    rng = np.random.default_rng(seed)
    overlap = np.zeros((n_pop, n_boot), dtype=np.int64)
    order = np.stack([canonical.most_specific(p, k) for p in range(n_pop)])
    kept = np.zeros((n_pop, k))
    unique_kept = [np.zeros(u.size) for u in canonical.unique]
    for b in range(n_boot):
        idx = rng.integers(0, n_bins, size=n_bins)
        top = top_features(stack[:, idx].mean(axis=1), k)
        uniq = unique_by_magnitude(top)
        for p in range(n_pop):
            in_top = np.isin(order[p], top[p])
            overlap[p, b] = int(in_top.sum())
            kept[p] += in_top
            unique_kept[p] += np.isin(canonical.unique[p], uniq[p])
    return Stability(
        populations=names,
        overlap=overlap,
        survival=kept / n_boot,
        order=order,
        unique_survival=[u / n_boot for u in unique_kept],
        n_boot=n_boot,
        seed=seed,
    )


def top_frames(corpus_acts: np.ndarray, features: np.ndarray, n: int = 8) -> np.ndarray:
    """For each feature, the ``n`` corpus rows (frames) where it is most active, most active first: (len, n)."""
    a = np.asarray(corpus_acts)
    cols = a[:, np.asarray(features, dtype=np.int64)]  # (n_frames, F)
    return np.argsort(-cols, axis=0, kind="stable")[:n].T
