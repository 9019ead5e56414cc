"""End-to-end builds on simulated Allen-layout sessions."""

import json
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from neurrator_bench.builders import build as build_mod
from neurrator_bench.builders.build import build_dataset
from neurrator_bench.errors import NoUsableUnitsError, NWBFormatError
from neurrator_bench.schemas.dataset import MANIFEST_FILENAME
from neurrator_bench.tasks import TASKS

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


def read_config(root, globs):
    """Concatenate a config's files; Array2D columns come back as nested lists."""
    frames = []
    for p in (p for g in globs for p in sorted(root.glob(g))):
        table = pq.read_table(p)
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
    splits = {s: read_config(built_dataset, g) for s, g in m["configs"][task]["splits"].items()}
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
    assert not train_frames & test_frames
    train_trials = set(map(tuple, splits["train"][[*key, "repeat"]].to_numpy()))
    test_trials = set(map(tuple, splits["test"][[*key, "repeat"]].to_numpy()))
    assert not train_trials & test_trials


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
        df = read_config(built_dataset, m["configs"][task]["splits"]["test"])
        df = df[~df["session_id"].str.startswith("pseudo-")]
        for r in rng.choice(len(df), size=6, replace=False):
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
    real_build_session = build_mod.build_session
    calls = {"n": 0}

    def dying(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed mid-build")
        return real_build_session(*args, **kwargs)

    monkeypatch.setattr(build_mod, "build_session", dying)
    with pytest.raises(KeyboardInterrupt):
        build_dataset([sim_dir], tmp_path / "resumed", tasks=tasks)
    assert not (tmp_path / "resumed").exists() and (tmp_path / "resumed.partial").exists()
    monkeypatch.setattr(build_mod, "build_session", real_build_session)
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


def test_download_resume_then_build_from_cache(sim_dir, tmp_path):
    import threading
    from http.server import ThreadingHTTPServer

    from neurrator_bench.builders.download import download_sessions
    from tests.builders.test_download import ServerState, _Handler

    nwb = sorted(sim_dir.glob("session_*/session_*.nwb"))[0]
    sid = int(nwb.stem.split("_")[1])
    data = nwb.read_bytes()
    url_path = f"/ecephys-cache/session_{sid}/session_{sid}.nwb"
    state = ServerState(files={url_path: data}, cut_next={url_path: [len(data) // 2]})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.state = state
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        template = f"http://127.0.0.1:{httpd.server_address[1]}/ecephys-cache/session_{{session_id}}/session_{{session_id}}.nwb"
        cache = tmp_path / "cache"
        (path,) = download_sessions([sid], cache, url_template=template, checksums={sid: build_mod.file_sha256(nwb)})
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
    assert [entry[1] for entry in state.log] == [None, f"bytes={len(data) // 2}-"]  # second request resumed
    assert path.read_bytes() == data
    from_cache = build_dataset([cache], tmp_path / "a", tasks=["nm1-front-only"], stimuli_dir=sim_dir / "stimuli")
    direct = build_dataset([nwb], tmp_path / "b", tasks=["nm1-front-only"], stimuli_dir=sim_dir / "stimuli")
    assert from_cache.manifest.fingerprint == direct.manifest.fingerprint


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
