"""Subset training vs the current reference model at small population sizes (issue 14 item 1).

Usage:
    python benchmarks/bench_subset_training.py [--work DIR] [--draws 3]

On the embedded default (three simulated ``mini`` sessions, ``nm1-sparse-random`` built at the demo's stride 4,
MiniLM patch targets, the phrase narrator), trains three reference models with the embedded config on the
recording session with the most V1 units, identical but for how they see unit subsets:

- ``current``: neuron dropout 0.2 only; a subset query zeroes the other units and rescales the kept ones by
  n_units / n_kept (8 of the session's 193 units: inputs x24, far beyond the x1.25 neuron dropout trains with);
- ``subset-rescale``: a fraction (``--fraction``, default half) of the training samples keep a random subset of
  log-uniform size in [4, all] (``TrainConfig.subset_training``), with the same rescale, so small-query inputs
  are in distribution;
- ``subset-zero``: the same subsets, masked without rescale (``EncoderConfig.mask_rescale=False``) at training
  and query time.

For V1 and higher visual areas at 8 and 32 units it prints each model's ``sbert_matched`` (mean over
``--draws`` unit draws; the same draws for every model), the paired frame-level difference of each subset model
against ``current`` (95 % frame-block bootstrap interval, `leaderboard.compare.paired_compare`), and the L2
norms of the predicted pooled embeddings at 8 units against the range (1st-99th percentile) of the model's
predictions for the training windows with every unit.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

TASK = "nm1-sparse-random"
REGIONS = ("V1", "higher_visual")
SIZES = (8, 32)
VARIANTS = ("current", "subset-rescale", "subset-zero")


def overrides(name: str, fraction: float) -> tuple[dict, dict]:
    """(encoder, train) overrides of the embedded config for one variant."""
    subsets = {"subset_training": fraction, "subset_min_units": 4}
    return {
        "current": ({}, {}),
        "subset-rescale": ({}, subsets),
        "subset-zero": ({"mask_rescale": False}, subsets),
    }[name]


def prepare(work: Path) -> Path:
    """Simulate and build (reused when present); returns the dataset folder."""
    from neurrator_bench.builders.build import build_dataset
    from neurrator_bench.builders.simulator import simulate
    from neurrator_bench.demo import DEMO_STRIDE
    from neurrator_bench.schemas.dataset import MANIFEST_FILENAME, WindowSpec

    dataset = work / "dataset"
    if not (dataset / MANIFEST_FILENAME).exists():
        sim = simulate(work / "sim", "mini", seed=0)
        build_dataset(
            sim.nwb_paths,
            dataset,
            stimuli_dir=sim.stimuli_dir,
            tasks=[TASK],
            window=WindowSpec(stride=DEMO_STRIDE),
            overwrite=True,
        )
    return dataset


def config_file(work: Path, name: str, fraction: float) -> Path:
    """The embedded config with the variant's overrides."""
    from neurrator_bench.reference_model.train_on_dataset import DEFAULT_CONFIG

    base = json.loads(Path(DEFAULT_CONFIG).read_text())
    encoder, train = overrides(name, fraction)
    base["encoder"].update(encoder)
    base["train"].update(train)
    base["description"] = f"bench_subset_training variant {name}"
    path = work / f"{name}-{fraction}.json"
    path.write_text(json.dumps(base, indent=2))
    return path


def pooled_norms(model, ds, session: str, **query) -> np.ndarray:
    """L2 norms of the predicted pooled embeddings of the test split (a subset query when ``query`` is given)."""
    from neurrator_bench.inference import predict_split

    pred = predict_split(model, ds, TASK, sessions=[session], narrator="retrieval", **query)
    return np.linalg.norm(pred.pooled, axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--fraction", type=float, default=0.5, help="subset_training of the subset variants")
    args = parser.parse_args()
    from neurrator_bench.dataset_access import load_supervised, load_units, open_dataset
    from neurrator_bench.evaluation import evaluate_model
    from neurrator_bench.leaderboard.compare import paired_compare
    from neurrator_bench.model_kinds import load_model
    from neurrator_bench.reference_model.train_on_dataset import train_reference
    from neurrator_bench.scoring import ScoringOptions
    from neurrator_bench.text_embedding import SentenceEncoder

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-subset-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        ds = open_dataset(prepare(work))
        units = load_units(ds)
        v1 = units[units["region_group"] == "V1"].groupby("session_id").size()
        session = max((s for s in v1.index if not s.startswith("pseudo-")), key=lambda s: (v1[s], s))
        counts = units[units["session_id"] == session]["region_group"].value_counts().to_dict()
        print(f"dataset {ds.root} ({TASK}, stride 4), session {session}: units by region {counts}")
        models = {}
        for name in VARIANTS:
            out = work / "models" / (name if name == "current" else f"{name}-{args.fraction}")
            if not (out / "config.json").exists():
                path = config_file(work, name, args.fraction)
                train_reference(ds, TASK, out, sessions=[session], config_file=path, seed=0)
            models[name] = out
        options = ScoringOptions(n_boot=200, celltype_permutations=20)
        encoder = SentenceEncoder()
        entries = {}
        for name, model_dir in models.items():
            for region in REGIONS:
                for n in SIZES:
                    entries[name, region, n] = evaluate_model(
                        model_dir,
                        ds,
                        TASK,
                        unit_filters={"region_group": region},
                        n_units=n,
                        draws=args.draws,
                        seed=0,
                        options=options,
                        encoder=encoder,
                    )
        print(f"\nsbert_matched (mean over {args.draws} unit draws; 95 % interval over draws)")
        for region in REGIONS:
            for n in SIZES:
                cells = []
                for name in VARIANTS:
                    m = entries[name, region, n].metric("sbert_matched")
                    cells.append(f"{name} {m.value:.4f} [{m.ci_low:.4f}, {m.ci_high:.4f}]")
                print(f"  {region:13s} N={n:3d}: " + "; ".join(cells))
        print("\npaired frame-level difference vs current (sbert_matched; 95 % frame-block bootstrap)")
        for region in REGIONS:
            for n in SIZES:
                for name in ("subset-rescale", "subset-zero"):
                    (d,) = paired_compare(
                        entries[name, region, n], entries["current", region, n], ["sbert_matched"], n_boot=1000
                    )
                    print(
                        f"  {region:13s} N={n:3d} {name:15s} {d.difference:+.4f} [{d.low:+.4f}, {d.high:+.4f}] "
                        f"p={d.p_two_sided:.3g} over {d.n_frames} frames"
                    )
        print("\npooled-prediction L2 norms: training windows with every unit (1st-99th pct) vs V1 N=8 queries")
        train_x = load_supervised(ds, TASK, "train", session).x
        for name, model_dir in models.items():
            model = load_model(model_dir)
            seen = np.linalg.norm(model.predict(session, train_x).pooled, axis=1)
            lo, hi = np.percentile(seen, [1, 99])
            small = np.concatenate(
                [
                    pooled_norms(model, ds, session, unit_filters={"region_group": "V1"}, n_units=8, seed=d)
                    for d in range(args.draws)
                ]
            )
            inside = float(np.mean((small >= lo) & (small <= hi)))
            print(
                f"  {name:15s} training [{lo:.3f}, {hi:.3f}]; N=8 median {np.median(small):.3f} "
                f"(5-95 % {np.percentile(small, 5):.3f}-{np.percentile(small, 95):.3f}), {inside:.1%} inside"
            )
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
