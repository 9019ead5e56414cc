"""Metric registry: what each metric means and how it is computed, and the input checks every scorer shares.

Each scorer module states, at import, the metrics it produces with :func:`register_metric`
(STYLE rule 5: name, direction, range, the chance level or floor it is read against, its ceiling, and
the paper section) and the function that computes them with :func:`register_group`: a
:class:`MetricGroup` declares the inputs it needs (``"embedding"`` and/or ``"narration"``) and maps the
aligned :class:`ScoreInputs` of a test set to :class:`MetricValues` (per-sample values, or a set-level
value with its own interval, plus chance, ceiling and the per-sample floor to test against).
``neurrator_bench.scoring`` runs every registered group whose inputs a predictions file has, in
registration order, and turns the values into entry metrics with frame-level intervals; the leaderboard
lists metrics in the same order. Adding a metric is one module that registers both, imported in
``neurrator_bench/scorers/__init__.py``, plus its test (README, "Extend").

The second half holds the array checks shared by the scorers (finite values, shapes, unique
ids, unit-norm rows), so that every scorer rejects bad input with the same specific messages.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field

import numpy as np

from neurrator_bench.registry import Registry

_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


@dataclass(frozen=True)
class MetricSpec:
    """What a metric means and how to read it.

    Attributes:
        name: Stable snake_case key used in result entries (``retrieval_r10``).
        higher_is_better: Direction for ranking; floors are reference levels and say ``False``.
        value_range: ``(low, high)`` bounds any value can take (``math.inf`` allowed).
        chance: How the chance level or floor is defined (``"k/n_candidates"``).
        paper_section: Section of arXiv 2606.18667 the metric implements (``"Sec. 4.1, A.4"``).
        description: One sentence on what is measured, with units.
        ceiling: How the best reachable value is defined when it is not the top of the range ("" otherwise).
        aggregate: How per-sample values become the value: ``"mean"`` or ``"median"`` (after the weighting).

    Raises:
        ValueError: If the name is not snake_case, a text field is empty or the range is empty.
    """

    name: str
    higher_is_better: bool
    value_range: tuple[float, float]
    chance: str
    paper_section: str
    description: str
    ceiling: str = ""
    aggregate: str = "mean"

    def __post_init__(self) -> None:
        if not _NAME_PATTERN.match(self.name):
            raise ValueError(f"metric name: expected snake_case like 'retrieval_r10', found {self.name!r}")
        for field in ("chance", "paper_section", "description"):
            if not getattr(self, field).strip():
                raise ValueError(f"metric {self.name!r}: field {field!r} must be non-empty, found ''")
        if self.aggregate not in ("mean", "median"):
            raise ValueError(f"metric {self.name!r}: aggregate must be 'mean' or 'median', found {self.aggregate!r}")
        low, high = self.value_range
        if math.isnan(low) or math.isnan(high) or not low < high:
            raise ValueError(
                f"metric {self.name!r}: value_range must be (low, high) with low < high, found {self.value_range}"
            )


METRICS: Registry[MetricSpec] = Registry("metric")


def register_metric(spec: MetricSpec) -> MetricSpec:
    """Add ``spec`` to :data:`METRICS` under ``spec.name``.

    Args:
        spec: The metric's metadata.

    Returns:
        The same ``spec``.

    Raises:
        ValueError: If a metric with that name is already registered.
    """
    return METRICS.add(spec.name, spec)


def get_metric(name: str) -> MetricSpec:
    """Return the metadata of the metric registered as ``name``.

    Args:
        name: A registered metric name.

    Returns:
        Its :class:`MetricSpec`.

    Raises:
        KeyError: If unknown; the message lists near matches and all registered names.
    """
    return METRICS.get(name)


@dataclass(frozen=True)
class ScoreInputs:
    """Everything a metric group may read, aligned by row (one row per test sample, sorted by sample id).

    Attributes:
        sample_ids: (n,) sample ids.
        stimulus: (n,) stimulus of each sample.
        frame: (n,) true frame of each sample.
        session: (n,) session of each sample.
        clusters: Frame clusters of the rows (:class:`neurrator_bench.scorers.frame_stats.Clusters`).
        movie_stimuli: Stimuli that are movies (temporal exclusion applies to them only).
        embedding: (n, d) predicted pooled targets, or None.
        galleries: Stimulus -> (n_frames, d) pooled target of every frame of that stimulus.
        gallery_available: Stimulus -> (n_frames,) bool, the gallery rows that are retrieval candidates
            (absent: all). The live test of a sealed dataset leaves the sealed frames out.
        narration_emb: (n, e) sentence embeddings of the narrations, or None.
        reference_emb: (n, e) sentence embeddings of the reference captions, or None.
        narrations: n narrations, or None.
        captions: n reference captions, or None.
        floor_pools: Pool name -> (p, e) sentence embeddings of a fixed floor pool.
        exclusion_frames: Half-width of the retrieval exclusion zone (movies).
        knn_k: Neighbours of KNN purity.
        seed: Seed of every random choice (derangements, bootstraps).
        n_boot: Bootstrap replicates.
    """

    sample_ids: np.ndarray
    stimulus: np.ndarray
    frame: np.ndarray
    session: np.ndarray
    clusters: object
    movie_stimuli: tuple[str, ...]
    embedding: np.ndarray | None = None
    galleries: dict[str, np.ndarray] = dataclass_field(default_factory=dict)
    gallery_available: dict[str, np.ndarray] = dataclass_field(default_factory=dict)
    narration_emb: np.ndarray | None = None
    reference_emb: np.ndarray | None = None
    narrations: list[str] | None = None
    captions: list[str] | None = None
    floor_pools: dict[str, np.ndarray] = dataclass_field(default_factory=dict)
    exclusion_frames: int = 0
    knn_k: int = 10
    seed: int = 0
    n_boot: int = 1000

    def true_embedding(self) -> np.ndarray:
        """(n, d) pooled target of each row's true frame."""
        out = np.empty_like(self.embedding)
        for stimulus, gallery in self.galleries.items():
            rows = self.stimulus == stimulus
            out[rows] = gallery[self.frame[rows]]
        return out


