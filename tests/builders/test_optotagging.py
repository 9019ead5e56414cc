from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from allen_fixture import write_allen_nwb

from neurrator_bench.builders.nwb_reader import read_session
from neurrator_bench.builders.optotagging import (
    GENOTYPE_CELL_TYPES,
    LineSummary,
    OptotagCriteria,
    PulseSelection,
    classify_cell_types,
    genotype_cell_type,
    in_visual_cortex,
    optotag_metrics,
    optotag_session,
    select_pulse_trials,
    select_pulses,
    summarize_lines,
)
from neurrator_bench.builders.recording import SessionRecording

N_TRIALS = 50
ONSETS = 100.0 + 2.0 * np.arange(N_TRIALS)


def _pulses() -> pd.DataFrame:
    """50 ten-ms pulses (with float noise on durations) plus 5 ms and 1 s trials that must be ignored."""
    ten = pd.DataFrame(
        {
            "start_time": ONSETS,
            "duration": 0.01 + np.where(np.arange(N_TRIALS) % 2 == 0, 2e-15, -2e-15),
            "stimulus_name": "pulse",
        }
    )
    other = pd.DataFrame(
        {
            "start_time": [50.0, 52.0, 54.0, 56.0],
            "duration": [0.005, 0.005, 1.0, 1.0],
            "stimulus_name": ["pulse", "pulse", "fast_pulses", "raised_cosine"],
        }
    )
    table = pd.concat([other, ten], ignore_index=True)
    table["stop_time"] = table["start_time"] + table["duration"]
    return table


def _spikes_at(offset_s: float, n: int) -> np.ndarray:
    return ONSETS[:n] + offset_s


def _trains() -> dict[int, np.ndarray]:
    # the 5 ms / 1 s trials at 50-56 s each get a +3 ms spike in every unit: must not count
    other = np.array([50.003, 52.003, 54.003, 56.003])
    trains = {
        # tagged: +3 ms on 80 % of pulses, baseline spike (-5 ms) on 5 trials, late spikes elsewhere
        1: np.concatenate([_spikes_at(0.003, 40), _spikes_at(-0.005, 5), _spikes_at(0.5, 50)]),
        2: _spikes_at(0.003, 10),  # reliability 20 %
        3: np.concatenate([_spikes_at(0.0085, 20), _spikes_at(0.012, 50)]),  # median latency 12 ms
        4: np.concatenate([_spikes_at(0.003, 25), _spikes_at(-0.005, 50)]),  # no rate increase
        5: _spikes_at(0.003, 15),  # reliability exactly 30 % -> fails (strict >)
        6: np.array([]),  # silent
        7: np.concatenate([_spikes_at(0.0002, 50), _spikes_at(0.009, 50)]),  # artifact + edge: nothing evoked
    }
    return {u: np.sort(np.concatenate([t, other])) for u, t in trains.items()}


def test_pulse_trials_selected_by_range() -> None:
    onsets = select_pulse_trials(_pulses())
    np.testing.assert_array_equal(onsets, ONSETS)
    no_duration = _pulses().drop(columns=["duration"])
    np.testing.assert_array_equal(select_pulse_trials(no_duration), ONSETS)


def test_metrics_exact_values() -> None:
    m = optotag_metrics(_trains(), _pulses()).set_index("unit_id")
    assert m.index.tolist() == [1, 2, 3, 4, 5, 6, 7]
    assert (m["n_trials"] == N_TRIALS).all()
    assert m["reliability"].to_dict() == {1: 0.8, 2: 0.2, 3: 0.4, 4: 0.5, 5: 0.3, 6: 0.0, 7: 0.0}
    assert m.loc[1, "median_latency_s"] == pytest.approx(0.003)
    assert m.loc[1, "evoked_rate_hz"] == pytest.approx(40 / (N_TRIALS * 0.008))
    assert m.loc[1, "baseline_rate_hz"] == pytest.approx(5 / (N_TRIALS * 0.008))
    assert m.loc[1, "rate_ratio"] == pytest.approx(8.0)
    assert m.loc[3, "median_latency_s"] == pytest.approx(0.012)
    assert m.loc[3, "rate_ratio"] == np.inf  # baseline 0, evoked > 0
    assert m.loc[4, "rate_ratio"] == pytest.approx(0.5)
    assert np.isnan(m.loc[6, "median_latency_s"])
    assert np.isnan(m.loc[6, "rate_ratio"])  # 0 / 0
    assert m.loc[7, "evoked_rate_hz"] == 0.0  # 0.2 ms artifacts and spikes at exactly +9 ms excluded
    assert m.loc[7, "median_latency_s"] == pytest.approx(0.009)
    assert m["passes"].to_dict() == {1: True, 2: False, 3: False, 4: False, 5: False, 6: False, 7: False}


