"""Unit masks for subset queries: one trained encoder restricted to a region, a cell type or N random units.

Paper Sec. 4.2 (scaling with population size and region) and Sec. 5 (PV / SST / VIP cell types): the same
model is queried at inference on a subset of its input units; the mask is applied by
`encoder.apply_unit_mask` (masked units zeroed, the rest rescaled by n_units / n_active).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

UNIT_TABLE_COLUMNS = ("unit_id", "region_group", "structure", "cell_type")


def unit_mask_for(
    unit_table: pd.DataFrame,
    *,
    region: str | None = None,
    cell_type: str | None = None,
    n_units: int | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Boolean mask over the rows of a unit table selecting a subset of units.

    A unit is selected when it matches `region` (equal to its `region_group` OR its `structure`, e.g.
    "VIS_higher" or "VISp") and `cell_type` (equal to its `cell_type`, e.g. "PV"); a None filter matches
    everything. When `n_units` is given, exactly that many are drawn uniformly without replacement from the
    selected units with `np.random.default_rng(seed)`.

    Args:
        unit_table: (n_units_total rows) one row per encoder input unit, in the encoder's input order, with
            columns unit_id, region_group, structure, cell_type.
        region: Region group or CCF structure acronym to keep.
        cell_type: Cell-type label to keep.
        n_units: Number of units to draw among the selected ones.
        seed: Seed of the random draw.

    Returns:
        (n_units_total,) bool mask, True for the units kept.

    Raises:
        KeyError: A required column is missing.
        ValueError: No unit matches the selection, n_units < 1, or fewer than n_units units match.
    """
    missing = [column for column in UNIT_TABLE_COLUMNS if column not in unit_table.columns]
    if missing:
        raise KeyError(
            f"unit_table: expected columns {list(UNIT_TABLE_COLUMNS)}, missing {missing} "
            f"(found {list(unit_table.columns)})"
        )
    keep = np.ones(len(unit_table), dtype=bool)
    if region is not None:
        in_group = unit_table["region_group"].astype(str).to_numpy() == region
        in_structure = unit_table["structure"].astype(str).to_numpy() == region
        keep &= in_group | in_structure
    if cell_type is not None:
        keep &= unit_table["cell_type"].astype(str).to_numpy() == cell_type
    selection = f"region={region!r}, cell_type={cell_type!r}"
    available = int(keep.sum())
    if available == 0:
        raise ValueError(f"unit_table: no unit matches the selection ({selection}) among {len(unit_table)} units")
    if n_units is None:
        return keep
    if n_units < 1:
        raise ValueError(f"n_units: expected a positive count, got {n_units}")
    if n_units > available:
        raise ValueError(f"n_units: asked for {n_units} units with ({selection}), but only {available} units match")
    rng = np.random.default_rng(seed)
    chosen = rng.choice(np.flatnonzero(keep), size=n_units, replace=False)
    mask = np.zeros(len(unit_table), dtype=bool)
    mask[chosen] = True
    return mask
