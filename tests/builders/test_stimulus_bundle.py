from __future__ import annotations

import hashlib
import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from neurrator_bench.builders.stimulus_bundle import (
    StimulusSet,
    load_allen_templates,
    load_stimulus_bundle,
    sha256_file,
)
from neurrator_bench.errors import DatasetFormatError

GRID = (2, 3)
SHAPE = (6, 9)


def _annotations(n_frames: int, name: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "frame": np.arange(n_frames, dtype=np.int64),
            "description": [f"{name} scene {i}" for i in range(n_frames)],
            "patch_descriptions": [[f"{name} f{i} p{j}" for j in range(GRID[0] * GRID[1])] for i in range(n_frames)],
        }
    )


def _write_stimulus(root: Path, name: str, frames: np.ndarray, table: pd.DataFrame | None) -> dict:
    stim_dir = root / name
    stim_dir.mkdir(parents=True, exist_ok=True)
    np.save(stim_dir / "frames.npy", frames)
    if table is not None:
        table.to_parquet(stim_dir / "annotations.parquet")
    files = {p.name: sha256_file(p) for p in sorted(stim_dir.iterdir())}
    return {"n_frames": int(frames.shape[0]), "files": files}


def _write_index(root: Path, stimuli: dict, **overrides: object) -> None:
    index = {"schema_version": 1, "seed": 0, "patch_grid": list(GRID), "image_shape": list(SHAPE)}
    index["stimuli"] = stimuli
    index.update(overrides)
    (root / "bundle.json").write_text(json.dumps(index))


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    root = tmp_path / "STIM"
    stimuli = {
        name: _write_stimulus(root, name, rng.integers(0, 256, (n, *SHAPE), dtype=np.uint8), _annotations(n, name))
        for name, n in (("movie_a", 4), ("scenes_b", 3))
    }
    _write_index(root, stimuli)
    return root


