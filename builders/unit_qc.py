"""Allen's default unit quality control, applied to the unfiltered units table of a session.

Source: AllenSDK ``allensdk/brain_observatory/ecephys/__init__.py`` ``UNIT_FILTER_DEFAULTS``
(identical in v1.0.2, v2.0.0 and HEAD 2026): ``amplitude_cutoff <= 0.1``, ``presence_ratio >= 0.95``
(the code says 0.95; a notebook's prose says "> 0.9"), ``isi_violations <= 0.5``. The order follows
``EcephysNwbSessionApi._get_full_units_table`` (v2.0.0): (1) keep units whose peak channel is
``valid_data`` and has a CCF structure, (2) ``quality == "good"``, (3) the three thresholds.
NaN metrics fail the comparisons, so such units are dropped, as in AllenSDK. See
allen_nwb_layout.md section 4. For session 715093703 this takes 2779 units to 884.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pandas as pd

ALLEN_UNIT_FILTERS: Mapping[str, tuple[str, float]] = MappingProxyType(
    {
        "amplitude_cutoff": ("<=", 0.1),
        "presence_ratio": (">=", 0.95),
        "isi_violations": ("<=", 0.5),
    }
)
"""AllenSDK ``UNIT_FILTER_DEFAULTS``: metric -> (comparison a unit must satisfy, bound)."""

_COMPARE: Mapping[str, Callable[[np.ndarray, float], np.ndarray]] = MappingProxyType(
    {"<=": operator.le, ">=": operator.ge}
)


@dataclass(frozen=True)
class QCReport:
    """Outcome of `apply_unit_filters`.

    Attributes:
        n_total: Units in the input table.
        n_passed: Units kept.
        failed_by: Reason -> number of units removed for that reason. Filters run in Allen's order
            and each removed unit is counted once, under the first filter it fails, so
            ``n_total == n_passed + sum(failed_by.values())``. Keys (only for enabled filters):
            "invalid_channel", "out_of_brain", "quality", "amplitude_cutoff", "presence_ratio",
            "isi_violations".
    """

    n_total: int
    n_passed: int
    failed_by: dict[str, int]


def _require(units: pd.DataFrame, column: str, why: str) -> pd.Series:
    if column not in units.columns:
        raise KeyError(f"units table: missing column {column!r} needed for {why}; found {list(units.columns)}")
    return units[column]


def apply_unit_filters(
    units: pd.DataFrame,
    *,
    amplitude_cutoff_max: float | None = 0.1,
    presence_ratio_min: float | None = 0.95,
    isi_violations_max: float | None = 0.5,
    require_good_quality: bool = True,
    filter_by_validity: bool = True,
    filter_out_of_brain_units: bool = True,
) -> tuple[pd.DataFrame, QCReport]:
    """Apply Allen's default unit filters (see module docstring) in Allen's order.

    Args:
        units: Units table as read by `nwb_reader.read_session` (one row per unit, any index), with
            columns ``valid_data`` (bool), ``structure`` (acronym or None), ``quality`` (str),
            ``amplitude_cutoff``, ``presence_ratio``, ``isi_violations`` (float) as needed by the
            enabled filters.
        amplitude_cutoff_max: Keep ``amplitude_cutoff <= this``; None disables the bound.
        presence_ratio_min: Keep ``presence_ratio >= this``; None disables the bound.
        isi_violations_max: Keep ``isi_violations <= this``; None disables the bound.
        require_good_quality: Keep only ``quality == "good"`` (drops "noise").
        filter_by_validity: Keep only units whose peak channel has ``valid_data`` True.
        filter_out_of_brain_units: Keep only units whose peak channel has a structure (not None/NaN).
            With both this and ``filter_by_validity`` True (the defaults) this equals AllenSDK's
            combined validity/out-of-brain filter.

    Returns:
        (kept units, same columns and index order as the input; report). NaN metrics fail.

    Raises:
        KeyError: A column an enabled filter needs is missing (the message lists the columns found).
    """
    keep = np.ones(len(units), dtype=bool)
    failed_by: dict[str, int] = {}

    def apply(reason: str, ok: np.ndarray) -> None:
        nonlocal keep
        failed_by[reason] = int(np.count_nonzero(keep & ~ok))
        keep &= ok

    if filter_by_validity:
        valid = _require(units, "valid_data", "filter_by_validity")
        apply("invalid_channel", valid.fillna(False).astype(bool).to_numpy())
    if filter_out_of_brain_units:
        structure = _require(units, "structure", "filter_out_of_brain_units")
        in_brain = structure.notna() & (structure.astype(str).str.strip() != "")
        apply("out_of_brain", in_brain.to_numpy())
    if require_good_quality:
        quality = _require(units, "quality", "require_good_quality")
        apply("quality", (quality.astype(str).str.strip() == "good").to_numpy())
    bounds = {
        "amplitude_cutoff": amplitude_cutoff_max,
        "presence_ratio": presence_ratio_min,
        "isi_violations": isi_violations_max,
    }
    for metric, bound in bounds.items():
        if bound is None:
            continue
        op, _default = ALLEN_UNIT_FILTERS[metric]
        values = pd.to_numeric(_require(units, metric, f"the {metric} {op} {bound} filter"), errors="coerce")
        values = values.to_numpy(dtype=np.float64)
        with np.errstate(invalid="ignore"):
            apply(metric, _COMPARE[op](values, float(bound)))  # NaN compares False -> dropped
    kept = units.loc[keep].copy()
    return kept, QCReport(n_total=len(units), n_passed=int(keep.sum()), failed_by=failed_by)
