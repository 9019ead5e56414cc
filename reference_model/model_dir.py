"""The encoder's model directory: config.json + model.safetensors, and nothing that could be unpickled.

Layout written by `save_model_dir`::

    <path>/config.json        {"model_kind": "neurrator-encoder", "format_version": 1,
                               "encoder": {EncoderConfig fields},
                               "zscore_reference": {...} | null,   # where the per-unit mean/std live
                               "training": {...}}                  # caller's training metadata
    <path>/model.safetensors  the encoder state dict

A directory holding any pickle-like file (*.bin, *.pt, *.pth, *.pkl, *.pickle, *.ckpt) is refused: this
package never calls `torch.load`. `NeurratorEncoder.from_pretrained(path)` also reads this layout.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError
from safetensors.torch import load_file, save_model

from neurrator_bench.errors import ModelDirectoryError
from neurrator_bench.model_kinds import check_no_pickles

from .config import EncoderConfig
from .encoder import SAFETENSORS_NAME, NeurratorEncoder

logger = logging.getLogger(__name__)

MODEL_KIND = "neurrator-encoder"
FORMAT_VERSION = 1
CONFIG_NAME = "config.json"


def refuse_pickle_files(folder: Path) -> None:
    """Raise if a folder (searched recursively) holds a pickle-like file (``model_kinds.check_no_pickles``).

    Raises:
        ModelDirectoryError: A file ending in one of ``model_kinds.PICKLE_SUFFIXES`` is present.
    """
    check_no_pickles(folder)


def encoder_config_from_json(data: Mapping[str, Any] | EncoderConfig, *, source: str) -> EncoderConfig:
    """Encoder configuration from either config.json layout.

    Args:
        data: A parsed config.json: a model-directory one (with "model_kind" and "encoder") or the hub
            mixin's flat one (the EncoderConfig fields); an EncoderConfig is returned as is.
        source: File name used in error messages.

    Returns:
        The validated EncoderConfig.

    Raises:
        ModelDirectoryError: Unknown model_kind, missing "encoder" block or invalid fields.
    """
    if isinstance(data, EncoderConfig):
        return data
    fields: Any = data
    if "model_kind" in data:
        if data["model_kind"] != MODEL_KIND:
            raise ModelDirectoryError(
                f"{source}: field 'model_kind' expected {MODEL_KIND!r}, found {data['model_kind']!r}"
            )
        if "encoder" not in data:
            raise ModelDirectoryError(f"{source}: field 'encoder' expected (the EncoderConfig), found none")
        fields = data["encoder"]
    try:
        return EncoderConfig.model_validate(fields)
    except ValidationError as err:
        raise ModelDirectoryError(f"{source}: invalid encoder configuration: {err}") from err


def load_weights_into(model: torch.nn.Module, weights: Path, *, device: str = "cpu", strict: bool = True) -> None:
    """Load a safetensors state dict into a model (no pickle involved).

    Args:
        model: Module whose parameters are overwritten.
        weights: Path of a .safetensors file.
        device: Device the tensors are loaded onto.
        strict: Require the key sets to match exactly.

    Raises:
        ModelDirectoryError: The file is missing or its keys/shapes do not match the model.
    """
    if not weights.is_file():
        raise ModelDirectoryError(f"{weights}: expected the weights file {SAFETENSORS_NAME}, found none")
    state = load_file(str(weights), device=str(device))
    try:
        model.load_state_dict(state, strict=strict)
    except RuntimeError as err:
        raise ModelDirectoryError(f"{weights}: weights do not match the encoder configuration: {err}") from err


def save_model_dir(
    model: NeurratorEncoder,
    path: Path,
    metadata: Mapping[str, Any],
    *,
    zscore_reference: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write an encoder as a model directory, atomically (temp folder + rename).

    Args:
        model: The trained encoder.
        path: Target directory.
        metadata: JSON-serializable training metadata (e.g. sessions, epochs, val loss, package version),
            stored under "training".
        zscore_reference: JSON-serializable pointer to the per-unit z-score statistics the model expects
            (e.g. {"dataset": repo, "revision": sha, "config": name,
            "fields": ["zscore_mean", "zscore_std"]}), stored under "zscore_reference".
        overwrite: Replace an existing directory.

    Returns:
        The directory written.

    Raises:
        FileExistsError: `path` exists and overwrite is False.
        ValueError: metadata or zscore_reference is not JSON-serializable.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: model directory already exists; pass overwrite=True to replace it")
    document = {
        "model_kind": MODEL_KIND,
        "format_version": FORMAT_VERSION,
        "encoder": model.config.model_dump(mode="json"),
        "zscore_reference": None if zscore_reference is None else dict(zscore_reference),
        "training": dict(metadata),
    }
    try:
        text = json.dumps(document, indent=2, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"{path / CONFIG_NAME}: fields 'training'/'zscore_reference' must be JSON-serializable: {err}"
        ) from err
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        (tmp / CONFIG_NAME).write_text(text + "\n", encoding="utf-8")
        save_model(model, str(tmp / SAFETENSORS_NAME))
        if path.exists():
            backup = path.with_name(f".{path.name}.old")
            path.rename(backup)
            tmp.rename(path)
            shutil.rmtree(backup)
        else:
            tmp.rename(path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    logger.info("saved Neurrator encoder to %s", path)
    return path


def load_model_dir(path: Path, *, device: str = "cpu") -> tuple[NeurratorEncoder, dict[str, Any]]:
    """Load an encoder written by `save_model_dir`; refuses pickles, never calls torch.load.

    Args:
        path: Model directory.
        device: Device for the weights.

    Returns:
        (model in eval mode, metadata) where metadata is config.json without its "encoder" block:
        {"model_kind", "format_version", "zscore_reference", "training"}.

    Raises:
        FileNotFoundError: The directory does not exist.
        ModelDirectoryError: A pickle-like file is present, config.json / model.safetensors is missing,
            the kind or format version is unknown, or the weights do not match.
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: model directory not found")
    refuse_pickle_files(path)
    config_path = path / CONFIG_NAME
    if not config_path.is_file():
        raise ModelDirectoryError(f"{config_path}: expected {CONFIG_NAME} in the model directory, found none")
    try:
        document = json.loads(config_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ModelDirectoryError(f"{config_path}: expected JSON, found invalid text: {err}") from err
    if not isinstance(document, dict) or "model_kind" not in document:
        raise ModelDirectoryError(f"{config_path}: field 'model_kind' expected {MODEL_KIND!r}, found none")
    version = document.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelDirectoryError(f"{config_path}: field 'format_version' expected {FORMAT_VERSION}, found {version!r}")
    config = encoder_config_from_json(document, source=str(config_path))
    model = NeurratorEncoder(config)
    load_weights_into(model, path / SAFETENSORS_NAME, device=device, strict=True)
    model.to(device)
    model.eval()
    metadata = {key: value for key, value in document.items() if key != "encoder"}
    return model, metadata
