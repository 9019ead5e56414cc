"""Oracle and shuffled-oracle scores of a task: every metric next to its chance, ceiling and interval.

Usage:
    python benchmarks/score_nulls.py DATASET TASK [TASK ...] [--n-boot 1000] [--seed 0]

For each task: the *oracle* predicts each test sample's true pooled target and narrates its reference caption;
the *shuffled oracle* permutes those predictions over the test samples (seeded). Prints the statistics
(samples, frames, sessions, clusters), the retrieval gallery, and for every metric its value, 95 % interval,
p-value, chance and ceiling, so that one can read where each scorer puts a perfect and a content-free model
on this dataset. Expected: the oracle at R@1 = 1, median rank 1, KNN purity = its ceiling, SBERT matched = 1;
the shuffled oracle near chance (see README "Scores" for why its R@1 sits above 1/m on held-out blocks).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from neurrator_bench.dataset_access import load_frame_targets, load_samples, open_dataset
from neurrator_bench.schemas.predictions import read_predictions, write_predictions
from neurrator_bench.schemas.result_entry import ModelMeta
from neurrator_bench.scoring import ScoringOptions, score_predictions
from neurrator_bench.text_embedding import SentenceEncoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("tasks", nargs="+")
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    ds = open_dataset(args.dataset)
    encoder = SentenceEncoder()
    options = ScoringOptions(n_boot=args.n_boot, seed=args.seed, celltype_permutations=0)
    tmp = Path(tempfile.mkdtemp())
    for task in args.tasks:
        samples = load_samples(ds, task, "test")
        pooled = {s: load_frame_targets(ds, s).pooled for s in set(samples["stimulus"])}
        emb = np.stack([pooled[s][f] for s, f in zip(samples["stimulus"], samples["frame"], strict=True)])
        captions = samples["caption"].tolist()
        perm = np.random.default_rng(args.seed).permutation(len(samples))
        for label, order in (("oracle", np.arange(len(samples))), ("shuffled oracle", perm)):
            path = write_predictions(
                tmp / f"{task}-{label.replace(' ', '-')}.parquet",
                samples["sample_id"].tolist(),
                dataset_fingerprint=ds.task_fingerprint(task),
                task=task,
                embedding=emb[order],
                narration=[captions[i] for i in order],
            )
            start = time.perf_counter()
            entry = score_predictions(
                read_predictions(path), ds, task, model=ModelMeta(name="null"), encoder=encoder, options=options
            )
            st = entry.statistics
            print(
                f"== {task} / {label} ({time.perf_counter() - start:.1f} s): {st.n_samples} samples, {st.n_frames} "
                f"frames, {st.n_sessions} sessions, {st.n_clusters} clusters; gallery {entry.gallery} distinct of "
                f"{entry.gallery_frames} frames" + (f"; WARNING {st.warning}" if st.warning else "")
            )
            for m in entry.metrics:
                ci = f"[{m.ci_low:.4f}, {m.ci_high:.4f}]" if m.ci_low is not None else "(no interval)"
                extra = "".join(
                    f" {k}={v:.4g}"
                    for k, v in (("p", m.p_value), ("chance", m.chance), ("ceiling", m.ceiling))
                    if v is not None
                )
                print(f"  {m.name:34s} {m.value:.4f} {ci}{extra}")


if __name__ == "__main__":
    main()
