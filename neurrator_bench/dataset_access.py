"""Read a built dataset folder (or a Hub snapshot of one) into arrays, by config, split and session.

This is our fast path over the same parquet files ``datasets.load_dataset`` reads: it never touches
the ``datasets`` cache and returns numpy arrays. Spike windows come back as raw counts; z-scoring uses
the task's training-only statistics from the ``normalization`` config (:func:`zscore_windows`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
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


def array2d_to_numpy(column: pa.ChunkedArray, dtype: np.dtype | None, *, order: np.ndarray | None = None) -> np.ndarray:
    """(n, rows, cols) array from an ``Array2D`` column whose rows all have the same shape.

    The output is allocated once and filled chunk by chunk (no concatenation copy).

    Args:
        column: The column.
        dtype: Output dtype; None keeps the stored one (uint8 spike counts stay uint8).
        order: Optional permutation: output row ``k`` is column row ``order[k]`` (a sort without a
            second copy of the table).

    Raises:
        DatasetFormatError: Rows differ in shape (e.g. samples of two sessions with different unit counts).
    """
    n_total = len(column)
    dest = None
    if order is not None:
        order = np.asarray(order, dtype=np.int64)
        if order.shape != (n_total,) or not np.array_equal(np.sort(order), np.arange(n_total)):
            raise ValueError(f"order: expected a permutation of 0..{n_total - 1}, got shape {order.shape}")
        dest = np.empty(n_total, dtype=np.int64)
        dest[order] = np.arange(n_total)
    out = None
    start = 0
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
        values = values.reshape(n, rows, -1)
        if out is None:
            out = np.empty((n_total, rows, values.shape[2]), dtype=values.dtype if dtype is None else dtype)
        elif values.shape[1:] != out.shape[1:]:
            raise DatasetFormatError("spike windows of different unit counts cannot be stacked; select one session")
        if dest is None:
            out[start : start + n] = values
        else:
            out[dest[start : start + n]] = values
        start += n
    if out is None:
        return np.zeros((0, 0, 0), dtype=np.float32 if dtype is None else dtype)
    return out


@dataclass(frozen=True)
class SessionSplit:
    """One session's samples of a task split.

    Attributes:
        meta: sample metadata rows, sorted by sample_id.
        spikes: (n, n_units, window_bins) raw counts (float32 unless another dtype was asked for).
    """

    meta: pd.DataFrame
    spikes: np.ndarray


def load_session_split(
    ds: DatasetHandle, task: str, split: str, session_id: str, *, dtype: np.dtype | None = np.float32
) -> SessionSplit:
    """Metadata and raw spike windows of one session in a task split, sorted by sample_id.

    Args:
        ds: Opened dataset.
        task: Task config.
        split: Split.
        session_id: Session (or pseudo-mouse) id.
        dtype: dtype of the counts; None keeps the stored uint8 (a quarter of float32's memory).

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
    meta = table.select(list(META_COLUMNS)).take(pa.array(order)).to_pandas()
    return SessionSplit(meta=meta, spikes=array2d_to_numpy(table.column("spikes"), dtype, order=order))


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
    return ZScoredWindows.from_stats(spikes, mean, std)[:]


def zscore_scale(std: np.ndarray) -> np.ndarray:
    """The divisor of :func:`zscore_windows`: ``std``, or 1 where ``std == 0`` (float32)."""
    return np.where(std > 0, std, 1.0).astype(np.float32)


@dataclass(frozen=True)
class ZScoredWindows:
    """Spike windows held as raw counts and z-scored on access (a quarter of the memory of float32 windows).

    ``windows[rows]`` equals ``zscore_windows(counts[rows], mean, std)`` bit for bit; the reference
    trainer z-scores each batch on its device the same way.

    Attributes:
        counts: (n, n_units, bins) raw counts as stored (uint8).
        mean: (n_units,) float32 training mean per unit.
        scale: (n_units,) float32 divisor per unit (:func:`zscore_scale`).
    """

    counts: np.ndarray
    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def from_stats(cls, counts: np.ndarray, mean: np.ndarray, std: np.ndarray) -> ZScoredWindows:
        """Windows ``counts`` with their training ``mean`` and ``std`` per unit (divisor: :func:`zscore_scale`).

        Raises:
            ValueError: The windows and the statistics have different unit counts.
        """
        if counts.shape[1] != mean.shape[0]:
            raise ValueError(f"spike windows have {counts.shape[1]} units but the statistics have {mean.shape[0]}")
        return cls(counts=counts, mean=np.asarray(mean).astype(np.float32), scale=zscore_scale(std))

    @property
    def shape(self) -> tuple[int, ...]:
        """(n, n_units, bins)."""
        return tuple(self.counts.shape)

    @property
    def ndim(self) -> int:
        """3."""
        return self.counts.ndim

    def __len__(self) -> int:
        return len(self.counts)

    def __getitem__(self, rows) -> np.ndarray:
        """Z-scored windows of the selected samples (an int, a slice, an index or a boolean array over samples).

        Raises:
            TypeError: A multi-axis index (select samples only; units and bins come whole).
        """
        if isinstance(rows, tuple):
            raise TypeError(f"ZScoredWindows: index samples only (one axis), got a {len(rows)}-axis index")
        counts = self.counts[rows]
        return ((counts - self.mean[:, None]) / self.scale[:, None]).astype(np.float32)

    def to_numpy(self) -> np.ndarray:
        """All windows z-scored, (n, n_units, bins) float32 (filled in chunks)."""
        out = np.empty(self.shape, dtype=np.float32)
        for lo in range(0, len(self), 4096):
            out[lo : lo + 4096] = self[lo : lo + 4096]
        return out

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self.to_numpy()
        return out if dtype is None else out.astype(dtype, copy=False)


@dataclass(frozen=True)
class FrameIndexedTargets:
    """Targets held once per distinct (stimulus, frame) of a split and indexed per sample.

    Sample ``i``'s target is ``table[index[i]]``; ``targets[rows]`` gathers rows. Per-bin samples show each
    movie frame in many windows (about 4 per frame per repeat at 120 Hz, times the repeats), so a per-sample
    copy of 576 x 1024 CLIP patches would be tens of GB per session; the table is one row per frame.

    Attributes:
        table: (n_distinct_frames, n_patches, dim) float16.
        index: (n,) int64 row of ``table`` of each sample.
        frames: (n_distinct_frames, 2) DataFrame ``stimulus``, ``frame`` of each table row.
    """

    table: np.ndarray
    index: np.ndarray
    frames: pd.DataFrame

    @property
    def shape(self) -> tuple[int, ...]:
        """(n_samples, n_patches, dim): the shape of the per-sample array it stands for."""
        return (len(self.index), *self.table.shape[1:])

    @property
    def dtype(self) -> np.dtype:
        """float16."""
        return self.table.dtype

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, rows) -> np.ndarray:
        return self.table[self.index[rows]]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self.table[self.index]
        return out if dtype is None else out.astype(dtype, copy=False)


