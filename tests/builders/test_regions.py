from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neurrator_bench.builders.regions import (
    OTHER_ACRONYMS,
    REGION_GROUPS,
    REGION_UNIONS,
    assign_region_groups,
    region_group,
)


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
        ("VISmma", "higher_visual"),
        ("VISmmp", "higher_visual"),
        ("VISli", "higher_visual"),
        ("VIS", "visual_unassigned"),
        ("HPF", "hippocampus"),
        ("POST", "hippocampus"),
        ("LP", "other"),
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
    assert len(acronyms) == len(set(acronyms)) == 20
    assert not set(acronyms) & set(OTHER_ACRONYMS)  # an acronym is pooled or explained, never both


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


def test_every_acronym_of_the_bo11_release_is_pooled_or_explained() -> None:
    """Issue: BO1.1 labels such as VIS, VISmma, VISmmp, VISli, HPF must not fall into "other" unexplained."""
    import re

    from neurrator_bench.realdata import SESSIONS_TABLE

    sessions = pd.read_csv(SESSIONS_TABLE)
    acronyms = {a for cell in sessions["ecephys_structure_acronyms"] for a in re.findall(r"'([^']+)'", cell)}
    assert len(acronyms) == 61 and {"VIS", "VISmma", "VISmmp", "VISli", "HPF"} <= acronyms
    unexplained = sorted(a for a in acronyms if region_group(a) == "other" and a not in OTHER_ACRONYMS)
    assert unexplained == []
    assert all(OTHER_ACRONYMS[a].strip() for a in acronyms if region_group(a) == "other")
    assert {region_group(a) for a in ("VIS", "VISmma", "VISmmp", "VISli")} <= set(REGION_UNIONS["visual_cortex"])


def test_visual_cortex_pool_selects_every_visual_group() -> None:
    from neurrator_bench.subsets import unit_mask

    units = pd.DataFrame(
        {
            "session_id": ["s"] * 5,
            "region_group": ["V1", "higher_visual", "visual_unassigned", "hippocampus", "LGd"],
        }
    )
    assert unit_mask(units, {"region_group": "visual_cortex"}).tolist() == [True, True, True, False, False]
    assert unit_mask(units, {"region_group": "visual_cortex|LGd"}).tolist() == [True, True, True, False, True]