def test_relaxed_criteria() -> None:
    criteria = OptotagCriteria(min_reliability=0.1, max_median_latency_s=0.02)
    m = optotag_metrics(_trains(), _pulses(), criteria).set_index("unit_id")
    assert m["passes"].to_dict() == {1: True, 2: True, 3: True, 4: False, 5: True, 6: False, 7: False}


def test_no_ten_ms_pulses() -> None:
    pulses = _pulses()
    m = optotag_metrics(_trains(), pulses[pulses["duration"] > 0.5])
    assert (m["n_trials"] == 0).all()
    assert not m["passes"].any()
    assert m["reliability"].isna().all()


def test_pulses_missing_columns() -> None:
    with pytest.raises(KeyError, match="'start_time'"):
        optotag_metrics(_trains(), pd.DataFrame({"duration": [0.01]}))
    with pytest.raises(KeyError, match="'duration' or 'stop_time'"):
        optotag_metrics(_trains(), pd.DataFrame({"start_time": [1.0]}))


@pytest.mark.parametrize(
    ("genotype", "cell_type"),
    [
        ("Pvalb-IRES-Cre/wt;Ai32(RCL-ChR2(H134R)_EYFP)/wt", "PV"),
        ("Sst-IRES-Cre/wt;Ai32(RCL-ChR2(H134R)_EYFP)/wt", "SST"),
        ("Vip-IRES-Cre/wt;Ai32(RCL-ChR2(H134R)_EYFP)/wt", "VIP"),
        ("wt/wt", None),
        ("", None),
        ("Ntsr1-Cre/wt;Ai32(RCL-ChR2(H134R)_EYFP)/wt", None),
    ],
)
def test_genotype_cell_type(genotype: str, cell_type: str | None) -> None:
    assert genotype_cell_type(genotype) == cell_type


def test_genotype_two_drivers() -> None:
    assert set(GENOTYPE_CELL_TYPES.values()) == {"PV", "SST", "VIP"}
    with pytest.raises(ValueError, match=r"at most one Cre.*PV.*SST"):
        genotype_cell_type("Pvalb-IRES-Cre/wt;Sst-IRES-Cre/wt")


def _recording(
    genotype: str,
    optotagging: pd.DataFrame | None,
    structures: dict[int, str | None] | None = None,
    *,
    session_id: int = 1,
) -> SessionRecording:
    """Units 1-7 of `_trains`, all in VISp unless ``structures`` says otherwise."""
    trains = _trains()
    structure = {u: "VISp" for u in trains} | (structures or {})
    units = pd.DataFrame({"structure": [structure[u] for u in trains]}, index=pd.Index(list(trains), name="unit_id"))
    return SessionRecording(
        path=Path(f"session_{session_id}.nwb"),
        session_id=session_id,
        session_type="brain_observatory_1.1",
        genotype=genotype,
        subject_id="",
        units=units,
        spike_times=trains,
        optotagging=optotagging,
    )


def test_classify_cre_session() -> None:
    rec = _recording("Sst-IRES-Cre/wt;Ai32(RCL-ChR2(H134R)_EYFP)/wt", _pulses())
    table = classify_cell_types(rec, [4, 1, 2])
    assert table["unit_id"].tolist() == [4, 1, 2]
    assert table["cell_type"].tolist() == ["untagged", "SST", "untagged"]
    assert table["reliability"].tolist() == [0.5, 0.8, 0.2]


