"""Pre-binned recordings (counts arrays with unit labels) -> a ``real-*`` config.

Used for the real Allen extract shipped in the package (``neurrator_bench/realdata/allen_bo11``): Natural Movie One of
session 791319847 in 1-s bins (``act``: units x repeats x bins, ``units_ind``: Allen unit ids, ``unit_regs``: CCF
acronyms). Each sample is one (repeat, bin): ``spikes`` has shape ``(n_units, 1)`` (uint16), ``bin_s = 1.0``,
``frame`` = the first movie frame of the bin (``bin * frames_per_bin``). Splits follow the NM1 repeat rule of
:data:`neurrator_bench.tasks.REPEAT_ROLES` (validation repeats 8, 18; test 9, 19); captions, onsets and window starts
are null (the extract carries no frames or session clock).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.io

from neurrator_bench.builders.regions import region_group
from neurrator_bench.builders.shards import atomic_write_parquet, build_table, file_sha256
from neurrator_bench.errors import DatasetFormatError
from neurrator_bench.schemas.dataset import SESSIONS_FEATURES, UNITS_FEATURES, sample_features
from neurrator_bench.tasks import NM1, REPEAT_ROLES

PREBINNED_PREFIX = "real-"
NM1_FRAMES = 900
MAX_UINT16 = np.iinfo(np.uint16).max


@dataclass
class PrebinnedOutput:
    """Files written for one pre-binned recording."""

    config_name: str
    session_id: str
    splits: dict[str, list[str]]
    files: dict[str, str] = field(default_factory=dict)


def read_prebinned_mat(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read ``act`` (units, repeats, bins), ``units_ind`` and ``unit_regs`` from a MATLAB file.

    Raises:
        DatasetFormatError: A field is missing or shapes disagree, naming the file and field.
    """
    try:
        mat = scipy.io.loadmat(path)
    except (OSError, ValueError) as exc:
        raise DatasetFormatError(f"{path}: not a readable MATLAB file ({exc})") from exc
    for key in ("act", "units_ind", "unit_regs"):
        if key not in mat:
            raise DatasetFormatError(
                f"{path}: missing field {key!r}; fields are {sorted(k for k in mat if not k.startswith('__'))}"
            )
    act = np.asarray(mat["act"], dtype=np.float64)
    if act.ndim != 3:
        raise DatasetFormatError(f"{path}: field 'act' must be (units, repeats, bins); found shape {act.shape}")
    if not np.all(np.isfinite(act)) or np.any(act < 0) or np.any(act != np.round(act)):
        raise DatasetFormatError(f"{path}: field 'act' must hold non-negative integer spike counts")
    unit_ids = np.asarray(mat["units_ind"]).ravel().astype(np.int64)
    regs = [str(np.asarray(r).ravel()[0]) if np.asarray(r).size else "" for r in np.asarray(mat["unit_regs"]).ravel()]
    if not (len(unit_ids) == len(regs) == act.shape[0]):
        raise DatasetFormatError(
            f"{path}: 'act' has {act.shape[0]} units but 'units_ind' has {len(unit_ids)} and 'unit_regs' {len(regs)}"
        )
    return act, unit_ids, regs


def build_prebinned(path: Path, root: Path) -> PrebinnedOutput:
    """Write the ``real-<stimulus>-<session>`` config and its ``units``/``sessions`` rows.

    Args:
        path: The ``.mat`` file (session id taken from ``session<digits>`` in its name).
        root: Staging dataset root.
    """
    match = re.search(r"session_?(\d+)", path.name)
    if match is None:
        raise DatasetFormatError(f"{path}: cannot find the session id (expected 'session<digits>' in the file name)")
    session_id = match.group(1)
    act, unit_ids, regs = read_prebinned_mat(path)
    if act.max() > MAX_UINT16:
        raise DatasetFormatError(f"{path}: field 'act' holds {act.max()} spikes in one bin, over the uint16 range")
    n_units, n_repeats, n_bins = act.shape
    roles = REPEAT_ROLES[NM1]
    if n_repeats != roles.n_repeats:
        raise DatasetFormatError(f"{path}: 'act' has {n_repeats} repeats; Natural Movie One has {roles.n_repeats}")
    frames_per_bin = NM1_FRAMES // n_bins
    config = f"{PREBINNED_PREFIX}nm1-{session_id}"
    out = PrebinnedOutput(config_name=config, session_id=session_id, splits={})
    features = sample_features(1, count_dtype="uint16")
    repeat_role = roles.role(np.arange(n_repeats))
    for split in ("train", "validation", "test"):
        reps = np.flatnonzero(repeat_role == split)
        rep = np.repeat(reps, n_bins).astype(np.int32)
        b = np.tile(np.arange(n_bins), reps.size)
        spikes = act[:, rep, b].T[:, :, None].astype(np.uint16)
        n = rep.size
        cols = {
            "sample_id": [
                f"{session_id}/{NM1}-1s/r{r:02d}/b{x:02d}" for r, x in zip(rep.tolist(), b.tolist(), strict=True)
            ],
            "session_id": [session_id] * n,
            "stimulus": [NM1] * n,
            "repeat": rep,
            "frame": (b * frames_per_bin).astype(np.int32),
            "bin_index": b.astype(np.int32),
            "onset": [None] * n,
            "t_start": [None] * n,
            "bin_s": np.full(n, float(frames_per_bin) / 30.0),
            "spikes": spikes,
            "caption": [None] * n,
        }
        rel = f"data/{config}/{split}.parquet"
        out.files[rel] = atomic_write_parquet(build_table(cols, features), root / rel)
        out.splits[split] = [rel]
    unit_cols = {k: [None] * n_units for k in UNITS_FEATURES}
    unit_cols.update(
        session_id=[session_id] * n_units,
        unit_index=list(range(n_units)),
        unit_id=unit_ids.tolist(),
        source_session_id=[session_id] * n_units,
        structure=regs,
        region_group=[region_group(r) for r in regs],
        cell_type=["unknown"] * n_units,
    )
    rel = f"data/units/{session_id}.parquet"
    out.files[rel] = atomic_write_parquet(build_table(unit_cols, UNITS_FEATURES), root / rel)
    genotype = None
    table = path.parent / "sessions.csv"
    if table.exists():
        sessions = pd.read_csv(table)
        row = sessions[sessions["id"].astype(str) == session_id]
        if len(row):
            genotype = str(row["full_genotype"].iloc[0])
    row = {
        "session_id": [session_id],
        "kind": ["prebinned"],
        "data_origin": ["prebinned-extract"],
        "session_type": ["brain_observatory_1.1"],
        "genotype": [genotype],
        "cell_line": [None],
        "subject_id": [None],
        "source_file": [path.name],
        "source_sha256": [file_sha256(path)],
        "source_sessions": [[session_id]],
        "n_units_nwb": [None],
        "n_units": [n_units],
        "qc_failed_by": [json.dumps({})],
    }
    rel = f"data/sessions/{session_id}.parquet"
    out.files[rel] = atomic_write_parquet(build_table(row, SESSIONS_FEATURES), root / rel)
    return out
