from __future__ import annotations

import dataclasses
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from allen_fixture import AllenFixture, default_presentations, default_units, write_allen_nwb

from neurrator_bench.builders.nwb_reader import list_presentation_tables, read_session
from neurrator_bench.errors import NWBFormatError


@pytest.fixture(scope="module")
def nwb_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_allen_nwb(tmp_path_factory.mktemp("allen") / "session_715093703.nwb")


@pytest.fixture(scope="module")
def recording(nwb_path: Path):
    return read_session(nwb_path)


def test_session_metadata(recording, nwb_path: Path) -> None:
    assert recording.path == nwb_path
    assert recording.session_id == 715093703
    assert recording.session_type == "brain_observatory_1.1"
    assert recording.genotype == "Pvalb-IRES-Cre/wt;Ai32(RCL-ChR2(H134R)_EYFP)/wt"
    assert recording.subject_id == "699733573"


def test_spike_times_round_trip_exactly(recording) -> None:
    spec = default_units()
    for uid, train in zip(spec["id"], spec["spike_times"], strict=True):
        got = recording.spike_times[uid]
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, np.sort(np.asarray(train, dtype=np.float64)))
    assert list(recording.spike_times) == spec["id"]
    assert recording.spike_times[955].shape == (0,)
    np.testing.assert_array_equal(recording.spike_times[953], [1.0, 3.0, 5.0])  # written unsorted


def test_units_joined_through_peak_channel(recording) -> None:
    units = recording.units
    assert units.index.name == "unit_id"
    assert units.index.tolist() == [951, 957, 953, 954, 955]
    assert units["structure"].tolist() == ["VISp", None, "LGd", None, "VISpm"]  # "" and "None" -> None
    assert units["probe"].tolist() == ["probeA", "probeA", "probeB", "probeB", "probeB"]
    assert units["valid_data"].tolist() == [True, True, True, True, False]
    assert units["probe_vertical_position"].tolist() == [20, 40, 20, 40, 60]
    assert units["quality"].tolist() == ["good", "good", "noise", "good", "good"]
    assert np.isnan(units.loc[954, "amplitude_cutoff"])
    assert units.loc[957, "presence_ratio"] == 0.95
    # ragged columns and the electrodes z column never leak into the table
    for column in ("spike_times", "spike_amplitudes", "waveform_mean", "z", "y", "x"):
        assert column not in units.columns


def test_presentations_coerced(recording) -> None:
    assert sorted(recording.presentations) == [
        "drifting_gratings",
        "natural_movie_one",
        "natural_scenes",
        "spontaneous",
    ]
    dg = recording.presentations["drifting_gratings"]
    assert dg["spatial_frequency"].dtype == np.float64  # "0.04"/"N/A" -> float
    assert dg["spatial_frequency"].iloc[0] == 0.04
    assert np.isnan(dg["spatial_frequency"].iloc[1])
    assert dg["size"].tolist() == ["[250.0, 250.0]"] * 3  # list-like strings stay strings
    assert dg["units"].tolist() == ["deg"] * 3
    ns = recording.presentations["natural_scenes"]
    assert ns["frame"].dtype == np.float64
    assert ns["frame"].tolist() == [5.0, -1.0, 117.0, -1.0]  # blanks kept
    nm1 = recording.presentations["natural_movie_one"]
    assert nm1["frame"].tolist() == [0.0, 1.0, 2.0, 0.0, 1.0, 2.0]
    assert nm1["color"].tolist() == ["[1.0, 1.0, 1.0]"] * 6
    assert nm1["stimulus_block"].dtype == np.float64
    for column in ("tags", "timeseries", "tags_index"):
        assert column not in nm1.columns
    spont = recording.presentations["spontaneous"]
    assert spont.columns.tolist() == ["id", "start_time", "stop_time", "stimulus_name"]