def test_classify_wild_type_never_tagged() -> None:
    table = classify_cell_types(_recording("wt/wt", _pulses()), [1, 2])
    assert table["cell_type"].tolist() == ["untagged", "untagged"]
    assert table["passes"].tolist() == [True, False]


def test_classify_without_optotagging() -> None:
    table = classify_cell_types(_recording("Pvalb-IRES-Cre/wt;Ai32(RCL-ChR2(H134R)_EYFP)/wt", None), [1, 2])
    assert table["cell_type"].tolist() == ["unknown", "unknown"]
    assert table["n_trials"].tolist() == [0, 0]
    assert not table["passes"].any()
    assert table.columns.tolist()[:2] == ["unit_id", "cell_type"]


def test_classify_unknown_unit() -> None:
    with pytest.raises(KeyError, match=r"session_1\.nwb.*\[99\]"):
        classify_cell_types(_recording("wt/wt", _pulses()), [1, 99])


def test_classify_from_fixture_file(tmp_path: Path) -> None:
    rec = read_session(write_allen_nwb(tmp_path / "session_715093703.nwb"), stimuli=[])
    table = classify_cell_types(rec, [951, 957])
    # 10 ms pulses by range (0.01 at level 1.7, 0.010000000000002 at 2.0); only the highest level is used
    assert table["n_trials"].tolist() == [1, 1]
    assert table["cell_type"].tolist() == ["untagged", "untagged"]
    assert table["visual_cortex"].tolist() == [True, False]  # VISp, no structure
    _, selection = select_pulses(rec.optotagging)
    assert selection == PulseSelection("pulse", (0.009, 0.02), 2.0, (1.7, 2.0), 1)


# --- pulse selection: 10 ms "pulse" trials at the session's highest light level -----------------------

HIGH = 100.0 + 2.0 * np.arange(20)  # 20 ten-ms pulses at level 2.0
LOW = 200.0 + 2.0 * np.arange(40)  # 40 ten-ms pulses at level 1.3


def _levelled_pulses() -> pd.DataFrame:
    rows = [(t, 0.01, "pulse", 2.0) for t in HIGH] + [(t, 0.01, "pulse", 1.3) for t in LOW]
    # a 5 ms pulse and a 10 ms trial of another stimulus at the top level: never used
    rows += [(300.0, 0.005, "pulse", 2.0), (302.0, 0.01, "raised_cosine", 2.0), (304.0, 1.0, "fast_pulses", 2.0)]
    table = pd.DataFrame(rows, columns=["start_time", "duration", "stimulus_name", "level"])
    return table.sample(frac=1.0, random_state=0).reset_index(drop=True)  # order must not matter


def test_selects_ten_ms_pulses_at_highest_level() -> None:
    onsets, selection = select_pulses(_levelled_pulses())
    np.testing.assert_array_equal(onsets, HIGH)
    assert selection == PulseSelection("pulse", (0.009, 0.02), 2.0, (1.3, 2.0), 20)
    pooled, everything = select_pulses(_levelled_pulses(), OptotagCriteria(highest_level_only=False))
    np.testing.assert_array_equal(pooled, np.sort(np.concatenate([HIGH, LOW])))
    assert everything.level is None and everything.n_trials == 60
    any_name, _ = select_pulses(_levelled_pulses(), OptotagCriteria(stimulus_name=None))
    np.testing.assert_array_equal(any_name, [*HIGH, 302.0])
    no_level, sel = select_pulses(_levelled_pulses().drop(columns=["level"]))
    assert len(no_level) == 60 and sel.level is None and sel.levels_available == ()


