"""Per-frame configs: ``stimuli`` (frame image + caption) and ``targets`` (patch tensor + pooled vector)."""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
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


def write_stimuli_config(
    root: Path, stimuli: Mapping[str, StimulusSet], captioner: Captioner, *, progress: bool = False
) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    """Caption every frame and write ``data/stimuli/<stimulus>.parquet``.

    Returns:
        ``(files, captions)``: relative path -> sha256, and stimulus -> (n_frames,) object array of captions.
    """
    files: dict[str, str] = {}
    captions: dict[str, np.ndarray] = {}
    for name in tqdm(sorted(stimuli), desc="captions", disable=not progress):
        stim = stimuli[name]
        text = captioner.caption(stim.frames, stim.descriptions)
        if len(text) != len(stim.frames):
            raise ValueError(
                f"captioner {captioner.captioner_id!r} returned {len(text)} captions "
                f"for {len(stim.frames)} frames of {name}"
            )
        captions[name] = np.array(text, dtype=object)
        cols = {
            "stimulus": [name] * len(text),
            "frame": np.arange(len(text), dtype=np.int32),
            "caption": list(text),
            "image": [{"bytes": png_bytes(f), "path": None} for f in stim.frames],
        }
        rel = f"data/stimuli/{name}.parquet"
        files[rel] = atomic_write_parquet(build_table(cols, STIMULI_FEATURES), root / rel)
    return files, captions


def read_captions(root: Path, names: list[str]) -> dict[str, np.ndarray]:
    """Captions written by :func:`write_stimuli_config` (used when a build resumes)."""
    out = {}
    for name in names:
        table = pq.read_table(root / f"data/stimuli/{name}.parquet", columns=["frame", "caption"]).to_pandas()
        out[name] = table.sort_values("frame")["caption"].to_numpy(dtype=object)
    return out


def write_targets_config(
    root: Path, stimuli: Mapping[str, StimulusSet], extractor: TargetExtractor, *, progress: bool = False
) -> dict[str, str]:
    """Extract targets of every frame and write ``data/targets/<stimulus>-<k>.parquet`` shards.

    Returns:
        relative path -> sha256.
    """
    files: dict[str, str] = {}
    features = target_features(extractor.n_patches, extractor.dim)
    for name in sorted(stimuli):
        stim = stimuli[name]
        n = len(stim.frames)
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
            rel = f"data/targets/{name}-{shard:05d}.parquet"
            files[rel] = atomic_write_parquet(build_table(cols, features), root / rel)
    return files
