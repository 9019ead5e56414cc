"""In-memory view of one Allen session, as the NWB reader hands it to the rest of the builder.

The reader (`nwb_reader.read_session`) fills this from an Allen-layout NWB file; nothing else in the
builder touches h5py. All tables are pandas DataFrames with numeric columns already coerced
(Allen stores some parameter columns as strings with "N/A").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass
class SessionRecording:
    """One session, unfiltered.

    Attributes:
        path: The NWB file it was read from.
        session_id: Allen ecephys session id (``/identifier``), e.g. 715093703.
        session_type: ``/general/stimulus``, e.g. "brain_observatory_1.1".
        genotype: ``/general/subject/genotype`` (full genotype string), "" if absent.
        subject_id: ``/general/subject/subject_id`` (donor id), "" if absent.
        units: One row per unit of the NWB units table (unfiltered), indexed by unit id (int64, name
            ``unit_id``). Columns include every scalar units column of the file (``quality``,
            ``amplitude_cutoff``, ``presence_ratio``, ``isi_violations``, ``firing_rate``, ``snr``,
            ``peak_channel_id``, ...) plus, joined from the electrodes table via
            ``peak_channel_id``: ``structure`` (CCF acronym or None when "" / "None"),
            ``probe`` (group_name, e.g. "probeA"), ``valid_data`` (bool),
            ``probe_vertical_position`` (µm).
        spike_times: Mapping unit id -> sorted float64 spike times in seconds (session clock).
        presentations: Mapping stimulus name (e.g. "natural_movie_one") -> its
            ``intervals/<name>_presentations`` table, rows in start_time order, with numeric columns
            ``start_time``, ``stop_time``, ``frame`` (float; -1 = blank for natural_scenes),
            ``stimulus_block`` (float) where present.
        optotagging: The ``optogenetic_stimulation`` table (start_time, stop_time, duration,
            level, condition, stimulus_name) or None when the file has no optotagging module/table.
        running_speed: ``(timestamps, cm/s)`` of ``/processing/running/running_speed``, or None.
        invalid_times: ``/intervals/invalid_times`` rows (start_time, stop_time, ``tags`` as a list of
            str per row), or None when the file has no such table.
    """

    path: Path
    session_id: int
    session_type: str
    genotype: str
    subject_id: str
    units: pd.DataFrame
    spike_times: dict[int, np.ndarray]
    presentations: dict[str, pd.DataFrame] = field(default_factory=dict)
    optotagging: pd.DataFrame | None = None
    invalid_times: pd.DataFrame | None = None
    running_speed: tuple[np.ndarray, np.ndarray] | None = None

    def invalid_intervals_for(self, probes: Iterable[str]) -> np.ndarray:
        """(k, 2) start/stop of every invalid interval that invalidates spike counts of units on ``probes``.

        Rows labelled "stimulus" or "all_probes" always apply; a row labelled with a probe name (e.g.
        "probeA", the third tag) applies when that probe is in ``probes``; "optotagging" rows do not
        apply to visual-stimulus samples. A row whose label is none of these applies too (the safe side).
        """
        if self.invalid_times is None or self.invalid_times.empty:
            return np.zeros((0, 2))
        probes = set(probes)

        def applies(tags: Sequence[str]) -> bool:
            label = str(tags[-1]) if len(tags) else ""
            if label == "optotagging":
                return False
            if label.startswith("probe"):
                return label in probes
            return True

        mask = self.invalid_times["tags"].map(applies).to_numpy(dtype=bool)
        return self.invalid_times.loc[mask, ["start_time", "stop_time"]].to_numpy(dtype=np.float64)

    def invalid_stimulus_intervals(self) -> np.ndarray:
        """(k, 2) start/stop of the invalid intervals tagged "stimulus" (AllenSDK masks presentations there)."""
        if self.invalid_times is None or self.invalid_times.empty:
            return np.zeros((0, 2))
        tagged = self.invalid_times["tags"].map(lambda tags: "stimulus" in tags).to_numpy(dtype=bool)
        return self.invalid_times.loc[tagged, ["start_time", "stop_time"]].to_numpy(dtype=np.float64)