@dataclass(frozen=True)
class FrameTargets:
    """Targets of one stimulus, indexed by frame.

    Attributes:
        pooled: (n_frames, dim) float32, row f = frame f.
        patches: (n_frames, n_patches, dim) float16, or None when not loaded.
        captions: (n_frames,) captions of the ``stimuli`` config.

    In a dataset with a sealed final test (``build --seal-final``) the rows of sealed frames are NaN and their
    captions None (:attr:`public` is False there); their references are in the maintainer folder only.
    """

    pooled: np.ndarray
    patches: np.ndarray | None
    captions: np.ndarray

    @property
    def public(self) -> np.ndarray:
        """(n_frames,) bool: frames whose targets are published (False for sealed frames)."""
        return np.isfinite(self.pooled).all(axis=1)


def load_frame_targets(ds: DatasetHandle, stimulus: str, *, patches: bool = False) -> FrameTargets:
    """Pooled (and optionally patch) targets and captions of every frame of ``stimulus``.

    Only the shards of ``stimulus`` are read (:func:`target_files`), and patches are read row group by row
    group into one preallocated array (:func:`load_patch_rows`).
    """
    files = target_files(ds, stimulus)
    table = pa.concat_tables(
        [
            pq.read_table(f, columns=["stimulus", "frame", "pooled"], filters=[("stimulus", "=", stimulus)])
            for f in files
        ]
    )
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
    patch_arr = load_patch_rows(ds, stimulus, frames) if patches else None
    stim = read_table(ds, "stimuli", columns=["stimulus", "frame", "caption"])
    stim = stim.filter(pc.equal(stim.column("stimulus"), stimulus))
    stim = stim.take(pa.array(np.argsort(stim.column("frame").to_numpy(), kind="stable")))
    # read by pyarrow, not pandas: a sealed frame's null caption stays None (pandas makes it NaN)
    captions = np.array(stim.column("caption").to_pylist(), dtype=object)
    return FrameTargets(pooled=pooled, patches=patch_arr, captions=captions)


def target_files(ds: DatasetHandle, stimulus: str) -> list[Path]:
    """The ``targets`` shards holding ``stimulus``: the builder names them ``<stimulus>-<k>.parquet``.

    Falls back to every shard when none is named so (a dataset written by other tools); rows are still filtered
    by their ``stimulus`` column.
    """
    files = config_files(ds, "targets", "train")
    named = [f for f in files if re.fullmatch(rf"{re.escape(stimulus)}-\d+\.parquet", Path(f).name)]
    return named or files


