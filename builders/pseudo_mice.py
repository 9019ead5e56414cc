"""Genotype pseudo-mice (paper A.3): optotagged units concatenated across sessions of one Cre line.

BO1.1 shows every mouse the identical stimulus sequence, so presentations are aligned by
``(stimulus, repeat, frame)``. A pseudo-mouse ``pseudo-<cell type>`` has one sample per key present in
every contributing session, and as columns the tagged units of those sessions, in session-id order then
each session's unit order. ``pseudo-tagged`` pools all tagged units (PV, SST and VIP), so one model
trained on it can be queried per cell type. Window times differ between source sessions, so ``onset``
and ``t_start`` are null for pseudo-mouse samples.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from neurrator_bench.builders.atoms import atom_codes, is_used
from neurrator_bench.builders.normalization import TaskMoments
from neurrator_bench.builders.session_samples import (
    TAGGED_CELL_TYPES,
    SessionOutput,
    units_rows,
    write_normalization,
    write_samples,
)
from neurrator_bench.builders.shards import atomic_write_parquet, build_table
from neurrator_bench.schemas.dataset import SESSIONS_FEATURES, UNITS_FEATURES, WindowSpec
from neurrator_bench.tasks import TaskSpec

UNION = "tagged"


def _load_tagged(root: Path, tagged_dir: Path, session_id: str) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    with np.load(tagged_dir / f"{session_id}.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    units = pq.read_table(root / f"data/units/{session_id}.parquet").to_pandas()
    units = units.set_index("unit_index").loc[arrays["unit_index"]].reset_index(drop=True)
    return units, arrays


def build_pseudo_mice(
    root: Path,
    tagged_dir: Path,
    session_ids: Sequence[str],
    *,
    tasks: Sequence[TaskSpec],
    window: WindowSpec,
    captions: Mapping[str, np.ndarray],
    n_frames: Mapping[str, int],
) -> SessionOutput:
    """Write every pseudo-mouse from the tagged windows the session step left in ``tagged_dir``.

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
        pseudo_id = f"pseudo-{cell_type}"
        keep_units = [loaded[sid][0].assign(_pos=np.arange(len(loaded[sid][0]))) for sid in sids]
        keep_units = [
            u[u["cell_type"].isin(TAGGED_CELL_TYPES if cell_type == UNION else (cell_type,))] for u in keep_units
        ]
        units = pd.concat(keep_units, ignore_index=True)
        units.index = pd.Index(units["unit_id"].to_numpy(), name="unit_id")
        moments = TaskMoments(n_units=len(units))
        for stimulus in sorted({s for t in tasks for s in t.stimuli}):
            keys = None
            for sid in sids:
                arrays = loaded[sid][1]
                if f"{stimulus}__repeat" not in arrays:
                    keys = set()
                    break
                k = set(
                    zip(
                        arrays[f"{stimulus}__repeat"].tolist(),
                        arrays[f"{stimulus}__frame"].tolist(),
                        strict=True,
                    )
                )
                keys = k if keys is None else keys & k
            if not keys:
                continue
            order = sorted(keys)
            repeat = np.array([k[0] for k in order], dtype=np.int32)
            frame = np.array([k[1] for k in order], dtype=np.int32)
            parts = []
            for sid, u in zip(sids, keep_units, strict=True):
                arrays = loaded[sid][1]
                pos = {
                    k: i
                    for i, k in enumerate(
                        zip(
                            arrays[f"{stimulus}__repeat"].tolist(),
                            arrays[f"{stimulus}__frame"].tolist(),
                            strict=True,
                        )
                    )
                }
                rows = np.array([pos[k] for k in order])
                parts.append(arrays[f"{stimulus}__windows"][rows][:, u["_pos"].to_numpy(), :])
            windows = np.concatenate(parts, axis=1)
            codes, splits = atom_codes(stimulus, tasks, repeat, frame, n_frames[stimulus])
            used = np.array([is_used(c) for c in codes], dtype=bool)
            write_samples(
                root,
                session_id=pseudo_id,
                stimulus=stimulus,
                codes=codes[used],
                repeat=repeat[used],
                frame=frame[used],
                onset=None,
                t_start=None,
                windows=windows[used],
                captions=captions.get(stimulus),
                window=window,
                out=out,
            )
            moments.add_training({task: split[used] for task, split in splits.items()}, windows[used])
        rel = f"data/units/{pseudo_id}.parquet"
        out.files[rel] = atomic_write_parquet(build_table(units_rows(pseudo_id, units), UNITS_FEATURES), root / rel)
        rel, digest = write_normalization(root, pseudo_id, units.index.to_list(), moments)
        out.files[rel] = digest
        row = {
            "session_id": [pseudo_id],
            "kind": ["pseudo-mouse"],
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
