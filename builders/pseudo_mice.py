"""Genotype pseudo-mice (paper A.3): optotagged units concatenated across sessions of one Cre line.

BO1.1 shows every mouse the identical stimulus sequence, so presentations are aligned by ``(stimulus, repeat, frame,
bin_index)`` (the same 120 Hz bin of the same trial). A pseudo-mouse ``pseudo-<cell type>`` has one sample per key
present in every contributing session, and as columns the tagged units of those sessions, in session-id order then
each session's unit order. ``pseudo-tagged`` pools all tagged units (PV, SST and VIP), so one model trained on it can
be queried per cell type. Window times differ between source sessions, so ``onset`` and ``t_start`` are null for
pseudo-mouse samples.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from neurrator_bench.builders.atoms import UNUSED, is_used, splits_from_codes
from neurrator_bench.builders.bin_samples import window_offset
from neurrator_bench.builders.normalization import TaskMoments
from neurrator_bench.builders.session_samples import (
    TAGGED_CELL_TYPES,
    SessionOutput,
    units_rows,
    write_normalization,
    write_samples,
)
from neurrator_bench.builders.shards import atomic_write_parquet, build_table
from neurrator_bench.schemas.dataset import PSEUDO_MOUSE_PREFIX, SESSIONS_FEATURES, UNITS_FEATURES, WindowSpec
from neurrator_bench.tasks import SCENES, TaskSpec

UNION = "tagged"


def _load_tagged(root: Path, tagged_dir: Path, session_id: str) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    with np.load(tagged_dir / f"{session_id}.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    units = pq.read_table(root / f"data/units/{session_id}.parquet").to_pandas()
    units = units.set_index("unit_index").loc[arrays["unit_index"]].reset_index(drop=True)
    return units, arrays


def _frame_bin_index(repeat: np.ndarray, frame: np.ndarray) -> dict[tuple[int, int, int], int]:
    """Row of each ``(repeat, frame, k)`` key: the k-th sample (in bin order) of that frame in that repeat.

    Sessions show the same movie at slightly different frame rates, so the bin index of a frame drifts
    between sessions by a few bins over a repeat; the k-th bin of a frame does not.
    """
    rank = pd.DataFrame({"r": repeat, "f": frame}).groupby(["r", "f"], sort=False).cumcount().to_numpy()
    keys = zip(repeat.tolist(), frame.tolist(), rank.tolist(), strict=True)
    return {k: i for i, k in enumerate(keys)}


def build_pseudo_mice(
    root: Path,
    tagged_dir: Path,
    session_ids: Sequence[str],
    *,
    tasks: Sequence[TaskSpec],
    window: WindowSpec,
    captions: Mapping[str, np.ndarray],
    data_origin: str = "allen",
) -> SessionOutput:
    """Write every pseudo-mouse from the tagged windows the session step left in ``tagged_dir``.

    Args:
        root: Staging dataset root.
        tagged_dir: Tagged units' windows left by the session step.
        session_ids: Recorded sessions of the build.
        tasks: Tasks being built.
        window: Window placement.
        captions: stimulus -> caption per frame.
        data_origin: Origin of the member sessions (``allen`` or ``simulated``).

    Returns:
        Files and atoms written (empty when no session has optotagged units).
    """
    out = SessionOutput()
    loaded = {
        sid: _load_tagged(root, tagged_dir, sid) for sid in sorted(session_ids) if (tagged_dir / f"{sid}.npz").exists()
    }
    groups: dict[str, list[str]] = {}
    for sid, (units, _) in loaded.items():
        for cell_type in sorted(set(units["cell_type"]) & set(TAGGED_CELL_TYPES)):
            groups.setdefault(cell_type, []).append(sid)
            groups.setdefault(UNION, []).append(sid)
    for cell_type, members in sorted(groups.items()):
        sids = sorted(set(members))
        pseudo_id = f"{PSEUDO_MOUSE_PREFIX}{cell_type}"
        keep_units = [loaded[sid][0].assign(_pos=np.arange(len(loaded[sid][0]))) for sid in sids]
        keep_units = [
            u[u["cell_type"].isin(TAGGED_CELL_TYPES if cell_type == UNION else (cell_type,))] for u in keep_units
        ]
        units = pd.concat(keep_units, ignore_index=True)
        units.index = pd.Index(units["unit_id"].to_numpy(), name="unit_id")
        moments = TaskMoments(n_units=len(units))
        for stimulus in sorted({s for t in tasks for s in t.stimuli}):
            index: list[dict[tuple[int, int, int], int]] = []
            for sid in sids:
                arrays = loaded[sid][1]
                if f"{stimulus}__repeat" not in arrays:
                    index = []
                    break
                index.append(_frame_bin_index(arrays[f"{stimulus}__repeat"], arrays[f"{stimulus}__frame"]))
            if not index:
                continue
            matched = set.intersection(*(set(ix) for ix in index))
            out.dropped[f"{pseudo_id}|unmatched:{stimulus}"] = len(set.union(*(set(ix) for ix in index))) - len(matched)
            order = sorted(matched)
            if not order:
                continue
            rows = [np.array([ix[k] for k in order], dtype=np.int64) for ix in index]
            repeat = np.array([k[0] for k in order], dtype=np.int32)
            frame = np.array([k[1] for k in order], dtype=np.int32)
            bin_index = loaded[sids[0]][1][f"{stimulus}__bin"][rows[0]].astype(np.int32)  # the first member's bins
            # a key's split is the members' split where they all agree (guard bands depend on each session's
            # timing), unused otherwise
            member_codes = [loaded[sid][1][f"{stimulus}__codes"][r] for sid, r in zip(sids, rows, strict=True)]
            codes = np.array(
                [
                    "".join(c[0] if len(set(c)) == 1 else UNUSED for c in zip(*cs, strict=True))
                    for cs in zip(*member_codes, strict=True)
                ],
                dtype=object,
            )
            parts = [
                loaded[sid][1][f"{stimulus}__windows"][r][:, u["_pos"].to_numpy(), :]
                for sid, u, r in zip(sids, keep_units, rows, strict=True)
            ]
            windows = np.concatenate(parts, axis=1)
            used = np.array([is_used(c) for c in codes.tolist()], dtype=bool)
            write_samples(
                root,
                session_id=pseudo_id,
                stimulus=stimulus,
                codes=codes[used],
                repeat=repeat[used],
                frame=frame[used],
                bin_index=bin_index[used],
                onset=None,
                t_start=None,
                windows=lambda idx, _w=windows[used]: _w[idx],
                captions=captions.get(stimulus),
                window=window,
                out=out,
            )
            # a segment is a movie repeat, or one (image, occurrence) scene presentation
            seg_key = np.char.add(
                repeat[used].astype(str), np.where(stimulus == SCENES, "/" + frame[used].astype(str), "")
            )
            moments.add_training_windows(
                splits_from_codes(stimulus, tasks, codes[used]),
                windows[used],
                seg_key,
                bin_index[used] - window_offset(window.window_bins, window.alignment),
            )
        rel = f"data/units/{pseudo_id}.parquet"
        out.files[rel] = atomic_write_parquet(build_table(units_rows(pseudo_id, units), UNITS_FEATURES), root / rel)
        rel, digest = write_normalization(root, pseudo_id, units.index.to_list(), moments, out)
        out.files[rel] = digest
        row = {
            "session_id": [pseudo_id],
            "kind": ["pseudo-mouse"],
            "data_origin": [data_origin],
            "session_type": ["brain_observatory_1.1"],
            "genotype": [None],
            "cell_line": [cell_type],
            "subject_id": [None],
            "source_file": [None],
            "source_sha256": [None],
            "source_sessions": [sids],
            "n_units_nwb": [None],
            "n_units": [len(units)],
            "qc_failed_by": [json.dumps({})],
        }
        rel = f"data/sessions/{pseudo_id}.parquet"
        out.files[rel] = atomic_write_parquet(build_table(row, SESSIONS_FEATURES), root / rel)
    return out
