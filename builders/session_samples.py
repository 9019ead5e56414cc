"""One session -> its sample shards, its ``units``/``sessions`` rows and its z-score statistics."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from neurrator_bench.builders.atoms import codes_from_splits, is_used, tasks_using
from neurrator_bench.builders.bin_samples import bin_samples, overlaps, segments, shown_at
from neurrator_bench.builders.binning import count_grids, grid_windows
from neurrator_bench.builders.normalization import TaskMoments
from neurrator_bench.builders.optotagging import (
    SessionOptotagging,
    genotype_cell_type,
    optotag_session,
    summarize_lines,
)
from neurrator_bench.builders.presentations import index_presentations
from neurrator_bench.builders.recording import SessionRecording
from neurrator_bench.builders.regions import assign_region_groups
from neurrator_bench.builders.shards import atomic_write_parquet, build_table
from neurrator_bench.builders.unit_qc import apply_unit_filters
from neurrator_bench.errors import NoUsableUnitsError, NWBFormatError
from neurrator_bench.schemas.dataset import (
    NORMALIZATION_FEATURES,
    RECORDINGS_FEATURES,
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
        raw_bytes: Size of the continuous uint8 counts (units x bins of every segment) the samples are cut from.
        dropped: ``"invalid:<stimulus>"`` / ``"guard:<task>"`` -> windows dropped for overlapping an invalid
            span / by a task's guard band (train and validation windows); for the pseudo-mice step
            ``"<pseudo id>|unmatched:<stimulus>"`` -> keys not present in every member session.
        sample_digests: sample shard -> :func:`rows_digest` of its rows (order-independent, for task fingerprints).
        optotagging: ``LineSummary`` dicts of the session's Cre line (empty for wild type).
        norm_digests: ``<session>/<task>`` -> sha256 of that session's normalization rows of that task.
        timings: Seconds spent ``counting`` (count grids) and ``writing`` (cutting windows, parquet shards,
            statistics) in this session; never written into the dataset (builds stay byte-identical).
    """

    files: dict[str, str] = field(default_factory=dict)
    atoms: list[tuple[str, str]] = field(default_factory=list)
    raw_bytes: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    sample_digests: dict[str, str] = field(default_factory=dict)
    norm_digests: dict[str, str] = field(default_factory=dict)
    optotagging: list[dict] = field(default_factory=list)


def sample_ids(
    session_id: str, stimulus: str, repeat: np.ndarray, frame: np.ndarray, bin_index: np.ndarray
) -> list[str]:
    """Stable, unique sample ids ``<session>/<stimulus>/r<repeat>/f<frame>/b<bin within repeat or presentation>``."""
    return [
        f"{session_id}/{stimulus}/r{r:02d}/f{f:04d}/b{b:05d}"
        for r, f, b in zip(repeat.tolist(), frame.tolist(), bin_index.tolist(), strict=True)
    ]


