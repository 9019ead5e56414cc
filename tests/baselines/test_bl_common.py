"""Shared baseline pieces: unit masks, window features, input checks, npz/json files, session choice."""

from __future__ import annotations

import numpy as np
import pytest

from neurrator_bench.baselines.common import (
    apply_unit_mask,
    check_windows,
    read_npz,
    resolve_sessions,
    window_features,
    write_npz,
)
from neurrator_bench.dataset_access import open_dataset
from neurrator_bench.errors import ModelDirectoryError


def test_unit_mask_zeroes_and_rescales():
    x = np.ones((2, 4, 3), dtype=np.float32)
    out = apply_unit_mask(x, np.array([True, False, True, False]))
    np.testing.assert_array_equal(out[:, [1, 3]], 0.0)
    np.testing.assert_allclose(out[:, [0, 2]], 2.0)  # n_units / n_active = 4 / 2
    per_row = apply_unit_mask(x, np.array([[1, 1, 1, 1], [1, 0, 0, 0]]))
    np.testing.assert_allclose(per_row[0], 1.0)
    np.testing.assert_allclose(per_row[1, 0], 4.0)
    assert apply_unit_mask(x, None) is x


@pytest.mark.parametrize(
    ("mask", "match"),
    [
        (np.zeros(4, dtype=bool), "at least one active unit"),
        (np.ones(3, dtype=bool), r"expected shape \(4,\)"),
        (np.ones((3, 4), dtype=bool), r"expected shape \(4,\)"),
        (np.array([0, 2, 1, 1]), "bool or 0/1"),
    ],
)
def test_unit_mask_errors(mask, match):
    with pytest.raises(ValueError, match=match):
        apply_unit_mask(np.ones((2, 4, 3), dtype=np.float32), mask)


def test_window_features():
    x = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    np.testing.assert_array_equal(window_features(x, "flat")[1], x[1].ravel())
    np.testing.assert_allclose(window_features(x, "mean"), x.mean(axis=2))
    assert window_features(np.zeros((0, 3, 4), np.float32), "flat").shape == (0, 12)
    with pytest.raises(ValueError, match="features: expected one of"):
        window_features(x, "max")


def test_check_windows_errors():
    good = np.zeros((5, 3, 4))
    assert check_windows(good, n_units=3, window_bins=4, where="m").dtype == np.float32
    with pytest.raises(ValueError, match="m: x expected shape"):
        check_windows(good[0], n_units=3, window_bins=4, where="m")
    with pytest.raises(ValueError, match="n_units=2"):
        check_windows(good, n_units=2, window_bins=4, where="m")
    bad = good.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        check_windows(bad, n_units=3, window_bins=4, where="m")


def test_npz_roundtrip_without_pickle(tmp_path):
    path = write_npz(tmp_path / "a.npz", {"w": np.eye(2, dtype=np.float32), "k": np.int64(3)})
    data = read_npz(path, ("w", "k"))
    np.testing.assert_array_equal(data["w"], np.eye(2))
    with pytest.raises(ValueError, match="dtype object"):
        write_npz(tmp_path / "b.npz", {"s": np.array(["a", None], dtype=object)})
    with pytest.raises(ModelDirectoryError, match=r"missing array\(s\) \['z'\]"):
        read_npz(path, ("z",))
    with pytest.raises(ModelDirectoryError, match="expected an npz file"):
        read_npz(tmp_path / "none.npz", ("w",))
    assert not list(tmp_path.glob(".*tmp"))


def test_resolve_sessions_defaults_to_recordings(built_dataset):
    ds = open_dataset(built_dataset)
    assert resolve_sessions(ds, None) == ["9000800803", "9001606836", "9002870862"]
    assert resolve_sessions(ds, ["pseudo-PV", "pseudo-PV"]) == ["pseudo-PV"]
    with pytest.raises(KeyError, match="not in the sessions config"):
        resolve_sessions(ds, ["123"])
