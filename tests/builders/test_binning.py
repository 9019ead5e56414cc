"""Half-open binning against a straightforward independent count."""

import numpy as np
import pytest

from neurrator_bench.builders.binning import bin_spike_windows, window_edges


def independent_count(spikes, t_start, i, bin_s):
    a = t_start + i * bin_s
    b = t_start + (i + 1) * bin_s
    return sum(1 for s in spikes if a <= s < b)


def test_matches_independent_count_random():
    rng = np.random.default_rng(0)
    units = [np.sort(rng.uniform(0, 20, size=rng.integers(0, 400))) for _ in range(7)]
    t_start = np.sort(rng.uniform(0, 19, size=50))
    out = bin_spike_windows(units, t_start, 20, 1 / 120, chunk_windows=7)
    assert out.shape == (50, 7, 20) and out.dtype == np.uint8
    for w in range(50):
        for u in range(7):
            for i in (0, 7, 19):
                assert out[w, u, i] == independent_count(units[u], t_start[w], i, 1 / 120)


def test_edge_spike_counts_once_in_the_later_bin():
    bin_s = 0.25
    edges = window_edges(np.array([1.0]), 4, bin_s)[0]
    spikes = [np.array([edges[0], edges[1], edges[1], edges[4]])]  # start edge, interior edge twice, end edge
    out = bin_spike_windows(spikes, np.array([1.0]), 4, bin_s)
    assert out[0, 0].tolist() == [1, 2, 0, 0]  # end edge excluded: [a, b)


def test_overflow_names_unit():
    spikes = [np.full(300, 0.5)]
    with pytest.raises(ValueError, match="unit 77: 300 spikes"):
        bin_spike_windows(spikes, np.array([0.0]), 2, 1.0, unit_ids=[77])
