"""The "neurrator-encoder" model kind: a directory of per-session Neurrator encoders behind `DecoderModel`.

Layout (written by `train_on_dataset.train_reference`)::

    <model_dir>/config.json                      model_kind "neurrator-encoder", name, revision, task,
                                                 dataset_fingerprint, target_dim, n_parameters (all members),
                                                 training_sessions, members {session_id: "sessions/<id>"},
                                                 encoder, train, history, ...
    <model_dir>/sessions/<session_id>/config.json       one `model_dir.save_model_dir` member per session
    <model_dir>/sessions/<session_id>/model.safetensors

The encoder of a recorded session is tied to that session's units, so there is one member per session
(pseudo-mice included). Nothing is unpickled: the directory is checked with `check_no_pickles` and the
weights are safetensors. Members are loaded on first use and cached.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from neurrator_bench.errors import ModelDirectoryError
from neurrator_bench.model_kinds import CONFIG_FILENAME, Prediction, check_no_pickles

from .encoder import SAFETENSORS_NAME, NeurratorEncoder
from .model_dir import MODEL_KIND, load_model_dir
from .training import predict as predict_patches
from .training import resolve_device

logger = logging.getLogger(__name__)


def _member_paths(model_dir: Path, config: dict[str, Any]) -> dict[str, Path]:
    """Validated {session_id: member folder} from config.json's "members" field."""
    source = model_dir / CONFIG_FILENAME
    members = config.get("members")
    if not isinstance(members, dict) or not members:
        raise ModelDirectoryError(
            f"{source}: field 'members' expected a non-empty {{session_id: 'sessions/<session_id>'}} mapping, "
            f"found {members!r}"
        )
    root = model_dir.resolve()
    paths: dict[str, Path] = {}
    for session_id, relative in members.items():
        if not isinstance(relative, str) or Path(relative).is_absolute():
            raise ModelDirectoryError(
                f"{source}: field 'members.{session_id}' expected a relative folder path, found {relative!r}"
            )
        path = (model_dir / relative).resolve()
        if root not in path.parents:
            raise ModelDirectoryError(
                f"{source}: field 'members.{session_id}' expected a folder inside {model_dir}, found {relative!r}"
            )
        for name in (CONFIG_FILENAME, SAFETENSORS_NAME):
            if not (path / name).is_file():
                raise ModelDirectoryError(
                    f"{path / name}: expected member file of session {session_id!r} (from field "
                    f"'members.{session_id}' of {source}), found none"
                )
        paths[str(session_id)] = path
    return paths


class NeurratorEncoderModel:
    """A loaded "neurrator-encoder" model directory (implements `neurrator_bench.model_kinds.DecoderModel`).

    Attributes:
        config: The parsed top-level config.json.
        rows_per_call: Samples per `predict` call in `inference.predict_split` (each row is decoded on its own,
            so chunking changes nothing but the peak memory of the patch predictions).
    """

    rows_per_call = 256

    def __init__(self, model_dir: Path, config: dict[str, Any], members: dict[str, Path], device: str) -> None:
        self.config = config
        self.model_dir = model_dir
        self._members = dict(members)
        self._device = str(resolve_device(device))
        self._loaded: dict[str, NeurratorEncoder] = {}

    def sessions(self) -> list[str]:
        """Session ids this model decodes (one trained member each), sorted.

        Returns:
            Sorted session ids.
        """
        return sorted(self._members)

    def encoder(self, session_id: str) -> NeurratorEncoder:
        """The member encoder of one session, loaded on first use (eval mode).

        Args:
            session_id: A session of `sessions()`.

        Returns:
            The session's NeurratorEncoder.

        Raises:
            KeyError: Unknown session, listing the known ones.
            ModelDirectoryError: The member directory is invalid or its targets disagree with config.json.
        """
        if session_id not in self._members:
            raise KeyError(
                f"{self.model_dir / CONFIG_FILENAME}: no member for session {session_id!r}; "
                f"known sessions: {self.sessions()}"
            )
        if session_id not in self._loaded:
            model, _ = load_model_dir(self._members[session_id], device=self._device)
            target_dim = self.config.get("target_dim")
            if target_dim is not None and model.config.patch_dim != target_dim:
                raise ModelDirectoryError(
                    f"{self._members[session_id] / CONFIG_FILENAME}: field 'encoder.patch_dim' expected "
                    f"target_dim={target_dim} of {self.model_dir / CONFIG_FILENAME}, found {model.config.patch_dim}"
                )
            self._loaded[session_id] = model
        return self._loaded[session_id]

    def predict(self, session_id: str, x: np.ndarray, *, unit_mask: np.ndarray | None = None) -> Prediction:
        """Decode z-scored spike windows of one session into patch and pooled targets.

        Args:
            session_id: A session of `sessions()`.
            x: (n, n_units, window_bins) z-scored spike counts (the dataset's training-only statistics).
            unit_mask: Optional (n_units,) bool mask of the units to keep (subset query: the other units are
                zeroed and, unless the member's `mask_rescale` is False, the kept ones rescaled by
                n_units / n_active, see `encoder.apply_unit_mask`).

        Returns:
            Prediction with patches (n, n_patches, target_dim) float32, pooled (n, target_dim) float32 =
            the mean over patches (the dataset's definition of the pooled target), narration None.

        Raises:
            KeyError: Unknown session.
            ValueError: x or unit_mask has the wrong shape, or the mask keeps no unit.
        """
        model = self.encoder(session_id)
        n_units = model.config.n_units
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 3 or x.shape[1] != n_units:
            raise ValueError(
                f"x: expected shape (n, n_units={n_units}, window_bins={model.config.window_bins}) for session "
                f"{session_id!r}, found {x.shape}"
            )
        mask = None
        if unit_mask is not None:
            mask = np.asarray(unit_mask)
            if mask.shape != (n_units,):
                raise ValueError(
                    f"unit_mask: expected shape ({n_units},) for session {session_id!r}, found {mask.shape}"
                )
            if mask.dtype != np.bool_:
                if not np.isin(mask, (0, 1)).all():
                    raise ValueError(f"unit_mask: expected bool (or 0/1) values, found dtype {mask.dtype}")
                mask = mask.astype(bool)
        patches = predict_patches(model, x, unit_mask=mask)
        return Prediction(pooled=patches.mean(axis=1, dtype=np.float32), narration=None, patches=patches)


def load(model_dir: Path, config: dict[str, Any], *, device: str = "auto") -> NeurratorEncoderModel:
    """Open a "neurrator-encoder" model directory (the loader registered in `model_kinds.MODEL_KINDS`).

    Args:
        model_dir: The model directory.
        config: Its parsed config.json (as `model_kinds.read_model_config` returns it).
        device: "auto" (CUDA when available, else CPU), "cpu", "cuda" or "cuda:N".

    Returns:
        The loaded model; members are read lazily on first use.

    Raises:
        ModelDirectoryError: A pickle-like file is present, the kind is not "neurrator-encoder", or
            "members" is missing, malformed, points outside the directory or at an incomplete member.
    """
    model_dir = Path(model_dir)
    check_no_pickles(model_dir)
    if config.get("model_kind") != MODEL_KIND:
        raise ModelDirectoryError(
            f"{model_dir / CONFIG_FILENAME}: field 'model_kind' expected {MODEL_KIND!r}, found "
            f"{config.get('model_kind')!r}"
        )
    members = _member_paths(model_dir, config)
    logger.info("opened %s with %d member(s)", model_dir, len(members))
    return NeurratorEncoderModel(model_dir, config, members, device)