def test_scalar_index_columns_kept_ragged_indices_dropped(tmp_path: Path) -> None:
    # local_index (units, electrodes) and stimulus_index (presentations) are ordinary columns that only
    # end in "_index"; X_index is dropped only when X is in the table (VectorData + VectorIndex)
    units = default_units()
    units["local_index"] = [3, 1, 4, 1, 5]
    path = write_allen_nwb(tmp_path / "s.nwb", AllenFixture(units=units))
    rec = read_session(path, stimuli=["natural_movie_one"])
    assert rec.units["local_index"].tolist() == [3, 1, 4, 1, 5]
    assert rec.presentations["natural_movie_one"]["stimulus_index"].tolist() == [0.0] * 6
    for column in ("spike_times_index", "spike_amplitudes_index", "waveform_mean_index"):
        assert column not in rec.units.columns
    assert "tags_index" not in rec.presentations["natural_movie_one"].columns
    assert "timeseries_index" not in rec.presentations["natural_movie_one"].columns


def test_presentations_sorted_by_start_time(tmp_path: Path) -> None:
    tables = default_presentations()
    ns = tables["natural_scenes"]
    order = [2, 0, 3, 1]
    tables["natural_scenes"] = {k: [v[i] for i in order] for k, v in ns.items()}
    path = write_allen_nwb(tmp_path / "s.nwb", AllenFixture(presentations=tables))
    got = read_session(path, stimuli=["natural_scenes"]).presentations["natural_scenes"]
    assert got["start_time"].tolist() == [20.0, 20.25, 20.5, 20.75]
    assert got["frame"].tolist() == [5.0, -1.0, 117.0, -1.0]
    assert got["id"].tolist() == [1, 3, 0, 2]  # per-table ids travel with their rows


def test_stimuli_subset_and_listing(nwb_path: Path) -> None:
    assert list_presentation_tables(nwb_path) == [
        "drifting_gratings",
        "natural_movie_one",
        "natural_scenes",
        "spontaneous",
    ]
    rec = read_session(nwb_path, stimuli=["natural_scenes"])
    assert list(rec.presentations) == ["natural_scenes"]


def test_unknown_stimulus_lists_available(nwb_path: Path) -> None:
    with pytest.raises(NWBFormatError, match=r"natural_movie_three.*natural_movie_one"):
        read_session(nwb_path, stimuli=["natural_movie_three"])


def test_optotagging_table(recording) -> None:
    opto = recording.optotagging
    assert opto is not None
    assert opto["duration"].tolist() == pytest.approx([0.005, 0.01, 1.0, 0.01])
    assert opto["stimulus_name"].tolist() == ["pulse", "pulse", "fast_pulses", "pulse"]
    assert opto["level"].dtype == np.float64


@pytest.mark.parametrize("optotagging", [None, "module_only"])
def test_missing_optotagging_is_none(tmp_path: Path, optotagging) -> None:
    path = write_allen_nwb(tmp_path / "s.nwb", AllenFixture(optotagging=optotagging))
    assert read_session(path).optotagging is None


def test_wild_type_and_missing_subject(tmp_path: Path) -> None:
    path = write_allen_nwb(tmp_path / "s.nwb", AllenFixture(genotype="wt/wt", drop=("/general/subject/subject_id",)))
    rec = read_session(path)
    assert rec.genotype == "wt/wt"
    assert rec.subject_id == ""


@pytest.mark.parametrize(
    "spec",
    [
        AllenFixture(nwb_version="2.0b"),
        AllenFixture(legacy_group_names=True),
        AllenFixture(legacy_lab_meta_data=True),
    ],
    ids=["nwb_version", "numeric_group_names", "lab_meta_data"],
)
def test_legacy_layout_rejected(tmp_path: Path, spec: AllenFixture) -> None:
    path = write_allen_nwb(tmp_path / "legacy_session.nwb", spec)
    with pytest.raises(NWBFormatError, match=r"legacy_session\.nwb.*legacy 2019.*allensdk>=2.*DANDI 000021"):
        read_session(path)
    with pytest.raises(NWBFormatError, match="legacy"):
        list_presentation_tables(path)


