"""Spike counts in half-open bins ``[a, b)``: one continuous grid per segment, windows cut from it.

Two ways of counting, with identical results on the same edges:

* :func:`count_grid` counts each unit's spikes **once** on a continuous grid of ``n_bins`` bins starting
  at ``t0`` (one ``searchsorted`` per unit over ``n_bins + 1`` edges); :func:`grid_windows` then cuts
  per-bin windows out of the grid without counting again. This is how the builder makes its stride-1
  samples: a 20-bin window per bin would otherwise count every spike 20 times.
* :func:`bin_spike_windows` counts every window's bins directly (per unit, one ``searchsorted`` over
  all window edges). That is allensdk's algorithm (``build_spike_histogram`` behind
  ``presentationwise_spike_counts``), written here for arbitrary windows and used as the independent
  reference in tests and ``benchmarks/bench_binning.py``.

Bins are half-open on purpose, unlike allensdk's closed ``[a, b]`` bins (a spike exactly on an interior
edge counts in both neighbouring bins there): here every spike falls in exactly one bin. Edges are
``t0 + j * bin_s`` (grid) or ``t_start + j * bin_s`` (windows), computed in float64.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MAX_UINT8 = np.iinfo(np.uint8).max


def _check_uint8(counts: np.ndarray, u: int, unit_ids: Sequence[int] | None, bin_s: float) -> None:
    """Raise when a bin count of unit row ``u`` does not fit the dataset's uint8 counts (names the unit)."""
    if counts.size and counts.max() > MAX_UINT8:
        name = unit_ids[u] if unit_ids is not None else u
        raise ValueError(
            f"unit {name}: {int(counts.max())} spikes in one {bin_s * 1e3:.3f} ms bin exceeds the uint8 "
            "range of the dataset's spike counts (255)"
        )


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
            _check_uint8(counts, u, unit_ids, bin_s)
            out[lo:hi, u, :] = counts
    return out


def count_grid(
    spike_times: Sequence[np.ndarray],
    t0: float,
    n_bins: int,
    bin_s: float,
    *,
    unit_ids: Sequence[int] | None = None,
) -> np.ndarray:
    """Count each unit's spikes once on a continuous grid of half-open bins.

    Args:
        spike_times: One sorted float64 array of spike times (s) per unit, in output row order.
        t0: Start of bin 0 (s).
        n_bins: Number of bins; bin ``k`` is ``[t0 + k * bin_s, t0 + (k + 1) * bin_s)``.
        bin_s: Bin width (s).
        unit_ids: Unit ids for error messages (defaults to row positions).

    Returns:
        (n_units, n_bins) uint8 counts, axis order (unit, bin).

    Raises:
        ValueError: ``n_bins < 0``, or a count exceeds 255 (naming the unit).
    """
    return count_grids(spike_times, [t0], [n_bins], bin_s, unit_ids=unit_ids)[0]


def count_grids(
    spike_times: Sequence[np.ndarray],
    t0: Sequence[float],
    n_bins: Sequence[int],
    bin_s: float,
    *,
    unit_ids: Sequence[int] | None = None,
) -> list[np.ndarray]:
    """:func:`count_grid` for many segments at once: one ``searchsorted`` per unit over every segment's edges.

    Thousands of short segments (one per 250 ms natural-scene presentation) would otherwise cost one small
    search per unit and segment. The result equals ``[count_grid(spike_times, t, n, bin_s) for t, n in ...]``
    (the same edges ``t0 + k * bin_s``, counted half-open).

    Returns:
        One (n_units, n_bins[s]) uint8 array per segment (views into one array).
    """
    sizes = np.asarray(n_bins, dtype=np.int64)
    if (sizes < 0).any():
        raise ValueError(f"n_bins: expected >= 0 for every segment, found {int(sizes.min())}")
    edges = np.concatenate(
        [float(t) + np.arange(n + 1, dtype=np.float64) * bin_s for t, n in zip(t0, sizes.tolist(), strict=True)]
        or [np.zeros(0)]
    )
    # diff over the concatenated edges has one spurious entry between consecutive segments: drop it
    last_edge = np.cumsum(sizes + 1) - 1
    keep = np.ones(max(edges.size - 1, 0), dtype=bool)
    keep[last_edge[:-1]] = False
    out = np.empty((len(spike_times), int(sizes.sum())), dtype=np.uint8)
    for u, spikes in enumerate(spike_times):
        counts = np.diff(np.searchsorted(spikes, edges, side="left"))[keep]
        _check_uint8(counts, u, unit_ids, bin_s)
        out[u] = counts
    return np.split(out, np.cumsum(sizes)[:-1], axis=1)


def grid_windows(grid: np.ndarray, first_bins: np.ndarray, n_bins: int, *, out: np.ndarray | None = None) -> np.ndarray:
    """Windows of ``n_bins`` consecutive grid bins starting at each of ``first_bins``.

    The windows are gathered from a strided view of the grid in one copy (no counting), into ``out`` when
    given (a C-contiguous (n_windows, n_units, n_bins) array of the grid's dtype), so no temporary is made.

    Args:
        grid: (n_units, n_grid_bins) counts from :func:`count_grid`.
        first_bins: (n_windows,) first grid bin of each window; every window must lie inside the grid.
        n_bins: Bins per window.
        out: Optional destination.

    Returns:
        (n_windows, n_units, n_bins) counts, axis order (window, unit, bin), dtype of ``grid``.

    Raises:
        ValueError: A window reaches outside the grid.
    """
    first_bins = np.asarray(first_bins, dtype=np.int64)
    n_grid = grid.shape[1]
    if first_bins.size and (first_bins.min() < 0 or first_bins.max() + n_bins > n_grid):
        raise ValueError(
            f"first_bins: windows of {n_bins} bins must lie inside the grid of {n_grid} bins; found first bins "
            f"from {int(first_bins.min())} to {int(first_bins.max())}"
        )
    if n_grid < n_bins:
        return np.empty((0, grid.shape[0], n_bins), dtype=grid.dtype) if out is None else out
    view = np.lib.stride_tricks.sliding_window_view(grid, n_bins, axis=1)  # (units, starts, n_bins), no copy
    # one gather straight into (n_windows, n_units, n_bins)
    return np.take(view.transpose(1, 0, 2), first_bins, axis=0, out=out)
