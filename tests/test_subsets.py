import numpy as np
import pandas as pd
import pytest

from neurrator_bench.subsets import parse_unit_filters, unit_mask

UNITS = pd.DataFrame(
    {
        "session_id": ["s"] * 6,
        "region_group": ["V1", "V1", "higher_visual", "hippocampus", "other", "V1"],
        "cell_type": ["PV", "untagged", "SST", "untagged", "untagged", "PV"],
    }
)


def test_parse_filters():
    assert parse_unit_filters(["region=V1", "cell_type=PV"]) == {"region_group": "V1", "cell_type": "PV"}
    with pytest.raises(ValueError, match="expected COLUMN=VALUE"):
        parse_unit_filters(["region"])
    with pytest.raises(ValueError, match="unknown column 'depth'"):
        parse_unit_filters(["depth=3"])


def test_masks():
    assert unit_mask(UNITS, {"region_group": "V1"}).tolist() == [True, True, False, False, False, True]
    assert unit_mask(UNITS, {"region_group": "V1|higher_visual", "cell_type": "PV|SST"}).tolist() == [
        True,
        False,
        True,
        False,
        False,
        True,
    ]
    drawn = unit_mask(UNITS, {"region_group": "V1"}, n_units=2, seed=3)
    assert drawn.sum() == 2 and not drawn[[2, 3, 4]].any()
    assert np.array_equal(drawn, unit_mask(UNITS, {"region_group": "V1"}, n_units=2, seed=3))
    with pytest.raises(ValueError, match="has 3 units; 4 requested"):
        unit_mask(UNITS, {"region_group": "V1"}, n_units=4)
    with pytest.raises(ValueError, match="no unit of session 's' matches region_group=LGd"):
        unit_mask(UNITS, {"region_group": "LGd"})
