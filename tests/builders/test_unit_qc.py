from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neurrator_bench.builders.unit_qc import ALLEN_UNIT_FILTERS, QCReport, apply_unit_filters


def _units() -> pd.DataFrame:
    # one row per outcome, in Allen's filter order
    rows = {
        # unit: (valid_data, structure, quality, amplitude_cutoff, presence_ratio, isi_violations)
        1: (True, "VISp", "good", 0.1, 0.95, 0.5),  # exactly on every bound -> passes
        2: (True, "CA1", "good", 0.0, 1.0, 0.0),  # passes
        3: (False, "VISp", "good", 0.0, 1.0, 0.0),  # invalid peak channel
        4: (True, None, "good", 0.0, 1.0, 0.0),  # out of brain
        5: (False, None, "noise", np.nan, 0.0, 9.0),  # fails everything: counted once, as invalid
        6: (True, "LGd", "noise", 0.0, 1.0, 0.0),  # quality
        7: (True, "VISl", "good", 0.1000001, 1.0, 0.0),  # amplitude_cutoff just above
        8: (True, "VISl", "good", np.nan, 1.0, 0.0),  # NaN amplitude_cutoff fails
        9: (True, "VISl", "good", 0.05, 0.9499999, 0.0),  # presence_ratio just below
        10: (True, "VISl", "good", 0.05, np.nan, 0.0),  # NaN presence_ratio
        11: (True, "VISl", "good", 0.05, 0.99, 0.5000001),  # isi just above
        12: (True, "VISam", "good", 0.05, 0.99, np.nan),  # NaN isi
    }
    cols = ["valid_data", "structure", "quality", "amplitude_cutoff", "presence_ratio", "isi_violations"]
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=cols)
    frame["structure"] = frame["structure"].astype(object)
    frame.index.name = "unit_id"
    return frame


def test_allen_constants() -> None:
    assert dict(ALLEN_UNIT_FILTERS) == {
        "amplitude_cutoff": ("<=", 0.1),
        "presence_ratio": (">=", 0.95),
        "isi_violations": ("<=", 0.5),
    }


def test_default_filters_exact_counts() -> None:
    units = _units()
    kept, report = apply_unit_filters(units)
    assert kept.index.tolist() == [1, 2]
    assert list(kept.columns) == list(units.columns)
    assert report == QCReport(
        n_total=12,
        n_passed=2,
        failed_by={
            "invalid_channel": 2,
            "out_of_brain": 1,
            "quality": 1,
            "amplitude_cutoff": 2,
            "presence_ratio": 2,
            "isi_violations": 2,
        },
    )
    assert report.n_total == report.n_passed + sum(report.failed_by.values())


def test_disabled_bounds_and_flags() -> None:
    kept, report = apply_unit_filters(
        _units(),
        amplitude_cutoff_max=None,
        presence_ratio_min=None,
        isi_violations_max=None,
        require_good_quality=False,
        filter_by_validity=False,
        filter_out_of_brain_units=False,
    )
    assert len(kept) == 12
    assert report.failed_by == {}


def test_only_validity() -> None:
    kept, report = apply_unit_filters(
        _units(),
        amplitude_cutoff_max=None,
        presence_ratio_min=None,
        isi_violations_max=None,
        require_good_quality=False,
        filter_out_of_brain_units=False,
    )
    assert sorted(set(range(1, 13)) - set(kept.index)) == [3, 5]
    assert report.failed_by == {"invalid_channel": 2}


def test_custom_bound() -> None:
    kept, report = apply_unit_filters(_units(), presence_ratio_min=0.9)
    assert kept.index.tolist() == [1, 2, 9]
    assert report.failed_by["presence_ratio"] == 1


def test_input_not_mutated() -> None:
    units = _units()
    before = units.copy()
    apply_unit_filters(units)
    pd.testing.assert_frame_equal(units, before)


def test_missing_column_named() -> None:
    with pytest.raises(KeyError, match=r"'presence_ratio'.*found"):
        apply_unit_filters(_units().drop(columns=["presence_ratio"]))
    with pytest.raises(KeyError, match="'valid_data'"):
        apply_unit_filters(_units().drop(columns=["valid_data"]))
