"""Binning speed at stride 1: allensdk's algorithm (the baseline) vs the builder's count-once grid, same counts.

Usage:
    python benchmarks/bench_binning.py [--nwb SESSION.nwb] [--stimuli DIR] [--max-segments N]
        [--loop-windows 500] [--random-windows 64] [--tasks TASK ...] [--no-build]

Without --nwb, simulates one `full`-preset session into a temp folder first (deleted at the end). Every
per-bin sample at stride 1 (``WindowSpec()``: 120 Hz, 20 bins, centred) of natural_movie_one,
natural_movie_three and natural_scenes is binned for every QC-passing unit
(``builders.unit_qc.apply_unit_filters``) by each row below; counts are half-open bins ``[a, b)``.

Rows:
    allensdk (baseline): allensdk's algorithm as published (``build_spike_histogram`` behind
        ``presentationwise_spike_counts``): per unit, one ``searchsorted`` over the edges of all windows,
        here with half-open bins = ``builders.binning.bin_spike_windows`` on every stride-1 window's edges,
        chunked by its ``chunk_windows`` (4096 windows) as it is, so its (n_windows, n_bins + 1) edges never
        exist at once.
    ours (builder): the builder's path: ``count_grids`` (each unit's spikes counted once on the continuous grid
        of every segment of the stimulus, one search per unit over all segments' edges: movie repeats, scene
        presentations),
        then ``session_samples.gather_windows`` (``grid_windows``) cuts every window out of the grids.
    per-window loop (extra): for each window, for each unit, count its bins (the older benchmark's
        baseline; not allensdk's algorithm), run only on the first --loop-windows windows of each stimulus
        and compared with allensdk's on those same windows.

Prints, per stimulus and in total, the time of each row (untraced) and its peak memory (tracemalloc,
output array included; from a second, traced run, since tracing slows Python loops), the speed ratio
allensdk / ours (goal >= 5x), whether the counts are identical (``np.array_equal``) on all windows and on
random windows touching segment boundaries (first bin 0 and the last valid first bin), and then the
build's time split (``build_dataset(...).timings``: reading, counting, writing) on the same session.
--max-segments measures on the first N segments of each stimulus only (the printout says so); by default
every segment is used.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from neurrator_bench.builders.bin_samples import bin_samples, segments
from neurrator_bench.builders.binning import bin_spike_windows, count_grids
from neurrator_bench.builders.build import build_dataset
from neurrator_bench.builders.nwb_reader import read_session
from neurrator_bench.builders.presentations import index_presentations
from neurrator_bench.builders.session_samples import gather_windows
from neurrator_bench.builders.unit_qc import apply_unit_filters
from neurrator_bench.schemas.dataset import WindowSpec
from neurrator_bench.tasks import NATURAL_STIMULI

MIB = 2**20


def loop_binning(spikes, t_start, n_bins, bin_s):
    """Per-window loop: for each window, for each unit, count spikes per half-open bin."""
    out = np.empty((len(t_start), len(spikes), n_bins), dtype=np.uint8)
    offsets = np.arange(n_bins + 1) * bin_s
    for w, t0 in enumerate(t_start):
        edges = t0 + offsets
        for u, s in enumerate(spikes):
            lo = np.searchsorted(s, edges[0], side="left")
            hi = np.searchsorted(s, edges[-1], side="left")
            out[w, u] = np.diff(np.searchsorted(s[lo:hi], edges, side="left"))
    return out


def ours_binning(spikes, segs, samples, window):
    """The builder's path: one count grid per segment, then every sample's window gathered from it.

    Returns (windows, grids, seconds counting, seconds gathering).
    """
    t0 = time.perf_counter()
    grids = count_grids(spikes, [seg.t0 for seg in segs], [seg.n_bins for seg in segs], window.bin_s)
    t1 = time.perf_counter()
    windows = gather_windows(grids, samples.segment, samples.first_bin, window.window_bins)
    return windows, grids, t1 - t0, time.perf_counter() - t1


def timed(fn, *args):
    """(result, seconds) of ``fn(*args)``, untraced."""
    t0 = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - t0


def traced_peak(fn, *args) -> int:
    """Peak bytes traced by tracemalloc during ``fn(*args)`` (result included, then dropped).

    A separate run from :func:`timed`: tracing every small allocation slows Python loops (the builder's
    ``count_grid`` over 5,900 scene presentations runs ~4x slower traced), so times are never taken traced.
    """
    tracemalloc.start()
    try:
        fn(*args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def boundary_windows(segs, window, rng, n_segments):
    """(segment, first_bin) of windows at first bin 0, the last valid first bin and one random bin."""
    fits = [s for s, seg in enumerate(segs) if seg.n_bins >= window.window_bins]
    chosen = rng.choice(fits, size=min(n_segments, len(fits)), replace=False)
    seg_idx, first = [], []
    for s in np.sort(chosen).tolist():
        last = segs[s].n_bins - window.window_bins
        seg_idx += [s, s, s]
        first += [0, last, int(rng.integers(0, last + 1))]
    return np.array(seg_idx, dtype=np.int64), np.array(first, dtype=np.int64)


def compare_stimulus(rec, spikes, stim, *, window, args, rng, totals) -> bool:
    """Bin one stimulus's stride-1 samples with every row; print and accumulate; True if all counts agree."""
    pres = index_presentations(rec.presentations[stim], stim)
    all_segs = segments(pres, window.bin_s)
    segs = all_segs[: args.max_segments] if args.max_segments else all_segs
    samples = bin_samples(segs, window.bin_s, window.window_bins, window.alignment, window.stride)
    n = len(samples)
    out_mib = n * len(spikes) * window.window_bins / MIB
    subset = "" if len(segs) == len(all_segs) else f" (SUBSET: first {len(segs)} of {len(all_segs)} segments)"
    print(f"{stim}: {len(segs)} segments{subset}, {n:,} windows x {len(spikes)} units x {window.window_bins} bins")

    (fast, grids, t_count, t_gather), t_ours = timed(ours_binning, spikes, segs, samples, window)
    ref, t_allen = timed(bin_spike_windows, spikes, samples.t_start, window.window_bins, window.bin_s)
    same = np.array_equal(ref, fast)
    del ref, fast
    seg_idx, first = boundary_windows(segs, window, rng, args.random_windows)
    t_start = np.array([segs[s].t0 for s in seg_idx.tolist()]) + first * window.bin_s
    same_edges = np.array_equal(
        bin_spike_windows(spikes, t_start, window.window_bins, window.bin_s),
        gather_windows(grids, seg_idx, first, window.window_bins),
    )
    del grids
    p_ours = traced_peak(ours_binning, spikes, segs, samples, window)
    p_allen = traced_peak(bin_spike_windows, spikes, samples.t_start, window.window_bins, window.bin_s)
    k = min(args.loop_windows, n)
    loop, t_loop = timed(loop_binning, spikes, samples.t_start[:k], window.window_bins, window.bin_s)
    ref_k, t_allen_k = timed(bin_spike_windows, spikes, samples.t_start[:k], window.window_bins, window.bin_s)
    same_loop = np.array_equal(loop, ref_k)
    print(f"  allensdk (baseline)     {t_allen:8.2f} s  peak {p_allen / MIB:7.0f} MiB (output {out_mib:.0f} MiB)")
    print(
        f"  ours (builder)          {t_ours:8.2f} s  peak {p_ours / MIB:7.0f} MiB (count_grids {t_count:.2f} s over "
        f"{len(segs)} segments, gather_windows {t_gather:.2f} s)"
    )
    print(
        f"  ratio allensdk / ours {t_allen / t_ours:6.1f}x; counts identical on all {n:,} windows: {same}; on "
        f"{seg_idx.size} boundary windows (first bin 0, last valid, random) of {seg_idx.size // 3} segments: "
        f"{same_edges}"
    )
    print(
        f"  per-window loop (extra) {t_loop:8.2f} s on the first {k} windows (allensdk on them {t_allen_k:.3f} s,"
        f" {t_loop / t_allen_k:.0f}x slower); identical: {same_loop}"
    )
    for key, value in (
        ("allen", t_allen),
        ("ours", t_ours),
        ("count", t_count),
        ("gather", t_gather),
        ("windows", n),
        ("loop", t_loop),
        ("loop_n", k),
    ):
        totals[key] = totals.get(key, 0) + value
    totals["peak_allen"] = max(totals.get("peak_allen", 0), p_allen)
    totals["peak_ours"] = max(totals.get("peak_ours", 0), p_ours)
    totals["subset"] = totals.get("subset", False) or bool(subset)
    return same and same_edges and same_loop


