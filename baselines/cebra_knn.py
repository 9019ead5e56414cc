"""CEBRA embedding decoded with KNN (paper A.6, Table A3: CEBRA at output dimension 3, KNN decoding).

Per session, every training window becomes one CEBRA "time point": its time-averaged z-scored rate per
unit (``features="mean"``, default; ``"flat"`` feeds units x bins). CEBRA's single-sample MLP
(``"offset1-model"``) therefore sees one whole 20-bin window at a time, which suits windows that
are already aligned to frames. Training is CEBRA-Behavior with a **discrete label = the stimulus frame
(or image) index**: the positive of a window is a window of the same frame on another repeat, negatives
are uniform over training windows, so the 3-d embedding keeps the stimulus-locked part of the
response and drops trial noise. (CEBRA-Time needs one continuous recording per session, which the
frame-aligned, repeat-shuffled windows are not; and CEBRA 0.6.1 seeds its continuous/time samplers
from ``torch.Generator.seed()``, i.e. non-deterministically, whereas the discrete sampler draws from
numpy's global RNG, which we seed in a saved-and-restored scope, as torch's with ``fork_rng``.)

Decoding: the mean pooled target of the ``k`` = 10 cosine-nearest training embeddings.

Persistence without pickle (``CEBRA.save`` uses ``torch.save``): ``members/<session>/cebra.safetensors``
holds the network's state dict, ``members/<session>/cebra.json`` the constructor arguments of
``cebra.models.init(architecture, num_neurons, num_units, num_output)``, and ``members/<session>/bank.npz``
the training embeddings, target index and distinct pooled targets. ``load`` rebuilds the same network
and runs it directly (for an offset-1 model that is exactly what ``CEBRA.transform`` does).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from neurrator_bench.dataset_access import DatasetHandle, load_supervised
from neurrator_bench.errors import ModelDirectoryError
from neurrator_bench.model_kinds import DecoderModel, Prediction

from .common import (
    Member,
    SessionModel,
    check_feature_mode,
    member_entries,
    member_entry,
    member_relpath,
    model_config,
    read_json,
    resolve_sessions,
    torch_threads,
    window_features,
    write_json,
    write_model_dir,
    write_npz,
)
from .pca_knn import KnnTargetBank, unique_rows

logger = logging.getLogger(__name__)

KIND = "cebra-knn"
WEIGHTS = "cebra.safetensors"
ARCH_FILE = "cebra.json"
BANK_FILE = "bank.npz"
ARCH_FIELDS = ("model_architecture", "num_neurons", "num_units", "num_output")


@contextlib.contextmanager
def seeded_global_rngs(seed: int) -> Iterator[None]:
    """Seed torch's and numpy's global RNGs (CEBRA samples from them) and restore both afterwards."""
    np_state = np.random.get_state()  # noqa: NPY002 - saved and restored below
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        np.random.seed(seed)  # noqa: NPY002 - cebra's discrete sampler uses the legacy global RNG
        try:
            yield
        finally:
            np.random.set_state(np_state)  # noqa: NPY002


def frame_labels(stimulus: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """Discrete CEBRA label of every window: one int per distinct (stimulus, frame); (n,) -> (n,) int64."""
    keys = np.char.add(np.char.add(stimulus.astype(str), "/"), frame.astype(str))
    return np.unique(keys, return_inverse=True)[1].reshape(-1).astype(np.int64)


def build_network(arch: dict[str, Any]) -> torch.nn.Module:
    """The CEBRA network for constructor arguments ``arch`` (fields ``ARCH_FIELDS``), in eval mode."""
    import cebra.models

    model = cebra.models.init(
        arch["model_architecture"],
        num_neurons=int(arch["num_neurons"]),
        num_units=int(arch["num_units"]),
        num_output=int(arch["num_output"]),
    )
    return model.eval()


def embed(network: torch.nn.Module, features: np.ndarray, batch_size: int = 8192) -> np.ndarray:
    """Embeddings of an offset-1 CEBRA network; (n, num_neurons) -> (n, num_output) float32."""
    out = []
    with torch.no_grad(), torch_threads(1):
        for start in range(0, len(features), batch_size):
            chunk = torch.from_numpy(np.ascontiguousarray(features[start : start + batch_size], dtype=np.float32))
            out.append(network(chunk).numpy())
    if not out:
        return np.zeros((0, int(network.num_output)), dtype=np.float32)
    return np.concatenate(out).astype(np.float32)


def fit_cebra(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    seed: int,
    num_threads: int = 1,
    output_dimension: int,
    num_hidden_units: int,
    max_iterations: int,
    batch_size: int,
    learning_rate: float,
    temperature: float,
    model_architecture: str,
) -> tuple[torch.nn.Module, dict[str, Any], Any]:
    """Train CEBRA-Behavior (discrete labels) with the sklearn API, deterministically for a given seed.

    Args:
        features: (n, d) per-window inputs.
        labels: (n,) int discrete labels.
        seed: Seed of the network init and the sampler.
        num_threads: Torch intra-op threads while fitting (restored afterwards).
        output_dimension: Embedding dimension.
        num_hidden_units: Hidden width of the offset-1 MLP.
        max_iterations: Training steps.
        batch_size: Reference samples per step.
        learning_rate: Adam learning rate.
        temperature: InfoNCE temperature (constant).
        model_architecture: A CEBRA single-sample architecture name, e.g. "offset1-model".

    Returns:
        (trained network in eval mode, its constructor arguments, the fitted ``cebra.CEBRA`` estimator).
    """
    import cebra

    estimator = cebra.CEBRA(
        model_architecture=model_architecture,
        device="cpu",
        criterion="infonce",
        distance="cosine",
        temperature=temperature,
        temperature_mode="constant",
        max_iterations=max_iterations,
        batch_size=min(batch_size, len(features)),
        learning_rate=learning_rate,
        output_dimension=output_dimension,
        num_hidden_units=num_hidden_units,
        verbose=False,
    )
    with seeded_global_rngs(seed), torch_threads(num_threads):
        estimator.fit(np.ascontiguousarray(features, dtype=np.float32), labels)
    network = estimator.model_.eval()
    arch = {
        "model_architecture": model_architecture,
        "num_neurons": int(features.shape[1]),
        "num_units": int(num_hidden_units),
        "num_output": int(output_dimension),
    }
    return network, arch, estimator


def train(
    ds: DatasetHandle,
    task: str,
    out_dir: Path,
    *,
    sessions: list[str] | None = None,
    seed: int = 0,
    progress: bool = False,
    features: str = "mean",
    output_dimension: int = 3,
    num_hidden_units: int = 32,
    max_iterations: int = 500,
    batch_size: int = 512,
    learning_rate: float = 3e-3,
    temperature: float = 1.0,
    model_architecture: str = "offset1-model",
    k: int = 10,
    num_threads: int = 1,
    overwrite: bool = False,
) -> Path:
    """Train CEBRA + KNN per session and write the model directory.

    Args:
        ds: Opened dataset.
        task: Task config (its "train" split is used).
        out_dir: Model directory to write.
        sessions: Training sessions (default: every session of kind "recording").
        seed: Seed of the network init and CEBRA's sampler.
        progress: Show a progress bar over sessions.
        features: "mean" (time-averaged per unit, default) or "flat" (units x bins).
        output_dimension: Embedding dimension (3 as in Table A3).
        num_hidden_units: Hidden width.
        max_iterations: Training steps (kept small so demos stay fast).
        batch_size: Reference samples per step.
        learning_rate: Adam learning rate.
        temperature: InfoNCE temperature.
        model_architecture: CEBRA single-sample architecture.
        k: Neighbours averaged when decoding.
        num_threads: Torch threads while fitting (1 is fastest for this tiny network).
        overwrite: Replace an existing model directory.

    Returns:
        ``out_dir``.
    """
    check_feature_mode(features)
    if k < 1 or output_dimension < 1 or max_iterations < 1:
        raise ValueError(
            f"k, output_dimension, max_iterations: expected >= 1, found {k}, {output_dimension}, {max_iterations}"
        )
    chosen = resolve_sessions(ds, sessions)
    hyper = {
        "output_dimension": output_dimension,
        "num_hidden_units": num_hidden_units,
        "max_iterations": max_iterations,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "temperature": temperature,
        "model_architecture": model_architecture,
    }

    def fill(folder: Path) -> dict[str, Any]:
        members, n_params, target_dim, stats = [], 0, 0, {}
        start = time.perf_counter()
        for sid in tqdm(chosen, desc="cebra-knn", disable=not progress):
            data = load_supervised(ds, task, "train", sid)
            feats = window_features(data.x, features)
            labels = frame_labels(data.meta["stimulus"].to_numpy(), data.meta["frame"].to_numpy(np.int64))
            t0 = time.perf_counter()
            network, arch, _ = fit_cebra(feats, labels, seed=seed, num_threads=num_threads, **hyper)
            emb = embed(network, feats)
            targets, index = unique_rows(data.pooled)
            member = folder / member_relpath(sid)
            n_params += save_network(member, network, arch)
            write_npz(member / BANK_FILE, KnnTargetBank(emb, index, targets, k).arrays())
            members.append(member_entry(sid, data.windows.shape[1], data.windows.shape[2], len(data.windows)))
            target_dim = data.pooled.shape[1]
            stats[sid] = {"fit_seconds": round(time.perf_counter() - t0, 3), "n_labels": int(labels.max() + 1)}
        return model_config(
            kind=KIND,
            ds=ds,
            task=task,
            target_dim=target_dim,
            n_parameters=n_params,
            sessions=chosen,
            members=members,
            training={
                "seed": seed,
                "label": "discrete (stimulus, frame)",
                **hyper,
                "per_session": stats,
                "train_seconds": round(time.perf_counter() - start, 3),
            },
            features=features,
            k=k,
        )

    return write_model_dir(Path(out_dir), fill, overwrite=overwrite)


def save_network(folder: Path, network: torch.nn.Module, arch: dict[str, Any]) -> int:
    """Write ``cebra.safetensors`` (state dict) and ``cebra.json`` (constructor arguments) into ``folder``.

    Returns:
        Number of stored parameters.
    """
    folder.mkdir(parents=True, exist_ok=True)
    state = {name: t.detach().cpu().contiguous() for name, t in network.state_dict().items()}
    tmp = folder / f".{WEIGHTS}.tmp"
    save_file(state, str(tmp))
    tmp.replace(folder / WEIGHTS)
    write_json(folder / ARCH_FILE, arch)
    return sum(int(t.numel()) for t in state.values())


def load_network(folder: Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild one member's CEBRA network from ``cebra.json`` + ``cebra.safetensors``.

    Raises:
        ModelDirectoryError: Missing files/fields or weights that do not fit the architecture.
    """
    arch = read_json(folder / ARCH_FILE)
    missing = [f for f in ARCH_FIELDS if f not in arch]
    if missing:
        raise ModelDirectoryError(f"{folder / ARCH_FILE}: missing field(s) {missing}")
    network = build_network(arch)
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise ModelDirectoryError(f"{weights}: expected the CEBRA weights, found none")
    try:
        network.load_state_dict(load_file(str(weights)), strict=True)
    except RuntimeError as exc:
        raise ModelDirectoryError(f"{weights}: weights do not match {arch}: {exc}") from exc
    return network.eval(), arch


