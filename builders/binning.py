"""Spike counts in half-open bins ``[a, b)`` over windows aligned to presentation onsets.

This differs on purpose from allensdk's ``presentationwise_spike_counts``, whose bins are closed
``[a, b]`` (a spike exactly on an interior edge counts in both neighbouring bins): here every spike
falls in exactly one bin. Edges are ``t_start + j * bin_s`` for ``j = 0..n_bins``, computed in float64.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MAX_UINT8 = np.iinfo(np.uint8).max


def window_edges(t_start: np.ndarray, n_bins: int, bin_s: float) -> np.ndarray:
    """Bin edges of every window.

    Args:
        t_start: (n_windows,) window starts in seconds.
        n_bins: Bins per window.
        bin_s: Bin width in seconds.

    Returns:
        (n_windows, n_bins + 1) float64 edges ``t_start[w] + j * bin_s``.
    """
    return np.asarray(t_start, dtype=np.float64)[:, None] + np.arange(n_bins + 1, dtype=np.float64)[None, :] * bin_s


def bin_spike_windows(
    spike_times: Sequence[np.ndarray],
    t_start: np.ndarray,
    n_bins: int,
    bin_s: float,
    *,
    unit_ids: Sequence[int] | None = None,
    chunk_windows: int = 4096,
) -> np.ndarray:
    """Count each unit's spikes in each bin of each window.

    Args:
        spike_times: One sorted float64 array of spike times (s) per unit, in output column order.
        t_start: (n_windows,) window starts (s).
        n_bins: Bins per window.
        bin_s: Bin width (s).
        unit_ids: Unit ids for error messages (defaults to column positions).
        chunk_windows: Windows processed per chunk (bounds the int64 temporaries).

    Returns:
        (n_windows, n_units, n_bins) uint8 counts, axis order (window, unit, bin).

    Raises:
        ValueError: A count exceeds 255 (cannot be stored as uint8), naming the unit.
    """
    t_start = np.asarray(t_start, dtype=np.float64)
    n_windows, n_units = t_start.shape[0], len(spike_times)
    out = np.empty((n_windows, n_units, n_bins), dtype=np.uint8)
    for lo in range(0, n_windows, chunk_windows):
        hi = min(lo + chunk_windows, n_windows)
        edges = window_edges(t_start[lo:hi], n_bins, bin_s).ravel()
        for u, spikes in enumerate(spike_times):
            counts = np.diff(np.searchsorted(spikes, edges, side="left").reshape(hi - lo, n_bins + 1), axis=1)
            if counts.size and counts.max() > MAX_UINT8:
                name = unit_ids[u] if unit_ids is not None else u
                raise ValueError(
                    f"unit {name}: {int(counts.max())} spikes in one {bin_s * 1e3:.3f} ms bin exceeds the uint8 "
                    "range of the dataset's spike counts (255)"
                )
            out[lo:hi, u, :] = counts
    return out
