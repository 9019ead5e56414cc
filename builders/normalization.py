"""Per-unit z-score statistics from training samples only (paper A.2), stored beside the raw counts.

Counts are never normalized in the dataset. For each task and session, ``mean`` and ``std`` (ddof=0)
of each unit's per-bin count are taken over every bin of every *training* window of that task.
A consumer z-scores with ``(counts - mean) / scale`` where ``scale = std`` and ``scale = 1`` for units with
``std == 0`` (silent, or constant, in every training bin of the task: their z-scored input is then the raw
deviation from the training mean instead of ``(count - 0) / 1e-6``, which made one test spike ~1e6). The
``normalization`` config lists those units (``zero_variance``) and the card counts them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class CountMoments:
    """Running sums of per-unit counts over training bins.

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

    def add(self, windows: np.ndarray) -> None:
        """Accumulate (n_windows, n_units, n_bins) counts."""
        w = windows.astype(np.float64)
        self.total += w.sum(axis=(0, 2))
        self.total_sq += np.square(w).sum(axis=(0, 2))
        self.n_bins += windows.shape[0] * windows.shape[2]

    def mean_std(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) per unit; raises ValueError when no bin was accumulated."""
        if self.n_bins == 0:
            raise ValueError("no training bins were accumulated: the task's train split is empty for this session")
        mean = self.total / self.n_bins
        var = np.maximum(self.total_sq / self.n_bins - mean**2, 0.0)
        return mean, np.sqrt(var)


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

    def add_training(self, splits: dict[str, np.ndarray], windows: np.ndarray) -> None:
        """Accumulate, for each task, the windows its split assigns to "train".

        Args:
            splits: task name -> (n,) split of each window.
            windows: (n, n_units, n_bins) counts.
        """
        for task, split in splits.items():
            train = split == "train"
            if train.any():
                self.for_task(task).add(windows[train])

    def add_training_grids(
        self,
        splits: dict[str, np.ndarray],
        grids: list[np.ndarray],
        segment: np.ndarray,
        first_bin: np.ndarray,
        window_bins: int,
    ) -> None:
        """Accumulate, for each task, its training windows straight from the count grids they are cut from.

        Equal to :meth:`add_training` on the materialised windows (every bin of every training window counts,
        overlapping windows included), computed from per-segment prefix sums without materialising them.

        Args:
            splits: task name -> (n,) split of each window.
            grids: (n_units, n_bins) counts per segment.
            segment: (n,) segment of each window.
            first_bin: (n,) first bin of each window in its segment.
            window_bins: Bins per window.
        """
        train_any = {task: split == "train" for task, split in splits.items()}
        for s in np.unique(segment):
            in_seg = segment == s
            if not any((t & in_seg).any() for t in train_any.values()):
                continue
            g = grids[int(s)].astype(np.float64)
            zero = np.zeros((g.shape[0], 1))
            cs = np.concatenate([zero, np.cumsum(g, axis=1)], axis=1)
            cs2 = np.concatenate([zero, np.cumsum(g * g, axis=1)], axis=1)
            for task, train in train_any.items():
                first = first_bin[train & in_seg]
                if first.size == 0:
                    continue
                m = self.for_task(task)
                m.total += (cs[:, first + window_bins] - cs[:, first]).sum(axis=1)
                m.total_sq += (cs2[:, first + window_bins] - cs2[:, first]).sum(axis=1)
                m.n_bins += first.size * window_bins
