"""Peak host memory of training and predicting the paper's encoder on one full-preset session with CLIP-L targets.

Usage:
    python benchmarks/bench_memory.py [--work DIR] [--train-steps 10] [--keep]

What it does (issue 11 item 6; goal: peak resident memory <= 12 GB on a 24 GB machine):

1. Simulates one ``full``-preset session (BO1.1 sizes: 811 QC units with seed 0, every Natural Movie One repeat).
2. Saves a *random* CLIP vision tower shaped like ViT-L/14-336 where it matters for memory: 336 px images,
   14 px patches -> 576 patch tokens of width 1024 (one transformer layer instead of 24, so the 900 movie
   frames are embedded in minutes on a CPU; the targets are 576 x 1024 either way).
3. Builds ``nm1-sparse-random`` at the default window (120 Hz, 20 bins, stride 1: one sample per bin) with
   those targets: 576 x 1024 float16 per movie frame in ``data/targets``.
4. In a fresh process (``--stage train``): ``load_supervised`` of the train and validation splits with
   patch targets, exactly as ``reference_model.train_on_dataset`` calls it, then ``train_encoder`` with the
   paper's config (``reference_model/configs/paper.json``, 576 x 1024 targets) on the whole arrays for
   ``--train-steps`` optimizer steps of batch 64. Prints the process's peak resident set size.
5. In another fresh process (``--stage predict``): loads the saved model directory and runs
   ``inference.predict_split`` over every test sample (retrieval narrator). Prints the peak RSS.

Truncation, stated plainly: a step of the paper's encoder takes seconds on these CPUs and an epoch is hundreds
of steps (n_train / 64), so step 4 runs ``--train-steps`` steps of one epoch. The steps gather batches from the
same full arrays (views of them are passed, so every sample's counts and every frame's targets stay resident),
and each step allocates the same buffers, so we expect the peak to be that of a full run (not measured
beyond ``--train-steps``); the time is not. Step 5 predicts every test sample the model decodes: the session's
own, and those of the pseudo-mice its units make up (``inference.route_session``).
Validation is one pass over the first 512 validation samples.

The printout also gives, as arithmetic (not measured), what the per-sample materialisation this replaces
would hold: one 576 x 1024 float16 target per training and validation sample (30.3 GB on this session). No
checkpoint folder is passed to ``train_encoder`` (a checkpoint of the 8.7 M-parameter encoder is written from
the model's own tensors and adds tens of MB at most).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TASK = "nm1-sparse-random"
GB = 1e9
GOAL_GB = 12.0
PAPER_CONFIG = Path(__file__).resolve().parent.parent / "reference_model" / "configs" / "paper.json"


def peak_rss_bytes() -> int:
    """Peak resident set size of this process (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def save_clip_l_shaped(path: Path) -> Path:
    """A random CLIP vision tower with ViT-L/14-336's token grid and width (576 x 1024), one layer deep."""
    import torch
    from transformers import CLIPImageProcessorPil, CLIPVisionConfig, CLIPVisionModel

    config = CLIPVisionConfig(
        hidden_size=1024,
        intermediate_size=1024,
        num_hidden_layers=1,
        num_attention_heads=16,
        image_size=336,
        patch_size=14,
        projection_dim=768,
    )
    with torch.random.fork_rng():
        torch.manual_seed(0)
        CLIPVisionModel(config).eval().save_pretrained(path)
    CLIPImageProcessorPil(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336}).save_pretrained(path)
    return path


def prepare(work: Path) -> Path:
    """Simulate, save the target model and build the task; returns the dataset folder (reused when present)."""
    from neurrator_bench.builders.build import build_dataset
    from neurrator_bench.builders.simulator import simulate
    from neurrator_bench.schemas.dataset import MANIFEST_FILENAME

    dataset = work / "dataset"
    if (dataset / MANIFEST_FILENAME).exists():
        print(f"reusing the build in {dataset}")
        return dataset
    t0 = time.perf_counter()
    sim = simulate(work / "sim", "full", seed=0, n_sessions=1)
    print(f"simulated one full-preset session in {time.perf_counter() - t0:.1f} s")
    clip = save_clip_l_shaped(work / "clip-l-shaped")
    t0 = time.perf_counter()
    result = build_dataset(
        sim.nwb_paths, dataset, stimuli_dir=sim.stimuli_dir, target_model=str(clip), tasks=[TASK], overwrite=True
    )
    manifest = result.manifest
    print(
        f"built {TASK} in {time.perf_counter() - t0:.1f} s: targets {manifest.target_n_patches} x "
        f"{manifest.target_dim}, window {manifest.window.window_bins} bins, stride {manifest.window.stride}"
    )
    return dataset


