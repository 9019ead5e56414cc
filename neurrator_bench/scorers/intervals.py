"""Interval bookkeeping shared by every producer and checker of ``value [ci_low, ci_high]``.

Two floats that are the same quantity can differ in their last bits when they are computed in different
orders of summation: the mean over unit draws and the 2.5 % percentile of the same draws when every draw
gives the same number, a bootstrap of a constant, a floor that does not depend on the model. An interval
bound a few ulps on the wrong side of its value is float noise, not a finding, but a strict ``<=`` makes
it a validation error on one machine and not on another.

So there are two rules, each in one place:

- **Producers** (:func:`enclose`): every interval written into a result entry is widened, if needed, to
  contain its value. The bootstrap, the draw combination, the CKA re-centring and the real-data track all
  call it, so ``ci_low <= value <= ci_high`` holds by construction, exactly, on every machine.
- **Checkers** (:func:`leq`): a check of a computed float against a bound (``ci_low <= value``, a metric
  inside its registered range, a p-value inside ``[0, 1]``) allows :data:`RELATIVE_TOLERANCE` of the
  larger magnitude, with :data:`ABSOLUTE_TOLERANCE` as a floor near zero. That is about 16 ulps of a double:
  far more than any reordering of a sum of a few thousand terms produces, and far below the 4-significant-
  digit precision any score is reported at, so a real violation (``ci_low 0.35 > value 0.30``) stays an
  error.
"""

from __future__ import annotations

import math

import numpy as np

RELATIVE_TOLERANCE = 16 * float(np.finfo(np.float64).eps)  # ~3.6e-15: "a few ulps", relative
ABSOLUTE_TOLERANCE = 1e-12  # floor for values at or near zero, where relative ulps vanish


def leq(a: float, b: float) -> bool:
    """``a <= b`` up to float noise: true when ``a - b`` is within the module's tolerance.

    Args:
        a: The quantity that should not exceed ``b``.
        b: The bound.

    Returns:
        Whether ``a <= b + max(RELATIVE_TOLERANCE * max(|a|, |b|), ABSOLUTE_TOLERANCE)``.
    """
    slack = max(RELATIVE_TOLERANCE * max(abs(a), abs(b)), ABSOLUTE_TOLERANCE)
    return a <= b + slack


def within(value: float, low: float, high: float) -> bool:
    """``low <= value <= high`` up to float noise (see :func:`leq`)."""
    return leq(low, value) and leq(value, high)


def enclose(value: float, low: float | None, high: float | None) -> tuple[float | None, float | None]:
    """The interval ``[low, high]`` widened, where needed, to contain ``value`` exactly.

    ``None`` bounds (no interval) stay ``None``. The widening is meant for float noise; a producer whose
    statistic can lie outside its own interval for a real reason (a biased resampling statistic) must
    correct that first (as the CKA interval is re-centred) and call this last.

    Raises:
        ValueError: If any given number is not finite.
    """
    for name, x in (("value", value), ("low", low), ("high", high)):
        if x is not None and not math.isfinite(x):
            raise ValueError(f"{name}: expected a finite number, found {x}")
    if low is None or high is None:
        return low, high
    return float(min(low, value)), float(max(high, value))
