from __future__ import annotations

import h5py
import numpy as np
import pytest

from neurrator_bench.builders.origin import SIMULATOR_INSTITUTION
from neurrator_bench.builders.simulator import SimulationConfig, simulate

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
    assert f.attrs["nwb_version"] == "2.2.2"
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