def select_units(recording: SessionRecording) -> tuple[pd.DataFrame, dict[str, int], SessionOptotagging]:
    """Allen QC, region groups, optotagged cell types, in dataset column order.

    Returns:
        ``(units, failed_by, optotagging)``: QC-passing units sorted by (probe, probe_vertical_position,
        unit_id) with columns ``region_group`` and the cell-type columns, the QC failure counts, and the
        session's optotagging (trials used, per-unit metrics) for the card.

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
    tagging = optotag_session(recording, kept.index.to_list())
    cells = tagging.cell_types.set_index("unit_id")
    kept["cell_type"] = cells["cell_type"].reindex(kept.index)
    for src, dst in (
        ("reliability", "opto_reliability"),
        ("median_latency_s", "opto_median_latency_s"),
        ("rate_ratio", "opto_rate_ratio"),
    ):
        kept[dst] = cells[src].reindex(kept.index) if src in cells.columns else np.nan
    return kept, dict(report.failed_by), tagging


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


def gather_windows(
    grids: Sequence[np.ndarray],
    segment: np.ndarray,
    first_bin: np.ndarray,
    window_bins: int,
    rows: np.ndarray | None = None,
) -> np.ndarray:
    """(n, n_units, window_bins) windows cut from per-segment count grids, in the order of ``segment``.

    Args:
        grids: (n_units, n_bins) counts of each segment (:func:`count_grid`).
        segment: (n,) segment of each window.
        first_bin: (n,) first bin of each window within its segment.
        window_bins: Bins per window.
        rows: Unit rows to keep (all when None).
    """
    n_units = len(rows) if rows is not None else (grids[0].shape[0] if grids else 0)
    out = np.empty((segment.size, n_units, window_bins), dtype=np.uint8)
    for s in np.unique(segment):
        sel = np.flatnonzero(segment == s)
        grid = grids[int(s)] if rows is None else grids[int(s)][rows]
        if sel[-1] - sel[0] + 1 == sel.size:  # samples come in segment order: gather straight into the output
            grid_windows(grid, first_bin[sel], window_bins, out=out[sel[0] : sel[-1] + 1])
        else:
            out[sel] = grid_windows(grid, first_bin[sel], window_bins)
    return out


def add_recording_rows(
    cols: dict[str, list],
    session_id: str,
    stimulus: str,
    *,
    segs: Sequence,
    grids: Sequence[np.ndarray],
    bin_s: float,
    running: tuple[np.ndarray, np.ndarray] | None,
    invalid_spans: np.ndarray,
) -> None:
    """Append one ``recordings`` row per segment: its continuous counts as sparse (unit, bin, count) triples.

    ``running_speed`` per bin is the running-wheel speed linearly interpolated at the bin's centre (NaN outside
    the recorded samples; the whole list is null when the NWB file has no running speed). ``valid[k]`` is False for
    bins overlapping an applied ``invalid_times`` span (their counts are not real silence or activity).
    """
    for s, (seg, grid) in enumerate(zip(segs, grids, strict=True)):
        unit, b = np.nonzero(grid)
        p, shown = shown_at(seg, np.arange(seg.n_bins), bin_s)
        cols["session_id"].append(session_id)
        cols["stimulus"].append(stimulus)
        cols["segment"].append(s)
        cols["repeat"].append(seg.repeat)
        cols["t0"].append(seg.t0)
        cols["bin_s"].append(bin_s)
        cols["n_units"].append(grid.shape[0])
        cols["n_bins"].append(seg.n_bins)
        cols["frame_of_bin"].append(np.where(shown, seg.frame[p], -1).astype(np.int32))
        starts = seg.t0 + np.arange(seg.n_bins) * bin_s
        cols["valid"].append(~overlaps(starts, starts + bin_s, invalid_spans))
        if running is None:
            cols["running_speed"].append(None)
        else:
            centre = seg.t0 + (np.arange(seg.n_bins) + 0.5) * bin_s
            cols["running_speed"].append(np.interp(centre, *running, left=np.nan, right=np.nan).astype(np.float32))
        cols["unit_index"].append(unit.astype(np.int32))
        cols["bin"].append(b.astype(np.int32))
        cols["count"].append(grid[unit, b])


ROW_DIGEST_MODULUS = 1 << 256


def rows_digest(cols: Mapping[str, object]) -> str:
    """Order-independent digest of a shard's rows: the sum of each row's sha256 modulo 2**256, as hex.

    Sums are associative and commutative, so the digest of a task split is the sum of its shards' digests
    however the build groups samples into shards (adding a task regroups them, never changes a sample).

    Args:
        cols: The shard's columns as given to :func:`build_table` (``spikes`` a (n, units, bins) array).
    """
    spikes = np.ascontiguousarray(cols["spikes"])
    names = [k for k in cols if k != "spikes"]
    values = {k: list(cols[k]) if not isinstance(cols[k], np.ndarray) else cols[k].tolist() for k in names}
    total = 0
    for i in range(spikes.shape[0]):
        h = hashlib.sha256(repr([values[k][i] for k in names]).encode())
        h.update(spikes[i].tobytes())
        total = (total + int.from_bytes(h.digest(), "big")) % ROW_DIGEST_MODULUS
    return f"{total:064x}"


def write_normalization(
    root: Path, session_id: str, unit_ids: Sequence[int], moments: TaskMoments, out: SessionOutput | None = None
) -> tuple[str, str]:
    """Write ``data/normalization/<session>.parquet`` (one row per task x unit); return (relpath, sha256).

    With ``out``, also records the sha256 of each task's rows in ``out.norm_digests``.
    """
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
        cols["zero_variance"] += (std == 0).tolist()
        if out is not None:
            rows = json.dumps([task, session_id, [int(u) for u in unit_ids], mean.tolist(), std.tolist()])
            out.norm_digests[f"{session_id}/{task}"] = hashlib.sha256(rows.encode()).hexdigest()
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
    bin_index: np.ndarray,
    onset: np.ndarray | None,
    t_start: np.ndarray | None,
    windows: Callable[[np.ndarray], np.ndarray],
    captions: np.ndarray,
    window: WindowSpec,
    out: SessionOutput,
) -> None:
    """Write one parquet file per atom code for the used samples of one stimulus.

    ``windows(idx)`` returns the (len(idx), n_units, window_bins) counts of the samples ``idx``, so that only
    one atom's windows are materialised at a time.
    """
    features = sample_features(window.window_bins)
    for code in sorted(set(codes.tolist())):
        if not is_used(code):
            continue
        idx = np.flatnonzero(codes == code)
        cols = {
            "sample_id": sample_ids(session_id, stimulus, repeat[idx], frame[idx], bin_index[idx]),
            "session_id": [session_id] * idx.size,
            "stimulus": [stimulus] * idx.size,
            "repeat": repeat[idx].astype(np.int32),
            "frame": frame[idx].astype(np.int32),
            "bin_index": bin_index[idx].astype(np.int32),
            "onset": onset[idx] if onset is not None else [None] * idx.size,
            "t_start": t_start[idx] if t_start is not None else [None] * idx.size,
            "bin_s": np.full(idx.size, window.bin_s),
            "spikes": windows(idx),
            "caption": [captions[f] if captions is not None else None for f in frame[idx].tolist()],
        }
        rel = f"data/{stimulus}/{code}/{session_id}.parquet"
        out.files[rel] = atomic_write_parquet(build_table(cols, features), root / rel)
        out.sample_digests[rel] = rows_digest(cols)
        out.atoms.append((stimulus, code))
    logger.debug("session %s %s: %d samples written", session_id, stimulus, len(repeat))


def build_session(
    recording: SessionRecording,
    root: Path,
    *,
    source_sha256: str,
    tasks: Sequence[TaskSpec],
    window: WindowSpec,
    captions: Mapping[str, np.ndarray],
    tagged_dir: Path,
    data_origin: str = "allen",
    sealed: Mapping[str, Sequence[int]] | None = None,
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
        data_origin: ``allen``, ``simulated`` or ``unknown`` (read from the NWB file by the caller).
        sealed: stimulus -> sealed frames (``build --seal-final``): test samples on them go to ``final``,
            train/validation windows near their display are dropped (:mod:`neurrator_bench.builders.sealing`).

    Returns:
        The files and atoms written.
    """
    session_id = str(recording.session_id)
    units, failed_by, tagging = select_units(recording)
    out = SessionOutput(optotagging=[line.as_dict() for line in summarize_lines([tagging])])
    spikes = [recording.spike_times[int(u)] for u in units.index]
    moments = TaskMoments(n_units=len(units))
    tagged_idx = np.flatnonzero(units["cell_type"].isin(TAGGED_CELL_TYPES).to_numpy())
    tagged_payload: dict[str, np.ndarray] = {}
    invalid_spans = recording.invalid_intervals_for(units["probe"].dropna().astype(str).unique())
    recording_rows: dict[str, list] = {k: [] for k in RECORDINGS_FEATURES}
    span_s = window.window_bins * window.bin_s
    for stimulus in sorted({s for t in tasks for s in t.stimuli}):
        if stimulus not in recording.presentations:
            raise NWBFormatError(
                f"{recording.path}: missing table intervals/{stimulus}_presentations needed by tasks "
                f"{[t.name for t in tasks if stimulus in t.stimuli]}; tables present: {sorted(recording.presentations)}"
            )
        table = recording.presentations[stimulus]
        # every presentation makes the segments; windows over invalid spans are dropped below
        pres = index_presentations(table, stimulus, source=recording.path)
        if stimulus in captions and pres.n_frames > len(captions[stimulus]):
            raise NWBFormatError(
                f"{recording.path}: intervals/{stimulus}_presentations shows frame {pres.n_frames - 1} but the "
                f"stimulus set has {len(captions[stimulus])} frames"
            )
        segs = segments(pres, window.bin_s)
        samples = bin_samples(segs, window.bin_s, window.window_bins, window.alignment, window.stride)
        invalid = overlaps(samples.t_start, samples.t_start + span_s, invalid_spans)
        out.dropped[f"invalid:{stimulus}"] = int(invalid.sum())
        samples = samples.take(~invalid)
        splits = {
            t.name: t.assign(stimulus, samples.repeat, samples.frame, pres.n_frames)
            for t in tasks_using(stimulus, tasks)
        }

        def near_display(frames: np.ndarray, _samples=samples, _pres=pres) -> np.ndarray:
            """Windows whose span, extended back by the guard latency, overlaps a display of ``frames``."""
            shown = np.isin(_pres.frame, frames)
            spans = np.column_stack([_pres.onset[shown], _pres.stop[shown]])
            return overlaps(_samples.t_start - window.guard_s, _samples.t_start + span_s, spans)

        for task in tasks_using(stimulus, tasks):
            held = task.held_out(stimulus, pres.n_frames)
            if held is None:
                continue
            fit = np.isin(splits[task.name], ["train", "validation"])
            guard = fit & near_display(held)
            splits[task.name][guard] = None
            out.dropped[f"guard:{task.name}"] = out.dropped.get(f"guard:{task.name}", 0) + int(guard.sum())
        seal = np.asarray((sealed or {}).get(stimulus, []), dtype=np.int64)
        if seal.size:
            near = near_display(seal)
            on_sealed = np.isin(samples.frame, seal)
            for task in tasks_using(stimulus, tasks):
                split = splits[task.name]
                drop = np.isin(split, ["train", "validation"]) & near
                split[drop] = None
                split[(split == "test") & on_sealed] = "final"
                out.dropped[f"sealed:{task.name}"] = out.dropped.get(f"sealed:{task.name}", 0) + int(drop.sum())
        codes = codes_from_splits(stimulus, tasks, splits, n=len(samples))
        used = np.array([is_used(c) for c in codes.tolist()], dtype=bool)
        samples, codes = samples.take(used), codes[used]
        splits = {k: v[used] for k, v in splits.items()}
        tick = time.perf_counter()
        grids = count_grids(
            spikes, [seg.t0 for seg in segs], [seg.n_bins for seg in segs], window.bin_s, unit_ids=units.index.to_list()
        )
        out.timings["counting"] = out.timings.get("counting", 0.0) + time.perf_counter() - tick
        tick = time.perf_counter()

        def windows_of(
            idx: np.ndarray, rows: np.ndarray | None = None, *, _grids=grids, _samples=samples
        ) -> np.ndarray:
            return gather_windows(_grids, _samples.segment[idx], _samples.first_bin[idx], window.window_bins, rows)

        write_samples(
            root,
            session_id=session_id,
            stimulus=stimulus,
            codes=codes,
            repeat=samples.repeat,
            frame=samples.frame,
            bin_index=samples.bin_index,
            onset=samples.onset,
            t_start=samples.t_start,
            windows=windows_of,
            captions=captions.get(stimulus),
            window=window,
            out=out,
        )
        moments.add_training_grids(splits, grids, samples.segment, samples.first_bin, window.window_bins)
        add_recording_rows(
            recording_rows,
            session_id,
            stimulus,
            segs=segs,
            grids=grids,
            bin_s=window.bin_s,
            running=recording.running_speed,
            invalid_spans=invalid_spans,
        )
        out.raw_bytes += int(len(units) * sum(seg.n_bins for seg in segs))
        out.timings["writing"] = out.timings.get("writing", 0.0) + time.perf_counter() - tick
        if tagged_idx.size:
            every = np.arange(len(samples))
            tagged_payload[f"{stimulus}__repeat"] = samples.repeat
            tagged_payload[f"{stimulus}__frame"] = samples.frame
            tagged_payload[f"{stimulus}__bin"] = samples.bin_index
            tagged_payload[f"{stimulus}__codes"] = codes.astype(str)
            tagged_payload[f"{stimulus}__windows"] = windows_of(every, tagged_idx)
    rel = f"data/recordings/{session_id}.parquet"
    out.files[rel] = atomic_write_parquet(build_table(recording_rows, RECORDINGS_FEATURES), root / rel)
    if tagged_idx.size:
        tagged_dir.mkdir(parents=True, exist_ok=True)
        tmp = tagged_dir / f".{session_id}.npz.tmp.npz"
        np.savez(tmp, unit_index=tagged_idx, **tagged_payload)
        tmp.replace(tagged_dir / f"{session_id}.npz")
    rel = f"data/units/{session_id}.parquet"
    out.files[rel] = atomic_write_parquet(
        build_table(units_rows(session_id, units, session_id), UNITS_FEATURES), root / rel
    )
    rel, digest = write_normalization(root, session_id, units.index.to_list(), moments, out)
    out.files[rel] = digest
    row = {
        "session_id": [session_id],
        "kind": ["recording"],
        "data_origin": [data_origin],
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
