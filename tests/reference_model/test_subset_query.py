from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neurrator_bench.reference_model.subset_query import unit_mask_for


@pytest.fixture
def table():
    return pd.DataFrame(
        {
            "unit_id": np.arange(100, 110),
            "region_group": ["V1"] * 4 + ["HVA"] * 4 + ["HPC"] * 2,
            "structure": ["VISp"] * 4 + ["VISl", "VISl", "VISam", "VISam"] + ["CA1", "CA1"],
            "cell_type": ["PV", "SST", "none", "none", "PV", "VIP", "none", "none", "none", "none"],
        }
    )


def test_filters(table):
    assert unit_mask_for(table).all()
    assert unit_mask_for(table, region="HVA").tolist() == [False] * 4 + [True] * 4 + [False] * 2
    assert np.flatnonzero(unit_mask_for(table, region="VISam")).tolist() == [6, 7]
    assert np.flatnonzero(unit_mask_for(table, cell_type="PV")).tolist() == [0, 4]
    assert np.flatnonzero(unit_mask_for(table, region="V1", cell_type="PV")).tolist() == [0]


def test_random_draw_is_seeded_and_within_selection(table):
    mask = unit_mask_for(table, region="HVA", n_units=3, seed=5)
    assert mask.dtype == bool and mask.sum() == 3
    assert not mask[:4].any() and not mask[8:].any()
    assert np.array_equal(mask, unit_mask_for(table, region="HVA", n_units=3, seed=5))
    draws = {tuple(unit_mask_for(table, n_units=5, seed=s)) for s in range(10)}
    assert len(draws) > 1


def test_errors_name_the_selection(table):
    with pytest.raises(ValueError, match=r"no unit matches.*region='V2'"):
        unit_mask_for(table, region="V2")
    with pytest.raises(ValueError, match=r"asked for 3.*region='HPC'.*only 2"):
        unit_mask_for(table, region="HPC", n_units=3)
    with pytest.raises(ValueError, match="positive"):
        unit_mask_for(table, n_units=0)
    with pytest.raises(KeyError, match="cell_type"):
        unit_mask_for(table.drop(columns="cell_type"))
