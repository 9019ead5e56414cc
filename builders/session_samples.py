"""One session -> its sample shards, its ``units``/``sessions`` rows and its z-score statistics."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from neurrator_bench.builders.atoms import atom_codes, is_used
from neurrator_bench.builders.binning import bin_spike_windows
from neurrator_bench.builders.normalization import TaskMoments
from neurrator_bench.builders.optotagging import classify_cell_types, genotype_cell_type
from neurrator_bench.builders.presentations import index_presentations
from neurrator_bench.builders.recording import SessionRecording
from neurrator_bench.builders.regions import assign_region_groups
from neurrator_bench.builders.shards import atomic_write_parquet, build_table
from neurrator_bench.builders.unit_qc import apply_unit_filters
from neurrator_bench.errors import NoUsableUnitsError, NWBFormatError
from neurrator_bench.schemas.dataset import (
    NORMALIZATION_FEATURES,
    SESSIONS_FEATURES,
    UNITS_FEATURES,
    WindowSpec,
    sample_features,
)
from neurrator_bench.tasks import TaskSpec

logger = logging.getLogger(__name__)
TAGGED_CELL_TYPES = ("PV", "SST", "VIP")


@dataclass
class SessionOutput:
    """What a session contributed to the build (all paths relative to the dataset root).

    Attributes:
        files: relative path -> sha256 of every file written.
        atoms: (stimulus, code) atoms that received a file.
        raw_bytes: Size of continuous uint8 counts at the dataset's bin width covering the presentations.
    """

    files: dict[str, str] = field(default_factory=dict)
    atoms: list[tuple[str, str]] = field(default_factory=list)
    raw_bytes: int = 0


def sample_ids(session_id: str, stimulus: str, repeat: np.ndarray, frame: np.ndarray) -> list[str]:
    """Stable, unique sample ids ``<session>/<stimulus>/r<repeat>/f<frame>``."""
    return [f"{session_id}/{stimulus}/r{r:02d}/f{f:04d}" for r, f in zip(repeat.tolist(), frame.tolist(), strict=True)]


def select_units(recording: SessionRecording) -> tuple[pd.DataFrame, dict[str, int]]:
    """Allen QC, region groups, optotagged cell types, in dataset column order.

    Returns:
        ``(units, failed_by)``: QC-passing units sorted by (probe, probe_vertical_position, unit_id) with
        columns ``region_group`` and the cell-type columns, and the QC failure counts.

    Raises:
        NoUsableUnitsError: No unit passes QC, naming the file and the failure counts.
    """
    kept, report = apply_unit_filters(recording.units)
    if kept.empty:
        raise NoUsableUnitsError(
            f"{recording.path}: no unit of session {recording.session_id} passes Allen's default QC "
            f"({report.n_total} units in /units; failures by reason: {report.failed_by})"
        )
    kept = kept.copy()
    kept["region_group"] = assign_region_groups(kept)
    sort_cols = [c for c in ("probe", "probe_vertical_position") if c in kept.columns]
    kept = kept.reset_index().sort_values([*sort_cols, "unit_id"], kind="stable").set_index("unit_id")
    cells = classify_cell_types(recording, kept.index.to_list()).set_index("unit_id")
    kept["cell_type"] = cells["cell_type"].reindex(kept.index)
    for src, dst in (
        ("reliability", "opto_reliability"),
        ("median_latency_s", "opto_median_latency_s"),
        ("rate_ratio", "opto_rate_ratio"),
    ):
        kept[dst] = cells[src].reindex(kept.index) if src in cells.columns else np.nan
    return kept, dict(report.failed_by)


def units_rows(session_id: str, units: pd.DataFrame, source_session_id: str | None = None) -> dict[str, list]:
    """Columns of the ``units`` config for one session (row i = spike-window row i)."""

    def col(name: str, default: object = None) -> list:
        if name in units.columns:
            return [None if (isinstance(v, float) and np.isnan(v)) else v for v in units[name].tolist()]
        return [default] * len(units)

    n = len(units)
    source = units["source_session_id"].tolist() if "source_session_id" in units.columns else [source_session_id] * n
    return {
        "session_id": [session_id] * n,
        "unit_index": list(range(n)),
        "unit_id": [int(u) for u in units.index],
        "source_session_id": source,
        "region_group": col("region_group"),
        "structure": col("structure"),
        "probe": col("probe"),
        "cell_type": col("cell_type"),
        "quality": col("quality"),
        **{
            k: [None if v is None else float(v) for v in col(k)]
            for k in (
                "amplitude_cutoff",
                "presence_ratio",
                "isi_violations",
                "firing_rate",
                "snr",
                "opto_reliability",
                "opto_median_latency_s",
                "opto_rate_ratio",
            )
        },
    }


def write_normalization(root: Path, session_id: str, unit_ids: Sequence[int], moments: TaskMoments) -> tuple[str, str]:
    """Write ``data/normalization/<session>.parquet`` (one row per task x unit); return (relpath, sha256)."""
    cols: dict[str, list] = {k: [] for k in NORMALIZATION_FEATURES}
    for task in sorted(moments.by_task):
        mean, std = moments.by_task[task].mean_std()
        n = len(unit_ids)
        cols["task"] += [task] * n
        cols["session_id"] += [session_id] * n
        cols["unit_index"] += list(range(n))
        cols["unit_id"] += [int(u) for u in unit_ids]
        cols["mean"] += mean.tolist()
        cols["std"] += std.tolist()
        cols["n_bins"] += [moments.by_task[task].n_bins] * n
    rel = f"data/normalization/{session_id}.parquet"
    return rel, atomic_write_parquet(build_table(cols, NORMALIZATION_FEATURES), root / rel)


def write_samples(
    root: Path,
    *,
    session_id: str,
    stimulus: str,
    codes: np.ndarray,
    repeat: np.ndarray,
    frame: np.ndarray,
    onset: np.ndarray | None,
    t_start: np.ndarray | None,
    windows: np.ndarray,
    captions: np.ndarray,
    window: WindowSpec,
    out: SessionOutput,
) -> None:
    """Write one parquet file per atom code for the used presentations of one stimulus."""
    features = sample_features(window.window_bins)
    n = len(repeat)
    for code in sorted(set(codes.tolist())):
        if not is_used(code):
            continue
        idx = np.flatnonzero(codes == code)
        cols = {
            "sample_id": sample_ids(session_id, stimulus, repeat[idx], frame[idx]),
            "session_id": [session_id] * idx.size,
            "stimulus": [stimulus] * idx.size,
            "repeat": repeat[idx].astype(np.int32),
            "frame": frame[idx].astype(np.int32),
            "onset": onset[idx] if onset is not None else [None] * idx.size,
            "t_start": t_start[idx] if t_start is not None else [None] * idx.size,
            "bin_s": np.full(idx.size, window.bin_s),
            "spikes": windows[idx],
            "caption": [captions[f] if captions is not None else None for f in frame[idx].tolist()],
        }
        rel = f"data/{stimulus}/{code}/{session_id}.parquet"
        out.files[rel] = atomic_write_parquet(build_table(cols, features), root / rel)
        out.atoms.append((stimulus, code))
    logger.debug("session %s %s: %d presentations written", session_id, stimulus, n)


def build_session(
    recording: SessionRecording,
    root: Path,
    *,
    source_sha256: str,
    tasks: Sequence[TaskSpec],
    window: WindowSpec,
    captions: Mapping[str, np.ndarray],
    tagged_dir: Path,
) -> SessionOutput:
    """Write every artefact of one recorded session under ``root``.

    Args:
        recording: The session as read from NWB.
        root: Staging dataset root.
        source_sha256: sha256 of the NWB file (provenance).
        tasks: Tasks being built.
        window: Window placement and bin width.
        captions: stimulus -> (n_frames,) caption per frame.
        tagged_dir: Where to leave the optotagged units' windows (``.npz``) for the pseudo-mice step.

    Returns:
        The files and atoms written.
    """
    session_id = str(recording.session_id)
    units, failed_by = select_units(recording)
    out = SessionOutput()
    spikes = [recording.spike_times[int(u)] for u in units.index]
    moments = TaskMoments(n_units=len(units))
    tagged_idx = np.flatnonzero(units["cell_type"].isin(TAGGED_CELL_TYPES).to_numpy())
    tagged_payload: dict[str, np.ndarray] = {}
    for stimulus in sorted({s for t in tasks for s in t.stimuli}):
        if stimulus not in recording.presentations:
            raise NWBFormatError(
                f"{recording.path}: missing table intervals/{stimulus}_presentations needed by tasks "
                f"{[t.name for t in tasks if stimulus in t.stimuli]}; tables present: {sorted(recording.presentations)}"
            )
        table = recording.presentations[stimulus]
        pres = index_presentations(
            table, stimulus, source=recording.path, invalid_intervals=recording.invalid_stimulus_intervals()
        )
        codes, splits = atom_codes(stimulus, tasks, pres.repeat, pres.frame, pres.n_frames)
        used = np.array([is_used(c) for c in codes], dtype=bool)
        t_start = np.array([window.t_start(o) for o in pres.onset[used]])
        windows = bin_spike_windows(spikes, t_start, window.window_bins, window.bin_s, unit_ids=units.index.to_list())
        if stimulus in captions and pres.n_frames > len(captions[stimulus]):
            raise NWBFormatError(
                f"{recording.path}: intervals/{stimulus}_presentations shows frame {pres.n_frames - 1} but the "
                f"stimulus set has {len(captions[stimulus])} frames"
            )
        write_samples(
            root,
            session_id=session_id,
            stimulus=stimulus,
            codes=codes[used],
            repeat=pres.repeat[used],
            frame=pres.frame[used],
            onset=pres.onset[used],
            t_start=t_start,
            windows=windows,
            captions=captions.get(stimulus),
            window=window,
            out=out,
        )
        moments.add_training({task: split[used] for task, split in splits.items()}, windows)
        durations = (table["stop_time"] - table["start_time"]).to_numpy(dtype=float)
        out.raw_bytes += int(len(units) * np.round(np.nansum(durations) / window.bin_s))
        if tagged_idx.size:
            tagged_payload[f"{stimulus}__repeat"] = pres.repeat[used]
            tagged_payload[f"{stimulus}__frame"] = pres.frame[used]
            tagged_payload[f"{stimulus}__codes"] = codes[used].astype(str)
            tagged_payload[f"{stimulus}__windows"] = windows[:, tagged_idx, :]
    if tagged_idx.size:
        tagged_dir.mkdir(parents=True, exist_ok=True)
        tmp = tagged_dir / f".{session_id}.npz.tmp.npz"
        np.savez(tmp, unit_index=tagged_idx, **tagged_payload)
        tmp.replace(tagged_dir / f"{session_id}.npz")
    rel = f"data/units/{session_id}.parquet"
    out.files[rel] = atomic_write_parquet(
        build_table(units_rows(session_id, units, session_id), UNITS_FEATURES), root / rel
    )
    rel, digest = write_normalization(root, session_id, units.index.to_list(), moments)
    out.files[rel] = digest
    row = {
        "session_id": [session_id],
        "kind": ["recording"],
        "session_type": [recording.session_type],
        "genotype": [recording.genotype],
        "cell_line": [genotype_cell_type(recording.genotype)],
        "subject_id": [recording.subject_id],
        "source_file": [recording.path.name],
        "source_sha256": [source_sha256],
        "source_sessions": [[session_id]],
        "n_units_nwb": [len(recording.units)],
        "n_units": [len(units)],
        "qc_failed_by": [json.dumps(failed_by, sort_keys=True)],
    }
    rel = f"data/sessions/{session_id}.parquet"
    out.files[rel] = atomic_write_parquet(build_table(row, SESSIONS_FEATURES), root / rel)
    return out
