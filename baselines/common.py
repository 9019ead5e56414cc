"""Pieces every baseline shares: window features, unit masks, member folders, atomic files, config, model.

A baseline model directory is::

    <out_dir>/config.json                 model_kinds fields + "members" + "training"
    <out_dir>/members/<session_id>/...    one fitted decoder per recorded session (npz/safetensors/json)
    <out_dir>/<shared files>              e.g. a caption bank (json + npz)

Each ``config["members"]`` entry is ``{"session_id", "path", "n_units", "window_bins", "n_train"}`` with
``path`` relative to the model directory. Nothing here ever reads or writes a pickle: npz files are read
with ``allow_pickle=False``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neurrator_bench.atomic_files import write_text_atomic
from neurrator_bench.dataset_access import DatasetHandle, load_sessions
from neurrator_bench.errors import ModelDirectoryError
from neurrator_bench.model_kinds import Prediction, check_no_pickles, write_model_config

logger = logging.getLogger(__name__)

FEATURE_MODES = ("flat", "mean")
MEMBERS_DIR = "members"
LICENSE = "MIT"
REVISION = "main"
_SESSION_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


# ---------------------------------------------------------------------------------------------- inputs


def check_windows(x: np.ndarray, *, n_units: int, window_bins: int, where: str) -> np.ndarray:
    """Validate z-scored spike windows and return them as float32.

    Args:
        x: (n, n_units, window_bins) z-scored spike windows.
        n_units: Units the decoder was trained on.
        window_bins: Bins per window the decoder was trained on.
        where: Name used in error messages (e.g. "ridge member 9000800803").

    Returns:
        (n, n_units, window_bins) float32 array.

    Raises:
        ValueError: Wrong number of dimensions, unit count, bin count, or non-finite values.
    """
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim != 3:
        raise ValueError(f"{where}: x expected shape (n, {n_units}, {window_bins}), found {arr.shape}")
    if arr.shape[1] != n_units or arr.shape[2] != window_bins:
        raise ValueError(f"{where}: x expected (n, n_units={n_units}, window_bins={window_bins}), found {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{where}: x expected finite z-scored windows, found NaN or inf")
    return arr


def apply_unit_mask(x: np.ndarray, unit_mask: np.ndarray | None) -> np.ndarray:
    """Zero the masked units and rescale the rest by ``n_units / n_active`` (as the reference encoder).

    Args:
        x: (n, n_units, window_bins) z-scored windows.
        unit_mask: (n_units,) or (n, n_units) bool (or 0/1) mask; True keeps a unit. None keeps all.

    Returns:
        (n, n_units, window_bins) float32; ``x`` itself when ``unit_mask`` is None.

    Raises:
        ValueError: The mask has the wrong shape, values other than 0/1, or a row keeps no unit.
    """
    if unit_mask is None:
        return x
    n, n_units = x.shape[0], x.shape[1]
    mask = np.asarray(unit_mask)
    if mask.dtype != bool:
        if not np.isin(mask, (0, 1)).all():
            raise ValueError("unit_mask: expected bool or 0/1 values, found other values")
        mask = mask.astype(bool)
    if mask.ndim == 1:
        mask = mask[None, :]
    if mask.ndim != 2 or mask.shape[1] != n_units or mask.shape[0] not in (1, n):
        raise ValueError(f"unit_mask: expected shape ({n_units},) or ({n}, {n_units}), found {np.shape(unit_mask)}")
    n_active = mask.sum(axis=1)
    if (n_active == 0).any():
        raise ValueError("unit_mask: expected at least one active unit per row, found a row with none")
    scale = mask.astype(np.float32) * (n_units / n_active.astype(np.float32))[:, None]
    return (x * scale[:, :, None]).astype(np.float32)


def window_features(x: np.ndarray, mode: str) -> np.ndarray:
    """Per-sample feature vectors of spike windows.

    Args:
        x: (n, n_units, window_bins) z-scored windows.
        mode: "flat" (units x bins, unit-major) or "mean" (time-averaged per unit).

    Returns:
        (n, n_units * window_bins) for "flat" or (n, n_units) for "mean", float32.

    Raises:
        ValueError: Unknown mode.
    """
    if mode == "flat":
        return np.ascontiguousarray(x.reshape(x.shape[0], x.shape[1] * x.shape[2]), dtype=np.float32)
    if mode == "mean":
        return x.mean(axis=2, dtype=np.float64).astype(np.float32)
    raise ValueError(f"features: expected one of {FEATURE_MODES}, found {mode!r}")


def check_feature_mode(mode: str) -> str:
    """Return ``mode`` if it is a known feature mode, else raise ValueError."""
    if mode not in FEATURE_MODES:
        raise ValueError(f"features: expected one of {FEATURE_MODES}, found {mode!r}")
    return mode


# ---------------------------------------------------------------------------------------------- sessions


def resolve_sessions(ds: DatasetHandle, sessions: list[str] | None) -> list[str]:
    """Training sessions: the given ones (checked against the ``sessions`` config) or every "recording".

    Raises:
        KeyError: A requested session is not in the dataset.
        ValueError: No session to train on, or a session id unusable as a folder name.
    """
    table = load_sessions(ds)
    known = [str(s) for s in table["session_id"]]
    if sessions is None:
        chosen = [str(s) for s, k in zip(table["session_id"], table["kind"], strict=True) if k == "recording"]
    else:
        missing = [s for s in sessions if s not in known]
        if missing:
            raise KeyError(f"dataset {ds.repo}: sessions {missing} not in the sessions config; known: {known}")
        chosen = list(dict.fromkeys(str(s) for s in sessions))
    if not chosen:
        raise ValueError(f"dataset {ds.repo}: expected at least one training session, found none")
    for sid in chosen:
        if not _SESSION_ID_RE.match(sid):
            raise ValueError(f"session_id {sid!r}: expected letters, digits, '.', '_' or '-' only")
    return chosen


def member_relpath(session_id: str) -> str:
    """Relative folder of one session's member inside a model directory."""
    return f"{MEMBERS_DIR}/{session_id}"


