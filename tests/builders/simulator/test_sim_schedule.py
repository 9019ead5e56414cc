from __future__ import annotations

import numpy as np
import pytest

from neurrator_bench.builders.simulator import SimulationConfig
from neurrator_bench.builders.simulator.schedule import (
    BLOCK_ORDER,
    build_optotagging,
    build_presentations,
    build_timeline,
)


@pytest.fixture(scope="module")
def tables():
    return build_presentations(SimulationConfig.preset("mini"), seed=0)


def test_block_order_and_spontaneous(tables):
    tabs, _ = tables
    assert set(tabs) == {*BLOCK_ORDER, "spontaneous"}
    sp = tabs["spontaneous"]
    assert len(sp) == 15
    assert "stimulus_block" not in sp.columns and "stimulus_index" not in sp.columns
    firsts = sorted((df["start_time"].min(), name) for name, df in tabs.items() if name != "spontaneous")
    assert firsts[0][1] == "gabors"
    for name, df in tabs.items():
        assert np.all(np.diff(df["start_time"].to_numpy()) > 0), name
        assert "repeat" not in df.columns


def test_natural_movie_one_structure(tables):
    nm1 = tables[0]["natural_movie_one"]
    assert len(nm1) == 18000
    frame = nm1["frame"].to_numpy()
    assert frame.dtype == np.float64
    starts = np.flatnonzero(frame == 0)
    assert len(starts) == 20
    assert np.array_equal(starts, np.arange(20) * 900)
    assert sorted(set(nm1["stimulus_block"])) == [4.0, 12.0]
    assert (nm1["stimulus_block"] == 4.0).sum() == 9000
    dur = (nm1["stop_time"] - nm1["start_time"]).to_numpy()
    assert np.allclose(dur, 0.0334, atol=5e-4) and dur.std() > 0


def test_natural_movie_three_and_scenes(tables):
    tabs, _ = tables
    nm3 = tabs["natural_movie_three"]
    assert (nm3["frame"] == 0).sum() == 10
    assert sorted(set(nm3["stimulus_block"])) == [3.0, 6.0]
    ns = tabs["natural_scenes"]
    assert len(ns) == 5950
    assert list(ns.columns[-1:]) == ["frame"]
    counts = ns["frame"].value_counts()
    assert len(counts) == 119 and set(counts) == {50}
    assert ns["frame"].min() == -1.0
    assert sorted(set(ns["stimulus_block"])) == [9.0, 10.0, 13.0]


def test_parameter_dtypes_and_na_strings(tables):
    tabs, _ = tables
    dg = tabs["drifting_gratings"]
    assert dg["orientation"].dtype == np.float64
    assert isinstance(dg["spatial_frequency"].iloc[0], str)
    sg = tabs["static_gratings"]
    assert sg["spatial_frequency"].dtype == np.float64
    na = [
        c
        for name in ("drifting_gratings", "static_gratings")
        for c in tabs[name].columns
        if (tabs[name][c] == "N/A").any()
    ]
    assert na
    assert "x_position" in tabs["gabors"].columns


def test_optotagging_table():
    opto = build_optotagging(SimulationConfig.preset("mini").model_copy(update={"opto_trials": 200}), 100.0, seed=0)
    assert list(opto.columns) == [
        "start_time",
        "condition",
        "level",
        "stop_time",
        "stimulus_name",
        "duration",
    ]
    assert set(opto["level"]) <= {1.3, 1.7, 2.0}
    assert set(opto["stimulus_name"]) == {"pulse", "fast_pulses", "raised_cosine"}
    ten_ms = ((opto["duration"] > 0.009) & (opto["duration"] < 0.02)).mean()
    assert ten_ms > 0.35
    assert np.all(np.diff(opto["start_time"]) > 1.4)


def test_timeline_tiles_the_session(tables):
    tabs, t_end = tables
    tl = build_timeline(tabs, t_end + 5.0, 10.0)
    assert tl.start[0] == 0.0 and np.isclose(tl.stop[-1], t_end + 5.0)
    assert np.allclose(tl.stop[:-1], tl.start[1:])
    assert (tl.code == 1).sum() == 18000
    assert (tl.code == 3).sum() == 5900
    assert np.all((tl.stop - tl.start)[tl.code == 0] <= 10.0 + 1e-9)
