"""Scoring speed: tens of thousands of narrations + embeddings through `score_predictions` on this machine.

Usage:
    python benchmarks/bench_scoring.py [--dataset DIR] [--task nm3-cross-movie] [--n-boot 1000]

Without --dataset, simulates 9 mini-preset sessions and builds the nm3-cross-movie task at stride 1 (per-bin
samples: 42,876 headline test samples of 596 NM3 frames). Predictions are noisy true pooled targets and one
distinct narration per sample (the frame's caption with random extra words), so SBERT encodes every sentence.
Prints the wall time of scoring alone, the peak resident memory of the process, the statistics (samples,
frames, clusters) and every metric with its interval. Measured on 2 cores (2026-12-02): 171.9 s, of which
SBERT encoding 136.2 s (about 3 ms per sentence, intrinsic to MiniLM on CPU), the metric groups 28.8 s (CKA's
50 frame-cluster replicates 20.3 s, within-session KNN purity 6.0 s) and the frame-level intervals 4.8 s.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from neurrator_bench.dataset_access import load_frame_targets, load_samples, open_dataset
from neurrator_bench.schemas.predictions import read_predictions, write_predictions
from neurrator_bench.schemas.result_entry import ModelMeta
from neurrator_bench.scoring import ScoringOptions, score_predictions
from neurrator_bench.text_embedding import SentenceEncoder

WORDS = "quiet bright grey old small distant moving blurry calm busy open dark".split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=None)
    parser.add_argument("--task", default="nm3-cross-movie")
    parser.add_argument("--n-boot", type=int, default=1000)
    args = parser.parse_args()
    if args.dataset is None:
        from neurrator_bench.builders.build import build_dataset
        from neurrator_bench.builders.simulator import simulate

        tmp = Path(tempfile.mkdtemp())
        t0 = time.perf_counter()
        sim = simulate(tmp / "sim", "mini", seed=0, n_sessions=9)
        args.dataset = build_dataset([sim.out_dir], tmp / "ds", tasks=[args.task]).path
        print(f"simulated + built the benchmark dataset in {time.perf_counter() - t0:.1f} s")
    ds = open_dataset(args.dataset)
    samples = load_samples(ds, args.task, "test")
    samples = samples[~samples["session_id"].str.startswith("pseudo-")]
    rng = np.random.default_rng(0)
    emb = np.zeros((len(samples), ds.manifest.target_dim), np.float32)
    for stimulus in set(samples["stimulus"]):
        sel = (samples["stimulus"] == stimulus).to_numpy()
        emb[sel] = load_frame_targets(ds, stimulus).pooled[samples["frame"].to_numpy()[sel]]
    emb += rng.normal(0, 0.02, emb.shape).astype(np.float32)
    narr = [f"{c} {' '.join(rng.choice(WORDS, 3))} {i}" for i, c in enumerate(samples["caption"])]
    path = write_predictions(
        Path(tempfile.mkdtemp()) / "p.parquet",
        samples["sample_id"].tolist(),
        dataset_fingerprint=ds.task_fingerprint(args.task),
        task=args.task,
        embedding=emb,
        narration=narr,
    )
    encoder = SentenceEncoder()
    t0 = time.perf_counter()
    entry = score_predictions(
        read_predictions(path),
        ds,
        args.task,
        model=ModelMeta(name="bench"),
        encoder=encoder,
        options=ScoringOptions(n_boot=args.n_boot),
    )
    elapsed = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"scored {entry.metric('sbert_matched').n} narrations + embeddings ({len(entry.metrics)} metrics, "
        f"{args.n_boot} bootstrap resamples) in {elapsed:.1f} s; peak RSS {peak:.0f} MiB"
    )
    st = entry.statistics
    print(f"statistics: {st.n_samples} samples, {st.n_frames} frames, {st.n_sessions} sessions; {st.cluster_unit}")
    print(f"retrieval gallery: {entry.gallery} distinct targets of {entry.gallery_frames} frames")
    for m in entry.metrics:
        ci = f"[{m.ci_low:.4f}, {m.ci_high:.4f}]" if m.ci_low is not None else "(no interval)"
        print(f"  {m.name:34s} {m.value:.4f} {ci} chance={m.chance} ceiling={m.ceiling}")


if __name__ == "__main__":
    main()
