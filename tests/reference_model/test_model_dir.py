from __future__ import annotations

import json

import pytest
import torch

from neurrator_bench.errors import ModelDirectoryError
from neurrator_bench.model_kinds import PICKLE_SUFFIXES
from neurrator_bench.reference_model.config import EncoderConfig
from neurrator_bench.reference_model.encoder import NeurratorEncoder
from neurrator_bench.reference_model.model_dir import load_model_dir, save_model_dir

ZSCORE = {"dataset": "org/neurrator-allen", "revision": "abc123", "fields": ["zscore_mean", "zscore_std"]}


@pytest.fixture
def model():
    torch.manual_seed(1)
    return NeurratorEncoder(EncoderConfig.tiny(n_units=6)).eval()


@pytest.fixture
def saved(tmp_path, model):
    return save_model_dir(model, tmp_path / "m", {"epochs": 3, "sessions": [1, 2]}, zscore_reference=ZSCORE)


def test_round_trip_outputs_and_metadata(saved, model, monkeypatch):
    def no_torch_load(*args, **kwargs):
        raise AssertionError("torch.load must never be called")

    monkeypatch.setattr(torch, "load", no_torch_load)
    assert sorted(p.name for p in saved.iterdir()) == ["config.json", "model.safetensors"]
    loaded, metadata = load_model_dir(saved)
    assert metadata == {
        "model_kind": "neurrator-encoder",
        "format_version": 1,
        "zscore_reference": ZSCORE,
        "training": {"epochs": 3, "sessions": [1, 2]},
    }
    assert loaded.config == model.config
    assert not loaded.training
    x = torch.randn(3, 6, 10)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    via_mixin = NeurratorEncoder.from_pretrained(saved)
    with torch.no_grad():
        assert torch.equal(via_mixin.eval()(x), model(x))


@pytest.mark.parametrize("suffix", PICKLE_SUFFIXES)
def test_pickle_like_file_refused(saved, suffix):
    (saved / f"weights{suffix}").write_bytes(b"\x80\x04")
    with pytest.raises(ModelDirectoryError, match=rf"weights\{suffix}.*[Pp]ickles are never loaded"):
        load_model_dir(saved)


def test_overwrite_is_explicit(saved, model):
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_model_dir(model, saved, {})
    save_model_dir(model, saved, {"epochs": 4}, overwrite=True)
    assert load_model_dir(saved)[1]["training"] == {"epochs": 4}
    assert [p.name for p in saved.parent.iterdir()] == ["m"]


def test_wrong_kind_and_missing_files(saved):
    config_path = saved / "config.json"
    document = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**document, "model_kind": "ridge"}))
    with pytest.raises(ModelDirectoryError, match="model_kind.*neurrator-encoder.*ridge"):
        load_model_dir(saved)
    config_path.write_text(json.dumps(document))
    (saved / "model.safetensors").unlink()
    with pytest.raises(ModelDirectoryError, match=r"model\.safetensors"):
        load_model_dir(saved)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_model_dir(saved / "absent")


def test_weights_that_do_not_match_config(saved):
    config_path = saved / "config.json"
    document = json.loads(config_path.read_text())
    document["encoder"]["n_units"] = 7
    config_path.write_text(json.dumps(document))
    with pytest.raises(ModelDirectoryError, match="do not match"):
        load_model_dir(saved)


def test_metadata_must_be_json(tmp_path, model):
    with pytest.raises(ValueError, match="JSON-serializable"):
        save_model_dir(model, tmp_path / "m", {"when": object()})
    assert not (tmp_path / "m").exists()