def test_sha256_file_matches_hashlib(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(b"neurrator" * 1000)
    assert sha256_file(path) == hashlib.sha256(b"neurrator" * 1000).hexdigest()


def test_bundle_round_trip(bundle: Path) -> None:
    sets = load_stimulus_bundle(bundle)
    assert list(sets) == ["movie_a", "scenes_b"]
    movie = sets["movie_a"]
    assert isinstance(movie, StimulusSet)
    assert movie.name == "movie_a"
    np.testing.assert_array_equal(movie.frames, np.load(bundle / "movie_a" / "frames.npy"))
    assert movie.frames.dtype == np.uint8 and movie.frames.shape == (4, *SHAPE)
    assert movie.descriptions == [f"movie_a scene {i}" for i in range(4)]
    assert movie.patch_descriptions is not None
    assert movie.patch_descriptions[2] == [f"movie_a f2 p{j}" for j in range(6)]
    assert all(isinstance(p, list) for p in movie.patch_descriptions)


def test_bundle_name_subset_and_unknown(bundle: Path) -> None:
    assert list(load_stimulus_bundle(bundle, names=["scenes_b"])) == ["scenes_b"]
    with pytest.raises(KeyError, match=r"nope.*available.*movie_a"):
        load_stimulus_bundle(bundle, names=["nope"])


def test_annotation_rows_are_sorted_by_frame(tmp_path: Path) -> None:
    table = _annotations(4, "m").iloc[[2, 0, 3, 1]]
    entry = _write_stimulus(tmp_path, "m", np.zeros((4, *SHAPE), np.uint8), table)
    _write_index(tmp_path, {"m": entry})
    assert load_stimulus_bundle(tmp_path)["m"].descriptions == [f"m scene {i}" for i in range(4)]


def test_frames_only_stimulus_has_no_descriptions(tmp_path: Path) -> None:
    entry = _write_stimulus(tmp_path, "m", np.zeros((2, *SHAPE), np.uint8), None)
    _write_index(tmp_path, {"m": entry})
    stim = load_stimulus_bundle(tmp_path)["m"]
    assert stim.descriptions is None and stim.patch_descriptions is None


def test_checksum_mismatch_names_file(bundle: Path) -> None:
    frames = np.load(bundle / "movie_a" / "frames.npy")
    frames[0, 0, 0] ^= 1
    np.save(bundle / "movie_a" / "frames.npy", frames)
    with pytest.raises(DatasetFormatError, match=r"movie_a/frames\.npy: sha256 mismatch"):
        load_stimulus_bundle(bundle)
    # verify=False reads the (still well-formed) modified file
    assert load_stimulus_bundle(bundle, verify=False)["movie_a"].frames[0, 0, 0] == frames[0, 0, 0]


def test_unlisted_file_is_refused(bundle: Path) -> None:
    index = json.loads((bundle / "bundle.json").read_text())
    del index["stimuli"]["movie_a"]["files"]["annotations.parquet"]
    (bundle / "bundle.json").write_text(json.dumps(index))
    with pytest.raises(DatasetFormatError, match=r"annotations\.parquet: present but not listed"):
        load_stimulus_bundle(bundle)


def test_missing_listed_file(bundle: Path) -> None:
    (bundle / "scenes_b" / "annotations.parquet").unlink()
    with pytest.raises(FileNotFoundError, match=r"scenes_b/annotations\.parquet: listed"):
        load_stimulus_bundle(bundle)


def test_non_contiguous_frames(tmp_path: Path) -> None:
    table = _annotations(3, "m")
    table.loc[2, "frame"] = 5
    entry = _write_stimulus(tmp_path, "m", np.zeros((3, *SHAPE), np.uint8), table)
    _write_index(tmp_path, {"m": entry})
    with pytest.raises(DatasetFormatError, match=r"annotations\.parquet: column 'frame'.*missing \[2\]"):
        load_stimulus_bundle(tmp_path)


def test_wrong_patch_count_names_column_and_row(tmp_path: Path) -> None:
    table = _annotations(3, "m")
    table.at[1, "patch_descriptions"] = ["only", "two"]
    entry = _write_stimulus(tmp_path, "m", np.zeros((3, *SHAPE), np.uint8), table)
    _write_index(tmp_path, {"m": entry})
    with pytest.raises(
        DatasetFormatError, match=r"annotations\.parquet: column 'patch_descriptions' row frame=1: expected 6"
    ):
        load_stimulus_bundle(tmp_path)


def test_wrong_frame_shape(tmp_path: Path) -> None:
    entry = _write_stimulus(tmp_path, "m", np.zeros((3, 5, 5), np.uint8), _annotations(3, "m"))
    _write_index(tmp_path, {"m": entry})
    with pytest.raises(DatasetFormatError, match=r"frames\.npy: expected uint8 frames of shape \(3, 6, 9\)"):
        load_stimulus_bundle(tmp_path)


def test_bad_schema_version(bundle: Path) -> None:
    index = json.loads((bundle / "bundle.json").read_text())
    _write_index(bundle, index["stimuli"], schema_version=2)
    with pytest.raises(DatasetFormatError, match=r"bundle\.json: field 'schema_version' expected 1, found 2"):
        load_stimulus_bundle(bundle)


def test_missing_index(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"bundle\.json"):
        load_stimulus_bundle(tmp_path)


def _write_allen_cache(root: Path) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    movie = rng.integers(0, 256, (5, 4, 7), dtype=np.uint8)
    (root / "natural_movie_templates").mkdir(parents=True)
    with h5py.File(root / "natural_movie_templates" / "natural_movie_1.h5", "w") as handle:
        handle.create_dataset("data", data=movie)
    scenes = rng.integers(0, 256, (3, 4, 6), dtype=np.uint8)
    (root / "natural_scene_templates").mkdir()
    for n in (2, 0, 1):
        Image.fromarray(scenes[n]).save(root / "natural_scene_templates" / f"natural_scene_{n}.tiff")
    return movie, scenes


def test_allen_templates(tmp_path: Path) -> None:
    movie, scenes = _write_allen_cache(tmp_path)
    sets = load_allen_templates(tmp_path)
    assert sorted(sets) == ["natural_movie_one", "natural_scenes"]
    np.testing.assert_array_equal(sets["natural_movie_one"].frames, movie)
    np.testing.assert_array_equal(sets["natural_scenes"].frames, scenes)
    assert sets["natural_scenes"].descriptions is None and sets["natural_scenes"].patch_descriptions is None


def test_allen_movie_template_is_read_as_npy_despite_its_h5_suffix(tmp_path: Path) -> None:
    # Allen's natural_movie_<n>.h5 holds .npy bytes (allensdk: np.load(path, allow_pickle=False))
    movie = np.random.default_rng(2).integers(0, 256, (6, 3, 5), dtype=np.uint8)
    (tmp_path / "natural_movie_templates").mkdir()
    with (tmp_path / "natural_movie_templates" / "natural_movie_3.h5").open("wb") as fh:
        np.save(fh, movie)
    np.testing.assert_array_equal(load_allen_templates(tmp_path)["natural_movie_three"].frames, movie)
    # a pickled object array is never loaded, and unknown bytes name the file
    with (tmp_path / "natural_movie_templates" / "natural_movie_3.h5").open("wb") as fh:
        np.save(fh, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DatasetFormatError, match=r"natural_movie_3\.h5: not a plain uint8 \.npy array.*pickle"):
        load_allen_templates(tmp_path)
    (tmp_path / "natural_movie_templates" / "natural_movie_3.h5").write_bytes(b"GIF89a....")
    with pytest.raises(DatasetFormatError, match=r"natural_movie_3\.h5.*leading bytes"):
        load_allen_templates(tmp_path)


def test_allen_templates_requested_missing_or_unknown(tmp_path: Path) -> None:
    _write_allen_cache(tmp_path)
    assert list(load_allen_templates(tmp_path, names=["natural_scenes"])) == ["natural_scenes"]
    with pytest.raises(FileNotFoundError, match=r"natural_movie_3\.h5.*natural_movie_three"):
        load_allen_templates(tmp_path, names=["natural_movie_three"])
    with pytest.raises(KeyError, match="natural_movie_two"):
        load_allen_templates(tmp_path, names=["natural_movie_two"])
    with pytest.raises(FileNotFoundError, match="no Allen stimulus templates"):
        load_allen_templates(tmp_path / "empty")


def test_allen_scene_numbers_must_be_contiguous(tmp_path: Path) -> None:
    _write_allen_cache(tmp_path)
    (tmp_path / "natural_scene_templates" / "natural_scene_1.tiff").unlink()
    with pytest.raises(DatasetFormatError, match=r"missing n=\[1\]"):
        load_allen_templates(tmp_path, names=["natural_scenes"])
