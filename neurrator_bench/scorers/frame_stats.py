"""Frame-level statistics: intervals and tests whose n is frames, not (bin x repeat x session) samples.

Why: the samples of one test set are not independent. Every repeat and every session of a frame shares
its reference caption and target, and neighbouring movie frames are nearly the same image. The paper's n is
frames: "n = 200 held-out frames" for contiguous-middle (Sec. 4.1, Table 1 caption). A bootstrap over
samples would shrink the intervals each time a frame is shown once more.

What is computed (our choices, named in every entry's ``statistics`` and each metric's ``interval``):

* **Per-frame first.** Each sample carries a base weight. By default it is ``1 / n_f``, with ``n_f`` the
  samples of its frame, so every frame weighs the same whatever its repeats and sessions. A metric that
  averages in another order says so: KNN purity averages over the bins of a session, then over sessions
  (Table A2), with base weight ``1 / (n_sessions * n_bins of its session)``.
* **Clusters.** A movie frame belongs to the block ``frame // block_frames`` (default 30 frames = 1 s at
  30 Hz, so that the autocorrelation of neighbouring frames cannot shrink the interval). A natural-scene
  image is its own cluster: scenes are presented in random order.
* **Bootstrap.** Replicate ``b`` draws the clusters with replacement from
  ``np.random.default_rng([seed, b])``. Each sample's weight is multiplied by its cluster's count. With
  ``session_level=True`` the sessions are also drawn with replacement and the two counts multiply (sessions
  crossed with frame clusters, a two-way bootstrap: every session saw every frame). The interval is the
  2.5 / 97.5 % quantiles of the replicate statistic, widened to contain the value
  (:func:`neurrator_bench.scorers.intervals.enclose`).
* **Tests.** ``p`` of "a > b" is the one-sided bootstrap p ``(1 + #{replicates of mean(a - b) <= 0}) /
  (n_boot + 1)``. It uses the same clusters, so its resolution is ``1 / (n_boot + 1)``.
* **Few clusters.** A contiguous block of 200 frames is only 7 blocks of 30: percentile intervals from fewer
  than about 20 clusters under-cover. Entries record the number of clusters and warn below
  :data:`MIN_CLUSTERS`.

Duplicating every sample of a frame ten times leaves the value, the interval and the p-value unchanged:
the base weights of those samples fall by 10 and their cluster is the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from neurrator_bench.scorers.intervals import enclose
from neurrator_bench.scorers.metric_registry import as_finite_array, check_length

DEFAULT_BLOCK_FRAMES = 30
MIN_CLUSTERS = 20
_CHUNK = 50


@dataclass(frozen=True)
class Clusters:
    """The frame, cluster and session of every sample of a test set.

    Attributes:
        frame: (n,) code of each sample's distinct (stimulus, frame), codes in sorted key order.
        frame_stimulus: (n_frames,) stimulus of each distinct frame.
        frame_index: (n_frames,) frame index of each distinct frame.
        frame_block: (n_frames,) cluster code of each distinct frame.
        session: (n,) session code of each sample.
        block_frames: Frames per movie block.
        session_level: Whether sessions are resampled as an outer level.
    """

    frame: np.ndarray
    frame_stimulus: np.ndarray
    frame_index: np.ndarray
    frame_block: np.ndarray
    session: np.ndarray
    block_frames: int
    session_level: bool

    @property
    def n(self) -> int:
        """Number of samples."""
        return int(self.frame.size)

    @property
    def n_frames(self) -> int:
        """Number of distinct frames."""
        return int(self.frame_block.size)

    @property
    def n_blocks(self) -> int:
        """Number of clusters."""
        return int(self.frame_block.max()) + 1

    @property
    def n_sessions(self) -> int:
        """Number of sessions."""
        return int(self.session.max()) + 1

    @property
    def block(self) -> np.ndarray:
        """(n,) cluster code of each sample."""
        return self.frame_block[self.frame]

    def frame_weights(self) -> np.ndarray:
        """(n,) base weights ``1 / n_f``: every frame weighs the same."""
        counts = np.bincount(self.frame, minlength=self.n_frames)
        return 1.0 / counts[self.frame]

    def session_then_bin_weights(self) -> np.ndarray:
        """(n,) base weights ``1 / (n_sessions * n_s)``: mean over a session's samples, then over sessions."""
        counts = np.bincount(self.session, minlength=self.n_sessions)
        present = np.count_nonzero(counts)
        return 1.0 / (present * counts[self.session])

    def subset(self, rows: np.ndarray) -> Clusters:
        """The clusters of the samples selected by the boolean mask ``rows`` (codes renumbered)."""
        frames, frame = np.unique(self.frame[rows], return_inverse=True)
        _, block = np.unique(self.frame_block[frames], return_inverse=True)
        _, session = np.unique(self.session[rows], return_inverse=True)
        return Clusters(
            frame=frame.reshape(-1).astype(np.int64),
            frame_stimulus=self.frame_stimulus[frames],
            frame_index=self.frame_index[frames],
            frame_block=block.reshape(-1).astype(np.int64),
            session=session.reshape(-1).astype(np.int64),
            block_frames=self.block_frames,
            session_level=self.session_level,
        )

    def describe(self) -> str:
        """The cluster unit in words, for entries and cards."""
        text = f"{self.block_frames}-frame blocks (movies), single images (scenes)"
        return text + ("; sessions as an outer level" if self.session_level else "")