def load_patch_rows(ds: DatasetHandle, stimulus: str, frames: np.ndarray) -> np.ndarray:
    """Patch targets of the given frames of ``stimulus``: ``(len(frames), n_patches, dim)`` float16.

    Reads the ``targets`` config one row group at a time and only the row groups holding a wanted frame,
    so peak memory is the output plus one row group, whatever the number of stimuli and frames.

    Raises:
        DatasetFormatError: A wanted frame has no target row.
    """
    frames = np.asarray(frames, dtype=np.int64)
    wanted = np.unique(frames)
    row_of = {int(f): i for i, f in enumerate(wanted)}
    out: np.ndarray | None = None
    found = np.zeros(len(wanted), dtype=bool)
    for path in target_files(ds, stimulus):
        pf = pq.ParquetFile(path)
        for group in range(pf.metadata.num_row_groups):
            keys = pf.read_row_group(group, columns=["stimulus", "frame"])
            hit = np.flatnonzero(
                (keys.column("stimulus").to_numpy(zero_copy_only=False) == stimulus)
                & np.isin(keys.column("frame").to_numpy(), wanted)
            )
            if hit.size == 0:
                continue
            column = pf.read_row_group(group, columns=["patches"]).column("patches").take(pa.array(hit))
            values = array2d_to_numpy(column, np.float16)
            if out is None:
                out = np.zeros((len(wanted), *values.shape[1:]), dtype=np.float16)
            rows = [row_of[int(f)] for f in keys.column("frame").to_numpy()[hit]]
            out[rows] = values
            found[rows] = True
    if out is None or not found.all():
        missing = wanted[~found][:5].tolist()
        raise DatasetFormatError(f"{ds.root}: config 'targets' has no patches for {stimulus} frames {missing}")
    return out[np.searchsorted(wanted, frames)] if not np.array_equal(wanted, frames) else out


@dataclass(frozen=True)
class SupervisedArrays:
    """Inputs and targets of one session in one task split.

    Attributes:
        meta: Sample metadata, sorted by sample_id.
        windows: The spike windows as raw counts, z-scored on access with the task's training statistics.
        pooled: (n, dim) float32 pooled target of each sample's frame.
        patches: Patch targets stored once per distinct frame and indexed per sample, or None when not
            requested.
        captions: (n,) caption of each sample's frame.
    """

    meta: pd.DataFrame
    windows: ZScoredWindows
    pooled: np.ndarray
    patches: FrameIndexedTargets | None
    captions: np.ndarray

    @cached_property
    def x(self) -> np.ndarray:
        """(n, n_units, window_bins) float32 z-scored windows (materialised once, on first access)."""
        return self.windows.to_numpy()


def load_supervised(
    ds: DatasetHandle, task: str, split: str, session_id: str, *, patches: bool = False
) -> SupervisedArrays:
    """Raw spike windows of one session (z-scored on access) plus the targets of each sample's frame.

    Memory: the counts stay uint8 (``.x`` materialises float32 windows on first access); patch targets are
    read once per distinct (stimulus, frame) the split shows, never per sample.

    Args:
        ds: Opened dataset.
        task: Task config.
        split: "train", "validation" or "test".
        session_id: Session (or pseudo-mouse) id.
        patches: Also return patch targets (:class:`FrameIndexedTargets`).
    """
    part = load_session_split(ds, task, split, session_id, dtype=None)
    mean, std = load_normalization(ds, task, session_id)
    windows = ZScoredWindows.from_stats(part.spikes, mean, std)
    n = len(part.meta)
    captions = np.empty(n, dtype=object)
    stimuli = part.meta["stimulus"].to_numpy()
    frames = part.meta["frame"].to_numpy(dtype=np.int64)
    pooled = None
    for stimulus in sorted(set(stimuli)):
        sel = np.flatnonzero(stimuli == stimulus)
        targets = load_frame_targets(ds, stimulus)
        if pooled is None:
            pooled = np.zeros((n, targets.pooled.shape[1]), np.float32)
        pooled[sel] = targets.pooled[frames[sel]]
        captions[sel] = targets.captions[frames[sel]]
    patch_targets = None
    if patches:
        keys = part.meta[["stimulus", "frame"]].drop_duplicates().sort_values(["stimulus", "frame"])
        keys = keys.reset_index(drop=True)
        parts = [
            load_patch_rows(ds, st, group["frame"].to_numpy()) for st, group in keys.groupby("stimulus", sort=True)
        ]
        # one stimulus (every NM1 task) is the usual case: its rows are the table, with no concatenation copy
        if len(parts) == 1:
            table = parts[0]
        else:
            table = np.concatenate(parts) if parts else np.zeros((0, 0, 0), np.float16)
        index = pd.MultiIndex.from_frame(keys).get_indexer(pd.MultiIndex.from_frame(part.meta[["stimulus", "frame"]]))
        patch_targets = FrameIndexedTargets(table=table, index=index.astype(np.int64), frames=keys)
    if pooled is None:
        pooled = np.zeros((0, 0), np.float32)
    return SupervisedArrays(meta=part.meta, windows=windows, pooled=pooled, patches=patch_targets, captions=captions)
