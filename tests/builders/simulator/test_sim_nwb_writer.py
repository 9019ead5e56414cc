from __future__ import annotations

import h5py
import numpy as np
import pytest

from neurrator_bench.builders.nwb_reader import read_session
from neurrator_bench.builders.origin import SIMULATOR_INSTITUTION
from neurrator_bench.builders.simulator import SimulationConfig, simulate
from neurrator_bench.builders.simulator.nwb_spec import AIBS_NAMESPACE, AIBS_VERSION, cached_specifications

FAST = {
    "n_sessions": 4,
    "units_per_probe": 12,
    "ns_presentations_per_image": 2,
    "nm3_frames": 60,
    "gabors_rows": 10,
    "sg_rows_per_block": 10,
    "dg_rows_per_block": 4,
    "opto_trials": 20,
}


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    cfg = SimulationConfig.preset("mini").model_copy(update=FAST)
    return simulate(tmp_path_factory.mktemp("nwb") / "out", cfg, seed=1)


@pytest.fixture(scope="module")
def f(result):
    with h5py.File(result.nwb_paths[0], "r") as fh:
        yield fh


def _str(x):
    return x.decode() if isinstance(x, bytes) else x


def _strs(ds):
    return [_str(v) for v in ds[:]]


def test_root_and_subject(f, result):
    version, _ = cached_specifications()
    assert f.attrs["nwb_version"] == version  # the cached core version, >= the reader's 2.2.2 floor
    assert f.attrs[".specloc"] is not None and f[f.attrs[".specloc"]].name == "/specifications"
    assert {"core", "hdmf-common", AIBS_NAMESPACE} <= set(f["specifications"])
    assert list(f[f"specifications/{AIBS_NAMESPACE}"]) == [AIBS_VERSION]
    assert f.attrs["neurodata_type"] == "NWBFile"
    assert _str(f["identifier"][()]) == str(result.session_ids[0])
    assert _str(f["general/session_id"][()]) == str(result.session_ids[0])
    assert _str(f["general/stimulus"][()]) == "brain_observatory_1.1"
    assert _str(f["general/institution"][()]) == SIMULATOR_INSTITUTION  # never claims to be an Allen recording
    subj = f["general/subject"]
    assert _str(subj["genotype"][()]) == "Pvalb-IRES-Cre/wt;Ai32(RCL-ChR2(H134R)_EYFP)/wt"
    assert _str(subj["age"][()]).startswith("P") and _str(subj["age"][()]).endswith("D")
    assert {"specimen_name", "age_in_days", "strain"} <= set(subj.attrs)
    assert subj.attrs["neurodata_type"] == "EcephysSpecimen"
    assert "2019" in _str(f["session_start_time"][()])


def test_electrodes_quirks(f):
    el = f["general/extracellular_ephys/electrodes"]
    n_probes = len(f["general/devices"])
    assert n_probes == 3
    assert el["id"].shape == (384 * n_probes,)
    assert el["id"].dtype == np.int64
    assert np.array_equal(el["z"][:], el["y"][:], equal_nan=True)
    loc = _strs(el["location"])
    assert "" in loc and "None" in loc and "VISp" in loc and "CA1" in loc
    assert not el["valid_data"][:].all()
    assert sorted(set(_strs(el["group_name"]))) == sorted(f["general/devices"])
    assert set(el["local_index"][:]) == set(range(384))
    assert "probe_vertical_position" in el.attrs["colnames"]
    g = f[el["group"][0]]
    assert g.attrs["neurodata_type"] == "EcephysElectrodeGroup"
    assert f["general/extracellular_ephys/probeA/device"].attrs["manufacturer"] == "imec"


def test_units_unfiltered_with_ragged_columns(f):
    u = f["units"]
    n = u["id"].shape[0]
    assert n == 36
    for col in ("cluster_id", "local_index", "peak_channel_id", "id"):
        assert u[col].dtype == np.int64
    assert set(u["peak_channel_id"][:]) <= set(f["general/extracellular_ephys/electrodes/id"][:])
    quality = _strs(u["quality"])
    assert set(quality) <= {"good", "noise"}
    fails = (u["amplitude_cutoff"][:] > 0.1) | (u["presence_ratio"][:] < 0.95) | (u["isi_violations"][:] > 0.5)
    assert fails.any() and not fails.all()
    assert np.isnan(u["velocity_above"][:]).any()
    ends = u["spike_times_index"][:]
    assert ends[-1] == u["spike_times"].shape[0] and np.all(np.diff(ends) >= 0)
    assert np.array_equal(u["spike_amplitudes_index"][:], ends)
    first = u["spike_times"][: ends[0]]
    assert np.all(np.diff(first) >= 0) and first.min() >= 0
    assert u["waveform_mean"].shape == (n * 384, 82)
    assert np.array_equal(u["waveform_mean_index"][:], 384 * np.arange(1, n + 1))
    assert u["waveform_mean"].compression == "gzip"
    assert f[u["spike_times_index"].attrs["target"]] == u["spike_times"]
    assert "spike_times" in list(u.attrs["colnames"])
    # spike_times is one contiguous block (what a range-request reader needs)
    times = u["spike_times"]
    assert times.chunks is None and times.id.get_offset() is not None
    assert times.id.get_storage_size() == 8 * times.shape[0]


