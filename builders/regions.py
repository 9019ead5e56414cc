"""Group CCF structure acronyms into the paper's anatomical pools (paper 4.2, Fig. 4-5).

Pools: V1 (VISp); higher visual cortex (VISl, VISrl, VISal, VISpm, VISam and the smaller areas BO1.1
also labels: VISli, and VISmma / VISmmp, which the CCF files under retrosplenial cortex (RSPagl) but
which are mediomedial visual areas, pooled here as higher visual: our choice); ``visual_unassigned``
(VIS: visual cortex whose area the CCF alignment did not assign); LGd; hippocampus (CA1, CA2, CA3, DG,
SUB, ProS, and the hippocampal-formation labels HPF (subfield not assigned, which may include entorhinal
cortex), POST and PRE (post- and presubiculum, the subicular complex like SUB and ProS); our choice,
wider than the paper's hippocampus pool by those labels).
Every other acronym, and units with no structure, are ``"other"``; :data:`OTHER_ACRONYMS` says why for each
acronym of the BO1.1 release (sessions.csv), and a test keeps the two tables covering that list.
:data:`REGION_UNIONS` names pools made of several groups: ``visual_cortex`` (paper Fig. 5 "all visual
cortex") is V1, higher visual and unassigned visual cortex, usable as ``--units region_group=visual_cortex``.

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
        "higher_visual": ("VISl", "VISrl", "VISal", "VISpm", "VISam", "VISli", "VISmma", "VISmmp"),
        "visual_unassigned": ("VIS",),
        "LGd": ("LGd",),
        "hippocampus": ("CA1", "CA2", "CA3", "DG", "SUB", "ProS", "HPF", "POST", "PRE"),
    }
)
"""Region group -> the exact CCF acronyms it contains."""

REGION_UNIONS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"visual_cortex": ("V1", "higher_visual", "visual_unassigned")}
)
"""Named pool -> the region groups it joins (a subset query may name the pool)."""

OTHER_GROUP = "other"

_THALAMUS = "thalamus outside LGd: no paper pool (the paper pools LGd only)"
_MIDBRAIN = "midbrain: no paper pool"
OTHER_ACRONYMS: Mapping[str, str] = MappingProxyType(
    {
        **dict.fromkeys(
            (
                "LGv",
                "LP",
                "LD",
                "PO",
                "POL",
                "PoT",
                "PF",
                "PIL",
                "IGL",
                "IntG",
                "MGd",
                "MGm",
                "MGv",
                "RT",
                "SGN",
                "TH",
                "VPL",
                "VPM",
                "Eth",
                "PP",
            ),
            _THALAMUS,
        ),
        **dict.fromkeys(
            ("APN", "MB", "MRN", "NOT", "OP", "PPT", "RPF", "LT", "SCig", "SCiw", "SCop", "SCsg", "SCzo"), _MIDBRAIN
        ),
        "CP": "striatum (caudoputamen): no paper pool",
        "ZI": "zona incerta (hypothalamus): no paper pool",
        "BMAa": "amygdala: no paper pool",
        "COAa": "cortical amygdala: no paper pool",
        "COApm": "cortical amygdala: no paper pool",
        "OLF": "olfactory areas: no paper pool",
        "grey": "grey matter without an assigned structure",
        "VL": "lateral ventricle (a ventricle, not grey matter)",
    }
)
"""Acronym of the BO1.1 release that maps to ``"other"`` -> why it joins no pool."""


def region_group(structure: str | None) -> str:
    """Map one CCF acronym to its region group.

    Args:
        structure: CCF acronym such as "VISp" or "CA1"; None, NaN or "" for units without one.

    Returns:
        "V1", "higher_visual", "visual_unassigned", "LGd", "hippocampus" or "other".
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
