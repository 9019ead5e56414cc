"""Per-unit z-score statistics from training bins only (paper A.2), stored beside the raw counts.

Counts are never normalized in the dataset. For each task and session, ``mean`` and ``std`` (ddof=0) of each
unit's per-bin count are taken over the **distinct** 120 Hz bins covered by the task's *training* windows,
each bin once (the paper's code z-scores the continuous recording with the statistics of its training bins;
overlapping stride-1 windows would otherwise weight a bin up to 20 times, the edges of a segment less, and
make the statistics depend on the stride). ``n_bins`` is that number of distinct bins.

A consumer z-scores with ``(counts - mean) / scale`` where ``scale = std`` and ``scale = 1`` for units with
``std == 0`` (silent, or constant, in every training bin of the task: their z-scored input is then the raw
deviation from the training mean instead of ``(count - 0) / 1e-6``, which made one test spike ~1e6). The
``normalization`` config lists those units (``zero_variance``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class CountMoments:
    """Running sums of per-unit counts over distinct training bins.

    Attributes:
        total: (n_units,) float64 sum of counts.
        total_sq: (n_units,) float64 sum of squared counts.
        n_bins: Number of bins summed per unit.
    """

    total: np.ndarray
    total_sq: np.ndarray
    n_bins: int = 0

    @classmethod
    def zeros(cls, n_units: int) -> CountMoments:
        """Empty moments for ``n_units`` units."""
        return cls(np.zeros(n_units), np.zeros(n_units), 0)

    def add_bins(self, counts: np.ndarray) -> None:
        """Accumulate (n_units, n_bins) counts of distinct bins."""
        c = counts.astype(np.float64)
        self.total += c.sum(axis=1)
        self.total_sq += np.square(c).sum(axis=1)
        self.n_bins += counts.shape[1]

    def mean_std(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) per unit; raises ValueError when no bin was accumulated."""
        if self.n_bins == 0:
            raise ValueError("no training bins were accumulated: the task's train split is empty for this session")
        mean = self.total / self.n_bins
        var = np.maximum(self.total_sq / self.n_bins - mean**2, 0.0)
        return mean, np.sqrt(var)


def covered_bins(first_bins: np.ndarray, window_bins: int, n_bins: int) -> np.ndarray:
    """(n_bins,) bool: the bins covered by at least one window ``[first, first + window_bins)``."""
    marks = np.zeros(n_bins + 1, dtype=np.int64)
    np.add.at(marks, first_bins, 1)
    np.add.at(marks, np.minimum(first_bins + window_bins, n_bins), -1)
    return np.cumsum(marks[:-1]) > 0


@dataclass
class TaskMoments:
    """Moments per task name for one session."""

    n_units: int
    by_task: dict[str, CountMoments] = field(default_factory=dict)

    def for_task(self, task: str) -> CountMoments:
        """The (created on first use) moments of ``task``."""
        if task not in self.by_task:
            self.by_task[task] = CountMoments.zeros(self.n_units)
        return self.by_task[task]

    def add_training_grids(
        self,
        splits: dict[str, np.ndarray],
        grids: list[np.ndarray],
        segment: np.ndarray,
        first_bin: np.ndarray,
        window_bins: int,
    ) -> None:
        """Accumulate, for each task, every grid bin covered by its training windows, each bin once.

        Args:
            splits: task name -> (n,) split of each window.
            grids: (n_units, n_bins) counts per segment.
            segment: (n,) segment of each window.
            first_bin: (n,) first bin of each window in its segment.
            window_bins: Bins per window.
        """
        for task, split in splits.items():
            train = split == "train"
            for s in np.unique(segment[train]):
                grid = grids[int(s)]
                covered = covered_bins(first_bin[train & (segment == s)], window_bins, grid.shape[1])
                self.for_task(task).add_bins(grid[:, covered])

    def add_training_windows(
        self,
        splits: dict[str, np.ndarray],
        windows: np.ndarray,
        segment_key: np.ndarray,
        first_bin: np.ndarray,
    ) -> None:
        """:meth:`add_training_grids` for windows whose grid is not at hand (pseudo-mice).

        The covered bins are put back together from the windows (a bin has the same counts in every window
        that covers it), then each is accumulated once.

        Args:
            splits: task name -> (n,) split of each window.
            windows: (n, n_units, window_bins) counts.
            segment_key: (n,) hashable key of each window's segment (e.g. ``"r09"`` for a movie repeat).
            first_bin: (n,) first bin of each window in its segment.
        """
        n, n_units, window_bins = windows.shape
        offsets = np.arange(window_bins)
        for task, split in splits.items():
            train = split == "train"
            for key in np.unique(segment_key[train]):
                rows = np.flatnonzero(train & (segment_key == key))
                bins = (first_bin[rows, None] + offsets).ravel()
                dense = np.zeros((n_units, int(bins.max()) + 1), dtype=windows.dtype)
                dense[:, bins] = windows[rows].transpose(1, 0, 2).reshape(n_units, -1)
                covered = covered_bins(first_bin[rows], window_bins, dense.shape[1])
                self.for_task(task).add_bins(dense[:, covered])
