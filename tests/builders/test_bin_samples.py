"""Per-bin samples: segments, the frame of a bin, window placement, stride, overlaps, grids vs windows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neurrator_bench.builders.bin_samples import bin_samples, overlaps, segments
from neurrator_bench.builders.binning import bin_spike_windows, count_grid, grid_windows
from neurrator_bench.builders.presentations import index_presentations
from neurrator_bench.tasks import NM1, SCENES

BIN = 1 / 120
FRAME_S = 0.033356  # BO1.1 movie frame period as the simulator writes it


def movie_table(n_frames: int, n_repeats: int, t0: float = 10.0) -> pd.DataFrame:
    starts = t0 + np.arange(n_frames * n_repeats) * FRAME_S
    return pd.DataFrame(
        {"start_time": starts, "stop_time": starts + FRAME_S, "frame": np.tile(np.arange(n_frames), n_repeats)}
    )


def test_nm1_repeat_has_all_bins_minus_the_window_edges() -> None:
    pres = index_presentations(movie_table(900, 2), NM1)
    segs = segments(pres, BIN)
    assert [s.repeat for s in segs] == [0, 1]
    n_bins = int(np.floor(900 * FRAME_S / BIN + 1e-6))
    assert n_bins == 3602 and all(s.n_bins == n_bins for s in segs)
    centred = bin_samples(segs, BIN, 20, "centred", 1)
    # centred 20-bin windows: reference bins 10 .. n_bins - 10, i.e. n_bins - 19 per repeat
    assert len(centred) == 2 * (n_bins - 19) == 7166
    assert centred.bin_index.min() == 10 and centred.bin_index.max() == n_bins - 10
    assert (centred.first_bin == centred.bin_index - 10).all()
    causal = bin_samples(segs, BIN, 20, "causal", 1)
    assert len(causal) == 2 * (n_bins - 19) and (causal.first_bin == causal.bin_index).all()
    assert causal.bin_index.min() == 0


def test_frame_of_a_bin_is_the_frame_shown_at_its_centre() -> None:
    pres = index_presentations(movie_table(900, 1), NM1)
    samples = bin_samples(segments(pres, BIN), BIN, 20, "centred", 1)
    centre = pres.onset[0] + (samples.bin_index + 0.5) * BIN
    expected = np.floor((centre - pres.onset[0]) / FRAME_S).astype(int)
    assert np.array_equal(samples.frame, expected)
    # about 4 bins per 30 Hz frame: each frame is the reference of 4 (rarely 3 or 5) bins
    counts = np.bincount(samples.frame[(samples.frame > 5) & (samples.frame < 890)])
    assert set(counts[counts > 0].tolist()) <= {3, 4, 5} and np.median(counts[counts > 0]) == 4
    assert np.allclose(samples.t_start, pres.onset[0] + samples.first_bin * BIN)


def test_stride_keeps_every_kth_bin() -> None:
    segs = segments(index_presentations(movie_table(900, 1), NM1), BIN)
    one = bin_samples(segs, BIN, 20, "centred", 1)
    four = bin_samples(segs, BIN, 20, "centred", 4)
    assert (four.bin_index % 4 == 0).all()
    assert np.array_equal(four.bin_index, one.bin_index[one.bin_index % 4 == 0])
    with pytest.raises(ValueError, match="stride: expected an integer >= 1"):
        bin_samples(segs, BIN, 20, "centred", 0)
    with pytest.raises(ValueError, match="alignment: expected 'centred' or 'causal', found 'left'"):
        bin_samples(segs, BIN, 20, "left", 1)


def test_scene_presentations_are_their_own_segments() -> None:
    starts = 5.0 + np.arange(6) * 0.25
    table = pd.DataFrame({"start_time": starts, "stop_time": starts + 0.25, "frame": [3, -1, 7, 3, -1, 7]})
    pres = index_presentations(table, SCENES)
    segs = segments(pres, BIN)
    assert len(segs) == 4 and all(s.n_bins == 30 for s in segs)
    samples = bin_samples(segs, BIN, 20, "centred", 1)
    assert len(samples) == 4 * 11  # reference bins 10..20 of each 30-bin presentation
    assert samples.frame.tolist() == [3] * 11 + [7] * 11 + [3] * 11 + [7] * 11
    assert samples.repeat.tolist() == [0] * 22 + [1] * 22  # occurrence index of the image


def test_overlaps_matches_brute_force() -> None:
    rng = np.random.default_rng(1)
    spans = np.sort(rng.uniform(0, 100, size=(40, 2)), axis=1)
    start = rng.uniform(0, 100, size=500)
    stop = start + rng.uniform(0, 3, size=500)
    brute = ((spans[None, :, 0] < stop[:, None]) & (spans[None, :, 1] >= start[:, None])).any(axis=1)
    assert np.array_equal(overlaps(start, stop, spans), brute)
    assert brute.any() and not brute.all()
    assert not overlaps(start, stop, np.zeros((0, 2))).any()


def test_grid_windows_equal_per_window_counting_at_segment_edges() -> None:
    rng = np.random.default_rng(2)
    units = [np.sort(rng.uniform(9.9, 40.1, size=rng.integers(0, 3000))) for _ in range(11)]
    pres = index_presentations(movie_table(900, 1), NM1)
    seg = segments(pres, BIN)[0]
    grid = count_grid(units, seg.t0, seg.n_bins, BIN)
    first = np.concatenate([[0, seg.n_bins - 20], rng.integers(0, seg.n_bins - 19, size=200)])
    direct = bin_spike_windows(units, seg.t0 + first * BIN, 20, BIN)
    assert np.array_equal(grid_windows(grid, first, 20), direct)
    with pytest.raises(ValueError, match="must lie inside the grid"):
        grid_windows(grid, np.array([seg.n_bins - 19]), 20)


def test_count_grids_equals_one_grid_per_segment() -> None:
    from neurrator_bench.builders.binning import count_grids

    rng = np.random.default_rng(3)
    units = [np.sort(rng.uniform(0, 12, size=rng.integers(0, 2000))) for _ in range(6)]
    t0 = [0.5, 1.5, 1.75, 4.0, 9.0]
    n = [30, 30, 0, 31, 240]
    grids = count_grids(units, t0, n, BIN)
    assert [g.shape for g in grids] == [(6, k) for k in n]
    for g, t, k in zip(grids, t0, n, strict=True):
        edges = t + np.arange(k + 1) * BIN  # independent count: every spike in [edge_j, edge_j+1)
        pairs = list(zip(edges[:-1], edges[1:], strict=True))
        brute = np.array([[np.count_nonzero((s >= a) & (s < b)) for a, b in pairs] for s in units])
        assert np.array_equal(g, brute.reshape(6, k))
    with pytest.raises(ValueError, match="unit 7: 300 spikes in one"):
        count_grid([np.full(300, 1.0)], 0.99, 3, BIN, unit_ids=[7])
