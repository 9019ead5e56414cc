"""Storage: on-disk size of a built dataset vs the raw binned counts, extrapolated to 16 BO1.1 sessions.

Usage:
    python benchmarks/bench_storage.py [--nwb SESSION.nwb ...] [--stimuli DIR] [--out DIR]

Without --nwb, simulates one `full`-preset session (BO1.1 sizes) first. Builds every task from the given
sessions and prints: parquet bytes of the per-session sample shards, raw binned bytes (continuous uint8
counts at 120 Hz over the presented natural stimuli, for the QC-passing units), their ratio (goal <= 5x),
and the 16-session estimate (per-session sample bytes x 16, plus the per-frame configs once).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from neurrator_bench.builders.build import METADATA_CONFIGS, build_dataset

SESSIONS_BO11 = 16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nwb", type=Path, nargs="*", default=None)
    parser.add_argument("--stimuli", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    if not args.nwb:
        from neurrator_bench.builders.simulator import simulate

        t0 = time.perf_counter()
        sim = simulate(tmp / "sim", "full", seed=0, n_sessions=1)
        print(f"simulated one full-preset session in {time.perf_counter() - t0:.1f} s")
        args.nwb, args.stimuli = sim.nwb_paths, sim.stimuli_dir
    t0 = time.perf_counter()
    result = build_dataset(args.nwb, args.out or tmp / "ds", stimuli_dir=args.stimuli, overwrite=True)
    print(f"built {len(args.nwb)} session(s) in {time.perf_counter() - t0:.1f} s")
    root = result.path
    sizes = {rel: (root / rel).stat().st_size for rel in result.manifest.files}
    per_frame = sum(v for rel, v in sizes.items() if rel.split("/")[1] in ("stimuli", "targets"))
    metadata = sum(v for rel, v in sizes.items() if rel.split("/")[1] in METADATA_CONFIGS) - per_frame
    recorded = [s for s in result.manifest.sessions if not s.startswith("pseudo-")]
    session_samples = sum(
        v
        for rel, v in sizes.items()
        if rel.split("/")[1] not in METADATA_CONFIGS and not rel.split("/")[-1].startswith("pseudo-")
    )
    pseudo = sum(v for rel, v in sizes.items() if rel.split("/")[-1].startswith("pseudo-"))
    raw = result.manifest.sizes["raw_binned_bytes"]
    per_session = session_samples / len(recorded)
    estimate = per_session * SESSIONS_BO11 + per_frame + metadata / len(recorded) * SESSIONS_BO11
    print(
        f"sample shards of {len(recorded)} recorded session(s): {session_samples:,} B; raw binned counts "
        f"{raw:,} B -> ratio {session_samples / raw:.2f} (goal <= 5)"
    )
    print(
        f"per-frame configs (stimuli images + targets): {per_frame:,} B; pseudo-mice shards: {pseudo:,} B; "
        f"metadata: {metadata:,} B"
    )
    print(
        f"estimated 16-session BO1.1 build: {estimate / 2**30:.2f} GiB "
        f"({estimate:,.0f} B; raw binned counts for 16 sessions {raw / len(recorded) * 16 / 2**30:.2f} GiB)"
    )


if __name__ == "__main__":
    main()
