"""The real Allen extract (session 791319847, NM1, 1-s bins) as a real-* config."""

import numpy as np
import pyarrow.parquet as pq
import pytest
import scipy.io

from neurrator_bench.builders.prebinned import build_prebinned
from neurrator_bench.errors import DatasetFormatError
from tests.conftest import REAL_MAT


def test_real_extract_counts_and_splits(tmp_path):
    out = build_prebinned(REAL_MAT, tmp_path)
    assert out.config_name == "real-nm1-791319847"
    act = scipy.io.loadmat(REAL_MAT)["act"]
    test = pq.read_table(tmp_path / "data/real-nm1-791319847/test.parquet").to_pylist()
    assert len(test) == 2 * 30 and {r["repeat"] for r in test} == {9, 19}
    row = test[31]  # repeat 19, bin 1
    assert row["repeat"] == 19 and row["frame"] == 30 and row["bin_s"] == 1.0
    assert np.array(row["spikes"])[:, 0].tolist() == act[:, 19, 1].astype(int).tolist()
    train = pq.read_table(tmp_path / "data/real-nm1-791319847/train.parquet", columns=["repeat"]).column(0).to_pylist()
    assert len(train) == 16 * 30 and not {8, 9, 18, 19} & set(train)
    units = pq.read_table(tmp_path / "data/units/791319847.parquet").to_pandas()
    assert len(units) == 555 and (units["structure"] == "VISp").sum() == 93
    assert set(units.loc[units["structure"] == "CA1", "region_group"]) == {"hippocampus"}
    sessions = pq.read_table(tmp_path / "data/sessions/791319847.parquet").to_pylist()
    assert sessions[0]["genotype"].startswith("Vip-IRES-Cre")


def test_missing_field_named(tmp_path):
    bad = tmp_path / "session123_bad.mat"
    scipy.io.savemat(bad, {"act": np.zeros((2, 20, 30))})
    with pytest.raises(DatasetFormatError, match="session123_bad.mat: missing field 'units_ind'"):
        build_prebinned(bad, tmp_path / "out")
