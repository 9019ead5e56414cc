from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from neurrator_bench import __version__
from neurrator_bench.dataset_access import load_frame_targets, load_supervised, load_units, open_dataset
from neurrator_bench.errors import ModelDirectoryError
from neurrator_bench.model_kinds import load_model
from neurrator_bench.reference_model import train_on_dataset as tod
from neurrator_bench.reference_model.train_on_dataset import (
    CONFIG_DIR,
    default_sessions,
    read_config_file,
    train_reference,
)
from neurrator_bench.scorers.retrieval import median_rank, recall_at_k, retrieval_ranks

TASK = "nm1-contiguous-middle"
SESSION = "9000800803"
TINY = {
    "encoder": {
        "conv_kernels": [3, 5],
        "conv_channels": 4,
        "d_model": 16,
        "n_heads": 2,
        "n_layers": 1,
        "ff_mult": 1,
        "dropout": 0.0,
    },
    "train": {"lr": 1e-3, "batch_size": 512, "max_epochs": 2, "patience": 2, "device": "cpu"},
}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One torch thread for the whole module (also around module fixtures): float sums, hence bitwise
    determinism, depend on the thread count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "tiny.json"
    path.write_text(json.dumps(TINY))
    return path


@pytest.fixture(scope="module")
def trained(built_dataset, tiny_config, tmp_path_factory):
    out = tmp_path_factory.mktemp("trained") / "model"
    return train_reference(built_dataset, TASK, out, sessions=[SESSION], config_file=tiny_config, seed=3)


def _weights(model_dir, session=SESSION):
    return load_file(str(model_dir / "sessions" / session / "model.safetensors"))


