"""The sealed final test (`build --seal-final`): which frames, where their references go, what stays public."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from neurrator_bench.builders.sealing import frame_clusters, sealed_frames
from neurrator_bench.dataset_access import load_frame_targets, load_samples, open_dataset
from neurrator_bench.errors import DatasetFormatError
from neurrator_bench.schemas.sealed_references import SEALED_FILENAME, open_references
from neurrator_bench.tasks import NM1, SCENES, TASKS
from tests.builders.interrupt import die_on_second_session
from tests.conftest import SEALED_TASKS

ALL = [TASKS.get(n) for n in TASKS.names()]
SIZES = {NM1: 900, "natural_movie_three": 3600, SCENES: 118}


def test_every_task_gets_its_share_in_whole_clusters():
    sealed = sealed_frames(ALL, SIZES, fraction=0.1)
    for task in ALL:
        for stimulus in task.stimuli:
            tf = task.test_frames(stimulus, SIZES[stimulus])
            if tf is None:
                continue
            share = np.isin(tf, sealed.frames[stimulus]).mean()
            assert 0.1 <= share < 1.0, (task.name, share)
            assert sealed.task_fraction[task.name] == pytest.approx(share, abs=1e-6)
    # movie frames are sealed in whole 30-frame blocks, scene images one by one
    nm1 = np.array(sealed.frames[NM1])
    blocks = np.unique(frame_clusters(NM1, 900, 30)[nm1])
    np.testing.assert_array_equal(np.sort(nm1), np.concatenate([np.arange(b * 30, b * 30 + 30) for b in blocks]))
    # the smallest test set (the 18 held-out images) asks ceil(0.1 * 18) = 2 images, and gets exactly that
    assert len(sealed.frames[SCENES]) == 2 and sealed.task_clusters["scenes-identity-holdout"] == 2
    # contiguous-middle's 200 frames span blocks 8..14; the clusters it holds are counted
    middle = np.array(sealed.frames[NM1])
    middle = middle[(middle >= 250) & (middle < 450)]
    assert sealed.task_clusters["nm1-contiguous-middle"] == np.unique(middle // 30).size >= 1
    # deterministic, and the seed matters
    assert sealed_frames(ALL, SIZES, fraction=0.1).frames == sealed.frames
    assert sealed_frames(ALL, SIZES, fraction=0.1, seed=1).frames[NM1] != sealed.frames[NM1]


@pytest.mark.parametrize("fraction", [0.0, -0.1, 0.6])
def test_fraction_outside_range_is_refused(fraction):
    with pytest.raises(ValueError, match="fraction in"):
        sealed_frames(ALL, SIZES, fraction=fraction)


def _holds_any(table: pa.Table, texts: pa.Array, blobs: pa.Array) -> bool:
    """Whether any string (any binary) value of ``table``, at any depth of nesting, is one of ``texts`` (``blobs``)."""

    def scan(array: pa.Array) -> bool:
        kind = array.type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            return pc.any(pc.is_in(array, value_set=texts)).as_py() or False
        if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
            return pc.any(pc.is_in(array, value_set=blobs)).as_py() or False
        if pa.types.is_struct(kind):
            return any(scan(array.field(i)) for i in range(kind.num_fields))
        if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
            return scan(array.flatten())
        return False  # numbers: targets are checked by where they may live

    return any(scan(column.combine_chunks()) for column in table.columns)


def test_sealed_references_never_appear_in_the_public_folder(sealed_build):
    """Must-show: every file of the public dataset is read; no sealed caption, image or target is in any of them."""
    root, refs_dir = sealed_build
    assert refs_dir is not None and refs_dir.is_dir() and not refs_dir.resolve().is_relative_to(root.resolve())
    ds = open_dataset(root)
    refs = open_references(refs_dir, dataset_fingerprint=ds.manifest.fingerprint)
    public_captions = set()
    for stimulus in refs.captions:
        public_captions |= {c for c in load_frame_targets(ds, stimulus).captions.tolist() if c is not None}
    secret = {c for per in refs.captions.values() for c in per.values()} - public_captions
    assert len(secret) >= 20  # captions only a sealed frame has (the others are shared with public frames)
    sealed_images = set()
    for path in (refs_dir / "stimuli").glob("*.parquet"):  # every sealed stimulus: movie frames and scene images
        sealed_images |= set(pq.read_table(path).column("image").combine_chunks().field("bytes").to_pylist())
    assert len(sealed_images) > len(refs.captions[NM1]) // 2 and SCENES in refs.captions
    files = [p for p in root.rglob("*") if p.is_file()]
    assert not any(p.name == SEALED_FILENAME for p in files)
    for path in files:
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            assert not _holds_any(table, pa.array(sorted(secret)), pa.array(sorted(sealed_images), pa.binary())), path
            # targets live only in the targets config, one row per frame, sealed rows NaN (checked below): a
            # sealed target has no other place to be (equal values elsewhere belong to frames of equal content)
            dim = ds.manifest.target_dim
            vectors = [
                f.name
                for f in table.schema
                if pa.types.is_fixed_size_list(f.type)
                and f.type.list_size == dim
                and pa.types.is_floating(f.type.value_type)
            ]
            if {"pooled", "patches"} & set(table.column_names) or vectors:
                assert path.parent.name == "targets", path
                keys = list(zip(table.column("stimulus").to_pylist(), table.column("frame").to_pylist(), strict=True))
                assert len(set(keys)) == len(keys), path
        else:
            text = path.read_bytes().decode("utf-8", errors="replace")
            assert not any(c in text for c in secret), path
    # the public tables keep the sealed frames' rows, withheld: null caption and image, NaN targets
    for stimulus, per in refs.captions.items():
        targets = load_frame_targets(ds, stimulus)
        frames = np.array(sorted(per))
        assert not targets.public[frames].any() and targets.public.sum() == len(targets.public) - len(frames)
        assert all(c is None for c in targets.captions[frames])


def test_final_split_holds_the_sealed_frames_and_training_never_sees_them(sealed_build):
    root, refs_dir = sealed_build
    ds = open_dataset(root)
    sealed = ds.manifest.sealed_final
    for task in SEALED_TASKS:
        spec = TASKS.get(task)
        final = load_samples(ds, task, "final")
        test = load_samples(ds, task, "test")
        assert len(final) > 0 and final["caption"].isna().all()
        assert test["caption"].notna().all()
        for stimulus in spec.stimuli:
            seal = np.array(sealed.frames[stimulus])
            assert np.isin(final.loc[final.stimulus == stimulus, "frame"], seal).all()
            assert not np.isin(test.loc[test.stimulus == stimulus, "frame"], seal).any()
            for split in ("train", "validation"):
                frames = load_samples(ds, task, split).query("stimulus == @stimulus")["frame"].to_numpy()
                assert not np.isin(frames, seal).any()
                if stimulus == NM1:  # the guard band: no training window next to a sealed cluster either
                    distance = np.abs(frames[:, None] - seal[None, :]).min(axis=1)
                    assert distance.min() >= 3, (task, split, distance.min())
        if NM1 in spec.stimuli:  # scenes: the windows near a sealed image are already dropped by the holdout's guard
            assert sum(d.get(f"sealed:{task}", 0) for d in ds.manifest.dropped.values()) > 0
    # plain `datasets` (no package code) sees the final split, spikes and all, with null captions
    import datasets

    hub = datasets.load_dataset(str(root), SEALED_TASKS[0], split="final")
    assert hub.num_rows == len(load_samples(ds, SEALED_TASKS[0], "final")) and set(hub["caption"]) == {None}
    card = (root / "README.md").read_text()
    assert "## Live test and sealed final test" in card and "split: final" in card


def test_references_folder_checks(sealed_build, tmp_path):
    root, refs_dir = sealed_build
    ds = open_dataset(root)
    with pytest.raises(DatasetFormatError, match="another build"):
        open_references(refs_dir, dataset_fingerprint="0" * 64)
    copy = tmp_path / "refs"
    shutil.copytree(refs_dir, copy)
    victim = next((copy / "stimuli").glob("*.parquet"))
    victim.write_bytes(victim.read_bytes() + b"x")
    with pytest.raises(DatasetFormatError, match="sha256 differs"):
        open_references(copy, dataset_fingerprint=ds.manifest.fingerprint)
    victim.unlink()
    with pytest.raises(DatasetFormatError, match="which is missing"):
        open_references(copy, dataset_fingerprint=ds.manifest.fingerprint)
    with pytest.raises(DatasetFormatError, match="not a sealed references folder"):
        open_references(root, dataset_fingerprint=ds.manifest.fingerprint)
    data = json.loads((refs_dir / SEALED_FILENAME).read_text())
    data["sealed"]["fraction"] = 0.9
    (copy / SEALED_FILENAME).write_text(json.dumps(data))
    with pytest.raises(DatasetFormatError, match="sealed.fraction"):
        open_references(copy, dataset_fingerprint=ds.manifest.fingerprint)


def test_cli_seal_options(sim_dir, tmp_path):
    from neurrator_bench.cli import main

    result = CliRunner().invoke(
        main, ["build", "--nwb", str(sim_dir), "--out", str(tmp_path / "d"), "--sealed-dir", "x"]
    )
    assert result.exit_code == 2 and "only apply with --seal-final" in result.output
    result = CliRunner().invoke(
        main, ["build", "--nwb", str(sim_dir), "--out", str(tmp_path / "d"), "--seal-final", "0.7"]
    )
    assert result.exit_code == 2 and "0.7" in result.output
    result = CliRunner().invoke(
        main,
        [
            "build",
            "--nwb",
            str(sim_dir),
            "--out",
            str(tmp_path / "d"),
            "--seal-final",
            "0.1",
            "--sealed-dir",
            str(tmp_path / "d" / "inside"),
        ],
    )
    assert result.exit_code != 0 and "overlaps the dataset folder" in result.output
    from neurrator_bench.builders.build import check_sealed_dir

    out = tmp_path / "d"
    for bad, what in [
        (tmp_path / "d.partial" / "refs", "staging folder"),  # the staging folder becomes the dataset
        (tmp_path, "dataset folder"),  # replacing it would delete the dataset
        (sim_dir.parent, "an input"),  # ... or the inputs
    ]:
        with pytest.raises(ValueError, match=what):
            check_sealed_dir(bad, out, [sim_dir])
    check_sealed_dir(sim_dir / "d.sealed", out, [sim_dir])  # inside an input folder is fine


def test_interrupted_sealed_build_resumes_identically_with_causal_windows(sim_dir, tmp_path, monkeypatch):
    """An interrupted sealed build resumes to the same dataset and references; the guard holds for causal windows."""
    from neurrator_bench.builders import build as build_mod
    from neurrator_bench.schemas.dataset import WindowSpec

    tasks, window = ["nm1-contiguous-middle"], WindowSpec(stride=4, alignment="causal")
    clean = build_mod.build_dataset([sim_dir], tmp_path / "clean", tasks=tasks, window=window, seal_final=0.2)
    die_on_second_session(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        build_mod.build_dataset([sim_dir], tmp_path / "resumed", tasks=tasks, window=window, seal_final=0.2)
    # nothing sealed is anywhere but the staging folder's _build (which never becomes the dataset)
    assert not (tmp_path / "resumed").exists() and not (tmp_path / "resumed.sealed").exists()
    assert (tmp_path / "resumed.partial" / "_build" / "sealed" / "stimuli").is_dir()
    monkeypatch.undo()
    resumed = build_mod.build_dataset([sim_dir], tmp_path / "resumed", tasks=tasks, window=window, seal_final=0.2)
    assert resumed.manifest.fingerprint == clean.manifest.fingerprint
    assert resumed.manifest.sealed_final == clean.manifest.sealed_final
    a = json.loads((tmp_path / "clean.sealed" / SEALED_FILENAME).read_text())
    b = json.loads((tmp_path / "resumed.sealed" / SEALED_FILENAME).read_text())
    assert a == b and not list((tmp_path / "resumed").rglob("_build"))
    # causal windows [b, b + 20 bins) look forward: no training window starts within the guard before a sealed frame
    ds = open_dataset(tmp_path / "resumed")
    seal = np.array(ds.manifest.sealed_final.frames[NM1])
    frames = load_samples(ds, tasks[0], "train")["frame"].to_numpy()
    assert not np.isin(frames, seal).any()
    ahead = seal[None, :] - frames[:, None]  # frames until a sealed frame
    assert not ((ahead >= 0) & (ahead <= 5)).any()  # 20 bins at 120 Hz span ~5 movie frames
