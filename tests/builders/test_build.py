"""End-to-end builds on simulated Allen-layout sessions."""

import json
import os
import re
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from neurrator_bench.builders.build import build_dataset
from neurrator_bench.builders.origin import SIMULATOR_INSTITUTION
from neurrator_bench.errors import NoUsableUnitsError, NWBFormatError
from neurrator_bench.schemas.dataset import MANIFEST_FILENAME, WindowSpec
from neurrator_bench.tasks import TASKS
from tests.builders.interrupt import die_on_second_session

LOAD_SCRIPT = r"""
import json, sys
import datasets
configs = sys.argv[2:]
sizes = {}
for c in configs:
    d = datasets.load_dataset(sys.argv[1], c)
    sizes[c] = {s: d[s].num_rows for s in d}
test = datasets.load_dataset(sys.argv[1], configs[0], split="test")
assert test.features["spikes"].dtype == "uint8" and test.features["spikes"].shape == (None, 20), test.features
assert test.with_format("numpy")[0]["spikes"].shape[1] == 20
assert not [m for m in sys.modules if m.startswith("neurrator_bench")]
print(json.dumps(sizes))
"""


def manifest(path):
    return json.loads((path / MANIFEST_FILENAME).read_text())


META = ["sample_id", "session_id", "stimulus", "repeat", "frame", "bin_index", "t_start", "bin_s"]


def read_config(root, globs, columns=None):
    """Concatenate a config's files (only ``columns`` when given); Array2D columns come back as nested lists."""
    frames = []
    for p in (p for g in globs for p in sorted(root.glob(g))):
        table = pq.read_table(p, columns=columns)
        frames.append(pd.DataFrame({name: table.column(name).to_pylist() for name in table.column_names}))
    return pd.concat(frames, ignore_index=True)


