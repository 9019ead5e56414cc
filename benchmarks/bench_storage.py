"""Storage: on-disk size of a stride-1 build vs the raw continuous counts, extrapolated to 16 BO1.1 sessions.

Usage:
    python benchmarks/bench_storage.py [--nwb SESSION.nwb ...] [--stimuli DIR] [--out DIR]

Without --nwb, simulates one `full`-preset session (BO1.1 sizes) into a temp folder first. Builds every task
with the default ``WindowSpec()`` (120 Hz, 20 bins, centred, stride 1: one sample per bin) and prints:

* the on-disk bytes of the build (``manifest.sizes["data_bytes"]``), split into per-session sample shards,
  pseudo-mice shards, the ``recordings`` config, per-frame configs (stimuli images + targets) and the rest;
* the raw continuous counts (``manifest.sizes["raw_binned_bytes"]``): one uint8 per QC-passing unit per
  120 Hz bin of every segment (movie repeat / scene presentation) the samples are cut from. This is the
  continuous recording, counted once, not the windows: at stride 1 every bin sits in 20 windows, so the
  windows themselves would be ~20x larger;
* their ratio, and the estimate for the paper's 16 BO1.1 sessions against 16 sessions of raw continuous
  counts: the whole build (``estimate_16_sessions_bytes``: everything but the per-frame configs and pre-binned
  configs per NWB session x 16, plus the per-frame configs once), and of it the sample + pseudo-mice shards.
  Goal: within 5x of the raw continuous counts.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from neurrator_bench.builders.build import BO11_SESSIONS, METADATA_CONFIGS, build_dataset
from neurrator_bench.builders.prebinned import PREBINNED_PREFIX

PER_FRAME_CONFIGS = ("stimuli", "targets")
GIB = 2**30


def config_of(rel: str) -> str:
    """``data/<config>/...`` -> ``<config>``."""
    return rel.split("/")[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nwb", type=Path, nargs="*", default=None)
    parser.add_argument("--stimuli", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None, help="keep the build here (default: a temp folder)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    try:
        if not args.nwb:
            from neurrator_bench.builders.simulator import simulate

            t0 = time.perf_counter()
            sim = simulate(tmp / "sim", "full", seed=0, n_sessions=1)
            print(f"simulated one full-preset session in {time.perf_counter() - t0:.1f} s")
            args.nwb, args.stimuli = sim.nwb_paths, sim.stimuli_dir
        t0 = time.perf_counter()
        result = build_dataset(args.nwb, args.out or tmp / "ds", stimuli_dir=args.stimuli, overwrite=True)
        window = result.manifest.window
        split = ", ".join(f"{k} {v:.1f} s" for k, v in sorted(result.timings.items()))
        print(
            f"built {len(args.nwb)} session(s) in {time.perf_counter() - t0:.1f} s ({split}); window "
            f"{window.window_bins} bins of {window.bin_s * 1e3:.3f} ms, {window.alignment}, stride {window.stride}"
        )
        report(result)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def report(result) -> None:
    """Print the size breakdown, the ratio to the raw continuous counts and the 16-session estimate."""
    root, sizes = result.path, result.manifest.sizes
    on_disk = {rel: (root / rel).stat().st_size for rel in result.manifest.files}
    n_rec = sum(config_of(rel) == "recordings" for rel in on_disk)  # one recordings file per NWB session
    shards = {
        rel: v
        for rel, v in on_disk.items()
        if config_of(rel) not in METADATA_CONFIGS and not config_of(rel).startswith(PREBINNED_PREFIX)
    }
    prebinned = sum(v for rel, v in on_disk.items() if config_of(rel).startswith(PREBINNED_PREFIX))
    pseudo = sum(v for rel, v in shards.items() if Path(rel).name.startswith("pseudo-"))
    samples = sum(shards.values()) - pseudo
    per_frame = sum(v for rel, v in on_disk.items() if config_of(rel) in PER_FRAME_CONFIGS)
    recordings = sum(v for rel, v in on_disk.items() if config_of(rel) == "recordings")
    data, raw = sizes["data_bytes"], sizes["raw_binned_bytes"]
    rest = data - samples - pseudo - recordings - per_frame - prebinned
    print(
        f"on disk: {data:,} B = sample shards of {n_rec} recorded session(s) {samples:,} B + pseudo-mice shards "
        f"{pseudo:,} B + recordings config {recordings:,} B + per-frame configs (stimuli images + targets) "
        f"{per_frame:,} B + pre-binned configs {prebinned:,} B + units/sessions/normalization {rest:,} B"
    )
    print(
        f"raw continuous counts (uint8, units x 120 Hz bins of every segment, counted once): {raw:,} B -> on disk "
        f"/ raw = {data / raw:.2f}; sample shards / raw = {samples / raw:.2f}"
    )
    raw16 = raw / n_rec * BO11_SESSIONS
    est_all = sizes["estimate_16_sessions_bytes"]  # every per-session config x 16, per-frame configs once
    est_samples = (samples + pseudo) / n_rec * BO11_SESSIONS
    print(
        f"16-session BO1.1 estimate: whole build (manifest estimate_16_sessions_bytes) {est_all / GIB:.2f} GiB, "
        f"of which sample + pseudo-mice shards {est_samples / GIB:.2f} GiB, vs raw continuous counts "
        f"{raw16 / GIB:.2f} GiB -> {est_all / raw16:.2f}x and {est_samples / raw16:.2f}x (goal <= 5x)"
    )


if __name__ == "__main__":
    main()