def stage_train(dataset: Path, model_dir: Path, steps: int) -> dict:
    """Load as train_on_dataset does, train the paper's encoder for ``steps`` steps, save a model directory."""
    import torch

    from neurrator_bench.dataset_access import (
        FrameIndexedTargets,
        ZScoredWindows,
        load_samples,
        load_supervised,
        open_dataset,
    )
    from neurrator_bench.model_kinds import write_model_config
    from neurrator_bench.reference_model.config import EncoderConfig, TrainConfig
    from neurrator_bench.reference_model.model_dir import save_model_dir
    from neurrator_bench.reference_model.training import train_encoder

    shutil.rmtree(model_dir, ignore_errors=True)  # a model of an earlier run is replaced
    ds = open_dataset(dataset)
    session = sorted(s for s in set(load_samples(ds, TASK, "train")["session_id"]) if not s.startswith("pseudo-"))[0]
    t0 = time.perf_counter()
    train = load_supervised(ds, TASK, "train", session, patches=True)
    val = load_supervised(ds, TASK, "validation", session, patches=True)
    load_s = time.perf_counter() - t0
    after_load = peak_rss_bytes()
    paper = json.loads(PAPER_CONFIG.read_text())
    # the paper's architecture; the target grid comes from the dataset (576 x 1024 in this benchmark's build)
    from_data = {"n_patches": ds.manifest.target_n_patches, "patch_dim": ds.manifest.target_dim}
    config = EncoderConfig.model_validate({**paper["encoder"], **from_data, "n_units": train.windows.shape[1]})
    recipe = TrainConfig.model_validate({**paper["train"], "max_epochs": 1, "device": "cpu"})
    k = steps * recipe.batch_size
    # views of the full arrays: every count and every frame's target stays resident while the steps run
    xt = ZScoredWindows(train.windows.counts[:k], train.windows.mean, train.windows.scale)
    yt = FrameIndexedTargets(train.patches.table, train.patches.index[:k], train.patches.frames)
    xv = ZScoredWindows(val.windows.counts[:512], val.windows.mean, val.windows.scale)
    yv = FrameIndexedTargets(val.patches.table, val.patches.index[:512], val.patches.frames)
    t0 = time.perf_counter()
    result = train_encoder(xt, yt, xv, yv, config, recipe)
    train_s = time.perf_counter() - t0
    save_model_dir(result.model.cpu(), model_dir / "sessions" / session, {"session_id": session, "task": TASK})
    write_model_config(
        model_dir,
        {
            "model_kind": "neurrator-encoder",
            "name": "bench-memory (random CLIP-L-shaped targets, truncated training)",
            "task": TASK,
            "dataset_fingerprint": ds.task_fingerprint(TASK),
            "target_dim": config.patch_dim,
            "training_sessions": [session],
            "members": {session: f"sessions/{session}"},
        },
    )
    counts, table = train.windows.counts, train.patches.table
    return {
        "stage": "train",
        "target_grid": [config.n_patches, config.patch_dim],
        "session": session,
        "n_units": int(counts.shape[1]),
        "n_train": len(train.windows),
        "n_validation": len(val.windows),
        "train_window_bins": int(counts.shape[2]),
        "distinct_train_frames": len(table),
        "counts_bytes": int(counts.nbytes + val.windows.counts.nbytes),
        "target_table_bytes": int(table.nbytes + val.patches.table.nbytes),
        "per_sample_target_bytes": int(
            (len(train.windows) + len(val.windows)) * table.shape[1] * table.shape[2] * table.itemsize
        ),
        "float32_window_bytes": int((counts.size + val.windows.counts.size) * 4),
        "load_s": round(load_s, 1),
        "train_steps": steps,
        "train_s": round(train_s, 1),
        "peak_after_load_bytes": after_load,
        "peak_bytes": peak_rss_bytes(),
        "threads": torch.get_num_threads(),
    }


