"""The sealed final test: its record in the dataset manifest and the maintainer's references folder.

A dataset built with ``build --seal-final FRACTION`` splits each task's test set into a public ``test`` split
(the live test: captions and targets published) and a ``final`` split whose spikes are public but whose
references (the captions, frame images and targets of its frames) are written only to a separate maintainer
folder (``<dataset>.sealed`` by default), never into the public dataset folder or its card. The frames are
chosen by :func:`neurrator_bench.builders.sealing.sealed_frames`.

Maintainer folder layout::

    sealed.json                       SealedReferencesManifest (this module)
    stimuli/<stimulus>.parquet        stimulus, frame, caption, image of every sealed frame
    targets/<stimulus>-<k>.parquet    stimulus, frame, patches, pooled of every sealed frame

:func:`open_references` reads it back for scoring the ``final`` split, refusing a folder made for another
build of the dataset (its fingerprint) or a file that changed since it was written (its sha256).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from neurrator_bench.atomic_files import file_sha256 as _sha256
from neurrator_bench.errors import DatasetFormatError

SEALED_FILENAME = "sealed.json"
SEALED_SCHEMA_VERSION = 1
FINAL_SPLIT = "final"


class SealedFinal(BaseModel):
    """What the dataset manifest says of its sealed final test (no reference is in it)."""

    model_config = ConfigDict(extra="forbid")
    fraction: float = Field(gt=0, le=0.5, description="at least this fraction of each task's test frames is sealed")
    seed: int = Field(description="seed of the cluster draw")
    block_frames: int = Field(ge=1, description="movie frames per sealed cluster (scene images: one per cluster)")
    frames: dict[str, list[int]] = Field(description="stimulus -> sealed frames (their spikes are public)")
    task_fraction: dict[str, float] = Field(
        default_factory=dict, description="task -> fraction of its test frames that are sealed"
    )
    task_clusters: dict[str, int] = Field(
        default_factory=dict,
        description="task -> sealed clusters among its test frames (the final test's resampling units: few clusters "
        "give approximate intervals)",
    )


class SealedReferencesManifest(BaseModel):
    """``sealed.json`` of the maintainer folder."""

    model_config = ConfigDict(extra="forbid")
    schema_version: int = SEALED_SCHEMA_VERSION
    dataset_fingerprint: str = Field(description="fingerprint of the public dataset these references complete")
    sealed: SealedFinal
    files: dict[str, str] = Field(description="relative path -> sha256 of every references file")


@dataclass(frozen=True)
class SealedReferences:
    """Captions and pooled targets of the sealed frames, read from a maintainer folder.

    Attributes:
        root: The folder.
        manifest: Its ``sealed.json``.
        captions: stimulus -> {frame: caption}.
        pooled: stimulus -> (frames, (n, dim) float32 pooled targets).
    """

    root: Path
    manifest: SealedReferencesManifest
    captions: dict[str, dict[int, str]]
    pooled: dict[str, tuple[np.ndarray, np.ndarray]]

    def fill_gallery(self, stimulus: str, gallery: np.ndarray) -> np.ndarray:
        """``gallery`` (rows = frames, sealed rows withheld) with the sealed rows put back."""
        out = np.array(gallery, dtype=np.float32, copy=True)
        if stimulus in self.pooled:
            frames, rows = self.pooled[stimulus]
            out[frames] = rows
        return out

    def caption_of(self, stimulus: str, frame: int, *, source: str) -> str:
        """The sealed caption of one frame (DatasetFormatError naming ``source`` when the folder lacks it)."""
        try:
            return self.captions[stimulus][int(frame)]
        except KeyError:
            raise DatasetFormatError(
                f"{self.root}: no sealed caption for {stimulus} frame {int(frame)} (needed by {source})"
            ) from None


def read_references_manifest(root: Path) -> SealedReferencesManifest:
    """``sealed.json`` of ``root`` (DatasetFormatError naming the file and field when it is not one)."""
    path = Path(root) / SEALED_FILENAME
    if not path.is_file():
        raise DatasetFormatError(
            f"{root}: not a sealed references folder (no {SEALED_FILENAME}); it is written by `build --seal-final` "
            "beside the dataset (<dataset>.sealed)"
        )
    try:
        return SealedReferencesManifest.model_validate_json(path.read_text())
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise DatasetFormatError(f"{path}: field {field!r}: {first['msg']}") from None


def open_references(root: Path, *, dataset_fingerprint: str) -> SealedReferences:
    """Read a maintainer folder, checked against the dataset it completes.

    Raises:
        DatasetFormatError: No ``sealed.json``, a bad field, another dataset's fingerprint, a listed file
            missing or changed, or a row outside the sealed frames.
    """
    root = Path(root)
    manifest = read_references_manifest(root)
    if manifest.dataset_fingerprint != dataset_fingerprint:
        raise DatasetFormatError(
            f"{root / SEALED_FILENAME}: field 'dataset_fingerprint' is {manifest.dataset_fingerprint[:12]}..., the "
            f"dataset's is {dataset_fingerprint[:12]}...: these references were sealed for another build"
        )
    for rel, digest in sorted(manifest.files.items()):
        path = root / rel
        if not path.is_file():
            raise DatasetFormatError(f"{root / SEALED_FILENAME}: lists {rel}, which is missing")
        if _sha256(path) != digest:
            raise DatasetFormatError(f"{path}: sha256 differs from the one {SEALED_FILENAME} records (changed?)")
    captions: dict[str, dict[int, str]] = {}
    pooled: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for rel in sorted(manifest.files):
        table = pq.read_table(root / rel)
        kind = rel.split("/", 1)[0]
        stim = table.column("stimulus").to_pylist()
        frames = table.column("frame").to_numpy().astype(np.int64)
        for s in set(stim):
            allowed = set(manifest.sealed.frames.get(s, []))
            bad = sorted(set(frames[np.array(stim) == s].tolist()) - allowed)
            if bad:
                raise DatasetFormatError(f"{root / rel}: frames {bad[:5]} of {s} are not sealed frames")
        if kind == "stimuli":
            for s, f, c in zip(stim, frames.tolist(), table.column("caption").to_pylist(), strict=True):
                captions.setdefault(s, {})[f] = c
        elif kind == "targets":
            vec = np.asarray(table.column("pooled").combine_chunks().flatten().to_numpy(), np.float32)
            vec = vec.reshape(table.num_rows, -1)
            for s in sorted(set(stim)):
                sel = np.array(stim) == s
                old_frames, old_rows = pooled.get(s, (frames[:0], vec[:0]))
                pooled[s] = (np.concatenate([old_frames, frames[sel]]), np.vstack([old_rows, vec[sel]]))
    return SealedReferences(root=root, manifest=manifest, captions=captions, pooled=pooled)