def _same_weights(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_layout_and_config(trained, built_dataset):
    assert sorted(p.name for p in trained.iterdir()) == ["config.json", "sessions"]
    assert not trained.with_name("model.partial").exists()
    assert sorted(p.name for p in (trained / "sessions" / SESSION).iterdir()) == ["config.json", "model.safetensors"]
    config = json.loads((trained / "config.json").read_text())
    ds = open_dataset(built_dataset)
    assert config["model_kind"] == "neurrator-encoder" and config["format_version"] == 1
    assert config["task"] == TASK and config["dataset_fingerprint"] == ds.task_fingerprint(TASK)
    assert config["dataset"] == {"repo": ds.repo, "revision": None, "fingerprint": ds.task_fingerprint(TASK)}
    assert config["training_sessions"] == [SESSION]
    assert config["members"] == {SESSION: f"sessions/{SESSION}"}
    assert (config["target_dim"], config["n_patches"], config["window_bins"]) == (384, 16, 20)
    assert config["encoder"]["d_model"] == 16 and "n_units" not in config["encoder"]
    assert config["train"]["seed"] == 3 and config["seed"] == 3
    assert (config["license"], config["url"], config["package_version"]) == ("MIT", None, __version__)
    history = config["history"][SESSION]
    assert history["epochs_run"] == 2 and history["best_epoch"] in (1, 2) and history["best_val_loss"] > 0
    member = json.loads((trained / "sessions" / SESSION / "config.json").read_text())
    assert config["n_parameters"] == history["n_parameters"] == member["training"]["n_parameters"]
    assert member["encoder"]["n_units"] == history["n_units"] == len(load_units(ds, SESSION))
    assert member["zscore_reference"]["session_id"] == SESSION


def test_load_and_predict_on_test_split(trained, built_dataset):
    model = load_model(trained)
    assert model.sessions() == [SESSION]
    split = load_supervised(open_dataset(built_dataset), TASK, "test", SESSION)
    pred = model.predict(SESSION, split.x)
    assert pred.patches.shape == (split.x.shape[0], 16, 384)
    assert pred.pooled.shape == (split.x.shape[0], 384) and pred.pooled.dtype == np.float32
    np.testing.assert_allclose(pred.pooled, pred.patches.mean(axis=1), rtol=0, atol=1e-6)
    assert np.isfinite(pred.patches).all()


def test_pickle_dropped_into_model_dir_is_refused(trained, tmp_path):
    import shutil

    copy = shutil.copytree(trained, tmp_path / "copy")
    (copy / "sessions" / SESSION / "optimizer.pt").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(ModelDirectoryError, match=r"optimizer\.pt.*pickle"):
        load_model(copy)


def test_same_seed_same_weights(trained, built_dataset, tiny_config, tmp_path):
    again = train_reference(
        built_dataset, TASK, tmp_path / "again", sessions=[SESSION], config_file=tiny_config, seed=3
    )
    assert _same_weights(_weights(trained), _weights(again))
    first = json.loads((trained / "config.json").read_text())["history"][SESSION]
    second = json.loads((again / "config.json").read_text())["history"][SESSION]
    assert first["best_val_loss"] == second["best_val_loss"]


def test_interrupted_run_resumes_to_identical_weights(trained, built_dataset, tiny_config, tmp_path, monkeypatch):
    real = tod.train_encoder
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(kwargs["checkpoint_dir"])
        real(*args, **kwargs, stop_after_epoch=1)
        raise KeyboardInterrupt

    out = tmp_path / "model"
    monkeypatch.setattr(tod, "train_encoder", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_reference(built_dataset, TASK, out, sessions=[SESSION], config_file=tiny_config, seed=3)
    monkeypatch.undo()
    partial = tmp_path / "model.partial"
    assert calls == [partial / ".checkpoints" / SESSION]
    assert not out.exists()
    state = json.loads((partial / ".checkpoints" / SESSION / "state.json").read_text())
    assert len(state["history"]) == 1
    train_reference(built_dataset, TASK, out, sessions=[SESSION], config_file=tiny_config, seed=3)
    assert not partial.exists() and not (out / ".checkpoints").exists()
    assert _same_weights(_weights(trained), _weights(out))


def test_partial_of_another_run_is_discarded(built_dataset, tmp_path):
    one_epoch = tmp_path / "one.json"
    one_epoch.write_text(json.dumps({**TINY, "train": {**TINY["train"], "max_epochs": 1}}))
    partial = tmp_path / "model.partial"
    (partial / ".checkpoints").mkdir(parents=True)
    (partial / ".checkpoints" / "run.json").write_text(json.dumps({"sha256": "other"}))
    (partial / "stale.txt").write_text("left by another run")
    out = train_reference(
        built_dataset, TASK, tmp_path / "model", sessions=["pseudo-tagged"], config_file=one_epoch, seed=0
    )
    assert not (out / "stale.txt").exists() and not partial.exists()
    assert load_model(out).sessions() == ["pseudo-tagged"]


def test_refuses_existing_out_dir_unless_overwrite(trained, built_dataset, tiny_config):
    with pytest.raises(FileExistsError, match="already exists"):
        train_reference(built_dataset, TASK, trained, sessions=[SESSION], config_file=tiny_config)


def test_argument_errors(built_dataset, tiny_config, tmp_path):
    with pytest.raises(KeyError, match="no task 'nm9'"):
        train_reference(built_dataset, "nm9", tmp_path / "a", config_file=tiny_config)
    with pytest.raises(KeyError, match=r"\['999'\] not in dataset"):
        train_reference(built_dataset, TASK, tmp_path / "a", sessions=["999"], config_file=tiny_config)
    with pytest.raises(ValueError, match=r"paper\.json: field 'encoder\.n_patches' is 576.*n_patches=16"):
        train_reference(built_dataset, TASK, tmp_path / "a", sessions=[SESSION], config_file=CONFIG_DIR / "paper.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"encoder": {"n_units": 5}}))
    with pytest.raises(ValueError, match="'encoder.n_units' is taken from the dataset"):
        train_reference(built_dataset, TASK, tmp_path / "a", sessions=[SESSION], config_file=bad)
    bad.write_text(json.dumps({"encoder": {}, "optimizer": {}}))
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['optimizer'\]"):
        read_config_file(bad)
    bad.write_text(json.dumps({"train": {"lr": -1}}))
    with pytest.raises(ValueError, match="invalid field in 'train'"):
        train_reference(built_dataset, TASK, tmp_path / "a", sessions=[SESSION], config_file=bad)
    assert not (tmp_path / "a").exists() and not (tmp_path / "a.partial").exists()


def test_default_sessions_and_shipped_configs(built_dataset):
    assert default_sessions(open_dataset(built_dataset)) == ["9000800803", "9001606836", "9002870862", "pseudo-tagged"]
    for name in ("embedded.json", "paper.json"):
        encoder, train = read_config_file(CONFIG_DIR / name)
        assert train["batch_size"] == 64 or name == "embedded.json"
    encoder, train = read_config_file(CONFIG_DIR / "paper.json")
    assert (encoder["n_patches"], encoder["patch_dim"], encoder["conv_channels"], encoder["d_model"]) == (
        576,
        1024,
        128,
        384,
    )
    assert (encoder["n_heads"], encoder["n_layers"], train["max_epochs"], train["patience"]) == (8, 2, 60, 12)


@pytest.mark.slow
def test_embedded_config_retrieves_held_out_frames(built_dataset, tmp_path):
    """Embedded default, one session, nm1-sparse-random (the paper's Table A2 retrieval condition).

    Measured (session 9000800803, seed 0, 1 torch thread, shared 2-core machine): 38 s, R@10 0.311 among
    90 held-out frames (chance 0.111, 2.8x), median rank 21 (chance 45.5). Ridge on the flattened windows
    reaches R@10 0.289 on the same split. On nm1-contiguous-middle (a held-out 200-frame scene) every
    decoder, ridge included, is at chance on the simulated data, so retrieval is tested on sparse-random.
    The bound is 2x chance (3x is at the edge of what this simulated session allows).
    """
    task = "nm1-sparse-random"
    start = time.perf_counter()
    out = train_reference(built_dataset, task, tmp_path / "embedded", sessions=[SESSION], seed=0)
    seconds = time.perf_counter() - start
    ds = open_dataset(built_dataset)
    split = load_supervised(ds, task, "test", SESSION)
    pooled = load_model(out).predict(SESSION, split.x).pooled
    frames = split.meta["frame"].to_numpy()
    candidates = np.unique(frames)
    targets = load_frame_targets(ds, "natural_movie_one").pooled[candidates]
    ranks = retrieval_ranks(pooled, targets, np.searchsorted(candidates, frames))
    chance = 10 / len(candidates)
    r10, med = recall_at_k(ranks, 10), median_rank(ranks)
    print(f"embedded {task} {SESSION}: {seconds:.1f} s, R@10 {r10:.3f} (chance {chance:.3f}), median rank {med}")
    assert r10 >= 2 * chance
    assert med < 0.6 * (len(candidates) + 1) / 2