def member_entry(session_id: str, n_units: int, window_bins: int, n_train: int) -> dict[str, Any]:
    """The ``config["members"]`` entry of one session."""
    return {
        "session_id": session_id,
        "path": member_relpath(session_id),
        "n_units": int(n_units),
        "window_bins": int(window_bins),
        "n_train": int(n_train),
    }


def member_entries(
    model_dir: Path, config: Mapping[str, Any], *, require_folder: bool = True
) -> list[tuple[dict[str, Any], Path]]:
    """Validated ``(entry, folder)`` pairs of ``config["members"]``.

    Args:
        model_dir: The model directory.
        config: Its config.json.
        require_folder: Check that each member's folder exists (floors store no per-member files).

    Raises:
        ModelDirectoryError: Missing/empty "members", an entry lacking a field, or a missing folder.
    """
    source = model_dir / "config.json"
    members = config.get("members")
    if not isinstance(members, list) or not members:
        raise ModelDirectoryError(f"{source}: field 'members' expected a non-empty list, found {members!r}")
    out = []
    for i, entry in enumerate(members):
        missing = [f for f in ("session_id", "path", "n_units", "window_bins") if f not in entry]
        if missing:
            raise ModelDirectoryError(f"{source}: members[{i}] missing field(s) {missing}")
        folder = (model_dir / entry["path"]).resolve()
        if model_dir.resolve() not in folder.parents or (require_folder and not folder.is_dir()):
            raise ModelDirectoryError(
                f"{source}: members[{i}].path expected a folder inside {model_dir}, found {entry['path']!r}"
            )
        out.append((dict(entry), folder))
    return out


# ---------------------------------------------------------------------------------------------- files


def write_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> Path:
    """Write numeric arrays to ``path`` (.npz) atomically; object arrays are refused.

    Raises:
        ValueError: An array has dtype object (would need pickle).
    """
    for key, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise ValueError(f"{path}: array {key!r} has dtype object; only numeric/bool arrays are stored")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as fh:
        np.savez(fh, **{k: np.asarray(v) for k, v in arrays.items()})
    tmp.replace(path)
    return path


