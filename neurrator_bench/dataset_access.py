"""Read a built dataset folder (or a Hub snapshot of one) into arrays, by config, split and session.

This is our fast path over the same parquet files ``datasets.load_dataset`` reads: it never touches
the ``datasets`` cache and returns numpy arrays. Spike windows come back as raw counts; z-scoring uses
the task's training-only statistics from the ``normalization`` config (:func:`zscore_windows`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from neurrator_bench.errors import DatasetFormatError
from neurrator_bench.schemas.dataset import MANIFEST_FILENAME, DatasetManifest

META_COLUMNS = (
    "sample_id",
    "session_id",
    "stimulus",
    "repeat",
    "frame",
    "bin_index",
    "onset",
    "t_start",
    "bin_s",
    "caption",
)


@dataclass(frozen=True)
class DatasetHandle:
    """An opened dataset: its root folder, manifest and where it came from."""

    root: Path
    manifest: DatasetManifest
    repo: str
    revision: str | None

    @property
    def fingerprint(self) -> str:
        """The manifest fingerprint (every data file of the dataset)."""
        return self.manifest.fingerprint

    def task_fingerprint(self, task: str) -> str:
        """The fingerprint of one task's data (what its models, predictions and entries carry).

        A config without its own fingerprint (a ``real-*`` config, or a dataset built before per-task
        fingerprints) falls back to the dataset fingerprint.
        """
        return self.manifest.task_fingerprints.get(task, self.manifest.fingerprint)

    def data_origin(self, config: str) -> str:
        """``allen``, ``simulated``, ``prebinned-extract`` or ``mixed:...`` for a config (``unknown``: unrecorded)."""
        return self.manifest.data_origin.get(config, "unknown")

    def tasks(self) -> list[str]:
        """Task configs present in this dataset."""
        return sorted(self.manifest.task_versions)


def open_dataset(spec: str | Path, *, revision: str | None = None) -> DatasetHandle:
    """Open a dataset folder, or download a Hub dataset repo snapshot and open it.

    Args:
        spec: Local folder, or a Hub dataset repo id ("org/name") when no such folder exists.
        revision: Hub revision (commit sha, branch or tag) to pin.

    Raises:
        DatasetFormatError: The folder has no readable ``neurrator_manifest.json``.
    """
    path = Path(spec)
    repo, rev = str(spec), revision
    if not path.exists():
        if "/" not in str(spec) or str(spec).startswith((".", "/")):
            raise DatasetFormatError(f"{spec}: no such dataset folder")
        from huggingface_hub import snapshot_download

        path = Path(snapshot_download(str(spec), repo_type="dataset", revision=revision))
    manifest_path = path / MANIFEST_FILENAME
    if not manifest_path.exists():
        raise DatasetFormatError(f"{manifest_path}: missing; {path} is not a neurrator-bench dataset")
    try:
        manifest = DatasetManifest.model_validate_json(manifest_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DatasetFormatError(f"{manifest_path}: invalid manifest: {exc}") from exc
    if path.exists() and Path(spec).exists():
        repo = str(Path(spec).resolve())
    return DatasetHandle(root=path, manifest=manifest, repo=repo, revision=rev)


def config_files(ds: DatasetHandle, config: str, split: str) -> list[Path]:
    """Files of one config split.

    Raises:
        KeyError: Unknown config or split, listing those that exist.
    """
    if config not in ds.manifest.configs:
        raise KeyError(f"dataset {ds.repo} has no config {config!r}; configs: {sorted(ds.manifest.configs)}")
    splits = ds.manifest.configs[config].splits
    if split not in splits:
        raise KeyError(f"config {config!r} of {ds.repo} has no split {split!r}; splits: {sorted(splits)}")
    return [p for g in splits[split] for p in sorted(ds.root.glob(g))]


def read_table(ds: DatasetHandle, config: str, split: str = "train", columns: list[str] | None = None) -> pa.Table:
    """Concatenated Arrow table of a config split (optionally only ``columns``)."""
    files = config_files(ds, config, split)
    if not files:
        raise DatasetFormatError(f"{ds.root}: config {config!r} split {split!r} matches no file")
    return pa.concat_tables([pq.read_table(f, columns=columns) for f in files])


def load_samples(ds: DatasetHandle, task: str, split: str, *, sessions: list[str] | None = None) -> pd.DataFrame:
    """Sample metadata (no spikes) of a task split, sorted by sample_id."""
    df = read_table(ds, task, split, columns=list(META_COLUMNS)).to_pandas()
    if sessions is not None:
        df = df[df["session_id"].isin(sessions)]
    return df.sort_values("sample_id", kind="stable").reset_index(drop=True)


def split_frames(ds: DatasetHandle, task: str, split: str) -> dict[str, np.ndarray]:
    """The distinct frames a task split shows: stimulus (sorted) -> sorted int64 frame indices."""
    shown = load_samples(ds, task, split)[["stimulus", "frame"]].drop_duplicates()
    return {
        str(stimulus): np.sort(frames.to_numpy(dtype=np.int64))
        for stimulus, frames in shown.groupby("stimulus", sort=True)["frame"]
    }


def array2d_to_numpy(column: pa.ChunkedArray, dtype: np.dtype) -> np.ndarray:
    """(n, rows, cols) array from an ``Array2D`` column whose rows all have the same shape.

    Raises:
        DatasetFormatError: Rows differ in shape (e.g. samples of two sessions with different unit counts).
    """
    chunks = []
    for chunk in column.chunks:
        storage = chunk.storage if isinstance(chunk, pa.ExtensionArray) else chunk
        n = len(storage)
        if n == 0:
            continue
        inner = storage.flatten()
        rows = len(inner) // n
        if rows * n != len(inner) or len(set(np.diff(storage.offsets.to_numpy()))) > 1:
            raise DatasetFormatError("spike windows of different unit counts cannot be stacked; select one session")
        values = inner.flatten().to_numpy(zero_copy_only=False)
        chunks.append(values.reshape(n, rows, -1).astype(dtype, copy=False))
    if not chunks:
        return np.zeros((0, 0, 0), dtype=dtype)
    return np.concatenate(chunks)


@dataclass(frozen=True)
class SessionSplit:
    """One session's samples of a task split.

    Attributes:
        meta: sample metadata rows, sorted by sample_id.
        spikes: (n, n_units, window_bins) raw counts (float32).
    """

    meta: pd.DataFrame
    spikes: np.ndarray


def load_session_split(ds: DatasetHandle, task: str, split: str, session_id: str) -> SessionSplit:
    """Metadata and raw spike windows of one session in a task split, sorted by sample_id.

    Raises:
        DatasetFormatError: The session has no samples in this split.
    """
    files = config_files(ds, task, split)
    tables = []
    for f in files:
        t = pq.read_table(f, filters=[("session_id", "=", session_id)])
        if t.num_rows:
            tables.append(t)
    if not tables:
        raise DatasetFormatError(f"{ds.root}: session {session_id!r} has no samples in {task}/{split}")
    table = pa.concat_tables(tables)
    order = np.argsort(np.asarray(table.column("sample_id").to_pylist(), dtype=object), kind="stable")
    table = table.take(pa.array(order))
    meta = table.select(list(META_COLUMNS)).to_pandas()
    return SessionSplit(meta=meta, spikes=array2d_to_numpy(table.column("spikes"), np.float32))


def load_units(ds: DatasetHandle, session_id: str | None = None) -> pd.DataFrame:
    """The ``units`` config (one session's rows in ``unit_index`` order when ``session_id`` is given)."""
    df = read_table(ds, "units").to_pandas()
    if session_id is not None:
        df = df[df["session_id"] == session_id]
        if df.empty:
            raise KeyError(f"dataset {ds.repo} has no units for session {session_id!r}")
    return df.sort_values(["session_id", "unit_index"], kind="stable").reset_index(drop=True)


def load_sessions(ds: DatasetHandle) -> pd.DataFrame:
    """The ``sessions`` config."""
    return read_table(ds, "sessions").to_pandas().sort_values("session_id").reset_index(drop=True)


def load_normalization(ds: DatasetHandle, task: str, session_id: str) -> tuple[np.ndarray, np.ndarray]:
    """Training-only (mean, std) per unit of one session for ``task``, in ``unit_index`` order."""
    df = read_table(ds, "normalization").to_pandas()
    df = df[(df["task"] == task) & (df["session_id"] == session_id)].sort_values("unit_index")
    if df.empty:
        raise KeyError(f"dataset {ds.repo} has no normalization statistics for task {task!r}, session {session_id!r}")
    return df["mean"].to_numpy(np.float32), df["std"].to_numpy(np.float32)


def zscore_windows(spikes: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``(counts - mean) / scale`` per unit, ``scale = std`` or 1 where ``std == 0``; (n, units, bins) -> float32.

    A unit with zero training variance (silent in every training bin) keeps its raw deviation from the
    training mean (scale 1) instead of being divided by a tiny epsilon (one spike would become ~1e6).
    """
    if spikes.shape[1] != mean.shape[0]:
        raise ValueError(f"spike windows have {spikes.shape[1]} units but the statistics have {mean.shape[0]}")
    scale = np.where(std > 0, std, 1.0).astype(np.float32)
    return ((spikes - mean[None, :, None]) / scale[None, :, None]).astype(np.float32)


@dataclass(frozen=True)
class FrameTargets:
    """Targets of one stimulus, indexed by frame.

    Attributes:
        pooled: (n_frames, dim) float32, row f = frame f.
        patches: (n_frames, n_patches, dim) float16, or None when not loaded.
        captions: (n_frames,) captions of the ``stimuli`` config.
    """

    pooled: np.ndarray
    patches: np.ndarray | None
    captions: np.ndarray


def load_frame_targets(ds: DatasetHandle, stimulus: str, *, patches: bool = False) -> FrameTargets:
    """Pooled (and optionally patch) targets and captions of every frame of ``stimulus``."""
    cols = ["stimulus", "frame", "pooled", *(["patches"] if patches else [])]
    table = read_table(ds, "targets", columns=cols).filter(pa.compute.equal(pa.compute.field("stimulus"), stimulus))
    if table.num_rows == 0:
        raise KeyError(f"dataset {ds.repo} has no targets for stimulus {stimulus!r}")
    order = np.argsort(table.column("frame").to_numpy())
    table = table.take(pa.array(order))
    frames = table.column("frame").to_numpy()
    if not np.array_equal(frames, np.arange(len(frames))):
        raise DatasetFormatError(f"{ds.root}: targets of {stimulus} do not cover frames 0..{len(frames) - 1}")
    pooled = np.asarray(table.column("pooled").combine_chunks().flatten().to_numpy(), np.float32).reshape(
        len(frames), -1
    )
    patch_arr = array2d_to_numpy(table.column("patches"), np.float16) if patches else None
    stim = read_table(ds, "stimuli", columns=["stimulus", "frame", "caption"]).to_pandas()
    stim = stim[stim["stimulus"] == stimulus].sort_values("frame")
    return FrameTargets(pooled=pooled, patches=patch_arr, captions=stim["caption"].to_numpy(dtype=object))


@dataclass(frozen=True)
class SupervisedArrays:
    """Inputs and targets of one session in one task split.

    Attributes:
        meta: Sample metadata, sorted by sample_id.
        x: (n, n_units, window_bins) float32 spike windows z-scored with the task's training statistics.
        pooled: (n, dim) float32 pooled target of each sample's frame.
        patches: (n, n_patches, dim) float16 patch targets, or None when not requested.
        captions: (n,) caption of each sample's frame.
    """

    meta: pd.DataFrame
    x: np.ndarray
    pooled: np.ndarray
    patches: np.ndarray | None
    captions: np.ndarray


def load_supervised(
    ds: DatasetHandle, task: str, split: str, session_id: str, *, patches: bool = False
) -> SupervisedArrays:
    """Z-scored windows of one session plus the targets of each sample's frame.

    Args:
        ds: Opened dataset.
        task: Task config.
        split: "train", "validation" or "test".
        session_id: Session (or pseudo-mouse) id.
        patches: Also return patch targets (memory: n x n_patches x dim float16).
    """
    part = load_session_split(ds, task, split, session_id)
    mean, std = load_normalization(ds, task, session_id)
    x = zscore_windows(part.spikes, mean, std)
    n = len(part.meta)
    captions = np.empty(n, dtype=object)
    order = np.arange(n)
    pooled = None
    patch_arr = None
    for stimulus in sorted(set(part.meta["stimulus"])):
        sel = order[(part.meta["stimulus"] == stimulus).to_numpy()]
        targets = load_frame_targets(ds, stimulus, patches=patches)
        frames = part.meta["frame"].to_numpy()[sel]
        if pooled is None:
            pooled = np.zeros((n, targets.pooled.shape[1]), np.float32)
            if patches:
                patch_arr = np.zeros((n, *targets.patches.shape[1:]), np.float16)
        pooled[sel] = targets.pooled[frames]
        if patches:
            patch_arr[sel] = targets.patches[frames]
        captions[sel] = targets.captions[frames]
    return SupervisedArrays(meta=part.meta, x=x, pooled=pooled, patches=patch_arr, captions=captions)
