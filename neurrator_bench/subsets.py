"""Unit subsets for subset queries: a region, a cell type, or N random units (paper Sec. 4.2, 5).

The mechanism: one trained model is queried on a subset of its input units. :func:`unit_mask` selects the
units from the dataset's ``units`` config (filters, then a seeded random draw); the model receives the mask
with the full window. The reference encoder zeroes the masked units and rescales the rest by
``n_units / n_active`` (``reference_model.encoder.apply_unit_mask``, the same operation as its training-time
neuron dropout; a model trained with ``EncoderConfig.mask_rescale=False`` only zeroes them); the baselines
always zero and rescale. A session the model was not trained on, whose units are all
columns of one it was (``pseudo-PV`` inside ``pseudo-tagged``), is decoded the same way
(``inference.route_session``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from neurrator_bench.builders.regions import REGION_UNIONS
from neurrator_bench.schemas.result_entry import Subset

SUBSET_COLUMNS = ("region_group", "structure", "cell_type", "probe", "unit_id")
"""Columns a unit filter may name; ``unit_id=11|12|13`` lists units explicitly (e.g. a shuffled-label control)."""


def parse_unit_filters(specs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``["region_group=V1", "cell_type=SST"]`` -> dict; ``region=`` is accepted for ``region_group``.

    A value may list alternatives with ``|``: ``region_group=V1|higher_visual``; ``region_group=visual_cortex``
    names the union of every visual-cortex group (``builders.regions.REGION_UNIONS``).

    Raises:
        ValueError: Malformed spec or unknown column, naming the spec and the allowed columns.
    """
    out: dict[str, str] = {}
    for spec in specs:
        key, sep, value = spec.partition("=")
        key = {"region": "region_group"}.get(key.strip(), key.strip())
        if not sep or not value.strip():
            raise ValueError(f"unit filter {spec!r}: expected COLUMN=VALUE, e.g. region_group=V1")
        if key not in SUBSET_COLUMNS:
            raise ValueError(f"unit filter {spec!r}: unknown column {key!r}; allowed: {', '.join(SUBSET_COLUMNS)}")
        out[key] = value.strip()
    return out


def make_subset(
    unit_filters: dict[str, str] | None, n_units: int | None, *, draws: int = 1, seed: int | None = None
) -> Subset:
    """The :class:`Subset` an entry records for a query: filters, then ``n_units`` random units in ``draws`` draws.

    Raises:
        ValueError: ``draws`` below 1, or several draws without ``n_units``.
    """
    if draws < 1 or (draws > 1 and n_units is None):
        raise ValueError("draws must be >= 1, and draws > 1 needs n_units")
    filters = dict(unit_filters or {})
    return Subset(
        region_group=filters.get("region_group"),
        structure=filters.get("structure"),
        cell_type=filters.get("cell_type"),
        n_units=n_units,
        draws=draws if n_units is not None else None,
        seed=seed if n_units is not None else None,
    )


def region_groups(value: str) -> list[str]:
    """The region groups a ``region_group`` filter value accepts: ``|`` alternatives, named unions expanded."""
    return [g for name in value.split("|") for g in REGION_UNIONS.get(name, (name,))]


def unit_mask(
    units: pd.DataFrame, filters: Mapping[str, str] | None = None, n_units: int | None = None, seed: int = 0
) -> np.ndarray:
    """Boolean mask over one session's units (rows in ``unit_index`` order).

    Args:
        units: The session's rows of the ``units`` config.
        filters: column -> value filters (all must hold); ``"V1|higher_visual"`` accepts either value.
        n_units: Keep this many units drawn without replacement among those selected.
        seed: Seed of the draw.

    Returns:
        (n_units_in_session,) bool.

    Raises:
        ValueError: No unit matches, or fewer than ``n_units`` do (naming the selection and the count).
    """
    mask = np.ones(len(units), dtype=bool)
    for key, value in (filters or {}).items():
        # a named pool (visual_cortex) stands for its region groups
        accepted = region_groups(value) if key == "region_group" else value.split("|")
        mask &= units[key].astype(str).isin(accepted).to_numpy()
    described = ", ".join(f"{k}={v}" for k, v in (filters or {}).items()) or "all units"
    if not mask.any():
        raise ValueError(f"no unit of session {units['session_id'].iloc[0]!r} matches {described}")
    if n_units is not None:
        idx = np.flatnonzero(mask)
        if n_units > idx.size:
            raise ValueError(
                f"{described} of session {units['session_id'].iloc[0]!r} has {idx.size} units; {n_units} requested"
            )
        keep = np.random.default_rng(seed).choice(idx, size=n_units, replace=False)
        mask = np.zeros(len(units), dtype=bool)
        mask[keep] = True
    return mask