@dataclass(frozen=True)
class MetricValues:
    """What a group computed for one metric.

    Either ``per_sample`` (n,) values (the value and its interval then come from the frame-level cluster
    bootstrap with ``weights``), or a set-level ``value`` with its own ``ci``/``interval`` or a
    ``no_interval_reason``.

    Attributes:
        name: Registered metric name.
        per_sample: (n,) values, NaN for rows the metric does not cover (e.g. a session too small).
        weights: ``"frame"`` (every frame weighs the same) or ``"session-then-bin"``.
        chance: Chance level on this test set.
        ceiling: What an oracle reaches on this test set.
        floor: (n,) per-sample values to test ``per_sample`` against (one-sided, greater).
        value: Set-level value (when ``per_sample`` is None).
        ci: Set-level interval.
        interval: What the set-level interval resamples.
        n_boot: Replicates of the set-level interval.
        no_interval_reason: Why a set-level value has no interval.
        note: Anything a reader must know (recorded in ``skipped`` when rows were left out).
    """

    name: str
    per_sample: np.ndarray | None = None
    weights: str = "frame"
    chance: float | None = None
    ceiling: float | None = None
    floor: np.ndarray | None = None
    value: float | None = None
    ci: tuple[float, float] | None = None
    interval: str | None = None
    n_boot: int = 0
    no_interval_reason: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class MetricGroup:
    """Metrics computed together from the same inputs (e.g. R@1, R@5, R@10 and the median rank from one ranking).

    Attributes:
        name: Group name (snake_case).
        needs: Inputs required: ``"embedding"`` and/or ``"narration"``.
        metrics: Names of the registered metrics it produces.
        compute: ``ScoreInputs -> list[MetricValues]``.
    """

    name: str
    needs: frozenset[str]
    metrics: tuple[str, ...]
    compute: Callable[[ScoreInputs], list[MetricValues]]

    def __post_init__(self) -> None:
        unknown = sorted(self.needs - {"embedding", "narration"})
        if unknown:
            raise ValueError(f"metric group {self.name!r}: unknown needs {unknown}; expected embedding, narration")
        for name in self.metrics:
            get_metric(name)


METRIC_GROUPS: Registry[MetricGroup] = Registry("metric group")