def test_truncated_file_rejected(tmp_path: Path) -> None:
    path = write_allen_nwb(tmp_path / "session_1_truncated.nwb")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(NWBFormatError, match=r"session_1_truncated\.nwb.*not a readable HDF5/NWB.*truncated"):
        read_session(path)


def test_not_hdf5_rejected(tmp_path: Path) -> None:
    path = tmp_path / "garbage.nwb"
    path.write_bytes(b"<html>403 Forbidden</html>")
    with pytest.raises(NWBFormatError, match=r"garbage\.nwb.*not a readable HDF5"):
        read_session(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.nwb"):
        read_session(tmp_path / "nope.nwb")


@pytest.mark.parametrize(
    ("drop", "match"),
    [
        (("/units",), r"s\.nwb.*/units"),
        (("/units/spike_times",), r"s\.nwb.*/units/spike_times"),
        (("/units/spike_times_index",), r"s\.nwb.*/units/spike_times_index"),
        (("/general/extracellular_ephys/electrodes",), r"s\.nwb.*/general/extracellular_ephys/electrodes"),
        (("/general/extracellular_ephys/electrodes/location",), r"electrodes.*'location'"),
        (("/units/peak_channel_id",), r"/units.*'peak_channel_id'"),
        (
            ("/intervals/natural_scenes_presentations/frame",),
            r"s\.nwb:/intervals/natural_scenes_presentations.*'frame'",
        ),
        (
            ("/intervals/spontaneous_presentations/start_time",),
            r"/intervals/spontaneous_presentations.*'start_time'",
        ),
    ],
)
def test_missing_paths_named(tmp_path: Path, drop: tuple[str, ...], match: str) -> None:
    path = write_allen_nwb(tmp_path / "s.nwb", AllenFixture(drop=drop))
    with pytest.raises(NWBFormatError, match=match):
        read_session(path)


def test_peak_channel_not_in_electrodes(tmp_path: Path) -> None:
    units = default_units()
    units["peak_channel_id"] = [1000, 1001, 2000, 2001, 9999]
    path = write_allen_nwb(tmp_path / "s.nwb", AllenFixture(units=units))
    with pytest.raises(NWBFormatError, match=r"peak_channel_id.*9999"):
        read_session(path)


def test_bad_spike_index(tmp_path: Path) -> None:
    path = write_allen_nwb(tmp_path / "s.nwb")
    with h5py.File(path, "a") as f:
        del f["units/spike_times_index"]
        f["units/spike_times_index"] = np.array([4, 6, 9, 10, 99])
    with pytest.raises(NWBFormatError, match=r"spike_times_index.*cumulative ends"):
        read_session(path)


def test_many_units_split_vectorised(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n_units = 300
    counts = rng.integers(0, 50, n_units)
    trains = [np.sort(rng.uniform(0, 100, c)) for c in counts]
    units = {
        "id": list(range(10_000, 10_000 + n_units)),
        "peak_channel_id": [1000] * n_units,
        "quality": ["good"] * n_units,
        "spike_times": [t.tolist() for t in trains],
    }
    path = write_allen_nwb(tmp_path / "s.nwb", dataclasses.replace(AllenFixture(), units=units))
    rec = read_session(path, stimuli=[])
    assert rec.presentations == {}
    for uid, train in zip(units["id"], trains, strict=True):
        np.testing.assert_array_equal(rec.spike_times[uid], train)
    assert isinstance(rec.units, pd.DataFrame)
    assert len(rec.units) == n_units


def test_invalid_times_read_with_tags(sim_dir):
    from neurrator_bench.builders.nwb_reader import read_session as read

    nwb = sorted(sim_dir.glob("session_*/session_*.nwb"))[0]
    rec = read(nwb, stimuli=["natural_movie_one"])
    assert rec.invalid_times is not None and len(rec.invalid_times) >= 1
    assert all(len(tags) == 3 and tags[0] in ("EcephysSession", "EcephysProbe") for tags in rec.invalid_times["tags"])
    # the simulator's invalid intervals are probe-level: none masks stimulus presentations
    assert rec.invalid_stimulus_intervals().shape == (0, 2)
    rec.invalid_times.loc[0, "tags"] = ["EcephysSession", str(rec.session_id), "stimulus"]
    assert rec.invalid_stimulus_intervals().shape == (1, 2)


def test_reads_a_file_written_by_pynwb(tmp_path: Path) -> None:
    """The reader is not only tested against files written from the same notes as itself."""
    from datetime import datetime, timezone

    from pynwb import NWBHDF5IO, NWBFile, ProcessingModule, TimeSeries
    from pynwb.epoch import TimeIntervals
    from pynwb.file import Subject

    nwb = NWBFile(
        session_description="written by pynwb",
        identifier="715093703",
        session_start_time=datetime(2019, 1, 19, tzinfo=timezone.utc),
        institution="Allen Institute for Brain Science",
        stimulus_notes="brain_observatory_1.1",
        subject=Subject(subject_id="699733573", genotype="Vip-IRES-Cre/wt;Ai32(RCL-ChR2(H134R)_EYFP)/wt"),
    )
    device = nwb.create_device(name="probeA", description="Neuropixels 1.0 Probe")
    group = nwb.create_electrode_group("probeA", description="probe", location="See electrode locations", device=device)
    nwb.add_electrode_column("valid_data", "whether the channel is usable")
    nwb.add_electrode_column("probe_vertical_position", "um")
    for i, (area, valid) in enumerate([("VISp", True), ("None", True), ("CA1", False)]):
        nwb.add_electrode(
            id=850000000 + i, location=area, group=group, group_name="probeA",
            valid_data=valid, probe_vertical_position=20 * (i + 1),
        )  # fmt: skip
    nwb.add_unit_column("peak_channel_id", "electrode id of the peak channel")
    spikes = {950000000: [0.5, 1.25, 3.0], 950000001: [], 950000002: [2.0, 2.5]}
    for k, (uid, times) in enumerate(spikes.items()):
        nwb.add_unit(id=uid, spike_times=times, peak_channel_id=850000000 + k)
    movie = TimeIntervals(name="natural_movie_one_presentations", description="movie")
    movie.add_column("frame", "frame shown")
    movie.add_column("stimulus_block", "block")
    for f in range(4):
        movie.add_interval(start_time=10 + f / 30, stop_time=10 + (f + 1) / 30, frame=float(f), stimulus_block=2.0)
    nwb.add_time_intervals(movie)
    opto = ProcessingModule(name="optotagging", description="optogenetic stimulation data")
    pulses = TimeIntervals(name="optogenetic_stimulation", description="pulses")
    pulses.add_column("condition", "pulse shape")
    pulses.add_interval(start_time=100.0, stop_time=100.01, condition="a single square pulse")
    opto.add(pulses)
    nwb.add_processing_module(opto)
    running = nwb.create_processing_module(name="running", description="running speed data")
    running.add(TimeSeries(name="running_speed", data=[1.0, 2.0], unit="cm/s", timestamps=[0.0, 1.0]))
    path = tmp_path / "pynwb_session.nwb"
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)

    rec = read_session(path)
    assert rec.session_id == 715093703
    assert rec.session_type == "brain_observatory_1.1"
    assert rec.subject_id == "699733573" and rec.genotype.startswith("Vip-IRES-Cre")
    assert list(rec.units.index) == list(spikes)
    assert list(rec.units["structure"]) == ["VISp", None, "CA1"]
    assert list(rec.units["valid_data"]) == [True, True, False]
    assert list(rec.units["probe_vertical_position"]) == [20, 40, 60]
    for uid, times in spikes.items():
        assert np.array_equal(rec.spike_times[uid], np.asarray(times, dtype=np.float64))
    table = rec.presentations["natural_movie_one"]
    assert list(table["frame"]) == [0.0, 1.0, 2.0, 3.0]
    assert np.allclose(table["start_time"], 10 + np.arange(4) / 30)
    assert list(rec.optotagging["condition"]) == ["a single square pulse"]
    assert np.allclose(rec.optotagging["duration"], 0.01)
    assert np.array_equal(rec.running_speed[1], [1.0, 2.0])