def report_build(nwb: Path, stimuli: Path | None, out: Path, tasks: list[str] | None) -> None:
    """Build the dataset from the session and print its reading / counting / writing split."""
    t0 = time.perf_counter()
    result = build_dataset([nwb], out, stimuli_dir=stimuli, tasks=tasks, overwrite=True)
    wall = time.perf_counter() - t0
    split = ", ".join(f"{k} {v:.1f} s" for k, v in sorted(result.timings.items()))
    total = sum(result.timings.values())
    which = "tasks " + " ".join(tasks) if tasks else "all tasks"
    print(
        f"build_dataset ({which}, stride {result.manifest.window.stride}): {split}; reading + counting + "
        f"writing = {total:.1f} s of {wall:.1f} s wall (the rest: stimuli, targets, pseudo-mice, manifest)"
    )
    shutil.rmtree(result.path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nwb", type=Path, default=None)
    parser.add_argument("--stimuli", type=Path, default=None, help="stimulus frames for the build (default: found)")
    parser.add_argument("--max-segments", type=int, default=None, help="first N segments per stimulus only")
    parser.add_argument("--loop-windows", type=int, default=500, help="windows per stimulus for the loop row")
    parser.add_argument("--random-windows", type=int, default=64, help="segments per stimulus for boundary checks")
    parser.add_argument("--tasks", nargs="*", default=None, help="tasks to build (default: all)")
    parser.add_argument("--no-build", action="store_true", help="skip the build_dataset timing split")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    try:
        if args.nwb is None:
            from neurrator_bench.builders.simulator import simulate

            t0 = time.perf_counter()
            sim = simulate(tmp / "sim", "full", seed=0, n_sessions=1)
            print(f"simulated one full-preset session in {time.perf_counter() - t0:.1f} s")
            args.nwb, args.stimuli = sim.nwb_paths[0], sim.stimuli_dir
        window = WindowSpec()
        rec = read_session(args.nwb, stimuli=list(NATURAL_STIMULI))
        units, _ = apply_unit_filters(rec.units)
        spikes = [rec.spike_times[int(u)] for u in units.index]
        print(
            f"session {rec.session_id}: {len(rec.units)} units in NWB, {len(spikes)} pass QC, "
            f"{sum(s.size for s in spikes):,} spikes; window {window.window_bins} bins of {window.bin_s * 1e3:.3f}"
            f" ms, {window.alignment}, stride {window.stride}"
        )
        rng = np.random.default_rng(0)
        totals: dict = {}
        identical = [
            compare_stimulus(rec, spikes, stim, window=window, args=args, rng=rng, totals=totals)
            for stim in NATURAL_STIMULI
        ]
        del rec, spikes
        scope = "SUBSET of segments (see above)" if totals["subset"] else "every stride-1 window"
        print(
            f"ALL ({scope}): {totals['windows']:,} windows; allensdk (baseline) {totals['allen']:.1f} s, "
            f"peak {totals['peak_allen'] / MIB:.0f} MiB; ours (builder) {totals['ours']:.1f} s, peak "
            f"{totals['peak_ours'] / MIB:.0f} MiB (count_grids {totals['count']:.1f} s + gather_windows "
            f"{totals['gather']:.1f} s); ratio {totals['allen'] / totals['ours']:.1f}x (goal >= 5x); "
            f"per-window loop (extra) {totals['loop']:.1f} s on {totals['loop_n']} windows; "
            f"counts identical everywhere: {all(identical)}"
        )
        if not args.no_build:
            report_build(args.nwb, args.stimuli, tmp / "ds", args.tasks)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not all(identical):
        raise SystemExit("counts differ between the rows (see above)")


if __name__ == "__main__":
    main()