def test_low_light_trials_do_not_dilute_reliability() -> None:
    # +3 ms spike on 16 of the 20 top-level pulses and none at low light: 80 % at the tagging stimulus
    # (pooled over all 60 ten-ms pulses it would be 16/60 = 27 % < 30 % and the unit would fail)
    trains = {1: np.sort(np.concatenate([HIGH[:16] + 0.003, LOW + 0.5]))}
    m = optotag_metrics(trains, _levelled_pulses()).set_index("unit_id")
    assert m.loc[1, "n_trials"] == 20
    assert m.loc[1, "reliability"] == pytest.approx(0.8)
    assert bool(m.loc[1, "passes"])


def test_latency_search_starts_after_the_light_artifact() -> None:
    # a 0.7 ms artifact on every pulse and the real first spike at +5 ms: latency 5 ms, not 0.7 ms
    trains = {1: np.sort(np.concatenate([ONSETS + 0.0007, ONSETS + 0.005]))}
    m = optotag_metrics(trains, _pulses()).set_index("unit_id")
    assert m.loc[1, "median_latency_s"] == pytest.approx(0.005)
    assert OptotagCriteria().latency_search_s[0] == OptotagCriteria().evoked_window_s[0] == 0.001


# --- visual cortex only ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("structure", "visual"),
    [("VISp", True), (" VISam ", True), ("VISmma", True), ("LGd", False), ("CA1", False), (None, False), ("", False)],
)
def test_in_visual_cortex(structure, visual) -> None:
    assert in_visual_cortex(structure) is visual


def test_passing_unit_outside_visual_cortex_is_not_tagged() -> None:
    rec = _recording("Sst-IRES-Cre/wt;Ai32(RCL-ChR2(H134R)_EYFP)/wt", _pulses(), {1: "LGd"})
    table = classify_cell_types(rec, [1, 2])
    assert table["cell_type"].tolist() == ["untagged", "untagged"]
    assert table["passes"].tolist() == [True, False]  # metrics are kept
    assert table["visual_cortex"].tolist() == [False, True]
    anywhere = classify_cell_types(rec, [1], OptotagCriteria(visual_cortex_only=False))
    assert anywhere["cell_type"].tolist() == ["SST"]


def test_units_need_structure() -> None:
    rec = _recording("wt/wt", _pulses())
    rec.units = rec.units.drop(columns=["structure"])
    with pytest.raises(KeyError, match=r"session_1\.nwb.*'structure'"):
        classify_cell_types(rec, [1])


# --- per-line summary for the dataset card ---------------------------------------------------------------


def test_summarize_lines() -> None:
    sst = "Sst-IRES-Cre/wt;Ai32(RCL-ChR2(H134R)_EYFP)/wt"
    sessions = [
        optotag_session(_recording(sst, _pulses(), session_id=11), [1, 2, 3]),  # unit 1 tagged
        # at the 20 top-level pulses unit 1 (in CA1: not tagged) and unit 2 (10 of 20 trials) pass
        optotag_session(_recording(sst, _levelled_pulses(), {1: "CA1"}, session_id=12), [1, 2]),
        optotag_session(_recording("wt/wt", _pulses(), session_id=13), [1, 2]),
        optotag_session(_recording("Pvalb-IRES-Cre/wt;Ai32(RCL-ChR2(H134R)_EYFP)/wt", None, session_id=14), [1]),
    ]
    assert [s.session_id for s in sessions] == [11, 12, 13, 14] and sessions[3].selection is None
    pv, sst_line = summarize_lines(sessions)
    assert pv == LineSummary("PV", 1, 1, 1, 0, 0, None, None, (), ())
    assert sst_line == LineSummary("SST", 2, 0, 5, 2, 1, "pulse", (0.009, 0.02), (None, 2.0), (50, 20))
    assert sst_line.as_dict()["levels"] == [None, 2.0]
    assert sst_line.card_text() == (
        'SST: 2 tagged of 5 units in 2 session(s); trials: "pulse" pulses of 9-20 ms at the highest light level '
        "of each session (level per session: any, 2; trials per session: 50, 20); 1 passing unit(s) outside "
        "visual cortex not tagged."
    )
    assert "1 session(s) without optotagging table" in pv.card_text()
