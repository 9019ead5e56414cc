"""Per-frame configs: ``stimuli`` (frame image + caption) and ``targets`` (patch tensor + pooled vector)."""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image as PILImage
from tqdm.auto import tqdm

from neurrator_bench.builders.captions import Captioner
from neurrator_bench.builders.shards import atomic_write_parquet, build_table
from neurrator_bench.builders.stimulus_bundle import StimulusSet
from neurrator_bench.builders.targets import TargetExtractor, pooled_targets
from neurrator_bench.schemas.dataset import STIMULI_FEATURES, target_features

logger = logging.getLogger(__name__)
TARGET_ROWS_PER_SHARD = 256


def png_bytes(frame: np.ndarray) -> bytes:
    """Lossless PNG encoding of one (H, W) uint8 grayscale frame."""
    buf = io.BytesIO()
    PILImage.fromarray(frame, mode="L").save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def _sealed_mask(sealed: Mapping[str, Sequence[int]] | None, name: str, n: int) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    if sealed is not None:
        mask[np.asarray(sealed.get(name, []), dtype=np.int64)] = True
    return mask


def _write_sealed(sealed_root: Path | None, rel: str, table: pa.Table, mask: np.ndarray, out: dict[str, str]) -> None:
    """Rows ``mask`` of ``table`` to ``sealed_root / rel`` (the maintainer folder), recorded in ``out``."""
    if mask.any():
        if sealed_root is None:
            raise ValueError("sealed frames given without a folder for their references")
        out[rel] = atomic_write_parquet(table.take(pa.array(np.flatnonzero(mask))), sealed_root / rel)


def write_stimuli_config(
    root: Path,
    stimuli: Mapping[str, StimulusSet],
    captioner: Captioner,
    *,
    progress: bool = False,
    sealed: Mapping[str, Sequence[int]] | None = None,
    sealed_root: Path | None = None,
) -> tuple[dict[str, str], dict[str, np.ndarray], dict[str, str]]:
    """Caption every frame and write ``data/stimuli/<stimulus>.parquet``.

    Sealed frames (:mod:`neurrator_bench.builders.sealing`) get a null caption and a null image here; their
    rows go to ``sealed_root/stimuli/<stimulus>.parquet``.

    Returns:
        ``(files, captions, sealed_files)``: relative path -> sha256 of the public files, stimulus ->
        (n_frames,) object array of the public captions (None where sealed), and relative path (under
        ``sealed_root``) -> sha256 of the sealed files.
    """
    files: dict[str, str] = {}
    sealed_files: dict[str, str] = {}
    captions: dict[str, np.ndarray] = {}
    for name in tqdm(sorted(stimuli), desc="captions", disable=not progress):
        stim = stimuli[name]
        text = captioner.caption(stim.frames, stim.descriptions)
        if len(text) != len(stim.frames):
            raise ValueError(
                f"captioner {captioner.captioner_id!r} returned {len(text)} captions "
                f"for {len(stim.frames)} frames of {name}"
            )
        mask = _sealed_mask(sealed, name, len(text))
        cols = {
            "stimulus": [name] * len(text),
            "frame": np.arange(len(text), dtype=np.int32),
            "caption": list(text),
            "image": [{"bytes": png_bytes(f), "path": None} for f in stim.frames],
        }
        _write_sealed(sealed_root, f"stimuli/{name}.parquet", build_table(cols, STIMULI_FEATURES), mask, sealed_files)
        cols["caption"] = [None if m else c for c, m in zip(text, mask, strict=True)]
        cols["image"] = [None if m else im for im, m in zip(cols["image"], mask, strict=True)]
        captions[name] = np.array(cols["caption"], dtype=object)
        rel = f"data/stimuli/{name}.parquet"
        files[rel] = atomic_write_parquet(build_table(cols, STIMULI_FEATURES), root / rel)
    return files, captions, sealed_files


def read_captions(root: Path, names: list[str]) -> dict[str, np.ndarray]:
    """Captions written by :func:`write_stimuli_config` (used when a build resumes)."""
    out = {}
    for name in names:
        table = pq.read_table(root / f"data/stimuli/{name}.parquet", columns=["frame", "caption"])
        table = table.take(pa.array(np.argsort(table.column("frame").to_numpy(), kind="stable")))
        # read by pyarrow, not pandas: a sealed frame's null caption stays None (pandas makes it NaN)
        out[name] = np.array(table.column("caption").to_pylist(), dtype=object)
    return out


def write_targets_config(
    root: Path,
    stimuli: Mapping[str, StimulusSet],
    extractor: TargetExtractor,
    *,
    progress: bool = False,
    sealed: Mapping[str, Sequence[int]] | None = None,
    sealed_root: Path | None = None,
) -> tuple[dict[str, str], dict[str, str]]:
    """Extract targets of every frame and write ``data/targets/<stimulus>-<k>.parquet`` shards.

    Sealed frames keep their row with NaN ``patches`` and ``pooled`` (so rows stay indexed by frame); their
    real targets go to ``sealed_root/targets/<stimulus>-<k>.parquet``.

    Returns:
        ``(files, sealed_files)``: relative path -> sha256 of the public shards and of the sealed ones.
    """
    files: dict[str, str] = {}
    sealed_files: dict[str, str] = {}
    features = target_features(extractor.n_patches, extractor.dim)
    for name in sorted(stimuli):
        stim = stimuli[name]
        n = len(stim.frames)
        mask = _sealed_mask(sealed, name, n)
        for shard, lo in enumerate(
            tqdm(range(0, n, TARGET_ROWS_PER_SHARD), desc=f"targets {name}", disable=not progress)
        ):
            hi = min(lo + TARGET_ROWS_PER_SHARD, n)
            contents = stim.patch_contents
            phrases = contents[lo:hi] if contents is not None else None
            try:
                patches = extractor.extract(stim.frames[lo:hi], phrases)
            except ValueError as exc:
                raise ValueError(f"targets of stimulus {name!r}, frames {lo}..{hi - 1}: {exc}") from exc
            cols = {
                "stimulus": [name] * (hi - lo),
                "frame": np.arange(lo, hi, dtype=np.int32),
                "patches": patches.astype(np.float16),
                "pooled": pooled_targets(patches).astype(np.float32),
            }
            shard_mask = mask[lo:hi]
            _write_sealed(
                sealed_root,
                f"targets/{name}-{shard:05d}.parquet",
                build_table(cols, features),
                shard_mask,
                sealed_files,
            )
            cols["patches"][shard_mask] = np.nan
            cols["pooled"][shard_mask] = np.nan
            rel = f"data/targets/{name}-{shard:05d}.parquet"
            files[rel] = atomic_write_parquet(build_table(cols, features), root / rel)
    return files, sealed_files
