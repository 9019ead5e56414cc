"""Binning speed: vectorized half-open windows vs a per-presentation loop (allensdk's way), same output.

Usage:
    python benchmarks/bench_binning.py [--nwb SESSION.nwb] [--loop-presentations 2000]

Without --nwb, simulates one `full`-preset session into a temp folder first. Both methods bin the same
presentations of natural_movie_one, natural_movie_three and natural_scenes for every QC-passing unit;
the loop baseline runs on the first --loop-presentations windows of each stimulus (it is slow), and the
speed ratio is measured on exactly those windows. Prints times, ratio and peak traced memory.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from neurrator_bench.builders.binning import bin_spike_windows
from neurrator_bench.builders.nwb_reader import read_session
from neurrator_bench.builders.presentations import index_presentations
from neurrator_bench.builders.unit_qc import apply_unit_filters
from neurrator_bench.tasks import NATURAL_STIMULI

BIN_S = 1 / 120
N_BINS = 20


def loop_binning(spikes, t_start):
    """Per-presentation loop: for each window, for each unit, count spikes per bin."""
    out = np.empty((len(t_start), len(spikes), N_BINS), dtype=np.uint8)
    offsets = np.arange(N_BINS + 1) * BIN_S
    for w, t0 in enumerate(t_start):
        edges = t0 + offsets
        for u, s in enumerate(spikes):
            lo = np.searchsorted(s, edges[0], side="left")
            hi = np.searchsorted(s, edges[-1], side="left")
            chunk = s[lo:hi]
            out[w, u] = np.diff(np.searchsorted(chunk, edges, side="left"))
    return out


def measure(fn, *args):
    tracemalloc.start()
    t0 = time.perf_counter()
    result = fn(*args)
    elapsed = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return result, elapsed, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nwb", type=Path, default=None)
    parser.add_argument("--loop-presentations", type=int, default=2000)
    args = parser.parse_args()
    if args.nwb is None:
        from neurrator_bench.builders.simulator import simulate

        tmp = Path(tempfile.mkdtemp())
        t0 = time.perf_counter()
        result = simulate(tmp / "sim", "full", seed=0, n_sessions=1)
        print(f"simulated one full-preset session in {time.perf_counter() - t0:.1f} s")
        args.nwb = result.nwb_paths[0]
    rec = read_session(args.nwb, stimuli=list(NATURAL_STIMULI))
    units, _ = apply_unit_filters(rec.units)
    spikes = [rec.spike_times[int(u)] for u in units.index]
    print(
        f"session {rec.session_id}: {len(rec.units)} units in NWB, {len(spikes)} pass QC, "
        f"{sum(s.size for s in spikes):,} spikes"
    )
    total_fast = total_loop = total_fast_subset = 0.0
    peak_fast = peak_loop = 0
    n_windows = 0
    for stim in NATURAL_STIMULI:
        pres = index_presentations(rec.presentations[stim], stim)
        t_start = pres.onset
        fast, t_fast, p_fast = measure(bin_spike_windows, spikes, t_start, N_BINS, BIN_S)
        k = min(args.loop_presentations, len(t_start))
        fast_sub, t_fast_sub, _ = measure(bin_spike_windows, spikes, t_start[:k], N_BINS, BIN_S)
        slow, t_loop, p_loop = measure(loop_binning, spikes, t_start[:k])
        if not np.array_equal(slow, fast[:k]) or not np.array_equal(fast_sub, fast[:k]):
            raise SystemExit(f"{stim}: outputs differ")
        print(
            f"{stim}: {len(t_start)} windows, vectorized {t_fast:.2f} s (peak {p_fast / 2**20:.0f} MiB); "
            f"first {k}: vectorized {t_fast_sub:.3f} s vs loop {t_loop:.2f} s (peak {p_loop / 2**20:.0f} MiB) "
            f"-> {t_loop / t_fast_sub:.1f}x, identical output"
        )
        total_fast += t_fast
        total_fast_subset += t_fast_sub
        total_loop += t_loop
        peak_fast, peak_loop = max(peak_fast, p_fast), max(peak_loop, p_loop)
        n_windows += len(t_start)
    print(
        f"ALL: {n_windows} windows x {len(spikes)} units binned in {total_fast:.2f} s; "
        f"speed ratio on identical windows {total_loop / total_fast_subset:.1f}x (goal >= 20x); "
        f"peak memory vectorized {peak_fast / 2**20:.0f} MiB, loop {peak_loop / 2**20:.0f} MiB"
    )


if __name__ == "__main__":
    main()
