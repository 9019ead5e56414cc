"""Stimulus presentations -> one indexed row per usable presentation (repeat, frame, onset).

Allen tables have no ``repeat`` column: a movie repeat starts where ``frame == 0`` (layout doc sec. 2).
For natural scenes the repeat of a presentation is the occurrence index of its image, in time order;
blank presentations (``frame == -1``) are dropped. Presentations overlapping an ``invalid_times`` interval
tagged "stimulus" (closed intervals, as AllenSDK) are dropped after repeats are numbered, so the
numbering of the remaining presentations does not change.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from neurrator_bench.errors import NWBFormatError
from neurrator_bench.tasks import NATURAL_STIMULI, SCENES


@dataclass(frozen=True)
class PresentationIndex:
    """Usable presentations of one stimulus in one session, in time order.

    Attributes:
        stimulus: Allen stimulus name.
        repeat: (n,) int32 repeat index.
        frame: (n,) int32 movie frame or image index.
        onset: (n,) float64 presentation start time (s, session clock).
        n_frames: Number of distinct frames/images of the stimulus.
        stop: (n,) float64 presentation stop time (s); equals ``onset`` when the table has no stop_time.
    """

    stimulus: str
    repeat: np.ndarray
    frame: np.ndarray
    onset: np.ndarray
    n_frames: int
    stop: np.ndarray | None = None


def index_presentations(
    table: pd.DataFrame,
    stimulus: str,
    *,
    source: Path | str = "<memory>",
    invalid_intervals: np.ndarray | None = None,
) -> PresentationIndex:
    """Index the presentations of a natural stimulus.

    Args:
        table: The ``intervals/<stimulus>_presentations`` table (numeric ``start_time`` and ``frame``).
        stimulus: One of :data:`neurrator_bench.tasks.NATURAL_STIMULI`.
        source: File the table came from, for error messages.
        invalid_intervals: (k, 2) start/stop (s) of invalid intervals; overlapping presentations are dropped.

    Returns:
        The presentation index, sorted by onset.

    Raises:
        ValueError: Unknown stimulus name.
        NWBFormatError: Missing columns, NaN frames/times, or a movie that does not start at frame 0.
    """
    if stimulus not in NATURAL_STIMULI:
        raise ValueError(
            f"unknown stimulus {stimulus!r}: expected one of {', '.join(NATURAL_STIMULI)} "
            "(the BO1.1 natural stimuli this dataset is built from)"
        )
    path = f"{source}: intervals/{stimulus}_presentations"
    for column in ("start_time", "frame"):
        if column not in table.columns:
            raise NWBFormatError(f"{path}: missing column {column!r}; columns are {sorted(table.columns)}")
    table = table.sort_values("start_time", kind="stable")
    onset = table["start_time"].to_numpy(dtype=np.float64)
    frame_f = pd.to_numeric(table["frame"], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(onset) | ~np.isfinite(frame_f))
    if bad.size:
        raise NWBFormatError(f"{path}: non-numeric start_time/frame at row {int(bad[0])} (of {len(table)} rows)")
    frame = frame_f.astype(np.int64)
    stop = table["stop_time"].to_numpy(dtype=np.float64) if "stop_time" in table.columns else onset
    if stimulus == SCENES:
        keep = frame >= 0
        frame, onset, stop = frame[keep], onset[keep], stop[keep]
        if frame.size == 0:
            raise NWBFormatError(f"{path}: no non-blank presentations (every frame is -1)")
        order = pd.Series(frame).groupby(frame).cumcount().to_numpy()
        repeat = order.astype(np.int64)
        n_frames = int(frame.max()) + 1
    else:
        if frame.size == 0 or frame[0] != 0:
            first = None if frame.size == 0 else int(frame[0])
            raise NWBFormatError(
                f"{path}: the first presentation must show frame 0 (a repeat starts at frame 0); found {first}"
            )
        repeat = np.cumsum(frame == 0) - 1
        n_frames = int(frame.max()) + 1
    valid = np.ones(frame.size, dtype=bool)
    if invalid_intervals is not None and len(invalid_intervals):
        inv = np.asarray(invalid_intervals, dtype=np.float64)
        valid = ~((onset[:, None] <= inv[None, :, 1]) & (stop[:, None] >= inv[None, :, 0])).any(axis=1)
    return PresentationIndex(
        stimulus=stimulus,
        repeat=repeat[valid].astype(np.int32),
        frame=frame[valid].astype(np.int32),
        onset=onset[valid],
        n_frames=n_frames,
        stop=stop[valid],
    )
