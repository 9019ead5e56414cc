"""Per-unit z-score statistics from training samples only (paper A.2), stored beside the raw counts.

Counts are never normalized in the dataset. For each task and session, ``mean`` and ``std`` (ddof=0)
of each unit's per-bin count are taken over every bin of every *training* window of that task.
A consumer z-scores with ``(counts - mean) / max(std, eps)``; ``std == 0`` marks a unit silent in training.
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