def stage_predict(dataset: Path, model_dir: Path) -> dict:
    """Predict and narrate every test sample through the package's inference path."""
    from neurrator_bench.dataset_access import load_samples, open_dataset
    from neurrator_bench.inference import predict_split
    from neurrator_bench.model_kinds import load_model

    ds = open_dataset(dataset)
    model = load_model(model_dir)
    t0 = time.perf_counter()
    pred = predict_split(model, ds, TASK, narrator="retrieval")
    samples = load_samples(ds, TASK, "test").set_index("sample_id")
    return {
        "stage": "predict",
        "n_test": len(pred.sample_ids),
        "test_sessions": sorted(set(samples.loc[pred.sample_ids, "session_id"])),
        "rows_per_call": getattr(model, "rows_per_call", None),
        "predict_s": round(time.perf_counter() - t0, 1),
        "peak_bytes": peak_rss_bytes(),
    }


def run_stage(stage: str, work: Path, steps: int) -> dict:
    cmd = [sys.executable, __file__, "--stage", stage, "--work", str(work), "--train-steps", str(steps)]
    done = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"stage {stage} failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=None, help="work folder (default: a temp folder)")
    parser.add_argument("--train-steps", type=int, default=10, help="optimizer steps of batch 64 to run")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--stage", choices=["train", "predict"], default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage is not None:
        dataset, model_dir = args.work / "dataset", args.work / "model"
        if args.stage == "train":
            out = stage_train(dataset, model_dir, args.train_steps)
        else:
            out = stage_predict(dataset, model_dir)
        print(json.dumps(out))
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-memory-"))
    try:
        prepare(work)
        train = run_stage("train", work, args.train_steps)
        predict = run_stage("predict", work, args.train_steps)
        report(train, predict)
    finally:
        if not args.keep and args.work is None:
            shutil.rmtree(work, ignore_errors=True)


def report(train: dict, predict: dict) -> None:
    """Print the figures of the two stages against the goal."""
    n_patches, dim = train["target_grid"]
    print(
        f"session {train['session']}: {train['n_units']} units, {TASK} train {train['n_train']:,} / validation "
        f"{train['n_validation']:,} samples; {train['distinct_train_frames']} "
        f"distinct training frames"
    )
    print(
        f"held in memory: uint8 counts {train['counts_bytes'] / GB:.2f} GB (float32 windows would be "
        f"{train['float32_window_bytes'] / GB:.2f} GB) + per-frame target tables "
        f"{train['target_table_bytes'] / GB:.2f} GB; one {n_patches} x {dim} float16 target per sample would be "
        f"{train['per_sample_target_bytes'] / GB:.1f} GB (arithmetic, not run)"
    )
    print(
        f"train (paper config, {n_patches} x {dim} targets, {train['train_steps']} steps of batch 64, "
        f"{train['threads']} threads; load "
        f"{train['load_s']} s, train {train['train_s']} s): peak RSS after loading "
        f"{train['peak_after_load_bytes'] / GB:.2f} GB, peak RSS {train['peak_bytes'] / GB:.2f} GB "
        f"(goal <= {GOAL_GB:.0f} GB)"
    )
    print(
        f"predict ({predict['n_test']:,} test samples of {', '.join(predict['test_sessions'])}, "
        f"{predict['rows_per_call']} rows per call, {predict['predict_s']} s): peak RSS "
        f"{predict['peak_bytes'] / GB:.2f} GB (goal <= {GOAL_GB:.0f} GB)"
    )
    worst = max(train["peak_bytes"], predict["peak_bytes"]) / GB
    print(f"worst peak {worst:.2f} GB: {'within' if worst <= GOAL_GB else 'OVER'} the {GOAL_GB:.0f} GB goal")


if __name__ == "__main__":
    main()
