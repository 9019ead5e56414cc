"""Model directories and the registry of model kinds that ``evaluate`` can load.

A model directory holds ``config.json`` and weights in non-executable formats only (safetensors, npz
read with ``allow_pickle=False``, json). ``config.json`` fields shared by every kind::

    {"model_kind": "<registered kind>", "format_version": 1, "name": "...", "revision": "main",
     "task": "<task it was trained for>", "dataset_fingerprint": "...", "target_dim": 384,
     "n_parameters": 12345, "training_sessions": ["9000800803", ...], "license": null, "url": null, ...}

A directory that contains any pickle-like file is refused before anything is read.

Every kind's loader returns a :class:`DecoderModel`: per recorded session, it maps **z-scored** spike
windows (the dataset's training-only statistics of the task, see ``dataset_access.zscore_windows``) to
a :class:`Prediction`. Loaders are registered lazily as ``"module:function"`` strings so that reading the
registry imports no model code.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from neurrator_bench.atomic_files import write_text_atomic
from neurrator_bench.errors import ModelDirectoryError
from neurrator_bench.registry import Registry

MODEL_FORMAT_VERSION = 1
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib")
CONFIG_FILENAME = "config.json"
REQUIRED_FIELDS = ("model_kind", "name", "task", "dataset_fingerprint")


@dataclass(frozen=True)
class Prediction:
    """What a model says about n samples.

    Attributes:
        pooled: (n, target_dim) predicted pooled target, or None.
        narration: n sentences, or None (then a narrator makes them from ``pooled``).
        patches: (n, n_patches, target_dim) predicted patch tensor, or None.
    """

    pooled: np.ndarray | None
    narration: list[str] | None = None
    patches: np.ndarray | None = None


class DecoderModel(Protocol):
    """A loaded model directory.

    A model may also set ``rows_per_call`` (int): its rows are decoded independently, and
    `inference.predict_split` then predicts and narrates that many samples at a time (bounded memory).
    """

    config: dict[str, Any]

    def sessions(self) -> list[str]:
        """Sessions this model can decode (it was trained on their units)."""
        ...

    def predict(self, session_id: str, x: np.ndarray, *, unit_mask: np.ndarray | None = None) -> Prediction:
        """Decode (n, n_units, window_bins) z-scored windows; ``unit_mask`` (n_units,) bool keeps a subset."""
        ...


MODEL_KINDS: Registry[str] = Registry("model kind")
MODEL_KINDS.add("neurrator-encoder", "neurrator_bench.reference_model.model_kind:load")
MODEL_KINDS.add("ridge", "neurrator_bench.baselines.ridge:load")
MODEL_KINDS.add("ridge-patches", "neurrator_bench.baselines.ridge:load")
MODEL_KINDS.add("pca-knn", "neurrator_bench.baselines.pca_knn:load")
MODEL_KINDS.add("cebra-knn", "neurrator_bench.baselines.cebra_knn:load")
MODEL_KINDS.add("retrieval-encoder", "neurrator_bench.baselines.retrieval_encoder:load")
MODEL_KINDS.add("retrieval-encoder-target", "neurrator_bench.baselines.retrieval_encoder:load")
MODEL_KINDS.add("floor-train-mean", "neurrator_bench.baselines.floors:load_train_mean")
MODEL_KINDS.add("floor-most-frequent-caption", "neurrator_bench.baselines.floors:load_most_frequent")
MODEL_KINDS.add("floor-random-caption", "neurrator_bench.baselines.floors:load_random_caption")
MODEL_KINDS.freeze()


def check_no_pickles(model_dir: Path) -> None:
    """Refuse a directory holding any pickle-like file.

    Raises:
        ModelDirectoryError: Naming the first offending file.
    """
    for path in sorted(Path(model_dir).rglob("*")):
        if path.is_file() and path.suffix.lower() in PICKLE_SUFFIXES:
            raise ModelDirectoryError(
                f"{path}: pickle-like file ({path.suffix}) in model directory {model_dir}. Pickles are never loaded "
                "(they can run arbitrary code); save weights as safetensors, npz or json and remove the file."
            )


def read_model_config(model_dir: Path) -> dict[str, Any]:
    """Read and check ``config.json`` of a model directory.

    Raises:
        ModelDirectoryError: Missing directory/config, invalid JSON, missing field or unknown kind.
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelDirectoryError(f"{model_dir}: not a model directory")
    check_no_pickles(model_dir)
    path = model_dir / CONFIG_FILENAME
    if not path.exists():
        raise ModelDirectoryError(f"{path}: missing (a model directory needs config.json with a model_kind)")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ModelDirectoryError(f"{path}: invalid JSON ({exc})") from exc
    missing = [f for f in REQUIRED_FIELDS if f not in config]
    if missing:
        raise ModelDirectoryError(f"{path}: missing field(s) {missing}")
    if config["model_kind"] not in MODEL_KINDS:
        raise ModelDirectoryError(
            f"{path}: unknown model_kind {config['model_kind']!r}; known kinds: {', '.join(MODEL_KINDS.names())}"
        )
    return config


def write_model_config(model_dir: Path, config: dict[str, Any]) -> Path:
    """Write ``config.json`` atomically (fills ``format_version``)."""
    data = {"format_version": MODEL_FORMAT_VERSION, **config}
    missing = [f for f in REQUIRED_FIELDS if f not in data]
    if missing:
        raise ModelDirectoryError(f"{model_dir / CONFIG_FILENAME}: missing field(s) {missing}")
    return write_text_atomic(model_dir / CONFIG_FILENAME, json.dumps(data, indent=2, sort_keys=True) + "\n")


def load_model(model_dir: Path) -> DecoderModel:
    """Load a model directory through its kind's registered loader (never unpickles)."""
    config = read_model_config(model_dir)
    module_name, func = MODEL_KINDS.get(config["model_kind"]).split(":")
    loader = getattr(importlib.import_module(module_name), func)
    return loader(Path(model_dir), config)
