"""Write tiny Allen-layout (allensdk>=2, June 2020) session NWB files with h5py, for reader tests.

The files carry the real quirks of allen_nwb_layout.md: unfiltered units ("good"/"noise", NaN
metrics), ragged spike_times/spike_amplitudes/waveform_mean, electrodes with "" and "None"
locations, invalid channels and ``z`` duplicating ``y``, per-stimulus presentation tables with
str parameter columns holding "N/A" and list-like strings, ``frame`` f8 with -1 blanks, ``tags`` and
compound ``timeseries`` columns, and an optional optotagging module/table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

STR = h5py.string_dtype()


def default_electrodes() -> dict[str, list[Any]]:
    """Two probes x 3 channels; one invalid channel, one "" and one "None" location."""
    return {
        "id": [1000, 1001, 1002, 2000, 2001, 2002],
        "location": ["VISp", "", "CA1", "LGd", "None", "VISpm"],
        "group_name": ["probeA", "probeA", "probeA", "probeB", "probeB", "probeB"],
        "valid_data": [True, True, True, True, True, False],
        "probe_vertical_position": [20, 40, 60, 20, 40, 60],
        "x": [8000.0, 8010.0, 8020.0, 7000.0, np.nan, 7020.0],
        "y": [1000.0, 1100.0, 1200.0, 3000.0, np.nan, 3200.0],
    }


def default_units() -> dict[str, list[Any]]:
    """Five units (ids not sorted); unit 953 has unsorted spikes, unit 955 has none."""
    return {
        "id": [951, 957, 953, 954, 955],
        "peak_channel_id": [1000, 1001, 2000, 2001, 2002],
        "quality": ["good", "good", "noise", "good", "good"],
        "amplitude_cutoff": [0.01, 0.1, 0.5, np.nan, 0.02],
        "presence_ratio": [0.99, 0.95, 0.9, 0.99, 0.99],
        "isi_violations": [0.0, 0.5, 0.2, 0.1, 0.1],
        "firing_rate": [3.0, 2.0, 1.0, 0.5, 0.0],
        "snr": [2.5, np.nan, 1.0, 3.0, 2.0],
        "spike_times": [
            [0.5, 1.25, 2.0, 3.75],
            [0.1, 0.2],
            [5.0, 1.0, 3.0],
            [0.0],
            [],
        ],
    }


def default_presentations() -> dict[str, dict[str, list[Any]]]:
    """Short tables for four stimuli, with the real column dtypes and quirks."""
    nm1_frames = [0.0, 1.0, 2.0, 0.0, 1.0, 2.0]
    nm1_start = [10.0 + i / 30 for i in range(6)]
    return {
        "natural_movie_one": {
            "start_time": nm1_start,
            "stop_time": [t + 1 / 30 for t in nm1_start],
            "stimulus_name": ["natural_movie_one"] * 6,
            "stimulus_block": [4.0] * 6,
            "stimulus_index": [0.0] * 6,
            "color": ["[1.0, 1.0, 1.0]"] * 6,
            "contrast": [1.0] * 6,
            "frame": nm1_frames,
            "size": ["[1920.0, 1080.0]"] * 6,
        },
        "natural_scenes": {
            "start_time": [20.0, 20.25, 20.5, 20.75],
            "stop_time": [20.25, 20.5, 20.75, 21.0],
            "stimulus_name": ["natural_scenes"] * 4,
            "stimulus_block": [9.0] * 4,
            "frame": [5.0, -1.0, 117.0, -1.0],
        },
        "drifting_gratings": {
            "start_time": [30.0, 33.0, 36.0],
            "stop_time": [32.0, 35.0, 38.0],
            "stimulus_name": ["drifting_gratings"] * 3,
            "stimulus_block": [2.0] * 3,
            "orientation": [0.0, np.nan, 45.0],
            "spatial_frequency": ["0.04", "N/A", "0.04"],
            "temporal_frequency": [1.0, np.nan, 2.0],
            "size": ["[250.0, 250.0]"] * 3,
            "units": ["deg", "deg", "deg"],
        },
        "spontaneous": {
            "start_time": [0.0, 40.0],
            "stop_time": [9.0, 45.0],
            "stimulus_name": ["spontaneous"] * 2,
        },
    }


def default_optotagging() -> dict[str, list[Any]]:
    """Four optotagging trials of the four known conditions."""
    start = [100.0, 102.0, 104.0, 106.0]
    duration = [0.005, 0.01, 1.0, 0.010000000000002]
    return {
        "start_time": start,
        "condition": [
            "a single square pulse",
            "a single square pulse",
            "2.5 ms pulses at 10 Hz",
            "a single square pulse",
        ],
        "level": [1.3, 1.7, 2.0, 2.0],
        "stop_time": [s + d for s, d in zip(start, duration, strict=True)],
        "stimulus_name": ["pulse", "pulse", "fast_pulses", "pulse"],
        "duration": duration,
    }


@dataclass
class AllenFixture:
    """What to write. ``optotagging``: a table dict, "module_only" (module without table) or None."""

    session_id: int = 715093703
    session_type: str = "brain_observatory_1.1"
    genotype: str = "Pvalb-IRES-Cre/wt;Ai32(RCL-ChR2(H134R)_EYFP)/wt"
    subject_id: str = "699733573"
    nwb_version: str = "2.2.2"
    electrodes: dict[str, list[Any]] = field(default_factory=default_electrodes)
    units: dict[str, list[Any]] = field(default_factory=default_units)
    presentations: dict[str, dict[str, list[Any]]] = field(default_factory=default_presentations)
    optotagging: dict[str, list[Any]] | str | None = field(default_factory=default_optotagging)
    legacy_group_names: bool = False
    legacy_lab_meta_data: bool = False
    drop: tuple[str, ...] = ()


def _write_column(group: h5py.Group, name: str, values: list[Any]) -> None:
    if values and isinstance(values[0], str):
        group.create_dataset(name, data=np.array(values, dtype=object), dtype=STR)
    elif values and isinstance(values[0], bool | np.bool_):
        group.create_dataset(name, data=np.array(values, dtype=bool))
    else:
        group.create_dataset(name, data=np.asarray(values))


def _write_table(group: h5py.Group, columns: dict[str, list[Any]], *, with_tags: str | None = None) -> None:
    """Write a DynamicTable: ``id`` (given or 0..n-1), scalar columns, optional tags/timeseries."""
    n = len(next(iter(columns.values())))
    ids = columns.get("id", list(range(n)))
    group.attrs["neurodata_type"] = "DynamicTable"
    group.attrs["description"] = "no description"
    names = [c for c in columns if c != "id"]
    group.create_dataset("id", data=np.asarray(ids, dtype=np.int64))
    for name in names:
        _write_column(group, name, columns[name])
    if with_tags is not None:
        group.create_dataset("tags", data=np.array([with_tags] * n, dtype=object), dtype=STR)
        group.create_dataset("tags_index", data=np.arange(1, n + 1, dtype=np.int64))
        compound = np.dtype([("idx_start", "<i4"), ("count", "<i4"), ("timeseries", h5py.ref_dtype)])
        rows = np.zeros(n, dtype=compound)
        rows["idx_start"] = np.arange(n)
        rows["count"] = 1
        target = group.file.require_group("processing/stimulus/timestamps")
        rows["timeseries"] = [target.ref] * n
        group.create_dataset("timeseries", data=rows)
        group.create_dataset("timeseries_index", data=np.arange(1, n + 1, dtype=np.int64))
        names += ["tags", "timeseries"]
    group.attrs["colnames"] = np.array(names, dtype=object)


def _write_units(f: h5py.File, spec: AllenFixture) -> None:
    units = f.create_group("units")
    scalar = {k: v for k, v in spec.units.items() if k != "spike_times"}
    _write_table(units, scalar)
    trains = spec.units["spike_times"]
    lengths = [len(t) for t in trains]
    flat = np.concatenate([np.asarray(t, dtype=np.float64) for t in trains]) if trains else np.zeros(0)
    units.create_dataset("spike_times", data=flat)
    units.create_dataset("spike_times_index", data=np.cumsum(lengths, dtype=np.int64))
    units.create_dataset("spike_amplitudes", data=np.full(flat.shape, 1e-4))
    units.create_dataset("spike_amplitudes_index", data=np.cumsum(lengths, dtype=np.int64))
    n_units, n_channels = len(trains), len(spec.electrodes["id"])
    units.create_dataset("waveform_mean", data=np.zeros((n_units * n_channels, 4)))
    units.create_dataset("waveform_mean_index", data=np.arange(1, n_units + 1, dtype=np.int64) * n_channels)
    names = list(units.attrs["colnames"]) + ["spike_times", "spike_amplitudes", "waveform_mean"]
    units.attrs["colnames"] = np.array(names, dtype=object)


def _write_ephys(f: h5py.File, spec: AllenFixture) -> None:
    ephys = f.create_group("general/extracellular_ephys")
    for name in dict.fromkeys(spec.electrodes["group_name"]):
        if spec.legacy_group_names:
            g = ephys.create_group(str(810755797 + ord(name[-1])))
            g.attrs["neurodata_type"] = "EcephysProbe"
            g.attrs["description"] = name
        else:
            g = ephys.create_group(name)
            g.attrs["neurodata_type"] = "EcephysElectrodeGroup"
            g.attrs["description"] = "Ecephys Electrode Group"
        g.attrs["probe_id"] = 810755797
        g.attrs["lfp_sampling_rate"] = 1250.0
        f.create_group(f"general/devices/{name}").attrs["neurodata_type"] = "EcephysProbe"
    columns = dict(spec.electrodes)
    if "y" in columns:
        columns["z"] = list(columns["y"])  # the released-file bug: z duplicates y
    n = len(columns["id"])
    columns.setdefault("local_index", list(range(n)))
    columns.setdefault("probe_id", [810755797] * n)
    columns.setdefault("filtering", ["AP band: 500 Hz high-pass; LFP band: 1000 Hz low-pass"] * n)
    _write_table(ephys.create_group("electrodes"), columns)


def write_allen_nwb(path: Path, spec: AllenFixture | None = None) -> Path:
    """Write ``spec`` (default: `AllenFixture()`) as an Allen-layout session NWB file at ``path``."""
    spec = spec or AllenFixture()
    path = Path(path)
    with h5py.File(path, "w") as f:
        f.attrs["nwb_version"] = spec.nwb_version
        f.attrs["namespace"] = "core"
        f.attrs["neurodata_type"] = "NWBFile"
        f.create_dataset("identifier", data=str(spec.session_id), dtype=STR)
        f.create_dataset("session_description", data="Data and metadata for an Ecephys session", dtype=STR)
        f.create_dataset("general/session_id", data=str(spec.session_id), dtype=STR)
        f.create_dataset("general/stimulus", data=spec.session_type, dtype=STR)
        subject = f.create_group("general/subject")
        subject.attrs["neurodata_type"] = "EcephysSpecimen"
        subject.attrs["specimen_name"] = "Pvalb-IRES-Cre;Ai32-421338"
        subject.attrs["age_in_days"] = 118.0
        subject.create_dataset("genotype", data=spec.genotype, dtype=STR)
        subject.create_dataset("subject_id", data=spec.subject_id, dtype=STR)
        subject.create_dataset("age", data="P118D", dtype=STR)
        if spec.legacy_lab_meta_data:
            f.create_group("general/lab_meta_data/metadata").attrs["full_genotype"] = spec.genotype
        _write_ephys(f, spec)
        _write_units(f, spec)
        for name, table in spec.presentations.items():
            _write_table(f.create_group(f"intervals/{name}_presentations"), table, with_tags="stimulus_time_interval")
        if spec.optotagging is not None:
            module = f.create_group("processing/optotagging")
            module.attrs["description"] = "optogenetic stimulution"
            if isinstance(spec.optotagging, dict):
                _write_table(
                    module.create_group("optogenetic_stimulation"),
                    spec.optotagging,
                    with_tags="optical_stimulation",
                )
        for hdf_path in spec.drop:
            del f[hdf_path]
    return path
