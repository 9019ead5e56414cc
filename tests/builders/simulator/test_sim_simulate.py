from __future__ import annotations

import hashlib
import importlib
import json

import numpy as np
import pandas as pd
import pytest

from neurrator_bench.builders.simulator import SimulationConfig, SimulationResult, simulate

TINY = {
    "n_sessions": 1,
    "units_per_probe": 5,
    "ns_presentations_per_image": 1,
    "nm1_repeats_per_block": 1,
    "nm3_frames": 30,
    "gabors_rows": 5,
    "sg_rows_per_block": 5,
    "dg_rows_per_block": 2,
    "opto_trials": 10,
}


def tiny_cfg(**extra):
    return SimulationConfig.preset("mini").model_copy(update={**TINY, **extra})


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return simulate(tmp_path_factory.mktemp("sim") / "out", tiny_cfg(), seed=7, n_sessions=2)


def test_output_layout(run):
    assert isinstance(run, SimulationResult)
    out = run.out_dir
    assert len(run.nwb_paths) == 2 == len(run.session_ids)
    for sid, path in zip(run.session_ids, run.nwb_paths, strict=True):
        assert path == out / f"session_{sid}" / f"session_{sid}.nwb" and path.is_file()
        assert (out / "truth" / f"session_{sid}_units.parquet").is_file()
    assert json.loads((out / "manifest.json").read_text())["manifest_version"] == "0.3.0"
    sessions = pd.read_csv(out / "sessions.csv")
    assert list(sessions.columns) == [
        "id", "published_at", "specimen_id", "session_type", "age_in_days", "sex", "full_genotype",
        "unit_count", "channel_count", "probe_count", "ecephys_structure_acronyms",
    ]  # fmt: skip
    assert list(sessions["id"]) == run.session_ids
    assert (sessions["unit_count"] < 15).all() and (sessions["probe_count"] == 3).all()
    assert not out.with_name("out.partial").exists()


def test_bundle(run):
    bundle = json.loads((run.stimuli_dir / "bundle.json").read_text())
    assert bundle["schema_version"] == 1 and bundle["patch_grid"] == [4, 4] and bundle["image_shape"] == [64, 64]
    assert bundle["stimuli"]["natural_movie_one"]["n_frames"] == 900
    for name, entry in bundle["stimuli"].items():
        frames = np.load(run.stimuli_dir / name / "frames.npy")
        assert frames.dtype == np.uint8 and frames.shape == (entry["n_frames"], 64, 64)
        ann = pd.read_parquet(run.stimuli_dir / name / "annotations.parquet")
        assert list(ann.columns) == ["frame", "description", "patch_descriptions", "patch_mixtures"]
        assert ann["frame"].dtype == np.int64 and len(ann) == entry["n_frames"]
        assert all(len(p) == 16 for p in ann["patch_descriptions"])
        assert all(len(m) == 16 for m in ann["patch_mixtures"])
        first = {d["phrase"]: d["weight"] for d in ann["patch_mixtures"][0][0]}
        assert abs(sum(first.values()) - 1) < 1e-3
        for fname, sha in entry["files"].items():
            assert _sha(run.stimuli_dir / name / fname) == sha
    from neurrator_bench.builders.stimulus_bundle import load_stimulus_bundle

    loaded = load_stimulus_bundle(run.stimuli_dir, ["natural_movie_one"])["natural_movie_one"]
    assert loaded.patch_contents is loaded.patch_mixtures and len(loaded.patch_mixtures) == 900
    first = {
        d["phrase"]: d["weight"]
        for d in pd.read_parquet(run.stimuli_dir / "natural_movie_one" / "annotations.parquet")["patch_mixtures"][0][0]
    }
    assert loaded.patch_mixtures[0][0] == pytest.approx(first)


def test_simulation_record(run):
    rec = json.loads((run.out_dir / "simulation.json").read_text())
    assert rec["seed"] == 7 and rec["config"]["n_sessions"] == 2 and rec["session_ids"] == run.session_ids
    for rel, sha in rec["files"].items():
        assert _sha(run.out_dir / rel) == sha
    assert any(rel.endswith(".nwb") for rel in rec["files"])


def test_deterministic_bytes(run, tmp_path):
    again = simulate(tmp_path / "again", tiny_cfg(), seed=7, n_sessions=2)
    for a, b in zip(run.nwb_paths, again.nwb_paths, strict=True):
        assert _sha(a) == _sha(b)
    assert (run.out_dir / "simulation.json").read_text() == (again.out_dir / "simulation.json").read_text()
    other = simulate(tmp_path / "other", tiny_cfg(), seed=8, n_sessions=1)
    assert _sha(other.nwb_paths[0]) != _sha(run.nwb_paths[0])


def test_refuses_existing_output_and_overwrites_on_request(tmp_path):
    out = tmp_path / "exists"
    out.mkdir()
    (out / "old.txt").write_text("x")
    with pytest.raises(FileExistsError, match="exists"):
        simulate(out, tiny_cfg())
    res = simulate(out, tiny_cfg(), overwrite=True)
    assert not (out / "old.txt").exists() and res.nwb_paths[0].is_file()


def test_interrupted_run_never_looks_complete(tmp_path, monkeypatch):
    sim_module = importlib.import_module("neurrator_bench.builders.simulator.simulate")

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(sim_module, "write_session_nwb", boom)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="disk full"):
        simulate(out, tiny_cfg())
    assert not out.exists()
    partial = tmp_path / "out.partial"
    assert not (partial / "simulation.json").exists() and not (partial / "sessions.csv").exists()


def test_presets_and_bad_arguments(tmp_path):
    mini, full = SimulationConfig.preset("mini"), SimulationConfig.preset("full")
    assert mini.n_sessions == 3 and mini.nm1_frames == 900 and mini.ns_images == 118
    assert full.n_probes == 6 and full.nm3_frames == 3600 and full.n_probes * full.units_per_probe > 2000
    with pytest.raises(KeyError, match="unknown simulation preset"):
        SimulationConfig.preset("huge")
    with pytest.raises(ValueError, match="extra"):
        SimulationConfig(bogus=1)
    with pytest.raises(ValueError, match="n_sessions"):
        simulate(tmp_path / "x", tiny_cfg(), n_sessions=0)