def test_load_dataset_offline_without_our_package(built_dataset, tmp_path):
    m = manifest(built_dataset)
    configs = [
        *TASKS.names(),
        "units",
        "sessions",
        "stimuli",
        "targets",
        "normalization",
        "real-nm1-791319847",
    ]
    env = {
        **os.environ,
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": "",
        "HF_DATASETS_CACHE": str(tmp_path / "hf-cache"),
    }
    res = subprocess.run(
        [sys.executable, "-c", LOAD_SCRIPT, str(built_dataset), *configs],
        capture_output=True,
        text=True,
        env=env,
        cwd=built_dataset.parent,
        check=False,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    sizes = json.loads(res.stdout.strip().splitlines()[-1])
    assert sizes == {c: m["split_sizes"][c] for c in configs}


@pytest.mark.parametrize("task", TASKS.names(), ids=TASKS.names())
def test_no_leakage_in_built_splits(built_dataset, task):
    m = manifest(built_dataset)
    splits = {s: read_config(built_dataset, g, META) for s, g in m["configs"][task]["splits"].items()}
    assert set(splits) == {"train", "validation", "test"}
    ids = {s: set(df["sample_id"]) for s, df in splits.items()}
    assert (
        not ids["train"] & ids["test"] and not ids["validation"] & ids["test"] and not ids["train"] & ids["validation"]
    )
    for df in splits.values():
        assert df["sample_id"].is_unique and len(df) > 0
    key = ["session_id", "stimulus"]
    train_frames = set(map(tuple, splits["train"][[*key, "frame"]].to_numpy()))
    test_frames = set(map(tuple, splits["test"][[*key, "frame"]].to_numpy()))
    if any(rule.held_out is not None for rule in TASKS.get(task).rules):
        assert not train_frames & test_frames  # a repeat holdout trains on every frame, on other repeats
    # a trial is a repeat of a movie, or one presentation (image, occurrence) of a natural scene
    trial = [*key, "repeat"] if TASKS.get(task).stimuli != ("natural_scenes",) else [*key, "frame", "repeat"]
    train_trials = set(map(tuple, splits["train"][trial].to_numpy()))
    test_trials = set(map(tuple, splits["test"][trial].to_numpy()))
    assert not train_trials & test_trials


def read_rows(root, globs, sample_ids):
    """The rows (all columns) of a config whose sample_id is in ``sample_ids``, in that order."""
    import pyarrow as pa
    import pyarrow.compute as pc

    parts = []
    for p in (p for g in globs for p in sorted(root.glob(g))):
        table = pq.read_table(p)
        parts.append(table.filter(pc.is_in(table["sample_id"], value_set=pa.array(sample_ids))))
    table = pa.concat_tables(parts)
    df = pd.DataFrame({name: table.column(name).to_pylist() for name in table.column_names})
    return df.set_index("sample_id").loc[sample_ids].reset_index()


def nwb_spike_times(path, unit_id):
    with h5py.File(path, "r") as f:
        ids = f["units/id"][:]
        ends = f["units/spike_times_index"][:]
        i = int(np.flatnonzero(ids == unit_id)[0])
        start = 0 if i == 0 else int(ends[i - 1])
        return f["units/spike_times"][start : int(ends[i])]


def test_counts_equal_spikes_in_half_open_bins(built_dataset, sim_dir):
    m = manifest(built_dataset)
    units = read_config(built_dataset, m["configs"]["units"]["splits"]["train"])
    rng = np.random.default_rng(0)
    for task in ("nm1-contiguous-middle", "scenes-identity-holdout"):
        df = read_config(built_dataset, m["configs"][task]["splits"]["test"], META)
        df = df[~df["session_id"].str.startswith("pseudo-")]
        picked = df.iloc[rng.choice(len(df), size=6, replace=False)]
        df = read_rows(built_dataset, m["configs"][task]["splits"]["test"], picked["sample_id"].tolist())
        for r in range(len(df)):
            row = df.iloc[r]
            nwb = sim_dir / f"session_{row.session_id}" / f"session_{row.session_id}.nwb"
            sess_units = units[units["session_id"] == row.session_id].sort_values("unit_index")
            spikes = np.stack(row.spikes)
            assert spikes.shape == (len(sess_units), 20)
            for ui in rng.choice(len(sess_units), size=5, replace=False):
                st = nwb_spike_times(nwb, int(sess_units.iloc[ui].unit_id))
                for i in range(20):
                    a, b = row.t_start + i * row.bin_s, row.t_start + (i + 1) * row.bin_s
                    assert spikes[ui, i] == np.count_nonzero((st >= a) & (st < b))
    assert df["spikes"].map(lambda s: np.stack(s).sum()).sum() > 0


def test_card_and_manifest(built_dataset):
    m = manifest(built_dataset)
    card = (built_dataset / "README.md").read_text()
    assert m["fingerprint"] in card and "nm1-contiguous-middle" in card and "Siegle" in card
    assert "[t_start + j * bin_s, t_start + (j + 1) * bin_s)" in card and "(unit, bin)" in card
    assert m["sizes"]["data_bytes"] < 5 * m["sizes"]["raw_binned_bytes"]
    assert {"pseudo-PV", "pseudo-SST", "pseudo-VIP", "pseudo-tagged"} <= set(m["sessions"])
    norm = read_config(built_dataset, m["configs"]["normalization"]["splits"]["train"])
    assert set(norm["task"]) == set(TASKS.names()) and (norm["std"] >= 0).all()


def test_interrupted_build_resumes_identically(sim_dir, tmp_path, monkeypatch):
    tasks = ["nm1-contiguous-middle"]
    clean = build_dataset([sim_dir], tmp_path / "clean", tasks=tasks)
    die_on_second_session(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        build_dataset([sim_dir], tmp_path / "resumed", tasks=tasks)
    assert not (tmp_path / "resumed").exists() and (tmp_path / "resumed.partial").exists()
    monkeypatch.undo()
    resumed = build_dataset([sim_dir], tmp_path / "resumed", tasks=tasks)
    assert resumed.manifest.fingerprint == clean.manifest.fingerprint
    assert resumed.manifest.files == clean.manifest.files
    assert not (tmp_path / "resumed.partial").exists()
    with pytest.raises(FileExistsError, match="already exists"):
        build_dataset([sim_dir], tmp_path / "resumed", tasks=tasks)


def copy_session(sim_dir, tmp_path):
    src = sorted(sim_dir.glob("session_*/session_*.nwb"))[0]
    dst = tmp_path / "in" / src.name
    dst.parent.mkdir(parents=True)
    shutil.copy(src, dst)
    shutil.copytree(sim_dir / "stimuli", tmp_path / "in" / "stimuli")
    return dst


def test_truncated_nwb_is_named(sim_dir, tmp_path):
    nwb = copy_session(sim_dir, tmp_path)
    data = nwb.read_bytes()
    nwb.write_bytes(data[: len(data) // 3])
    with pytest.raises(NWBFormatError, match=nwb.name):
        build_dataset([nwb], tmp_path / "out", tasks=["nm1-front-only"], stimuli_dir=tmp_path / "in" / "stimuli")
    assert not (tmp_path / "out").exists()


def test_missing_table_is_named(sim_dir, tmp_path):
    nwb = copy_session(sim_dir, tmp_path)
    with h5py.File(nwb, "a") as f:
        del f["intervals/natural_scenes_presentations"]
    with pytest.raises(NWBFormatError, match="natural_scenes_presentations"):
        build_dataset([nwb], tmp_path / "out", tasks=["scenes-identity-holdout"])
    assert not (tmp_path / "out").exists()


def test_session_without_passing_units(sim_dir, tmp_path):
    nwb = copy_session(sim_dir, tmp_path)
    with h5py.File(nwb, "a") as f:
        q = f["units/quality"]
        q[...] = np.array(["noise"] * q.shape[0], dtype=object)
    with pytest.raises(NoUsableUnitsError, match=f"{nwb.name}: no unit .* passes Allen's default QC"):
        build_dataset([nwb], tmp_path / "out", tasks=["nm1-front-only"])
    assert not (tmp_path / "out").exists()


def test_unknown_task(sim_dir, tmp_path):
    with pytest.raises(KeyError, match="unknown task 'nm1-middle'"):
        build_dataset([sim_dir], tmp_path / "out", tasks=["nm1-middle"])


def test_build_with_clip_targets_and_blip2_captions(sim_dir, tmp_path):
    """The real model paths: a CLIP checkpoint (by path) for targets and a BLIP-2 checkpoint for captions."""
    from tests.tiny_models import save_tiny_blip2, save_tiny_clip

    clip = save_tiny_clip(tmp_path / "clip")
    blip2 = save_tiny_blip2(tmp_path / "blip2")
    nwb = sorted(sim_dir.glob("session_*/session_*.nwb"))[0]
    result = build_dataset(
        [nwb],
        tmp_path / "ds",
        tasks=["scenes-identity-holdout"],
        stimuli_dir=sim_dir / "stimuli",
        target_model=str(clip),
        captioner=str(blip2),
    )
    m = result.manifest
    assert m.target_model == str(clip) and (m.target_n_patches, m.target_dim) == (4, 32)
    assert m.captioner == str(blip2)
    targets = pq.read_table(result.path / "data/targets/natural_scenes-00000.parquet").to_pylist()
    patches = np.array(targets[5]["patches"], dtype=np.float32)
    assert patches.shape == (4, 32) and np.allclose(np.array(targets[5]["pooled"]), patches.mean(0), atol=1e-2)
    captions = pq.read_table(result.path / "data/stimuli/natural_scenes.parquet", columns=["caption"]).column(0)
    assert len(captions) == 118 and all(isinstance(c, str) for c in captions.to_pylist())


def display_spans(nwb, stimulus, frames):
    """(k, 2) start/stop of every presentation of ``frames`` in the NWB file (read with h5py, not our reader)."""
    with h5py.File(nwb, "r") as f:
        g = f[f"intervals/{stimulus}_presentations"]
        start, stop, frame = g["start_time"][:], g["stop_time"][:], g["frame"][:].astype(float)
    keep = np.isin(frame, frames)
    return np.column_stack([start[keep], stop[keep]])


@pytest.mark.parametrize("task", TASKS.names(), ids=TASKS.names())
def test_no_training_window_sees_a_held_out_frame(built_dataset, sim_dir, task):
    """Guard band on the built files: no train/validation window [a, b) with [a - guard, b) over a held-out display."""
    m = manifest(built_dataset)
    w = m["window"]
    spec = TASKS.get(task)
    fit = pd.concat(
        [read_config(built_dataset, m["configs"][task]["splits"][s], META) for s in ("train", "validation")]
    )
    fit = fit[~fit["session_id"].str.startswith("pseudo-")]
    span = w["window_bins"] * w["bin_s"]
    checked = 0
    for (sid, stimulus), g in fit.groupby(["session_id", "stimulus"]):
        n_frames = (
            118 if stimulus == "natural_scenes" else {"natural_movie_one": 900, "natural_movie_three": 600}[stimulus]
        )
        held = spec.held_out(stimulus, n_frames)
        if held is None:
            continue
        spans = display_spans(sim_dir / f"session_{sid}" / f"session_{sid}.nwb", stimulus, held)
        t = np.sort(g["t_start"].to_numpy())
        # a window starting at t overlaps display [a, b] (with the latency) iff a - span <= t < b + guard
        lo = np.searchsorted(t, spans[:, 0] - span, side="left")
        hi = np.searchsorted(t, spans[:, 1] + w["guard_s"], side="left")
        assert (hi - lo == 0).all(), f"{task} {sid}: {int((hi - lo).sum())} windows see a held-out frame"
        checked += len(g)
    if any(spec.held_out(s, 900 if s != "natural_scenes" else 118) is not None for s in spec.stimuli):
        assert checked > 0 and sum(m["dropped"][s].get(f"guard:{task}", 0) for s in m["dropped"]) > 0


def test_repeat_holdout_test_split_is_every_bin_of_two_repeats(built_dataset):
    m = manifest(built_dataset)
    test = read_config(built_dataset, m["configs"]["nm1-repeat-holdout"]["splits"]["test"], META)
    per_session = test.groupby("session_id").size()
    # the simulator's NM1 repeat lasts 900 x 33.356 ms = 3,602 whole bins; centred 20-bin windows keep reference
    # bins 10..3592 (3,583 at stride 1, the multiples of the stride among them otherwise)
    stride = m["window"]["stride"]
    assert (per_session == 2 * len(range(-(-10 // stride) * stride, 3593, stride))).all(), per_session
    # every frame but the 2-3 at each end of a repeat, whose bins all lie within the window's edge
    assert sorted(set(test["repeat"])) == [9, 19] and 893 <= test["frame"].nunique() <= 897
    card = (built_dataset / "README.md").read_text()
    for session, n in per_session.items():
        assert f"| nm1-repeat-holdout | {session} | {n} |" in card


def test_repeat_holdout_at_stride_one_has_every_bin_of_both_test_repeats(sim_dir, tmp_path):
    nwb = sorted(sim_dir.glob("session_*/session_*.nwb"))[0]
    sid = nwb.stem.split("_")[1]
    built = build_dataset([nwb], tmp_path / "ds", tasks=["nm1-repeat-holdout"], stimuli_dir=sim_dir / "stimuli")
    assert built.manifest.window.stride == 1
    # 2 test repeats x (3,602 bins - 19 edge bins of a centred 20-bin window); the paper's concatenation: 7,186
    assert built.manifest.test_sizes_by_session["nm1-repeat-holdout"][sid] == 7166
    card = (built.path / "README.md").read_text()
    assert f"| nm1-repeat-holdout | {sid} | 7166 |" in card and "7,186 NM1 test bins" in card
    assert "2 x (3,602 - 19) = 7,166" in card


def test_simulated_build_says_simulated_everywhere(built_dataset, sim_dir):
    m = manifest(built_dataset)
    assert {m["data_origin"][t] for t in TASKS.names()} == {"simulated"}
    assert m["data_origin"]["real-nm1-791319847"] == "prebinned-extract"
    sessions = read_config(built_dataset, m["configs"]["sessions"]["splits"]["train"])
    origin = dict(zip(sessions["session_id"], sessions["data_origin"], strict=True))
    assert origin["791319847"] == "prebinned-extract"
    assert {v for k, v in origin.items() if k != "791319847"} == {"simulated"}
    card = (built_dataset / "README.md").read_text()
    assert "# SIMULATED neurrator-bench" in card and "pretty_name: SIMULATED" in card
    assert "Recordings: Allen" not in card and "The task configs of this build are simulated." in card
    nwb = sorted(sim_dir.glob("session_*/session_*.nwb"))[0]
    with h5py.File(nwb, "r") as f:
        assert f["general/institution"][()].decode() == SIMULATOR_INSTITUTION
        assert int(f["general/session_id"][()].decode()) >= 9_000_000_000  # above every Allen session id


def test_push_of_simulated_sessions_needs_allow_simulated(sim_dir, tmp_path):
    from click.testing import CliRunner

    from neurrator_bench.cli import main

    res = CliRunner().invoke(
        main, ["build", "--nwb", str(sim_dir), "--out", str(tmp_path / "ds"), "--push-to-hub", "me/ds"]
    )
    assert res.exit_code == 2, res.output
    assert "are simulated sessions" in res.output and "--allow-simulated" in res.output
    assert not (tmp_path / "ds").exists()


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (["--stride", "0"], r"Invalid value for '--stride'"),
        (["--alignment", "left"], r"Invalid value for '--alignment'"),
        (["--guard-ms", "-5"], r"Invalid value for '--guard-ms'"),
    ],
)
def test_bad_window_options_name_the_option(sim_dir, tmp_path, args, pattern):
    from click.testing import CliRunner

    from neurrator_bench.cli import main

    res = CliRunner().invoke(main, ["build", "--nwb", str(sim_dir), "--out", str(tmp_path / "ds"), *args])
    assert res.exit_code == 2 and re.search(pattern, res.output), res.output


def test_invalid_spans_of_the_units_probes_drop_windows(sim_dir, tmp_path):
    """Every invalid_times row (stimulus, all probes, a probe with units) removes the windows over it."""
    nwb = copy_session(sim_dir, tmp_path)
    with h5py.File(nwb, "r") as f:
        g = f["intervals/natural_movie_one_presentations"]
        start = g["start_time"][:]
        probe = f["general/extracellular_ephys/electrodes/group_name"][0]
        probe = probe.decode() if isinstance(probe, bytes) else str(probe)
    spans = [(start[100], start[160]), (start[5000], start[5030])]
    labels = [["EcephysProbe", "1", probe], ["EcephysSession", "1", "all_probes"]]
    _write_invalid_times(nwb, spans, labels)
    clean = build_dataset([copy_session(sim_dir, tmp_path / "c")], tmp_path / "clean", tasks=["nm1-repeat-holdout"])
    dirty = build_dataset(
        [nwb], tmp_path / "dirty", tasks=["nm1-repeat-holdout"], stimuli_dir=tmp_path / "in" / "stimuli"
    )
    sid = next(iter(dirty.manifest.dropped))
    n_dropped = dirty.manifest.dropped[sid]["invalid:natural_movie_one"]
    assert n_dropped > 0 and clean.manifest.dropped[sid]["invalid:natural_movie_one"] == 0

    def session_rows(result):
        parts = [
            read_config(result.path, g, META) for g in result.manifest.configs["nm1-repeat-holdout"].splits.values()
        ]
        rows = pd.concat(parts)
        return rows[rows["session_id"] == sid]

    kept = session_rows(dirty)
    assert len(session_rows(clean)) - len(kept) == n_dropped
    end = kept["t_start"] + kept["bin_s"] * 20
    for a, b in spans:
        assert not ((kept["t_start"] <= b) & (end > a)).any()


def _write_invalid_times(nwb, spans, labels):
    """Replace /intervals/invalid_times with ``spans`` and 3-string ``labels`` per row (ragged tags)."""
    with h5py.File(nwb, "a") as f:
        g = f["intervals/invalid_times"]
        for name in ("start_time", "stop_time", "tags", "tags_index", "id"):
            if name in g:
                attrs = dict(g[name].attrs)
                del g[name]
            else:
                attrs = {}
            data = {
                "start_time": np.array([a for a, _ in spans]),
                "stop_time": np.array([b for _, b in spans]),
                "tags": np.array([t for row in labels for t in row], dtype=object),
                "tags_index": np.cumsum([len(row) for row in labels]).astype(np.int64),
                "id": np.arange(len(spans)),
            }[name]
            dtype = h5py.string_dtype() if name == "tags" else None
            ds = g.create_dataset(name, data=data, dtype=dtype)
            for k, v in attrs.items():
                if k != "target":
                    ds.attrs[k] = v


def test_adding_a_task_keeps_the_other_tasks_fingerprints(sim_dir, tmp_path):
    nwb = sorted(sim_dir.glob("session_*/session_*.nwb"))[0]
    kw = {"stimuli_dir": sim_dir / "stimuli", "window": WindowSpec(stride=8)}
    one = build_dataset([nwb], tmp_path / "one", tasks=["nm1-front-only"], **kw).manifest
    two = build_dataset([nwb], tmp_path / "two", tasks=["nm1-front-only", "nm1-contiguous-middle"], **kw).manifest
    assert one.task_fingerprints["nm1-front-only"] == two.task_fingerprints["nm1-front-only"]
    assert one.fingerprint != two.fingerprint  # the dataset as a whole did change...
    assert set(one.configs["nm1-front-only"].splits["train"]) != set(two.configs["nm1-front-only"].splits["train"])
    assert two.task_fingerprints["nm1-contiguous-middle"] != two.task_fingerprints["nm1-front-only"]
    # ...and a change to the task's own samples changes its fingerprint
    three = build_dataset([nwb], tmp_path / "three", tasks=["nm1-front-only"], **{**kw, "window": WindowSpec(stride=4)})
    assert three.manifest.task_fingerprints["nm1-front-only"] != one.task_fingerprints["nm1-front-only"]


def test_card_lists_optotagged_counts_per_line(built_dataset):
    m = manifest(built_dataset)
    units = read_config(built_dataset, m["configs"]["units"]["splits"]["train"])
    recorded = units[~units["session_id"].str.startswith("pseudo-")]
    lines = {d["cell_type"]: d for d in m["optotagging"]}
    assert set(lines) == {"PV", "SST", "VIP"}  # one Cre session per line in the fixture
    card = (built_dataset / "README.md").read_text()
    for line, d in lines.items():
        assert d["n_tagged"] == int((recorded["cell_type"] == line).sum()) > 0
        assert d["n_trials"] and d["stimulus_name"] == "pulse"
        assert f"{line}: {d['n_tagged']} tagged of {d['n_units']} units in 1 session(s)" in card


def test_recordings_config_rebuilds_every_window(built_dataset):
    """The sparse continuous grid of a segment, re-windowed, gives back the samples' spike counts."""
    m = manifest(built_dataset)
    rec = read_config(built_dataset, m["configs"]["recordings"]["splits"]["train"])
    sid = sorted(s for s in m["sessions"] if s.isdigit() and len(s) == 10)[0]
    row = rec[(rec["session_id"] == sid) & (rec["stimulus"] == "natural_movie_one") & (rec["repeat"] == 9)].iloc[0]
    grid = np.zeros((row.n_units, row.n_bins), dtype=np.uint8)
    grid[np.array(row.unit_index, dtype=int), np.array(row.bin, dtype=int)] = row["count"]
    assert len(row.frame_of_bin) == row.n_bins == 3602 and row.frame_of_bin[0] == 0 and row.frame_of_bin[-1] == 899
    speed = np.array(row.running_speed, dtype=float)
    assert speed.shape == (row.n_bins,) and np.isfinite(speed).mean() > 0.99
    test = read_config(built_dataset, m["configs"]["nm1-repeat-holdout"]["splits"]["test"], META)
    test = test[(test["session_id"] == sid) & (test["repeat"] == 9)]
    picked = test.sample(8, random_state=0)["sample_id"].tolist()
    rows = read_rows(built_dataset, m["configs"]["nm1-repeat-holdout"]["splits"]["test"], picked)
    half = m["window"]["window_bins"] // 2
    for _, sample in rows.iterrows():
        first = sample.bin_index - half
        assert np.array_equal(np.stack(sample.spikes), grid[:, first : first + 2 * half])
        assert row.frame_of_bin[sample.bin_index] == sample.frame
        assert np.isclose(sample.t_start, row.t0 + first * row.bin_s)


def test_a_dataset_of_an_older_schema_is_refused_by_name(built_dataset, tmp_path):
    from neurrator_bench.dataset_access import open_dataset
    from neurrator_bench.errors import DatasetFormatError

    old = tmp_path / "old"
    shutil.copytree(built_dataset, old)
    data = json.loads((old / MANIFEST_FILENAME).read_text())
    data["schema_version"] = 1
    (old / MANIFEST_FILENAME).write_text(json.dumps(data))
    with pytest.raises(
        DatasetFormatError, match=r"(?s)neurrator_manifest.json: invalid manifest.*schema_version 1 is not supported"
    ):
        open_dataset(old)


def test_task_fingerprint_follows_each_input_it_covers():
    from neurrator_bench.builders.build import task_fingerprint
    from neurrator_bench.schemas.dataset import ConfigFiles

    task = TASKS.get("nm1-front-only")
    config = ConfigFiles(
        splits={"train": ["data/natural_movie_one/tx/*.parquet"], "test": ["data/natural_movie_one/sx/*.parquet"]}
    )
    files = {
        "data/units/1.parquet": "u1",
        "data/sessions/1.parquet": "s1",
        "data/targets/natural_movie_one-00000.parquet": "t1",
        "data/stimuli/natural_movie_one.parquet": "i1",
        "data/stimuli/natural_scenes.parquet": "other stimulus",
    }
    digests = {
        "data/natural_movie_one/tx/1.parquet": "0" * 63 + "5",
        "data/natural_movie_one/sx/1.parquet": "0" * 63 + "7",
    }
    norm = {"1/nm1-front-only": "n1", "1/nm1-contiguous-middle": "other task"}
    kw = {"window": WindowSpec(), "target_meta": {"model_id": "m"}, "captioner_meta": {"id": "c"}}

    def fp(files=files, digests=digests, norm=norm):
        return task_fingerprint(task, config, files=files, sample_digests=digests, norm_digests=norm, **kw)

    base = fp()
    # regrouping the same samples of a session into two shards (what adding a task does: the atom "tx" becomes
    # "txt" + "txs", and the split's globs name both) changes nothing
    regrouped = ConfigFiles(
        splits={
            "train": ["data/natural_movie_one/txt/*.parquet", "data/natural_movie_one/txs/*.parquet"],
            "test": ["data/natural_movie_one/sx/*.parquet"],
        }
    )
    split_shards = {
        "data/natural_movie_one/txt/1.parquet": "0" * 63 + "2",
        "data/natural_movie_one/txs/1.parquet": "0" * 63 + "3",
        "data/natural_movie_one/sx/1.parquet": "0" * 63 + "7",
    }
    same = task_fingerprint(task, regrouped, files=files, sample_digests=split_shards, norm_digests=norm, **kw)
    assert same == base
    # anything else the task depends on changes it
    assert fp(digests={**digests, "data/natural_movie_one/sx/1.parquet": "0" * 63 + "8"}) != base  # one test sample
    assert fp(norm={**norm, "1/nm1-front-only": "n2"}) != base  # its normalization rows
    assert fp(files={**files, "data/units/1.parquet": "u2"}) != base  # the session's units
    assert fp(files={**files, "data/targets/natural_movie_one-00000.parquet": "t2"}) != base  # a target shard
    # what belongs to other tasks or stimuli does not
    assert fp(norm={**norm, "1/nm1-contiguous-middle": "changed"}) == base
    assert fp(files={**files, "data/stimuli/natural_scenes.parquet": "changed"}) == base


def test_frame_of_each_sample_is_the_frame_on_screen_at_its_reference_bin(built_dataset, sim_dir):
    """Independent of the builder: read the presentation tables with h5py and look the reference time up."""
    m = manifest(built_dataset)
    half = m["window"]["window_bins"] // 2
    rng = np.random.default_rng(1)
    for task in ("nm1-repeat-holdout", "scenes-identity-holdout", "nm3-repeat-holdout"):
        df = read_config(built_dataset, m["configs"][task]["splits"]["test"], META)
        df = df[~df["session_id"].str.startswith("pseudo-")]
        df = df.iloc[rng.choice(len(df), size=40, replace=False)]
        for row in df.itertuples():
            nwb = sim_dir / f"session_{row.session_id}" / f"session_{row.session_id}.nwb"
            with h5py.File(nwb, "r") as f:
                g = f[f"intervals/{row.stimulus}_presentations"]
                start, stop, frame = g["start_time"][:], g["stop_time"][:], g["frame"][:]
            t_ref = row.t_start + (half + 0.5) * row.bin_s  # centre of the reference bin
            (shown,) = np.flatnonzero((start <= t_ref) & (t_ref < stop))
            assert int(frame[shown]) == row.frame, (task, row.sample_id)
