"""Floors: decoders that ignore the spikes (paper A.6 / Sec. 4.1 random-caption line).

* ``floor-train-mean``: ``pooled`` = the mean training pooled target for every sample, ``narration``
  None (the harness's default narrator turns it into one constant sentence: retrieval for a pooled-only model).
* ``floor-most-frequent-caption``: ``narration`` = the most frequent training caption (counted over
  training samples of every training session; ties: lexicographically first); ``pooled`` None.
* ``floor-random-caption``: ``narration`` = a training caption drawn for each sample position ``i``
  with ``np.random.default_rng([seed, i])``, weighted by how many training samples carry it (a random
  training sample's caption); deterministic, independent of the batch size; ``pooled`` None.

Floors ignore ``x`` but still check it (session, shape, unit mask) and answer one output per sample.
Files: ``floor.npz`` (``pooled_mean`` (target_dim,)) and ``captions.json``
(``{"captions": sorted distinct training captions, "counts": training samples per caption}``).
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from neurrator_bench.dataset_access import DatasetHandle, load_supervised
from neurrator_bench.errors import ModelDirectoryError
from neurrator_bench.model_kinds import DecoderModel, Prediction

from .common import (
    Member,
    SessionModel,
    member_entries,
    member_entry,
    model_config,
    read_json,
    read_npz,
    resolve_sessions,
    write_json,
    write_model_dir,
    write_npz,
)

FLOORS = ("train-mean", "most-frequent-caption", "random-caption")
MEAN_FILE = "floor.npz"
CAPTIONS_FILE = "captions.json"


def train(
    ds: DatasetHandle,
    task: str,
    out_dir: Path,
    *,
    floor: str,
    sessions: list[str] | None = None,
    seed: int = 0,
    progress: bool = False,
    overwrite: bool = False,
) -> Path:
    """Write a floor model directory (kind ``"floor-" + floor``).

    Args:
        ds: Opened dataset.
        task: Task config (its "train" split is used).
        out_dir: Model directory to write.
        floor: One of ``FLOORS``.
        sessions: Training sessions (default: every session of kind "recording").
        seed: Seed of ``floor-random-caption`` (stored in config.json).
        progress: Show a progress bar over sessions.
        overwrite: Replace an existing model directory.

    Returns:
        ``out_dir``.

    Raises:
        ValueError: Unknown floor.
    """
    if floor not in FLOORS:
        raise ValueError(f"floor: expected one of {FLOORS}, found {floor!r}")
    chosen = resolve_sessions(ds, sessions)

    def fill(folder: Path) -> dict[str, Any]:
        start = time.perf_counter()
        members, counts, total, n = [], Counter(), None, 0
        for sid in tqdm(chosen, desc=f"floor-{floor}", disable=not progress):
            data = load_supervised(ds, task, "train", sid)
            counts.update(str(c) for c in data.captions)
            part = data.pooled.astype(np.float64).sum(axis=0)
            total = part if total is None else total + part
            n += len(data.pooled)
            members.append(member_entry(sid, data.windows.shape[1], data.windows.shape[2], len(data.windows)))
        captions = sorted(counts)
        write_npz(folder / MEAN_FILE, {"pooled_mean": (total / n).astype(np.float32)})
        write_json(folder / CAPTIONS_FILE, {"captions": captions, "counts": [counts[c] for c in captions]})
        return model_config(
            kind=f"floor-{floor}",
            ds=ds,
            task=task,
            target_dim=len(total),
            n_parameters=len(total) if floor == "train-mean" else 0,
            sessions=chosen,
            members=members,
            training={"seed": seed, "n_train": n, "train_seconds": round(time.perf_counter() - start, 3)},
            seed=seed,
        )

    return write_model_dir(Path(out_dir), fill, overwrite=overwrite)


def train_train_mean(ds: DatasetHandle, task: str, out_dir: Path, **kwargs: Any) -> Path:
    """:func:`train` with ``floor="train-mean"`` (same keyword arguments)."""
    return train(ds, task, out_dir, floor="train-mean", **kwargs)


def train_most_frequent(ds: DatasetHandle, task: str, out_dir: Path, **kwargs: Any) -> Path:
    """:func:`train` with ``floor="most-frequent-caption"`` (same keyword arguments)."""
    return train(ds, task, out_dir, floor="most-frequent-caption", **kwargs)


def train_random_caption(ds: DatasetHandle, task: str, out_dir: Path, **kwargs: Any) -> Path:
    """:func:`train` with ``floor="random-caption"`` (same keyword arguments)."""
    return train(ds, task, out_dir, floor="random-caption", **kwargs)


def read_captions(model_dir: Path) -> tuple[list[str], np.ndarray]:
    """Distinct training captions (sorted) and their (m,) int64 training-sample counts.

    Raises:
        ModelDirectoryError: Missing or malformed captions.json.
    """
    path = model_dir / CAPTIONS_FILE
    data = read_json(path)
    captions, counts = data.get("captions"), data.get("counts")
    if (
        not isinstance(captions, list)
        or not captions
        or not isinstance(counts, list)
        or len(counts) != len(captions)
        or any(not isinstance(c, int) or c < 1 for c in counts)
    ):
        raise ModelDirectoryError(
            f"{path}: expected non-empty 'captions' and 'counts' (positive ints) of equal length, found {data!r:.200}"
        )
    return [str(c) for c in captions], np.asarray(counts, dtype=np.int64)


def most_frequent_caption(captions: list[str], counts: np.ndarray) -> str:
    """The caption with the largest count; ties go to the lexicographically first."""
    best = max(counts.tolist())
    return min(c for c, n in zip(captions, counts.tolist(), strict=True) if n == best)


def random_captions(captions: list[str], counts: np.ndarray, n: int, seed: int) -> list[str]:
    """Caption of sample position ``i`` (0..n-1), drawn with ``np.random.default_rng([seed, i])``.

    Each caption is drawn with probability ``count / counts.sum()`` (exact integer draw).
    """
    edges = np.cumsum(counts)
    draws = [int(np.random.default_rng([seed, i]).integers(edges[-1])) for i in range(n)]
    return [captions[j] for j in np.searchsorted(edges, draws, side="right")]


def _check_kind(config: dict[str, Any], kind: str) -> None:
    if config.get("model_kind") != kind:
        found = config.get("model_kind")
        raise ModelDirectoryError(f"config.json: field 'model_kind' expected {kind!r}, found {found!r}")


def _session_model(model_dir: Path, config: dict[str, Any], decode: Any) -> SessionModel:
    entries = member_entries(model_dir, config, require_folder=False)
    members = [Member(e["session_id"], e["n_units"], e["window_bins"], decode) for e, _ in entries]
    return SessionModel(config, members)


def load_train_mean(model_dir: Path, config: dict[str, Any]) -> DecoderModel:
    """Load ``floor-train-mean``: every sample's pooled prediction is the training mean."""
    _check_kind(config, "floor-train-mean")
    mean = read_npz(Path(model_dir) / MEAN_FILE, ("pooled_mean",))["pooled_mean"].astype(np.float32)

    def decode(x: np.ndarray) -> Prediction:
        return Prediction(pooled=np.repeat(mean[None, :], len(x), axis=0))

    return _session_model(Path(model_dir), config, decode)


def load_most_frequent(model_dir: Path, config: dict[str, Any]) -> DecoderModel:
    """Load ``floor-most-frequent-caption``: one constant narration."""
    _check_kind(config, "floor-most-frequent-caption")
    caption = most_frequent_caption(*read_captions(Path(model_dir)))

    def decode(x: np.ndarray) -> Prediction:
        return Prediction(pooled=None, narration=[caption] * len(x))

    return _session_model(Path(model_dir), config, decode)


def load_random_caption(model_dir: Path, config: dict[str, Any]) -> DecoderModel:
    """Load ``floor-random-caption``: a seeded random training caption per sample position."""
    _check_kind(config, "floor-random-caption")
    captions, counts = read_captions(Path(model_dir))
    seed = int(config.get("seed", 0))

    def decode(x: np.ndarray) -> Prediction:
        return Prediction(pooled=None, narration=random_captions(captions, counts, len(x), seed))

    return _session_model(Path(model_dir), config, decode)
