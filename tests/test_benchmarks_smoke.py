"""Smoke tests of benchmarks/bench_binning.py, bench_storage.py and score_nulls.py on the mini simulated sessions."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

from neurrator_bench.builders.build import BuildResult
from neurrator_bench.schemas.dataset import MANIFEST_FILENAME, DatasetManifest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_binning_rows_agree(sim_dir, monkeypatch, capsys):
    nwb = sorted(sim_dir.glob("session_*/*.nwb"))[0]
    argv = ["bench_binning", "--nwb", str(nwb), "--max-segments", "2", "--loop-windows", "3"]
    monkeypatch.setattr(sys, "argv", [*argv, "--random-windows", "2", "--no-build"])
    load("bench_binning").main()
    out = capsys.readouterr().out
    assert "SUBSET: first 2 of" in out
    assert re.search(r"natural_scenes: 2 segments .*\n  allensdk \(baseline\)", out)
    assert "counts identical everywhere: True" in out


def test_bench_storage_report(built_dataset, capsys):
    manifest = DatasetManifest.model_validate_json((built_dataset / MANIFEST_FILENAME).read_text())
    load("bench_storage").report(BuildResult(path=built_dataset, manifest=manifest))
    out = capsys.readouterr().out
    data = manifest.sizes["data_bytes"]
    assert f"on disk: {data:,} B" in out
    assert "raw continuous counts (uint8, units x 120 Hz bins of every segment, counted once): " in out
    assert re.search(r"-> \d+\.\d\dx and \d+\.\d\dx \(goal <= 5x\)", out)


def test_score_nulls_prints_oracle_at_ceiling(built_dataset, monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["score_nulls", str(built_dataset), "nm1-contiguous-middle", "--n-boot", "20"])
    load("score_nulls").main()
    out = capsys.readouterr().out
    oracle = out[out.index("== nm1-contiguous-middle / oracle") : out.index("== nm1-contiguous-middle / shuffled")]
    assert "retrieval_r1                       1.0000" in oracle and "200 frames" in oracle
    assert "retrieval_median_rank              1.0000" in oracle
    assert "shuffled oracle" in out


def test_bench_memory_stages_on_the_tiny_build(built_dataset, tmp_path, capsys):
    """The memory benchmark's two stages run the package's own load/train/predict path (tiny targets here)."""
    from neurrator_bench.dataset_access import load_samples, open_dataset

    bench = load("bench_memory")
    model_dir = tmp_path / "model"
    train = bench.stage_train(built_dataset, model_dir, steps=1)
    predict = bench.stage_predict(built_dataset, model_dir)
    ds = open_dataset(built_dataset)
    samples = {s: load_samples(ds, bench.TASK, s) for s in ("train", "test")}
    mine = samples["train"][samples["train"]["session_id"] == train["session"]]
    assert train["n_train"] == len(mine) and train["distinct_train_frames"] == mine["frame"].nunique()
    assert train["target_grid"] == [ds.manifest.target_n_patches, ds.manifest.target_dim]
    assert train["counts_bytes"] < train["float32_window_bytes"] == 4 * train["counts_bytes"]
    test = samples["test"]
    assert predict["n_test"] == int(test["session_id"].isin(predict["test_sessions"]).sum())
    assert train["session"] in predict["test_sessions"]
    assert predict["peak_bytes"] > 0 and predict["rows_per_call"] == 256
    bench.report(train, predict)
    out = capsys.readouterr().out
    # the figures themselves are the pytest process's peaks here (they depend on what ran before): format only
    assert re.search(r"peak RSS after loading \d+\.\d\d GB, peak RSS \d+\.\d\d GB \(goal <= 12 GB\)", out)
    assert re.search(r"worst peak \d+\.\d\d GB: (within|OVER) the 12 GB goal", out)


def test_bench_subset_training_variants_are_valid_recipes(tmp_path):
    from neurrator_bench.reference_model.config import EncoderConfig, TrainConfig
    from neurrator_bench.reference_model.train_on_dataset import read_config_file

    bench = load("bench_subset_training")
    seen = {}
    for name in bench.VARIANTS:
        encoder, train = read_config_file(bench.config_file(tmp_path, name, 0.2))
        seen[name] = (EncoderConfig(n_units=10, **encoder), TrainConfig(**train))
    assert seen["current"][1].subset_training == 0.0 and seen["current"][0].mask_rescale
    assert seen["subset-rescale"][1].subset_training == 0.2 and seen["subset-rescale"][0].mask_rescale
    assert seen["subset-zero"][1].subset_training == 0.2 and not seen["subset-zero"][0].mask_rescale
