"""Group CCF structure acronyms into the paper's anatomical pools (paper 4.2, Fig. 4-5).

Pools: V1 (VISp), higher visual cortex (VISl, VISrl, VISal, VISpm, VISam), LGd, hippocampus
(CA1, CA2, CA3, DG, SUB, ProS); every other acronym, and units with no structure, are "other".

Matching is by exact acronym, as Allen writes them in the electrodes ``location`` column of the
session NWB files (e.g. "VISp", "VISpm", "LGd", "CA1"): "VISp" does not match "VISpm", "LGd" does
not match "LGv", and layer-suffixed acronyms (e.g. "VISp5"; the released ecephys files do not use
them) fall into "other". Surrounding whitespace is ignored; case is not.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import pandas as pd

REGION_GROUPS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "V1": ("VISp",),
        "higher_visual": ("VISl", "VISrl", "VISal", "VISpm", "VISam"),
        "LGd": ("LGd",),
        "hippocampus": ("CA1", "CA2", "CA3", "DG", "SUB", "ProS"),
    }
)
"""Region group -> the exact CCF acronyms it contains."""

OTHER_GROUP = "other"


def region_group(structure: str | None) -> str:
    """Map one CCF acronym to its region group.

    Args:
        structure: CCF acronym such as "VISp" or "CA1"; None, NaN or "" for units without one.

    Returns:
        "V1", "higher_visual", "LGd", "hippocampus" or "other".
    """
    if not isinstance(structure, str):
        return OTHER_GROUP
    acronym = structure.strip()
    for group, acronyms in REGION_GROUPS.items():
        if acronym in acronyms:
            return group
    return OTHER_GROUP


def assign_region_groups(units: pd.DataFrame) -> pd.Series:
    """Region group of every unit, from its ``structure`` column.

    Args:
        units: Units table with a ``structure`` column (acronym or None), n_units rows.

    Returns:
        Series of str named "region_group", same index as ``units``.

    Raises:
        KeyError: ``units`` has no ``structure`` column.
    """
    if "structure" not in units.columns:
        raise KeyError(f"units table: missing column 'structure' (CCF acronym); found {list(units.columns)}")
    groups = [region_group(s) for s in units["structure"].astype(object)]
    return pd.Series(groups, index=units.index, name="region_group", dtype=object)
