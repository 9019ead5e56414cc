"""SAE: save / reload gives identical activations, resuming equals an uninterrupted run, bad directories refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from neurrator_bench.errors import ModelDirectoryError
from neurrator_bench.interrogation.sae import (
    CHECKPOINT_NAME,
    SAEConfig,
    SparseAutoencoder,
    load_sae,
    train_sae,
)


def _tokens(n=600, d=12, seed=0):
    rng = np.random.default_rng(seed)
    atoms = rng.normal(size=(20, d))
    codes = rng.random((n, 20)) * (rng.random((n, 20)) < 0.1)
    return (codes @ atoms).astype(np.float32)


CFG = SAEConfig(input_dim=12, n_features=32, k=4, epochs=4, batch_size=64, lr=3e-3, seed=1, inputs={"source": "test"})


def test_train_save_reload_gives_identical_activations(tmp_path):
    x = _tokens()
    sae = train_sae(x, CFG, tmp_path / "sae")
    assert not (tmp_path / "sae" / CHECKPOINT_NAME).exists()  # a finished run leaves only the SAE
    again = load_sae(tmp_path / "sae", target_dim=12)
    patches = x[:60].reshape(10, 6, 12)
    a, b = sae.mean_activation(patches), again.mean_activation(patches)
    assert a.shape == (10, 32) and np.array_equal(a, b)
    # top-k: at most k active features per token; the mean over 6 patches has at most 6 * k nonzeros
    with torch.no_grad():
        f = again.encode(torch.from_numpy(x[:50]))
    assert int((f > 0).sum(dim=1).max()) <= CFG.k
    assert (np.count_nonzero(a, axis=1) <= 6 * CFG.k).all()
    # training reduced the reconstruction error below the untrained SAE's
    with torch.no_grad():
        trained = torch.mean((again(torch.from_numpy(x))[0] - torch.from_numpy(x)) ** 2).item()
        init = SparseAutoencoder(CFG)
        init.b_dec.copy_(torch.from_numpy(x.mean(axis=0)))
        untrained = torch.mean((init(torch.from_numpy(x))[0] - torch.from_numpy(x)) ** 2).item()
    assert trained < 0.5 * untrained
    cfg = json.loads((tmp_path / "sae" / "sae.json").read_text())
    assert cfg["input_dim"] == 12 and cfg["inputs"] == {"source": "test"} and cfg["format_version"] == 1


def test_resuming_equals_an_uninterrupted_run(tmp_path):
    x = _tokens(seed=2)
    full = train_sae(x, CFG, tmp_path / "full")
    train_sae(x, CFG, tmp_path / "resumed", stop_after=2)
    assert (tmp_path / "resumed" / CHECKPOINT_NAME).is_file() and not (tmp_path / "resumed" / "sae.json").exists()
    resumed = train_sae(x, CFG, tmp_path / "resumed")
    for k in ("W_enc", "b_enc", "W_dec", "b_dec"):
        assert torch.equal(getattr(full, k), getattr(resumed, k)), k


def test_a_checkpoint_of_another_config_is_refused(tmp_path):
    x = _tokens()
    train_sae(x, CFG, tmp_path / "s", stop_after=1)
    other = SAEConfig(**{**CFG.__dict__, "n_features": 16})
    with pytest.raises(ValueError, match="checkpoint of another SAE config"):
        train_sae(x, other, tmp_path / "s")


def test_bad_directories_are_refused(tmp_path):
    train_sae(_tokens(), CFG, tmp_path / "sae")
    with pytest.raises(ModelDirectoryError, match=r"input_dim 12 but the dataset's targets are 384-d"):
        load_sae(tmp_path / "sae", target_dim=384)
    (tmp_path / "sae" / "extra.pt").write_bytes(b"\x80\x04")
    with pytest.raises(ModelDirectoryError, match=r"extra\.pt: pickle-like file"):
        load_sae(tmp_path / "sae")
    (tmp_path / "sae" / "extra.pt").unlink()
    (tmp_path / "sae" / "sae.safetensors").unlink()
    with pytest.raises(ModelDirectoryError, match=r"sae\.safetensors: missing"):
        load_sae(tmp_path / "sae")
    with pytest.raises(ValueError, match=r"tokens: expected \(n, 12\)"):
        train_sae(np.zeros((4, 5), np.float32), CFG, tmp_path / "x")
    with pytest.raises(ValueError, match="activation"):
        SAEConfig(input_dim=4, activation="gelu")