def test_presentation_tables(f):
    iv = f["intervals"]
    assert {f"{n}_presentations" for n in ("natural_movie_one", "natural_scenes", "spontaneous", "gabors")} <= set(iv)
    nm1 = iv["natural_movie_one_presentations"]
    assert np.array_equal(nm1["id"][:], np.arange(18000))
    assert nm1["frame"].dtype == np.float64 and nm1["stimulus_block"].dtype == np.float64
    assert (nm1["frame"][:] == 0).sum() == 20
    assert "repeat" not in nm1
    assert set(nm1.attrs["colnames"]) >= {
        "color",
        "contrast",
        "frame",
        "opacity",
        "orientation",
        "size",
        "units",
    }
    assert _strs(nm1["tags"])[0] == "stimulus_time_interval"
    assert nm1["timeseries"].dtype.names == ("idx_start", "count", "timeseries")
    ns = iv["natural_scenes_presentations"]
    assert ns["frame"].dtype == np.float64 and ns["frame"][:].min() == -1.0
    assert "stimulus_block" not in iv["spontaneous_presentations"]
    dg = iv["drifting_gratings_presentations"]
    assert "N/A" in _strs(dg["spatial_frequency"]) + _strs(dg["phase"])
    assert iv["static_gratings_presentations"]["spatial_frequency"].dtype == np.float64
    assert "invalid_times" in iv and len(_strs(iv["invalid_times/tags"])) == 3 * iv["invalid_times/id"].shape[0]


def test_optotagging_and_processing(f, result):
    opto = f["processing/optotagging/optogenetic_stimulation"]
    assert list(opto.attrs["colnames"])[:6] == [
        "start_time",
        "condition",
        "level",
        "stop_time",
        "stimulus_name",
        "duration",
    ]
    assert opto["level"].dtype == np.float64
    assert set(_strs(opto["stimulus_name"])) <= {"pulse", "fast_pulses", "raised_cosine"}
    assert opto["start_time"][0] > f["intervals/static_gratings_presentations/stop_time"][-1]
    assert f["processing/stimulus/timestamps/data"].shape[0] > 18000
    assert "running_speed" in f["processing/running"]
    with h5py.File(result.nwb_paths[3], "r") as wt:
        assert _str(wt["general/subject/genotype"][()]) == "wt/wt"
        assert "optotagging" not in wt["processing"]


def test_object_ids_unique(f):
    ids = []
    f.visititems(lambda _n, o: ids.append(o.attrs["object_id"]) if "object_id" in o.attrs else None)
    assert len(ids) > 100 and len(set(ids)) == len(ids)


def test_pynwb_opens_every_simulated_file(result):
    from pynwb import NWBHDF5IO

    for path, sid in zip(result.nwb_paths, result.session_ids, strict=True):
        recording = read_session(path)
        with NWBHDF5IO(str(path), "r") as io:
            nwb = io.read()
            assert nwb.identifier == str(sid)
            assert type(nwb.subject).__name__ == "EcephysSpecimen"
            with h5py.File(path, "r") as fh:
                attrs = fh["general/subject"].attrs
                assert nwb.subject.specimen_name == _str(attrs["specimen_name"])
                assert nwb.subject.age_in_days == attrs["age_in_days"]
            assert nwb.subject.genotype == recording.genotype
            assert {type(g).__name__ for g in nwb.electrode_groups.values()} == {"EcephysElectrodeGroup"}
            assert {type(d).__name__ for d in nwb.devices.values()} == {"EcephysProbe"}
            units = nwb.units
            assert len(units) == len(recording.units)
            ids = units.id[:]
            assert np.array_equal(ids, recording.units.index.to_numpy())
            for row in (0, len(ids) // 2, len(ids) - 1):  # spike times as pynwb reads them = our reader's
                assert np.array_equal(units["spike_times"][row], recording.spike_times[int(ids[row])])
            assert len(nwb.electrodes) == 384 * len(nwb.devices)
            movie = nwb.intervals["natural_movie_one_presentations"].to_dataframe()
            assert np.array_equal(movie["frame"].to_numpy(), recording.presentations["natural_movie_one"]["frame"])
            if recording.optotagging is None:  # a session without optotagging (allen_nwb_layout.md: I940)
                assert "optogenetic_stimulation" not in nwb.processing.get("optotagging", {})
            else:
                opto = nwb.processing["optotagging"]["optogenetic_stimulation"].to_dataframe()
                assert np.array_equal(opto["start_time"].to_numpy(), recording.optotagging["start_time"].to_numpy())
            speed = nwb.processing["running"]["running_speed"]
            assert np.array_equal(speed.data[:], recording.running_speed[1])


def test_nwbinspector_finds_nothing_critical(result):
    from nwbinspector import Importance, inspect_nwbfile

    for path in result.nwb_paths:
        messages = list(inspect_nwbfile(nwbfile_path=str(path)))
        serious = [
            (m.importance.name, m.check_function_name, m.location, m.message)
            for m in messages
            if m.importance.value >= Importance.CRITICAL.value
        ]
        assert serious == [], serious[:5]
        assert messages  # the inspector ran (best-practice suggestions such as missing descriptions remain)