def read_npz(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Read ``keys`` from an .npz file with ``allow_pickle=False`` (ModelDirectoryError if missing)."""
    if not path.is_file():
        raise ModelDirectoryError(f"{path}: expected an npz file, found none")
    with np.load(path, allow_pickle=False) as data:
        missing = [k for k in keys if k not in data.files]
        if missing:
            raise ModelDirectoryError(f"{path}: missing array(s) {missing}; found {sorted(data.files)}")
        return {k: data[k] for k in keys}


def write_json(path: Path, obj: Any) -> Path:
    """Write JSON atomically (temp + rename)."""
    return write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")


def read_json(path: Path) -> Any:
    """Read a JSON file (ModelDirectoryError if missing or invalid)."""
    if not path.is_file():
        raise ModelDirectoryError(f"{path}: expected a JSON file, found none")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ModelDirectoryError(f"{path}: invalid JSON ({exc})") from exc


def model_config(
    *,
    kind: str,
    ds: DatasetHandle,
    task: str,
    target_dim: int,
    n_parameters: int,
    sessions: list[str],
    members: list[dict[str, Any]],
    training: Mapping[str, Any],
    **extra: Any,
) -> dict[str, Any]:
    """The config.json content of a baseline model directory (``name`` = "baseline-<kind>")."""
    return {
        "model_kind": kind,
        "name": f"baseline-{kind}",
        "revision": REVISION,
        "task": task,
        "dataset_fingerprint": ds.task_fingerprint(task),
        "target_dim": int(target_dim),
        "n_parameters": int(n_parameters),
        "training_sessions": list(sessions),
        "license": LICENSE,
        "url": None,
        "members": members,
        "training": dict(training),
        **extra,
    }


def write_model_dir(out_dir: Path, fill: Callable[[Path], dict[str, Any]], *, overwrite: bool = False) -> Path:
    """Build a model directory in a temp sibling folder, then move it into place.

    Args:
        out_dir: Final model directory.
        fill: Writes every weight file into the folder it is given and returns the config dict;
            config.json is written last.
        overwrite: Replace an existing ``out_dir``.

    Returns:
        ``out_dir``.

    Raises:
        FileExistsError: ``out_dir`` exists (and is not empty) and ``overwrite`` is False.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise FileExistsError(f"{out_dir}: model directory exists and is not empty; pass overwrite=True")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        config = fill(tmp)
        write_model_config(tmp, config)
        check_no_pickles(tmp)
        if out_dir.exists():
            backup = out_dir.with_name(f".{out_dir.name}.old")
            out_dir.rename(backup)
            tmp.rename(out_dir)
            shutil.rmtree(backup)
        else:
            tmp.rename(out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    logger.info("wrote %s model directory %s", config.get("model_kind"), out_dir)
    return out_dir


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run torch with ``n`` intra-op threads and restore the previous count afterwards.

    The baselines' networks are tiny: one thread is several times faster than contended multithreading
    (measured 4 ms vs 88 ms per CEBRA step on a shared 2-core machine).
    """
    import torch

    if n < 1:
        raise ValueError(f"num_threads: expected >= 1, found {n}")
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def l2_normalize(values: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (all-zero rows stay zero); (n, d) -> (n, d) float64."""
    v = np.asarray(values, dtype=np.float64)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.where(norms > 0, norms, 1.0)


# ---------------------------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Member:
    """One session's fitted decoder.

    Attributes:
        session_id: The session.
        n_units: Units the decoder takes.
        window_bins: Bins per window.
        decode: Maps masked (n, n_units, window_bins) float32 windows to a Prediction.
    """

    session_id: str
    n_units: int
    window_bins: int
    decode: Callable[[np.ndarray], Prediction]


class SessionModel:
    """A :class:`~neurrator_bench.model_kinds.DecoderModel` made of one member per session.

    Args:
        config: The model directory's config.json.
        members: The fitted members, one per session.
    """

    def __init__(self, config: dict[str, Any], members: list[Member]) -> None:
        self.config = config
        self._members = {m.session_id: m for m in members}

    def sessions(self) -> list[str]:
        """Sessions this model decodes, sorted."""
        return sorted(self._members)

    def predict(self, session_id: str, x: np.ndarray, *, unit_mask: np.ndarray | None = None) -> Prediction:
        """Decode z-scored windows of one session.

        Args:
            session_id: A session from :meth:`sessions`.
            x: (n, n_units, window_bins) z-scored windows.
            unit_mask: (n_units,) or (n, n_units) bool; masked units are zeroed and the rest rescaled.

        Returns:
            The member's Prediction for the n samples.

        Raises:
            KeyError: Unknown session.
            ValueError: Bad ``x`` or ``unit_mask``.
        """
        if session_id not in self._members:
            raise KeyError(
                f"{self.config.get('name', 'model')}: no member for session {session_id!r}; sessions: {self.sessions()}"
            )
        member = self._members[session_id]
        where = f"{self.config.get('name', 'model')} session {session_id}"
        arr = check_windows(x, n_units=member.n_units, window_bins=member.window_bins, where=where)
        return member.decode(apply_unit_mask(arr, unit_mask))
