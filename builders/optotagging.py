"""Optotagged cell-type classification (paper Appendix A.3).

A unit of a Cre;Ai32 session is tagged (PV, SST or VIP, from the session genotype) when it is in
visual cortex and, over the standard 10 ms blue-light pulses at the session's highest light level, it
passes all three criteria of the paper: reliability > 30 %, median first-spike latency < 8 ms, evoked
rate >= 2x baseline. Windows follow Allen's optotagging tutorial (allen_nwb_layout.md section 3):
evoked +1..+9 ms after light onset (spikes in the first ms are light artifacts), baseline -10..-2 ms.

Which trials: the BO1.1 ``optogenetic_stimulation`` table holds ``stimulus_name`` "pulse" with durations
0.005 s and 0.01 s, "fast_pulses" (1 s trains of 2.5 ms pulses) and "raised_cosine" (1 s), each at
several ``level`` values (LED/laser control voltages, e.g. 1.3 / 1.7 / 2.0; which levels occur varies by
session). Pooling every level would lower the reliability of a true ChR2 cell with the trials of the
weakest light, so the trials are the rows with ``stimulus_name == "pulse"`` (``stimulus_name``), a
duration in the open interval ``pulse_duration_range_s`` (default 9-20 ms: the 10 ms pulses; durations
are float differences, so a range, never equality) and, among those, the highest ``level`` of the
session (``np.isclose`` to the maximum). A table without a ``stimulus_name`` or ``level`` column (or
with every level NaN) skips that filter; :class:`PulseSelection` records what was used.

Visual cortex: Allen's optotagging analysis classifies units in ``VIS*`` areas only (the light reaches
the cortical surface; short-latency responses elsewhere are not direct ChR2 activation). A unit counts
as visual cortex when its CCF ``structure`` starts with "VIS" (VISp, VISl, VISal, VISrl, VISpm, VISam,
and also VISmma/VISli/VISmmp, which :mod:`neurrator_bench.builders.regions` puts in "other"). Units
outside it keep their metrics (and ``passes``) but are "untagged"; :class:`LineSummary` counts them.

How each number is computed, for one unit with sorted spike times ``s`` (seconds):

- trials: the selected rows above; ``t0`` = each trial's ``start_time``; n_trials = len(t0).
- evoked count per trial: spikes in the half-open window ``[t0 + e0, t0 + e1)``
  (``evoked_window_s``); baseline count: spikes in ``[t0 + b0, t0 + b1)`` (``baseline_window_s``).
- reliability = fraction of trials with >= 1 evoked spike.
- first-spike latency per trial = time from t0 to the first spike in ``[t0 + l0, t0 + l1)``
  (``latency_search_s``, default 1-25 ms: it starts after the 1 ms light artifact, like the evoked
  window); trials without such a spike have none. median_latency_s = median over the trials that have
  one (NaN if none do).
- evoked_rate_hz = total evoked spikes / (n_trials * (e1 - e0)); baseline_rate_hz likewise with
  ``(b1 - b0)``. rate_ratio = evoked / baseline; when baseline is 0 it is ``inf`` if evoked > 0 and
  NaN if both are 0 (such a unit fails).
- passes = reliability > min_reliability and median_latency_s < max_median_latency_s and
  rate_ratio >= min_rate_ratio (NaN fails every comparison).

Counting uses ``np.searchsorted`` over all trials at once (no per-trial loop).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from types import MappingProxyType

import numpy as np
import pandas as pd

from neurrator_bench.builders.recording import SessionRecording

logger = logging.getLogger(__name__)

GENOTYPE_CELL_TYPES: Mapping[str, str] = MappingProxyType({"Pvalb": "PV", "Sst": "SST", "Vip": "VIP"})
"""Cre driver gene (first token of the Allen genotype allele) -> cell type it tags."""

VISUAL_CORTEX_PREFIX = "VIS"
METRIC_COLUMNS = (
    "n_trials",
    "reliability",
    "median_latency_s",
    "evoked_rate_hz",
    "baseline_rate_hz",
    "rate_ratio",
    "passes",
)
UNTAGGED = "untagged"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class OptotagCriteria:
    """Thresholds, trial selection and windows of the optotagging classification (seconds from light onset).

    Attributes:
        min_reliability: Reliability must be strictly greater (paper: > 30 %).
        max_median_latency_s: Median first-spike latency must be strictly smaller (paper: < 8 ms).
        min_rate_ratio: Evoked / baseline rate must be at least this (paper: >= 2x).
        pulse_duration_range_s: Open interval of pulse durations used as trials (10 ms pulses).
        stimulus_name: Required ``stimulus_name`` of a trial ("pulse"); None: any.
        highest_level_only: Use only the trials at the session's highest ``level`` (else every level).
        visual_cortex_only: Tag only units whose structure starts with "VIS".
        evoked_window_s: Half-open evoked window [start, end).
        baseline_window_s: Half-open baseline window [start, end).
        latency_search_s: Half-open window in which the first spike of a trial is searched.
    """

    min_reliability: float = 0.30
    max_median_latency_s: float = 0.008
    min_rate_ratio: float = 2.0
    pulse_duration_range_s: tuple[float, float] = (0.009, 0.02)
    stimulus_name: str | None = "pulse"
    highest_level_only: bool = True
    visual_cortex_only: bool = True
    evoked_window_s: tuple[float, float] = (0.001, 0.009)
    baseline_window_s: tuple[float, float] = (-0.010, -0.002)
    latency_search_s: tuple[float, float] = (0.001, 0.025)


@dataclass(frozen=True)
class PulseSelection:
    """The optotagging trials used in one session.

    Attributes:
        stimulus_name: ``stimulus_name`` the trials have (None: the table has no such column, or any).
        duration_range_s: Open interval of their durations (s).
        level: The ``level`` they have (the session's highest among the matching pulses); None when
            the table has no usable ``level`` column or ``highest_level_only`` is off.
        levels_available: Distinct levels among the pulses matching name and duration, ascending.
        n_trials: Number of trials used.
    """

    stimulus_name: str | None
    duration_range_s: tuple[float, float]
    level: float | None
    levels_available: tuple[float, ...]
    n_trials: int


def genotype_cell_type(genotype: str) -> str | None:
    """Cell type tagged in a session, from its full Allen genotype string.

    Args:
        genotype: e.g. "Sst-IRES-Cre/wt;Ai32(RCL-ChR2(H134R)_EYFP)/wt" or "wt/wt".

    Returns:
        "PV", "SST" or "VIP" for a Pvalb/Sst/Vip Cre line; None for wild type (or any genotype
        without one of these Cre drivers).

    Raises:
        ValueError: The genotype names Cre drivers of more than one of these cell types.
    """
    found: set[str] = set()
    for segment in str(genotype).split(";"):
        for allele in segment.split("/"):
            match = re.match(r"\s*([A-Za-z0-9]+)", allele)
            if match and match.group(1) in GENOTYPE_CELL_TYPES and "Cre" in allele:
                found.add(GENOTYPE_CELL_TYPES[match.group(1)])
    if len(found) > 1:
        raise ValueError(f"genotype {genotype!r}: expected at most one Cre driver line, found {sorted(found)}")
    return found.pop() if found else None


def in_visual_cortex(structure: object) -> bool:
    """Whether a CCF acronym is a visual cortical area (starts with "VIS", whitespace ignored; None -> False)."""
    return isinstance(structure, str) and structure.strip().startswith(VISUAL_CORTEX_PREFIX)


def select_pulses(
    pulses: pd.DataFrame, criteria: OptotagCriteria = OptotagCriteria()
) -> tuple[np.ndarray, PulseSelection]:
    """Onset times of the trials used for optotagging, and what was selected (see module docstring).

    Args:
        pulses: Optotagging table with ``start_time`` and ``duration`` (or ``stop_time``), seconds;
            ``stimulus_name`` and ``level`` are used when present.
        criteria: Uses ``pulse_duration_range_s``, ``stimulus_name`` and ``highest_level_only``.

    Returns:
        ``(onsets, selection)``: sorted float64 onsets, shape (n_trials,), seconds.

    Raises:
        KeyError: ``start_time`` or both ``duration`` and ``stop_time`` are missing.
    """
    if "start_time" not in pulses.columns:
        raise KeyError(f"optotagging table: missing column 'start_time'; found {list(pulses.columns)}")
    if "duration" in pulses.columns:
        duration = pd.to_numeric(pulses["duration"], errors="coerce").to_numpy(dtype=np.float64)
    elif "stop_time" in pulses.columns:
        duration = (pulses["stop_time"] - pulses["start_time"]).to_numpy(dtype=np.float64)
    else:
        raise KeyError(f"optotagging table: needs column 'duration' or 'stop_time'; found {list(pulses.columns)}")
    lo, hi = criteria.pulse_duration_range_s
    with np.errstate(invalid="ignore"):
        chosen = (duration > lo) & (duration < hi)
    name = criteria.stimulus_name if "stimulus_name" in pulses.columns else None
    if name is not None:
        chosen &= (pulses["stimulus_name"].astype(str).str.strip() == name).to_numpy()
    levels = np.full(len(pulses), np.nan)
    if "level" in pulses.columns:
        levels = pd.to_numeric(pulses["level"], errors="coerce").to_numpy(dtype=np.float64)
    available = np.unique(levels[chosen & np.isfinite(levels)])
    level = None
    if criteria.highest_level_only and available.size:
        level = float(available[-1])
        chosen &= np.isclose(levels, level, rtol=0.0, atol=1e-6)
    elif criteria.highest_level_only and chosen.any():
        logger.warning("optotagging table: no 'level' values for the selected pulses; using every level")
    onsets = np.sort(pulses["start_time"].to_numpy(dtype=np.float64)[chosen])
    selection = PulseSelection(
        stimulus_name=name,
        duration_range_s=(float(lo), float(hi)),
        level=level,
        levels_available=tuple(float(v) for v in available),
        n_trials=int(onsets.size),
    )
    return onsets, selection


def select_pulse_trials(pulses: pd.DataFrame, criteria: OptotagCriteria = OptotagCriteria()) -> np.ndarray:
    """Onset times of the trials used for optotagging (:func:`select_pulses` without the selection).

    Returns:
        Sorted float64 onsets, shape (n_trials,), seconds.
    """
    return select_pulses(pulses, criteria)[0]


def _window_counts(spikes: np.ndarray, onsets: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """Spike count per trial in ``[t0 + window[0], t0 + window[1])``, shape (n_trials,)."""
    left = np.searchsorted(spikes, onsets + window[0], side="left")
    right = np.searchsorted(spikes, onsets + window[1], side="left")
    return right - left


def _unit_metrics(spikes: np.ndarray, onsets: np.ndarray, criteria: OptotagCriteria) -> dict[str, float]:
    n_trials = onsets.size
    if n_trials == 0:
        return {
            "reliability": np.nan,
            "median_latency_s": np.nan,
            "evoked_rate_hz": np.nan,
            "baseline_rate_hz": np.nan,
            "rate_ratio": np.nan,
        }
    evoked = _window_counts(spikes, onsets, criteria.evoked_window_s)
    baseline = _window_counts(spikes, onsets, criteria.baseline_window_s)
    l0, l1 = criteria.latency_search_s
    first = np.searchsorted(spikes, onsets + l0, side="left")
    has_spike = first < spikes.size
    first_times = spikes[np.minimum(first, max(spikes.size - 1, 0))] if spikes.size else onsets
    has_spike &= first_times < onsets + l1
    latencies = (first_times - onsets)[has_spike]
    evoked_rate = evoked.sum() / (n_trials * (criteria.evoked_window_s[1] - criteria.evoked_window_s[0]))
    baseline_rate = baseline.sum() / (n_trials * (criteria.baseline_window_s[1] - criteria.baseline_window_s[0]))
    if baseline_rate > 0:
        ratio = evoked_rate / baseline_rate
    else:
        ratio = np.inf if evoked_rate > 0 else np.nan
    return {
        "reliability": float(np.mean(evoked > 0)),
        "median_latency_s": float(np.median(latencies)) if latencies.size else np.nan,
        "evoked_rate_hz": float(evoked_rate),
        "baseline_rate_hz": float(baseline_rate),
        "rate_ratio": float(ratio),
    }


def optotag_metrics(
    spike_times: Mapping[int, np.ndarray],
    pulses: pd.DataFrame,
    criteria: OptotagCriteria = OptotagCriteria(),
) -> pd.DataFrame:
    """Per-unit optotagging metrics over the selected light pulses (see module docstring).

    Args:
        spike_times: Unit id -> sorted spike times in seconds, shape (n_spikes,).
        pulses: Optotagging table (``start_time`` and ``duration`` or ``stop_time``, seconds; ``stimulus_name``
            and ``level`` when present).
        criteria: Trial selection, thresholds and windows.

    Returns:
        One row per unit, in the order of ``spike_times``, columns unit_id (int), n_trials (int),
        reliability (fraction 0-1), median_latency_s (s), evoked_rate_hz, baseline_rate_hz
        (spikes/s), rate_ratio, passes (bool).

    Raises:
        KeyError: The pulses table lacks its time columns.
    """
    return _metrics_at(spike_times, select_pulses(pulses, criteria)[0], criteria)


def _metrics_at(spike_times: Mapping[int, np.ndarray], onsets: np.ndarray, criteria: OptotagCriteria) -> pd.DataFrame:
    """:func:`optotag_metrics` over given trial onsets, shape (n_trials,)."""
    if onsets.size == 0:
        logger.warning(
            "optotagging table has no %r trials with duration in %s s; every unit fails",
            criteria.stimulus_name,
            criteria.pulse_duration_range_s,
        )
    rows = []
    for unit_id, spikes in spike_times.items():
        metrics = _unit_metrics(np.asarray(spikes, dtype=np.float64), onsets, criteria)
        with np.errstate(invalid="ignore"):
            passes = bool(
                metrics["reliability"] > criteria.min_reliability
                and metrics["median_latency_s"] < criteria.max_median_latency_s
                and metrics["rate_ratio"] >= criteria.min_rate_ratio
            )
        rows.append({"unit_id": int(unit_id), "n_trials": int(onsets.size), **metrics, "passes": passes})
    columns = ["unit_id", *METRIC_COLUMNS]
    return pd.DataFrame(rows, columns=columns).astype({"unit_id": np.int64, "n_trials": np.int64})


@dataclass(frozen=True)
class SessionOptotagging:
    """The optotagging of one session: per-unit cell types and the trials they were judged on.

    Attributes:
        session_id: Allen session id.
        cell_line: Cell type the session's Cre line tags ("PV", "SST", "VIP"), None for wild type.
        selection: The trials used; None when the session has no optotagging table.
        cell_types: One row per classified unit, see :func:`classify_cell_types`.
    """

    session_id: int
    cell_line: str | None
    selection: PulseSelection | None
    cell_types: pd.DataFrame


def optotag_session(
    recording: SessionRecording,
    unit_ids: Sequence[int],
    criteria: OptotagCriteria = OptotagCriteria(),
) -> SessionOptotagging:
    """Classify the units of one session and keep the pulse selection used (for the dataset card).

    Args:
        recording: The session (uses ``genotype``, ``optotagging``, ``spike_times``, ``units.structure``).
        unit_ids: Units to classify (typically the QC-passing ones).
        criteria: Trial selection, thresholds and windows.

    Returns:
        The session's :class:`SessionOptotagging`; ``cell_types`` as documented in :func:`classify_cell_types`.

    Raises:
        KeyError: A unit id has no spike times or no row in ``recording.units``, or ``recording.units``
            has no ``structure`` column.
        ValueError: The genotype names more than one Cre cell type.
    """
    ids = [int(u) for u in unit_ids]
    missing = [u for u in ids if u not in recording.spike_times]
    if missing:
        raise KeyError(f"{recording.path}: unit id(s) without spike times in the session: {missing[:10]}")
    if "structure" not in recording.units.columns:
        raise KeyError(f"{recording.path}: units table has no 'structure' column (needed for the visual-cortex rule)")
    absent = [u for u in ids if u not in recording.units.index]
    if absent:
        raise KeyError(f"{recording.path}: unit id(s) not in the units table: {absent[:10]}")
    visual = np.array([in_visual_cortex(v) for v in recording.units.loc[ids, "structure"]], dtype=bool)
    cell_line = genotype_cell_type(recording.genotype)
    if recording.optotagging is None:
        logger.info("%s: no optotagging table; cell_type 'unknown' for all units", recording.path)
        table = pd.DataFrame({"unit_id": np.array(ids, dtype=np.int64), "cell_type": UNKNOWN, "visual_cortex": visual})
        for column in METRIC_COLUMNS:
            table[column] = np.nan
        table["n_trials"] = 0
        table["passes"] = False
        return SessionOptotagging(recording.session_id, cell_line, None, table)
    onsets, selection = select_pulses(recording.optotagging, criteria)
    metrics = _metrics_at({u: recording.spike_times[u] for u in ids}, onsets, criteria)
    eligible = visual if criteria.visual_cortex_only else np.ones(len(ids), dtype=bool)
    tagged = metrics["passes"].to_numpy(dtype=bool) & eligible & (cell_line is not None)
    metrics.insert(1, "cell_type", np.where(tagged, cell_line or "", UNTAGGED).astype(object))
    metrics.insert(2, "visual_cortex", visual)
    return SessionOptotagging(recording.session_id, cell_line, selection, metrics)


def classify_cell_types(
    recording: SessionRecording,
    unit_ids: Sequence[int],
    criteria: OptotagCriteria = OptotagCriteria(),
) -> pd.DataFrame:
    """Cell type of each unit: the session's Cre cell type if the unit is optotagged.

    Args:
        recording: The session (uses ``genotype``, ``optotagging``, ``spike_times``, ``units.structure``).
        unit_ids: Units to classify (typically the QC-passing ones).
        criteria: Trial selection, thresholds and windows.

    Returns:
        One row per requested unit, in the given order: unit_id, cell_type, visual_cortex (bool), then
        the `optotag_metrics` columns. cell_type is "PV"/"SST"/"VIP" for a passing visual-cortex unit of
        a Pvalb/Sst/Vip-Cre session; "untagged" for every other unit (wild-type sessions included:
        without ChR2 a passing unit is not a tagged cell; units outside visual cortex too); "unknown"
        for every unit when the session has no optotagging table (metrics NaN, passes False, n_trials 0).

    Raises:
        KeyError: A unit id has no spike times or no units-table row, or the units table has no
            ``structure`` column.
        ValueError: The genotype names more than one Cre cell type.
    """
    return optotag_session(recording, unit_ids, criteria).cell_types


@dataclass(frozen=True)
class LineSummary:
    """Optotagging of one Cre line over the sessions of a build (for the dataset card).

    Attributes:
        cell_type: "PV", "SST" or "VIP".
        n_sessions: Sessions of this line.
        n_sessions_without_table: Of those, sessions without an optotagging table (units "unknown").
        n_units: Units classified (QC-passing units of the line's sessions).
        n_tagged: Units tagged with ``cell_type``.
        n_passing_outside_visual_cortex: Units that pass the criteria but are not in visual cortex (untagged).
        stimulus_name: ``stimulus_name`` of the trials (None: not filtered).
        duration_range_s: Open duration interval of the trials (s); None when no session has a table.
        levels: Light level used in each session with a table, in session order (None: not filtered).
        n_trials: Trials used in each session with a table, in session order.
    """

    cell_type: str
    n_sessions: int
    n_sessions_without_table: int
    n_units: int
    n_tagged: int
    n_passing_outside_visual_cortex: int
    stimulus_name: str | None
    duration_range_s: tuple[float, float] | None
    levels: tuple[float | None, ...]
    n_trials: tuple[int, ...]

    def as_dict(self) -> dict[str, object]:
        """JSON-ready fields (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> LineSummary:
        """Inverse of :meth:`as_dict` (lists become tuples)."""
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**fields)

    def card_text(self) -> str:
        """One markdown-safe sentence for the dataset card."""
        text = f"{self.cell_type}: {self.n_tagged} tagged of {self.n_units} units in {self.n_sessions} session(s)"
        if self.duration_range_s is not None:
            lo, hi = (round(1000 * v, 3) for v in self.duration_range_s)
            levels = ", ".join("any" if v is None else f"{v:g}" for v in self.levels)
            name = "any" if self.stimulus_name is None else f'"{self.stimulus_name}"'
            text += (
                f"; trials: {name} pulses of {lo:g}-{hi:g} ms at the highest light level of each session "
                f"(level per session: {levels}; trials per session: {', '.join(map(str, self.n_trials))})"
            )
        if self.n_sessions_without_table:
            text += f"; {self.n_sessions_without_table} session(s) without optotagging table (units unknown)"
        if self.n_passing_outside_visual_cortex:
            text += f"; {self.n_passing_outside_visual_cortex} passing unit(s) outside visual cortex not tagged"
        return text + "."


def summarize_lines(sessions: Iterable[SessionOptotagging]) -> list[LineSummary]:
    """Per-line summary of the optotagging of a build: tagged counts and the pulse selection per session.

    Args:
        sessions: :func:`optotag_session` results, one per session, in build order.

    Returns:
        One :class:`LineSummary` per Cre cell type present, sorted by cell type (wild-type sessions,
        which can tag nothing, are left out).
    """
    return merge_line_summaries(_session_summary(s) for s in sessions if s.cell_line is not None)


def _session_summary(session: SessionOptotagging) -> LineSummary:
    """The :class:`LineSummary` of one session of a Cre line."""
    cells, sel, line = session.cell_types, session.selection, str(session.cell_line)
    outside = 0 if sel is None else int((cells["passes"].astype(bool) & ~cells["visual_cortex"].astype(bool)).sum())
    return LineSummary(
        cell_type=line,
        n_sessions=1,
        n_sessions_without_table=int(sel is None),
        n_units=len(cells),
        n_tagged=int((cells["cell_type"] == line).sum()),
        n_passing_outside_visual_cortex=outside,
        stimulus_name=None if sel is None else sel.stimulus_name,
        duration_range_s=None if sel is None else sel.duration_range_s,
        levels=() if sel is None else (sel.level,),
        n_trials=() if sel is None else (sel.n_trials,),
    )


def merge_line_summaries(summaries: Iterable[LineSummary]) -> list[LineSummary]:
    """Combine per-session (or per-build) summaries into one per cell type, sorted by cell type.

    Counts add up; the per-session ``levels`` and ``n_trials`` are concatenated in the given order; the
    trial description comes from the first summary that has one.
    """
    by_line: dict[str, list[LineSummary]] = {}
    for summary in summaries:
        by_line.setdefault(summary.cell_type, []).append(summary)
    out = []
    for cell_type, group in sorted(by_line.items()):
        first = next((g for g in group if g.duration_range_s is not None), None)
        out.append(
            LineSummary(
                cell_type=cell_type,
                n_sessions=sum(g.n_sessions for g in group),
                n_sessions_without_table=sum(g.n_sessions_without_table for g in group),
                n_units=sum(g.n_units for g in group),
                n_tagged=sum(g.n_tagged for g in group),
                n_passing_outside_visual_cortex=sum(g.n_passing_outside_visual_cortex for g in group),
                stimulus_name=None if first is None else first.stimulus_name,
                duration_range_s=None if first is None else first.duration_range_s,
                levels=tuple(v for g in group for v in g.levels),
                n_trials=tuple(v for g in group for v in g.n_trials),
            )
        )
    return out
