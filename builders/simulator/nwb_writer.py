"""Write one simulated session as an Allen Visual Coding Neuropixels NWB file (June 2020 layout).

Paths, dtypes and quirks follow allen_nwb_layout.md sections 1-3 (subject with genotype dataset,
384 electrodes per probe with `z` duplicating `y`, unfiltered units with ragged spike columns and
(n_units * 384, 82) waveforms, one TimeIntervals table per stimulus, optional optotagging module).
The file caches its specifications (`nwb_spec`), so pynwb opens it and nwbinspector finds nothing critical;
the root `nwb_version` is the cached core version of the installed pynwb (Allen's files say 2.2.2).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from neurrator_bench.builders.origin import SIMULATOR_INSTITUTION

from .nwb_spec import write_specifications
from .nwb_tables import H5Writer
from .population import Population
from .probes import ProbeLayout
from .spikes import WAVEFORM_SAMPLES, UnitChunk, waveform_mean

UNIT_SCALAR_COLUMNS = (
    "PT_ratio",
    "amplitude",
    "amplitude_cutoff",
    "cluster_id",
    "cumulative_drift",
    "d_prime",
    "firing_rate",
    "isi_violations",
    "isolation_distance",
    "l_ratio",
    "local_index",
    "max_drift",
    "nn_hit_rate",
    "nn_miss_rate",
    "peak_channel_id",
    "presence_ratio",
    "quality",
    "recovery_slope",
    "repolarization_slope",
    "silhouette_score",
    "snr",
    "spread",
    "velocity_above",
    "velocity_below",
    "waveform_duration",
    "waveform_halfwidth",
)
INT_COLUMNS = frozenset({"cluster_id", "local_index", "peak_channel_id"})
RAGGED_DESCRIPTIONS = {
    "spike_times": "the spike times for each unit",
    "spike_amplitudes": "the amplitude of each spike for each unit (volts)",
    "waveform_mean": "the spike waveform mean for each spike unit",
}


@dataclass(frozen=True)
class SessionMeta:
    """Session-level metadata written to /identifier, /general and /general/subject.

    Attributes:
        session_id: Ecephys session id.
        specimen_id: sessions.csv specimen_id.
        donor_id: Subject id (the DANDI `sub-` label).
        full_genotype: Full Allen genotype string.
        strain: Mouse strain, e.g. "Pvalb-IRES-Cre;Ai32".
        age_in_days: Age (days).
        sex: "M" or "F".
        start_time: ISO session start time (derived from the seed; never wall-clock).
    """

    session_id: int
    specimen_id: int
    donor_id: int
    full_genotype: str
    strain: str
    age_in_days: float
    sex: str
    start_time: str


@dataclass
class SessionContent:
    """Everything that goes into one file besides the spikes."""

    meta: SessionMeta
    layout: ProbeLayout
    population: Population
    presentations: dict[str, pd.DataFrame]
    optotagging: pd.DataFrame | None
    invalid_times: pd.DataFrame
    running: tuple[np.ndarray, np.ndarray]
    t_end: float


def _write_general(w: H5Writer, c: SessionContent) -> None:
    f, m = w.f, c.meta
    w.typed(f, "NWBFile", "core", nwb_version=write_specifications(f))
    w.data(f, "file_create_date", [m.start_time])
    w.scalar_str("identifier", str(m.session_id))
    w.scalar_str("session_description", "Data and metadata for an Ecephys session")
    w.scalar_str("session_start_time", m.start_time)
    w.scalar_str("timestamps_reference_time", m.start_time)
    for path in ("acquisition", "analysis", "stimulus/presentation", "stimulus/templates"):
        w.group(path)
    w.scalar_str("general/session_id", str(m.session_id))
    w.scalar_str("general/institution", SIMULATOR_INSTITUTION)
    w.scalar_str("general/stimulus", "brain_observatory_1.1")
    subj = w.group(
        "general/subject",
        "EcephysSpecimen",
        "ndx-aibs-ecephys",
        specimen_name=f"{m.strain}-{m.specimen_id}",
        age_in_days=float(m.age_in_days),
        strain=m.strain,
    )
    for name, value in (
        ("genotype", m.full_genotype),
        ("age", f"P{int(m.age_in_days)}D"),
        ("sex", m.sex),
        ("species", "Mus musculus"),
        ("subject_id", str(m.donor_id)),
    ):
        subj.create_dataset(name, data=value, dtype=h5py.string_dtype("utf-8"), track_times=False)
    for _, p in c.layout.probes.iterrows():
        w.group(
            f"general/devices/{p['name']}",
            "EcephysProbe",
            "ndx-aibs-ecephys",
            description="Neuropixels 1.0 Probe",
            manufacturer="imec",
            probe_id=np.int64(p["probe_id"]),
            sampling_rate=float(p["sampling_rate"]),
        )
        g = w.group(
            f"general/extracellular_ephys/{p['name']}",
            "EcephysElectrodeGroup",
            "ndx-aibs-ecephys",
            description="Ecephys Electrode Group",
            location="See electrode locations",
            probe_id=np.int64(p["probe_id"]),
            lfp_sampling_rate=float(p["lfp_sampling_rate"]),
            has_lfp_data=True,
        )
        g["device"] = h5py.SoftLink(f"/general/devices/{p['name']}")
    ch = c.layout.channels
    refs = np.array([f[f"general/extracellular_ephys/{n}"].ref for n in ch["group_name"]], dtype=h5py.ref_dtype)
    cols = [
        ("x", ch["x"].to_numpy()),
        ("y", ch["y"].to_numpy()),
        ("z", ch["z"].to_numpy()),
        ("imp", np.full(len(ch), np.nan)),
        ("location", list(ch["location"])),
        ("filtering", ["AP band: 500 Hz high-pass; LFP band: 1000 Hz low-pass"] * len(ch)),
        ("group", refs),
        ("group_name", list(ch["group_name"])),
        ("probe_vertical_position", ch["probe_vertical_position"].to_numpy(np.int64)),
        ("probe_horizontal_position", ch["probe_horizontal_position"].to_numpy(np.int64)),
        ("probe_id", ch["probe_id"].to_numpy(np.int64)),
        ("local_index", ch["local_index"].to_numpy(np.int64)),
        ("valid_data", ch["valid_data"].to_numpy(bool)),
    ]
    w.table(
        "general/extracellular_ephys/electrodes",
        cols,
        ch["id"].to_numpy(),
        neurodata_type="DynamicTable",
        namespace="hdmf-common",
        description="metadata about extracellular electrodes",
    )


def _write_intervals(w: H5Writer, c: SessionContent) -> None:
    names = sorted(c.presentations)
    all_starts = np.sort(np.concatenate([c.presentations[n]["start_time"].to_numpy() for n in names]))
    ts = w.timeseries("processing/stimulus/timestamps", all_starts, all_starts, "s", "no description")
    w.group("processing/stimulus", "ProcessingModule", description="Stimulus Times processing")
    for name in names:
        df = c.presentations[name]
        idx = np.searchsorted(all_starts, df["start_time"].to_numpy())
        cols = [(col, _column_values(df[col])) for col in df.columns]
        w.table(
            f"intervals/{name}_presentations",
            cols,
            np.arange(len(df)),
            neurodata_type="TimeIntervals",
            namespace="core",
            description=f"Presentation times and stimuli details for '{name}' stimuli",
            ragged={"tags": [["stimulus_time_interval"]] * len(df)},
            timeseries=(ts, idx),
        )
    inv = c.invalid_times
    w.table(
        "intervals/invalid_times",
        [
            ("start_time", inv["start_time"].to_numpy(np.float64)),
            ("stop_time", inv["stop_time"].to_numpy(np.float64)),
        ],
        np.arange(len(inv)),
        neurodata_type="TimeIntervals",
        namespace="core",
        description="experimental intervals",
        ragged={"tags": list(inv["tags"])},
    )
    if c.optotagging is not None:
        opto = c.optotagging
        w.group("processing/optotagging", "ProcessingModule", description="optogenetic stimulution data")
        ots = w.timeseries(
            "processing/optotagging/optotagging",
            opto["duration"].to_numpy(),
            opto["start_time"].to_numpy(),
            "seconds",
            "Optogenetic stimulation",
        )
        if len(opto):
            cols = [(col, _column_values(opto[col])) for col in opto.columns]
            w.table(
                "processing/optotagging/optogenetic_stimulation",
                cols,
                np.arange(len(opto)),
                neurodata_type="TimeIntervals",
                namespace="core",
                description="optogenetic stimulation",
                ragged={"tags": [["optical_stimulation"]] * len(opto)},
                timeseries=(ots, np.arange(len(opto))),
            )
    t, speed = c.running
    w.group("processing/running", "ProcessingModule", description="running speed data")
    w.timeseries("processing/running/running_speed", speed, t, "cm/s", "no description")
    w.timeseries(
        "processing/running/running_speed_end_times",
        np.full(len(t), np.nan),
        np.append(t[1:], t[-1] + (t[1] - t[0] if len(t) > 1 else 0.0)),
        "cm/s",
        "no description",
    )


def _column_values(s: pd.Series) -> object:
    if s.dtype == object or pd.api.types.is_string_dtype(s):
        return [str(v) for v in s]
    return s.to_numpy()


def _copy_scratch(g: h5py.Group, name: str, scratch, total: int) -> h5py.Dataset:
    """A ``(total,)`` float64 dataset of ``g`` filled in order from the little-endian float64 ``scratch`` file."""
    # contiguous layout: one block of the file, allocated whole at the first write (a chunked dataset's index
    # nodes land between its chunks: 3 runs for a mini session's 107 chunks, as measured)
    ds = g.create_dataset(name, shape=(total,), dtype="f8", track_times=False)
    scratch.seek(0)
    block = 1 << 20  # values per copy
    for start in range(0, total, block):
        values = np.frombuffer(scratch.read(8 * min(block, total - start)), dtype="<f8")
        ds[start : start + len(values)] = values
    return ds


def _write_units(w: H5Writer, c: SessionContent, chunks: Iterable[UnitChunk], waveform_channels: int) -> np.ndarray:
    """Stream spikes into /units; return (n_units,) spike counts."""
    u = c.population.units
    n = len(u)
    g = w.f.create_group("units")
    names = [*UNIT_SCALAR_COLUMNS, "spike_times", "spike_amplitudes", "waveform_mean"]
    w.typed(g, "Units", "core", colnames=np.array(names, dtype=object), description="Autogenerated by NWBFile")
    wf = g.create_dataset(
        "waveform_mean",
        shape=(n * 384, WAVEFORM_SAMPLES),
        chunks=(384, WAVEFORM_SAMPLES),
        dtype="f8",
        compression="gzip",
        compression_opts=4,
        fillvalue=0.0,
        track_times=False,
    )
    counts = np.zeros(n, dtype=np.int64)
    local_of = dict(zip(c.layout.channels["id"], c.layout.channels["local_index"], strict=True))
    # spike times and amplitudes wait in scratch files while the waveforms are written, then each is written
    # into one contiguous block: spike_times lies in one run on disk (a reader streaming it over HTTP fetches
    # only it)
    with tempfile.TemporaryFile() as scratch_t, tempfile.TemporaryFile() as scratch_a:
        for ch in chunks:
            for scratch, values in ((scratch_t, ch.spike_times), (scratch_a, ch.spike_amplitudes)):
                flat = np.concatenate(values) if values else np.zeros(0)
                scratch.write(np.ascontiguousarray(flat, dtype="<f8").tobytes())
            for j, times in enumerate(ch.spike_times):
                i = ch.first + j
                counts[i] = len(times)
                peak = int(local_of[int(u["peak_channel_id"].iat[i])])
                lo, hi = max(0, peak - waveform_channels), min(384, peak + waveform_channels + 1)
                wave = waveform_mean(
                    peak, float(u["amplitude"].iat[i]), float(u["waveform_duration"].iat[i]), waveform_channels
                )
                wf[i * 384 + lo : i * 384 + hi] = wave[lo:hi]
        total = int(counts.sum())
        st = _copy_scratch(g, "spike_times", scratch_t, total)
        sa = _copy_scratch(g, "spike_amplitudes", scratch_a, total)
    for ds, desc in ((st, "spike_times"), (sa, "spike_amplitudes"), (wf, "waveform_mean")):
        w.typed(ds, "VectorData", "hdmf-common", description=RAGGED_DESCRIPTIONS[desc])
    ends = np.cumsum(counts)
    w.vector_index(g, "spike_times_index", ends, st)
    w.vector_index(g, "spike_amplitudes_index", ends, sa)
    w.vector_index(g, "waveform_mean_index", 384 * np.arange(1, n + 1), wf)
    for col in UNIT_SCALAR_COLUMNS:
        if col == "firing_rate":
            values: object = counts / c.t_end
        elif col == "quality":
            values = list(u["quality"])
        else:
            values = u[col].to_numpy(np.int64 if col in INT_COLUMNS else np.float64)
        w.vector_data(g, col, values)
    w.ids(g, u["unit_id"].to_numpy(np.int64))
    return counts


def write_session_nwb(
    path: Path, content: SessionContent, chunks: Iterable[UnitChunk], seed: int, waveform_channels: int
) -> np.ndarray:
    """Write the NWB file atomically (temp file + rename).

    Args:
        path: Destination `session_<sid>.nwb`.
        content: Session metadata, layout, population, tables.
        chunks: Spike chunks from `spikes.iter_spike_chunks`, consumed once, in unit order.
        seed: Seed of the object ids.
        waveform_channels: Channels each side of the peak with a non-zero mean waveform.

    Returns:
        (n_units,) int64 spike count per unit.
    """
    tmp = path.with_name(path.name + ".tmp")
    with h5py.File(tmp, "w", libver="earliest") as f:
        w = H5Writer(f, seed)
        _write_general(w, content)
        _write_intervals(w, content)
        counts = _write_units(w, content, chunks, waveform_channels)
    tmp.replace(path)
    return counts
