"""Percentile bootstrap confidence intervals for headline numbers (paper Sec. 5 bootstrap; DESIGN "Scores").

Samples (rows) are resampled with replacement, the statistic is recomputed on each resample,
and the ``alpha/2`` and ``1 - alpha/2`` quantiles of the replicates form the interval.

Reproducibility: replicate ``b`` draws its indices from its own generator
``np.random.default_rng([seed, b])`` (one RNG per replicate, in the spirit of lm-eval's one RNG
per chunk). The replicates therefore do not depend on ``chunk``, which only bounds memory:
indices are drawn into a ``(chunk, n)`` array and a vectorized statistic is evaluated on a whole
chunk at once.

Statistic contract: with ``vectorized=True`` (default) the statistic is called as
``statistic(*arrays, axis=1)`` where each array has shape ``(r, n, ...)`` (``r`` replicates) and
must return shape ``(r,)``; ``np.mean`` and ``np.median`` qualify, a paired statistic is e.g.
``lambda a, b, axis: np.mean(a - b, axis=axis)`` and a rank metric
``lambda r, axis: np.mean(r <= 10, axis=axis)``. With ``vectorized=False`` it is called once per
replicate as ``statistic(*arrays)`` on shapes ``(n, ...)`` and must return a scalar.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from neurrator_bench.scorers.intervals import enclose
from neurrator_bench.scorers.metric_registry import as_finite_array


@dataclass(frozen=True)
class BootstrapCI:
    """A statistic with its percentile bootstrap interval.

    Attributes:
        value: Statistic on the original (not resampled) data.
        low: Lower bound, the ``alpha/2`` quantile of the replicates (widened to ``value`` if float
            noise puts it above; see :mod:`neurrator_bench.scorers.intervals`).
        high: Upper bound, the ``1 - alpha/2`` quantile of the replicates (likewise widened).
        n: Number of samples resampled.
        n_boot: Number of bootstrap replicates.
        seed: Base seed of the replicate generators.
    """

    value: float
    low: float
    high: float
    n: int
    n_boot: int
    seed: int


def _as_samples(values: np.ndarray | tuple[np.ndarray, ...]) -> list[np.ndarray]:
    """Validate one array or a tuple of arrays sharing their first (sample) axis."""
    items = list(values) if isinstance(values, tuple) else [values]
    if not items:
        raise ValueError("values: expected an array or a non-empty tuple of arrays, found ()")
    arrays = []
    for pos, item in enumerate(items):
        name = "values" if len(items) == 1 and not isinstance(values, tuple) else f"values[{pos}]"
        raw = np.asarray(item)
        arrays.append(as_finite_array(name, raw, ndim=max(raw.ndim, 1)))
    n = arrays[0].shape[0]
    for pos, arr in enumerate(arrays[1:], start=1):
        if arr.shape[0] != n:
            raise ValueError(
                f"values[{pos}]: expected {n} samples like values[0] (shape {arrays[0].shape}), found shape {arr.shape}"
            )
    return arrays


def _evaluate(
    statistic: Callable[..., object], arrays: list[np.ndarray], vectorized: bool, expected: int
) -> np.ndarray:
    """Apply ``statistic`` to ``expected`` replicates stacked on axis 0; returns ``(expected,)`` floats."""
    if vectorized:
        out = np.asarray(statistic(*arrays, axis=1), dtype=np.float64)
    else:
        out = np.array([float(statistic(*(arr[r] for arr in arrays))) for r in range(expected)], dtype=np.float64)
    if out.shape != (expected,):
        raise ValueError(
            f"statistic: expected output shape ({expected},) for {expected} replicates "
            f"(vectorized={vectorized}), found {out.shape}"
        )
    bad = ~np.isfinite(out)
    if bad.any():
        first = int(np.argmax(bad))
        raise ValueError(f"statistic: expected finite values, found {out[first]} at replicate {first}")
    return out


def bootstrap_ci(
    values: np.ndarray | tuple[np.ndarray, ...],
    statistic: Callable[..., object] = np.mean,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    chunk: int = 100,
    vectorized: bool = True,
) -> BootstrapCI:
    """Percentile bootstrap CI of ``statistic`` over samples resampled with replacement.

    Args:
        values: Per-sample values, shape ``(n, ...)``, or a tuple of arrays aligned on their first
            axis (paired statistics); the same resampled rows are used for every array.
        statistic: See the module docstring for the calling contract.
        n_boot: Number of replicates, ``>= 1``.
        seed: Base seed; replicate ``b`` uses ``np.random.default_rng([seed, b])``.
        alpha: Two-sided miss rate in ``(0, 1)``; 0.05 gives a 95 % interval.
        chunk: Replicates evaluated per vectorized call (memory ``chunk * n`` indices).
        vectorized: Whether ``statistic`` accepts ``axis=1`` over stacked replicates.

    Returns:
        :class:`BootstrapCI`.

    Raises:
        ValueError: On empty, non-finite or misaligned values, bad ``n_boot``/``alpha``/``chunk``/
            ``seed``, or a statistic returning the wrong shape or a non-finite value.
    """
    arrays = _as_samples(values)
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ValueError(f"n_boot: expected an int >= 1, found {n_boot!r}")
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise ValueError(f"chunk: expected an int >= 1, found {chunk!r}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha: expected a value in (0, 1), found {alpha}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: expected an int >= 0, found {seed!r}")
    n = arrays[0].shape[0]

    # copies: a statistic that writes into its arguments must never reach the caller's arrays
    value = float(_evaluate(statistic, [np.array(arr[None]) for arr in arrays], vectorized, 1)[0])
    replicates = np.empty(n_boot, dtype=np.float64)
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        index = np.stack([np.random.default_rng([seed, b]).integers(0, n, size=n) for b in range(start, stop)])
        resampled = [arr[index] for arr in arrays]  # each (r, n, ...)
        replicates[start:stop] = _evaluate(statistic, resampled, vectorized, stop - start)
    low, high = np.quantile(replicates, [alpha / 2.0, 1.0 - alpha / 2.0])
    # a constant sample's replicates equal its value up to summation order: contain it exactly
    low, high = enclose(value, float(low), float(high))
    return BootstrapCI(value=value, low=low, high=high, n=n, n_boot=n_boot, seed=int(seed))
