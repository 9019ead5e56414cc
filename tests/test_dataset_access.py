"""Lazy loading (issue 11 item 6): counts z-scored on access and per-frame targets equal the per-sample arrays."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from neurrator_bench.dataset_access import (
    array2d_to_numpy,
    load_frame_targets,
    load_normalization,
    load_patch_rows,
    load_session_split,
    load_supervised,
    zscore_windows,
)
from neurrator_bench.errors import DatasetFormatError

SID = "9000800803"
TASK = "nm1-sparse-random"
STIM = "natural_movie_one"


@pytest.fixture(scope="module")
def train(ds):
    return load_supervised(ds, TASK, "train", SID, patches=True)


def test_counts_stay_uint8_and_zscore_bit_identically(ds, train):
    plain = load_session_split(ds, TASK, "train", SID)
    assert plain.spikes.dtype == np.float32 and train.windows.counts.dtype == np.uint8
    assert np.array_equal(train.windows.counts.astype(np.float32), plain.spikes)
    assert list(train.meta["sample_id"]) == sorted(train.meta["sample_id"])
    mean, std = load_normalization(ds, TASK, SID)
    expected = zscore_windows(plain.spikes, mean, std)
    rows = np.array([5, 0, 17, 5])
    assert np.array_equal(train.windows[rows], expected[rows])
    assert np.array_equal(train.windows.to_numpy(), expected)
    assert np.array_equal(train.x, expected) and train.x.dtype == np.float32
    assert np.array_equal(np.asarray(train.windows), expected)
    assert train.windows.shape == expected.shape and len(train.windows) == len(expected)
    assert np.array_equal(train.windows[2], expected[2]) and train.windows[2].shape == expected.shape[1:]
    assert np.array_equal(train.windows[3:9], expected[3:9])
    with pytest.raises(TypeError, match="index samples only"):
        train.windows[:, :2]


def test_frame_indexed_targets_equal_the_per_sample_targets(ds, train):
    full = load_frame_targets(ds, STIM, patches=True).patches
    frames = train.meta["frame"].to_numpy()
    per_sample = full[frames]
    targets = train.patches
    # one table row per distinct frame shown in the split, far fewer than the samples at stride 1..4
    assert len(targets.table) == len(np.unique(frames)) < len(frames)
    assert targets.shape == per_sample.shape and targets.dtype == np.float16
    rows = np.array([3, 1, 40, 3])
    assert np.array_equal(targets[rows], per_sample[rows])
    assert np.array_equal(np.asarray(targets), per_sample)
    assert list(targets.frames["frame"]) == sorted(np.unique(frames))


def test_load_patch_rows_reads_a_subset_in_the_asked_order_and_names_missing_frames(ds):
    full = load_frame_targets(ds, STIM, patches=True).patches
    assert np.array_equal(load_patch_rows(ds, STIM, np.array([9, 2, 9])), full[[9, 2, 9]])
    assert np.array_equal(load_patch_rows(ds, STIM, np.array([0, 1, 2])), full[:3])
    with pytest.raises(DatasetFormatError, match=r"'targets' has no patches for natural_movie_one frames \[100000\]"):
        load_patch_rows(ds, STIM, np.array([1, 100000]))
    with pytest.raises(DatasetFormatError, match="no patches for no_such_movie"):
        load_patch_rows(ds, "no_such_movie", np.array([0]))


def test_array2d_to_numpy_permutes_without_a_second_table():
    from datasets.features.features import Array2DExtensionType  # the on-disk column type

    values = np.arange(5 * 2 * 3, dtype=np.uint8).reshape(5, 2, 3)
    storage = pa.array([v.tolist() for v in values], type=pa.list_(pa.list_(pa.uint8())))
    ext = pa.ExtensionArray.from_storage(Array2DExtensionType((2, 3), "uint8"), storage)
    column = pa.chunked_array([ext[:2], ext[2:]])
    order = np.array([4, 0, 3, 1, 2])
    out = array2d_to_numpy(column, None, order=order)
    assert out.dtype == np.uint8 and np.array_equal(out, values[order])
    assert np.array_equal(array2d_to_numpy(column, np.float32), values.astype(np.float32))
    with pytest.raises(ValueError, match="expected a permutation of 0..4"):
        array2d_to_numpy(column, None, order=np.array([0, 0, 1, 2, 3]))


def test_target_files_are_the_stimulus_shards(ds):
    from neurrator_bench.dataset_access import config_files, target_files

    every = config_files(ds, "targets", "train")
    mine = target_files(ds, STIM)
    assert mine and set(mine) < set(every)  # the other stimuli's shards are never opened
    assert all(p.name.startswith(f"{STIM}-") for p in mine)