def make_clusters(
    stimulus: Sequence[str] | np.ndarray,
    frame: Sequence[int] | np.ndarray,
    session: Sequence[str] | np.ndarray,
    *,
    movie_stimuli: Sequence[str],
    block_frames: int = DEFAULT_BLOCK_FRAMES,
    session_level: bool = False,
) -> Clusters:
    """Clusters of a test set from each sample's stimulus, frame and session.

    Args:
        stimulus: (n,) stimulus name of each sample.
        frame: (n,) frame index of each sample within its stimulus.
        session: (n,) session id of each sample.
        movie_stimuli: Stimuli whose frames are grouped in contiguous blocks; others: one cluster per frame.
        block_frames: Frames per block (``>= 1``).
        session_level: Resample sessions as an outer level too.

    Returns:
        :class:`Clusters`.

    Raises:
        ValueError: On mismatched lengths, an empty test set, negative frames or ``block_frames < 1``.
    """
    stim = np.asarray(stimulus).astype(str)
    frames = np.asarray(frame)
    sess = np.asarray(session).astype(str)
    if stim.ndim != 1 or stim.size == 0:
        raise ValueError(f"stimulus: expected a non-empty 1-d array, found shape {stim.shape}")
    check_length("frame", frames, stim.size, "stimulus")
    check_length("session", sess, stim.size, "stimulus")
    if not np.issubdtype(frames.dtype, np.integer) or (frames < 0).any():
        raise ValueError(f"frame: expected non-negative integers, found dtype {frames.dtype}, min {frames.min()}")
    if isinstance(block_frames, bool) or not isinstance(block_frames, (int, np.integer)) or block_frames < 1:
        raise ValueError(f"block_frames: expected an int >= 1, found {block_frames!r}")
    keys = np.rec.fromarrays([stim, frames.astype(np.int64)], names="stimulus,frame")
    unique, frame_code = np.unique(keys, return_inverse=True)
    is_movie = np.isin(unique["stimulus"], list(movie_stimuli))
    block_key = np.where(is_movie, unique["frame"] // block_frames, unique["frame"])
    block_keys = np.rec.fromarrays([unique["stimulus"], is_movie, block_key], names="stimulus,movie,block")
    _, block_code = np.unique(block_keys, return_inverse=True)
    _, session_code = np.unique(sess, return_inverse=True)
    return Clusters(
        frame=frame_code.reshape(-1).astype(np.int64),
        frame_stimulus=np.asarray(unique["stimulus"]).astype(str),
        frame_index=np.asarray(unique["frame"]).astype(np.int64),
        frame_block=block_code.reshape(-1).astype(np.int64),
        session=session_code.reshape(-1).astype(np.int64),
        block_frames=int(block_frames),
        session_level=bool(session_level),
    )


@dataclass(frozen=True)
class ClusterCI:
    """A statistic, its cluster-bootstrap interval and (for paired differences) a one-sided p-value.

    Attributes:
        value: Statistic with the base weights.
        low: Lower 2.5 % quantile of the replicates (widened to contain ``value``).
        high: Upper 97.5 % quantile of the replicates (widened to contain ``value``).
        p_greater: One-sided p of "statistic > 0" (``None`` unless asked for).
        n_boot: Replicates.
        p_less: One-sided p of "statistic < 0" from the same replicates (``None`` unless asked for).
    """

    value: float
    low: float
    high: float
    p_greater: float | None
    n_boot: int
    p_less: float | None = None


def weighted_median(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Lower weighted median of ``values`` (n,) under each row of ``weights`` (r, n) (or one (n,) row).

    The smallest value whose cumulative weight reaches half of the total; zero-weight values never count.

    Returns:
        (r,) medians, or a float for 1-d ``weights``.
    """
    w2 = np.atleast_2d(weights)
    order = np.argsort(values, kind="stable")
    v = values[order]
    cum = np.cumsum(w2[:, order], axis=1)
    half = cum[:, -1:] / 2.0
    idx = np.argmax(cum >= half - 1e-12 * np.abs(half), axis=1)
    out = v[idx]
    return out if np.ndim(weights) == 2 else float(out[0])


def _statistic(values: np.ndarray, weights: np.ndarray, kind: str) -> np.ndarray:
    if kind == "mean":
        # the same summation for numerator and denominator: a constant column gives exactly its value
        return np.sum(weights * values, axis=1) / np.sum(weights, axis=1)
    if kind == "median":
        return weighted_median(values, weights)
    raise ValueError(f"statistic: expected 'mean' or 'median', found {kind!r}")


def replicate_weights(clusters: Clusters, b: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Cluster and session counts of replicate ``b``: ``(n_blocks,)`` and ``(n_sessions,)`` int arrays."""
    rng = np.random.default_rng([seed, b])
    blocks = np.bincount(rng.integers(0, clusters.n_blocks, clusters.n_blocks), minlength=clusters.n_blocks)
    if clusters.session_level:
        sessions = np.bincount(rng.integers(0, clusters.n_sessions, clusters.n_sessions), minlength=clusters.n_sessions)
    else:
        sessions = np.ones(clusters.n_sessions, dtype=np.int64)
    return blocks, sessions


def cluster_bootstrap(
    values: np.ndarray,
    clusters: Clusters,
    *,
    base_weights: np.ndarray | None = None,
    statistic: str = "mean",
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    test_greater: bool = False,
) -> ClusterCI:
    """Weighted statistic of per-sample values with a cluster-bootstrap interval (see module doc).

    Args:
        values: (n,) per-sample values (for a paired test: per-sample differences ``a - b``).
        clusters: The test set's clusters (same rows).
        base_weights: (n,) weights of the point estimate; default ``clusters.frame_weights()``.
        statistic: ``"mean"`` or ``"median"`` (lower weighted median).
        n_boot: Replicates, ``>= 1``.
        seed: Base seed; replicate ``b`` uses ``np.random.default_rng([seed, b])``.
        alpha: Two-sided miss rate of the interval.
        test_greater: Also return the one-sided bootstrap p of "statistic > 0".

    Returns:
        :class:`ClusterCI`.

    Raises:
        ValueError: On non-finite values, a length mismatch or bad ``n_boot``.
    """
    x = as_finite_array("values", values, ndim=1)
    check_length("values", x, clusters.n, "clusters")
    base = clusters.frame_weights() if base_weights is None else as_finite_array("base_weights", base_weights, ndim=1)
    check_length("base_weights", base, clusters.n, "clusters")
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ValueError(f"n_boot: expected an int >= 1, found {n_boot!r}")
    value = float(_statistic(x, base[None, :], statistic)[0])
    block = clusters.block
    replicates = np.empty(n_boot)
    for start in range(0, n_boot, _CHUNK):
        stop = min(n_boot, start + _CHUNK)
        weights = np.empty((stop - start, clusters.n))
        for row, b in enumerate(range(start, stop)):
            blocks, sessions = replicate_weights(clusters, b, seed)
            weights[row] = base * blocks[block] * sessions[clusters.session]
        empty = weights.sum(axis=1) == 0  # an outer draw that missed every frame: redraw is not needed, skip
        stat = np.full(stop - start, np.nan)
        if (~empty).any():
            stat[~empty] = _statistic(x, weights[~empty], statistic)
        replicates[start:stop] = stat
    kept = replicates[np.isfinite(replicates)]
    low, high = np.quantile(kept, [alpha / 2.0, 1.0 - alpha / 2.0])
    low, high = enclose(value, float(low), float(high))
    p = float((1 + np.count_nonzero(kept <= 0.0)) / (kept.size + 1)) if test_greater else None
    p_less = float((1 + np.count_nonzero(kept >= 0.0)) / (kept.size + 1)) if test_greater else None
    return ClusterCI(value=value, low=low, high=high, p_greater=p, n_boot=int(kept.size), p_less=p_less)


def frame_level_clusters(stimulus: Sequence[str], frame: Sequence[int], block: Sequence[int]) -> Clusters:
    """Clusters whose samples are the rows of a frame table (one row per frame, one session)."""
    stim = np.asarray(stimulus).astype(str)
    n = stim.size
    _, block_code = np.unique(np.asarray(block, dtype=np.int64), return_inverse=True)
    return Clusters(
        frame=np.arange(n, dtype=np.int64),
        frame_stimulus=stim,
        frame_index=np.asarray(frame, dtype=np.int64),
        frame_block=block_code.reshape(-1).astype(np.int64),
        session=np.zeros(n, dtype=np.int64),
        block_frames=DEFAULT_BLOCK_FRAMES,
        session_level=False,
    )


@dataclass(frozen=True)
class PairedDifference:
    """Paired difference of one metric between two entries over their common frames.

    Attributes:
        metric: Metric name.
        difference: Mean over common frames of ``a_f - b_f``.
        low: 2.5 % quantile of the block-bootstrap replicates.
        high: 97.5 % quantile.
        p_two_sided: ``2 * min(p(a > b), p(b > a))``, capped at 1.
        n_frames: Common frames.
        n_boot: Replicates.
    """

    metric: str
    difference: float
    low: float
    high: float
    p_two_sided: float
    n_frames: int
    n_boot: int

    @property
    def significant(self) -> bool:
        """Whether the 95 % interval excludes 0."""
        return self.low > 0.0 or self.high < 0.0


def paired_frame_difference(
    metric: str,
    a: dict[tuple[str, int], tuple[float, int]],
    b: dict[tuple[str, int], tuple[float, int]],
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> PairedDifference:
    """Block-bootstrap paired difference of per-frame values of two entries on the same test set.

    Args:
        metric: The metric compared (for the record).
        a: ``(stimulus, frame) -> (value, block)`` of entry A.
        b: The same for entry B.
        n_boot: Replicates.
        seed: Base seed.

    Returns:
        :class:`PairedDifference`.

    Raises:
        ValueError: If the two entries share no frame, or their frame sets differ (not the same test set).
    """
    if set(a) != set(b):
        only_a, only_b = sorted(set(a) - set(b))[:3], sorted(set(b) - set(a))[:3]
        raise ValueError(
            f"paired comparison of {metric!r}: the entries cover different frames (only in A: {only_a}, only in "
            f"B: {only_b}); compare entries scored on the same test set"
        )
    if not a:
        raise ValueError(f"paired comparison of {metric!r}: no frames")
    keys = sorted(a)
    diff = np.array([a[k][0] - b[k][0] for k in keys])
    clusters = frame_level_clusters([k[0] for k in keys], [k[1] for k in keys], [a[k][1] for k in keys])
    ci = cluster_bootstrap(diff, clusters, n_boot=n_boot, seed=seed, test_greater=True)
    p = min(1.0, 2.0 * min(ci.p_greater, ci.p_less))
    return PairedDifference(
        metric=metric,
        difference=ci.value,
        low=ci.low,
        high=ci.high,
        p_two_sided=p,
        n_frames=len(keys),
        n_boot=ci.n_boot,
    )
