from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neurrator_bench.builders.regions import REGION_GROUPS, assign_region_groups, region_group


@pytest.mark.parametrize(
    ("structure", "group"),
    [
        ("VISp", "V1"),
        ("VISpm", "higher_visual"),
        ("VISl", "higher_visual"),
        ("VISrl", "higher_visual"),
        ("VISal", "higher_visual"),
        ("VISam", "higher_visual"),
        ("LGd", "LGd"),
        ("LGv", "other"),
        ("CA1", "hippocampus"),
        ("CA2", "hippocampus"),
        ("CA3", "hippocampus"),
        ("DG", "hippocampus"),
        ("SUB", "hippocampus"),
        ("ProS", "hippocampus"),
        ("VISp5", "other"),
        ("VISmma", "other"),
        ("visp", "other"),
        (" VISp ", "V1"),
        ("grey", "other"),
        ("", "other"),
        (None, "other"),
        (np.nan, "other"),
    ],
)
def test_region_group(structure, group: str) -> None:
    assert region_group(structure) == group


def test_groups_are_disjoint() -> None:
    acronyms = [a for group in REGION_GROUPS.values() for a in group]
    assert len(acronyms) == len(set(acronyms)) == 13


def test_assign_region_groups_keeps_index() -> None:
    units = pd.DataFrame(
        {"structure": ["VISp", None, "VISpm", "LGd", "CA3"]}, index=pd.Index([5, 3, 9, 1, 2], name="unit_id")
    )
    groups = assign_region_groups(units)
    assert groups.name == "region_group"
    assert groups.index.tolist() == [5, 3, 9, 1, 2]
    assert groups.tolist() == ["V1", "other", "higher_visual", "LGd", "hippocampus"]


def test_missing_structure_column() -> None:
    with pytest.raises(KeyError, match="'structure'"):
        assign_region_groups(pd.DataFrame({"location": ["VISp"]}))
