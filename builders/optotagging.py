"""Optotagged cell-type classification (paper Appendix A.3).

A unit of a Cre;Ai32 session is tagged (PV, SST or VIP, from the session genotype) when, over the
10 ms blue-light pulses of the ``optogenetic_stimulation`` table, it passes all three criteria of
the paper: reliability > 30 %, median first-spike latency < 8 ms, evoked rate >= 2x baseline.
Windows follow Allen's optotagging tutorial (allen_nwb_layout.md section 3): evoked +1..+9 ms after
light onset (spikes in the first ms are light artifacts), baseline -10..-2 ms.

How each number is computed, for one unit with sorted spike times ``s`` (seconds):

- trials: rows of the optotagging table with ``lo < duration < hi`` (``pulse_duration_range_s``,
  default 9-20 ms, so the 10 ms pulses; durations are float differences, so a range, never
  equality). All light levels are used. ``t0`` = each trial's ``start_time``; n_trials = len(t0).
- evoked count per trial: spikes in the half-open window ``[t0 + e0, t0 + e1)``
  (``evoked_window_s``); baseline count: spikes in ``[t0 + b0, t0 + b1)`` (``baseline_window_s``).
- reliability = fraction of trials with >= 1 evoked spike.
- first-spike latency per trial = time from t0 to the first spike in ``[t0 + l0, t0 + l1)``
  (``latency_search_s``); trials without such a spike have none. median_latency_s = median over the
  trials that have one (NaN if none do).
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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pandas as pd

from neurrator_bench.builders.recording import SessionRecording

logger = logging.getLogger(__name__)

GENOTYPE_CELL_TYPES: Mapping[str, str] = MappingProxyType({"Pvalb": "PV", "Sst": "SST", "Vip": "VIP"})
"""Cre driver gene (first token of the Allen genotype allele) -> cell type it tags."""

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
    """Thresholds and windows of the optotagging classification (seconds relative to light onset).

    Attributes:
        min_reliability: Reliability must be strictly greater (paper: > 30 %).
        max_median_latency_s: Median first-spike latency must be strictly smaller (paper: < 8 ms).
        min_rate_ratio: Evoked / baseline rate must be at least this (paper: >= 2x).
        pulse_duration_range_s: Open interval of pulse durations used as trials (10 ms pulses).
        evoked_window_s: Half-open evoked window [start, end).
        baseline_window_s: Half-open baseline window [start, end).
        latency_search_s: Half-open window in which the first spike of a trial is searched.
    """

    min_reliability: float = 0.30
    max_median_latency_s: float = 0.008
    min_rate_ratio: float = 2.0
    pulse_duration_range_s: tuple[float, float] = (0.009, 0.02)
    evoked_window_s: tuple[float, float] = (0.001, 0.009)
    baseline_window_s: tuple[float, float] = (-0.010, -0.002)
    latency_search_s: tuple[float, float] = (0.0005, 0.025)


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


def select_pulse_trials(pulses: pd.DataFrame, criteria: OptotagCriteria = OptotagCriteria()) -> np.ndarray:
    """Onset times of the trials used for optotagging.

    Args:
        pulses: Optotagging table with ``start_time`` and ``duration`` (or ``stop_time``), seconds.
        criteria: Uses ``pulse_duration_range_s`` (open interval).

    Returns:
        Sorted float64 onsets, shape (n_trials,), seconds.

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
    return np.sort(pulses["start_time"].to_numpy(dtype=np.float64)[chosen])


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
    """Per-unit optotagging metrics over the 10 ms light pulses (see module docstring).

    Args:
        spike_times: Unit id -> sorted spike times in seconds, shape (n_spikes,).
        pulses: Optotagging table (``start_time`` and ``duration`` or ``stop_time``, seconds).
        criteria: Thresholds and windows.

    Returns:
        One row per unit, in the order of ``spike_times``, columns unit_id (int), n_trials (int),
        reliability (fraction 0-1), median_latency_s (s), evoked_rate_hz, baseline_rate_hz
        (spikes/s), rate_ratio, passes (bool).

    Raises:
        KeyError: The pulses table lacks its time columns.
    """
    onsets = select_pulse_trials(pulses, criteria)
    if onsets.size == 0:
        logger.warning(
            "optotagging table has no trials with duration in %s s; every unit fails",
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


def classify_cell_types(
    recording: SessionRecording,
    unit_ids: Sequence[int],
    criteria: OptotagCriteria = OptotagCriteria(),
) -> pd.DataFrame:
    """Cell type of each unit: the session's Cre cell type if the unit is optotagged.

    Args:
        recording: The session (uses ``genotype``, ``optotagging``, ``spike_times``).
        unit_ids: Units to classify (typically the QC-passing ones).
        criteria: Thresholds and windows.

    Returns:
        One row per requested unit, in the given order: unit_id, cell_type, then the
        `optotag_metrics` columns. cell_type is "PV"/"SST"/"VIP" for a passing unit of a
        Pvalb/Sst/Vip-Cre session; "untagged" for every other unit (wild-type sessions included:
        without ChR2 a passing unit is not a tagged cell); "unknown" for every unit when the
        session has no optotagging table (metrics NaN, passes False, n_trials 0).

    Raises:
        KeyError: A unit id has no spike times in the recording.
        ValueError: The genotype names more than one Cre cell type.
    """
    ids = [int(u) for u in unit_ids]
    missing = [u for u in ids if u not in recording.spike_times]
    if missing:
        raise KeyError(f"{recording.path}: unit id(s) without spike times in the session: {missing[:10]}")
    if recording.optotagging is None:
        logger.info("%s: no optotagging table; cell_type 'unknown' for all units", recording.path)
        table = pd.DataFrame({"unit_id": np.array(ids, dtype=np.int64), "cell_type": UNKNOWN})
        for column in METRIC_COLUMNS:
            table[column] = np.nan
        table["n_trials"] = 0
        table["passes"] = False
        return table
    metrics = optotag_metrics({u: recording.spike_times[u] for u in ids}, recording.optotagging, criteria)
    tagged_type = genotype_cell_type(recording.genotype)
    cell_type = np.where(metrics["passes"].to_numpy() & (tagged_type is not None), tagged_type or "", UNTAGGED)
    metrics.insert(1, "cell_type", cell_type.astype(object))
    return metrics
