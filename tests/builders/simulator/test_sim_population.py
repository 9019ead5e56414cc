from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest

from neurrator_bench.builders.simulator import SimulationConfig, simulate

FAST = {
    "n_sessions": 1,
    "ns_presentations_per_image": 2,
    "nm3_frames": 60,
    "gabors_rows": 10,
    "sg_rows_per_block": 10,
    "dg_rows_per_block": 4,
}


def _load(res):
    path = res.nwb_paths[0]
    with h5py.File(path, "r") as f:
        ids = f["units/id"][:]
        ends = f["units/spike_times_index"][:]
        spikes = dict(zip(ids, np.split(f["units/spike_times"][:], ends[:-1]), strict=True))
        nm1 = {c: f[f"intervals/natural_movie_one_presentations/{c}"][:] for c in ("start_time", "frame")}
        opto = {c: f[f"processing/optotagging/optogenetic_stimulation/{c}"][:] for c in ("start_time", "duration")}
        t_end = float(f["processing/running/running_speed/timestamps"][-1])
        firing = dict(zip(ids, f["units/firing_rate"][:], strict=True))
    truth = pd.read_parquet(res.out_dir / "truth" / f"session_{res.session_ids[0]}_units.parquet")
    return truth, spikes, nm1, opto, t_end, firing


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    cfg = SimulationConfig.preset("mini").model_copy(
        update={**FAST, "units_per_probe": 40, "opto_trials": 150, "n_decoys": 3}
    )
    return _load(simulate(tmp_path_factory.mktemp("pop") / "out", cfg, seed=5))


def _repeat_corr(times, starts):
    edges = np.arange(0.0, 30.0001, 1.0)
    m = np.array([np.histogram(times - s, edges)[0] for s in starts], dtype=float)
    if m.sum() < 50 or np.any(m.std(axis=1) == 0):
        return np.nan
    c = np.corrcoef(m)
    return float(c[np.triu_indices(len(starts), 1)].mean())


def test_v1_locked_to_movie_hippocampus_not(session):
    truth, spikes, nm1, *_ = session
    starts = nm1["start_time"][nm1["frame"] == 0]
    assert len(starts) == 20
    corr = {}
    for uid, group, ctype in zip(truth["unit_id"], truth["region_group"], truth["true_cell_type"], strict=True):
        if ctype == "none":
            corr.setdefault(group, []).append(_repeat_corr(spikes[uid], starts))
    v1, hva, hip = (np.nanmean(corr[g]) for g in ("V1", "HVA", "hippocampus"))
    assert len(corr["V1"]) >= 5 and len(corr["hippocampus"]) >= 5
    assert v1 > 0.4
    assert abs(hip) < 0.05
    assert v1 > hva > hip + 0.1


def test_rates_match_truth(session):
    truth, spikes, _, _, t_end, firing = session
    plain = truth[truth["opto_role"] == "none"]
    expected = plain["mean_rate_hz"].to_numpy() * t_end
    observed = np.array([len(spikes[u]) for u in plain["unit_id"]])
    big = expected > 1000
    assert big.sum() > 20
    assert np.all(np.abs(observed[big] / expected[big] - 1) < 0.1)
    assert np.isclose(np.median(truth["mean_rate_hz"]), 5.0, rtol=0.5)
    pv = truth[truth["true_cell_type"] == "PV"]
    assert len(pv) >= 3 and pv["mean_rate_hz"].between(10, 30).all()
    assert all(np.isclose(firing[u], len(spikes[u]) / t_end, rtol=1e-3) for u in plain["unit_id"][:5])


def _opto_stats(times, pulses):
    lat = np.full(len(pulses), np.nan)
    for k, t0 in enumerate(pulses):
        w = times[(times > t0) & (times < t0 + 0.025)]
        lat[k] = w[0] - t0 if len(w) else np.nan
    evoked = np.mean([((times > t0 + 0.001) & (times <= t0 + 0.009)).sum() for t0 in pulses]) / 0.008
    base = np.mean([((times > t0 - 0.010) & (times <= t0 - 0.002)).sum() for t0 in pulses]) / 0.008
    reliability = np.mean((lat > 0.001) & (lat < 0.009))
    median_lat = np.median(lat[np.isfinite(lat)]) if np.isfinite(lat).any() else np.inf
    return reliability, median_lat, evoked, base


def test_tagged_units_respond_to_light(session):
    truth, spikes, _, opto, *_ = session
    pulses = opto["start_time"][(opto["duration"] > 0.009) & (opto["duration"] < 0.02)]
    assert len(pulses) > 40
    for uid, role in zip(truth["unit_id"], truth["opto_role"], strict=True):
        rel, lat, evoked, base = _opto_stats(spikes[uid], pulses)
        passes = rel > 0.3 and lat < 0.008 and evoked >= 2 * base
        if role == "tagged":
            assert passes, (uid, rel, lat)
            assert 0.0015 < lat < 0.0065
        elif role.startswith("decoy"):
            assert not passes, (uid, role, rel, lat, evoked, base)
        else:
            assert not passes, (uid, rel, lat, evoked, base)
    assert (truth["opto_role"] == "tagged").sum() >= 3
    assert truth["opto_role"].str.startswith("decoy").sum() == 3


def test_poisson_fano_factor_for_constant_rate(tmp_path):
    cfg = SimulationConfig.preset("mini").model_copy(
        update={**FAST, "units_per_probe": 12, "drift_sd": 0.0, "opto_trials": 0, "median_rate_hz": 8.0}
    )
    res = simulate(tmp_path / "out", cfg, seed=2)
    truth, spikes, t_end = _load_no_opto(res)
    flat = truth[truth["region_group"].isin(["hippocampus", "other"]) & (truth["opto_role"] == "none")]
    fanos = []
    for uid, rate in zip(flat["unit_id"], flat["mean_rate_hz"], strict=True):
        if rate < 2:
            continue
        counts = np.histogram(spikes[uid], np.arange(0.0, t_end - 1.0, 1.0))[0]
        fanos.append(counts.var() / counts.mean())
    assert len(fanos) >= 3
    assert 0.85 < np.mean(fanos) < 1.15


def _load_no_opto(res):
    with h5py.File(res.nwb_paths[0], "r") as f:
        ids = f["units/id"][:]
        ends = f["units/spike_times_index"][:]
        spikes = dict(zip(ids, np.split(f["units/spike_times"][:], ends[:-1]), strict=True))
        t_end = float(f["processing/running/running_speed/timestamps"][-1])
    truth = pd.read_parquet(res.out_dir / "truth" / f"session_{res.session_ids[0]}_units.parquet")
    return truth, spikes, t_end


def test_truth_columns_and_tuning_labels(session):
    truth = session[0]
    assert list(truth.columns)[:6] == [
        "unit_id",
        "structure",
        "region_group",
        "true_cell_type",
        "tuning",
        "mean_rate_hz",
    ]
    assert truth["unit_id"].dtype == np.int64
    assert set(truth["true_cell_type"]) == {"PV", "none"}
    assert truth.loc[truth["true_cell_type"] == "PV", "tuning"].str.contains("rounded").all()
    assert truth.loc[truth["region_group"] == "hippocampus", "tuning"].str.contains("untuned").all()