def register_group(group: MetricGroup) -> MetricGroup:
    """Add ``group`` to :data:`METRIC_GROUPS` (its metrics must be registered first).

    Raises:
        ValueError: On a duplicate group name.
        KeyError: If one of its metrics is not registered.
    """
    return METRIC_GROUPS.add(group.name, group)


# --------------------------------------------------------------------------------------------
# Input checks shared by the scorers. They never modify their argument.
# --------------------------------------------------------------------------------------------


def as_finite_array(name: str, values: object, *, ndim: int) -> np.ndarray:
    """Return ``values`` as a float64 array of ``ndim`` dimensions, rejecting NaN/inf and empties.

    Args:
        name: Argument name used in error messages.
        values: Array-like input; never modified (a copy is made only if a cast is needed).
        ndim: Required number of dimensions.

    Returns:
        Float64 array, possibly a view of ``values``; callers must not write into it.

    Raises:
        ValueError: If not numeric, wrong ndim, empty, or not finite (names the first bad index).
    """
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name}: expected a numeric array, found {type(values).__name__} ({err})") from None
    if arr.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-d array, found shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name}: expected a non-empty array, found shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        index = first[0] if len(first) == 1 else first
        raise ValueError(f"{name}: expected finite values, found {arr[first]} at index {index}")
    return arr


def as_index_array(name: str, values: object, *, upper: int) -> np.ndarray:
    """Return ``values`` as a 1-d int64 array with every entry in ``[0, upper)``.

    Args:
        name: Argument name used in error messages.
        values: Integer array-like of shape ``(n,)``.
        upper: Exclusive upper bound.

    Returns:
        Int64 array of shape ``(n,)``.

    Raises:
        ValueError: If not 1-d integers, empty, or out of range (names the first bad index).
    """
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name}: expected a non-empty 1-d integer array, found shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name}: expected integer dtype, found {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    bad = (arr < 0) | (arr >= upper)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name}: expected values in [0, {upper}), found {arr[first]} at index {first}")
    return arr


def check_same_shape(name_a: str, a: np.ndarray, name_b: str, b: np.ndarray) -> None:
    """Raise unless ``a`` and ``b`` have the same shape.

    Raises:
        ValueError: Naming both arguments and both shapes.
    """
    if a.shape != b.shape:
        raise ValueError(f"{name_a} and {name_b} must have the same shape, found {a.shape} and {b.shape}")


def check_length(name: str, values: Sequence[object] | np.ndarray, expected: int, against: str) -> None:
    """Raise unless ``len(values) == expected``.

    Raises:
        ValueError: Naming ``name``, the expected length and where it comes from.
    """
    if len(values) != expected:
        raise ValueError(f"{name}: expected length {expected} (rows of {against}), found length {len(values)}")


def as_unique_ids(name: str, ids: Sequence[str] | np.ndarray, expected: int, against: str) -> np.ndarray:
    """Return ``ids`` as a 1-d string array after checking length and uniqueness.

    Args:
        name: Argument name used in error messages.
        ids: Sample or candidate ids, shape ``(n,)``.
        expected: Required length.
        against: Name of the array whose rows the ids label.

    Returns:
        Array of ``str`` of shape ``(n,)``.

    Raises:
        ValueError: If the length is wrong or an id repeats (names the first duplicate).
    """
    check_length(name, ids, expected, against)
    arr = np.array([str(i) for i in ids], dtype=str)
    uniq, counts = np.unique(arr, return_counts=True)
    if (counts > 1).any():
        dup = str(uniq[counts > 1][0])
        raise ValueError(f"{name}: expected unique ids, found {dup!r} {int(counts[counts > 1][0])} times")
    return arr


def unit_rows(name: str, x: np.ndarray) -> np.ndarray:
    """Return a new array with each row of ``x`` divided by its L2 norm.

    Args:
        name: Argument name used in error messages.
        x: Finite array of shape ``(n, d)``.

    Returns:
        New float64 array of shape ``(n, d)`` with unit-norm rows.

    Raises:
        ValueError: If a row has zero norm (cosine undefined); names the first such row.
    """
    norms = np.linalg.norm(x, axis=1)
    zero = norms == 0.0
    if zero.any():
        raise ValueError(
            f"{name}: cosine needs non-zero rows, found an all-zero row at index {int(np.flatnonzero(zero)[0])}"
        )
    return x / norms[:, None]