def load(model_dir: Path, config: dict[str, Any]) -> DecoderModel:
    """Load a CEBRA-KNN model directory (safetensors + json + npz; never unpickles).

    Raises:
        ModelDirectoryError: Missing files or shapes that do not match the member.
    """
    features = check_feature_mode(config.get("features", "mean"))
    k = int(config.get("k", 10))
    members = []
    for entry, folder in member_entries(Path(model_dir), config):
        network, arch = load_network(folder)
        bank = KnnTargetBank.from_npz(folder / BANK_FILE, k)
        n_in = entry["n_units"] * (entry["window_bins"] if features == "flat" else 1)
        if arch["num_neurons"] != n_in or bank.embeddings.shape[1] != arch["num_output"]:
            raise ModelDirectoryError(
                f"{folder / ARCH_FILE}: expected num_neurons {n_in} and num_output {bank.embeddings.shape[1]}, "
                f"found {arch['num_neurons']} and {arch['num_output']}"
            )

        def decode(x: np.ndarray, network: torch.nn.Module = network, bank: KnnTargetBank = bank) -> Prediction:
            return Prediction(pooled=bank.decode(embed(network, window_features(x, features))))

        members.append(Member(entry["session_id"], entry["n_units"], entry["window_bins"], decode))
    return SessionModel(config, members)
