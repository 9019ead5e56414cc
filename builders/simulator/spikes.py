"""Spike generation: piecewise-constant Poisson rates per segment, optotagging responses, waveforms.

Each unit's rate on a segment is base * drift(t) * response(frame) * gamma noise (natural frames
only), rescaled so that its duration-weighted mean over the session equals `mean_rate_hz`. The
stimulus response is shifted by the unit's latency. Every unit draws from its own generator
seeded by (seed, session, unit), so results do not depend on the chunk size.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .population import FrameInputs, Population
from .schedule import Timeline

WAVEFORM_SAMPLES = 82


@dataclass
class UnitChunk:
    """Spikes of consecutive units.

    Attributes:
        first: Index of the first unit of the chunk in the population.
        spike_times: Per unit, sorted float64 spike times (s).
        spike_amplitudes: Per unit, float64 amplitudes (V), same lengths as `spike_times`.
    """

    first: int
    spike_times: list[np.ndarray]
    spike_amplitudes: list[np.ndarray]


def stimulus_response(inputs: FrameInputs, weights: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """Rate multiplier of every natural frame.

    Args:
        inputs: Standardized frame inputs, x of shape (n_frames_total, n_inputs).
        weights: (n_units, n_inputs) tuning weights.
        gains: (n_units,) log-rate gain per standard deviation of drive (0 = untuned).

    Returns:
        float64 (n_frames_total, n_units): exp(gain * clip(z(drive), -3, 3)).
    """
    drive = inputs.x @ weights.T
    sd = drive.std(axis=0)
    z = np.where(sd > 1e-12, (drive - drive.mean(axis=0)) / np.where(sd > 1e-12, sd, 1.0), 0.0)
    return np.exp(gains[None, :] * np.clip(z, -3.0, 3.0))


def _opto_onsets(opto: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Light-pulse onsets (pulses and each fast pulse) and raised-cosine trial starts (s)."""
    names = opto["stimulus_name"].to_numpy()
    starts = opto["start_time"].to_numpy()
    pulses = [starts[names == "pulse"]]
    pulses += [starts[names == "fast_pulses"] + 0.1 * k for k in range(10)]
    return np.sort(np.concatenate(pulses)), starts[names == "raised_cosine"]


def opto_spikes(
    onsets: np.ndarray,
    cosine_starts: np.ndarray,
    reliability: float,
    latency_s: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Light-evoked spikes of one ChR2-expressing (or decoy) unit.

    Args:
        onsets: (n_pulses,) pulse onsets (s).
        cosine_starts: (n_cosine,) starts of 1-s raised-cosine trials (s).
        reliability: Probability of a first spike after each pulse.
        latency_s: Mean first-spike latency (s); jitter sd 0.7 ms, never below 1.2 ms.
        rng: Random generator.

    Returns:
        Unsorted float64 spike times (s).
    """
    hit = rng.random(len(onsets)) < reliability
    first = onsets[hit] + np.maximum(0.0012, rng.normal(latency_s, 0.0007, hit.sum()))
    burst = first[rng.random(len(first)) < 0.3] + rng.uniform(0.002, 0.004)
    n_cos = rng.poisson(8.0 * reliability, len(cosine_starts))
    cos = np.repeat(cosine_starts, n_cos) + rng.beta(2.0, 2.0, n_cos.sum())
    return np.concatenate([first, burst, cos])


def waveform_mean(peak_local: int, amplitude_uv: float, duration_ms: float, n_channels: int) -> np.ndarray:
    """Mean waveform of one unit on all 384 channels.

    Args:
        peak_local: Local index (0..383) of the peak channel.
        amplitude_uv: Trough amplitude (µV).
        duration_ms: Trough-to-peak duration (ms); 30 samples per ms.
        n_channels: Channels on each side of the peak that get a non-zero waveform.

    Returns:
        float64 (384, 82) in µV, zero away from the peak channel.
    """
    t = np.arange(WAVEFORM_SAMPLES)
    d = duration_ms * 30.0
    shape = -np.exp(-((t - 20) ** 2) / 8.0) + 0.35 * np.exp(-((t - 20 - d) ** 2) / (2 * (d / 2) ** 2))
    out = np.zeros((384, WAVEFORM_SAMPLES))
    lo, hi = max(0, peak_local - n_channels), min(384, peak_local + n_channels + 1)
    decay = np.exp(-np.abs(np.arange(lo, hi) - peak_local) / 4.0)
    out[lo:hi] = amplitude_uv * decay[:, None] * shape[None, :]
    return out


def iter_spike_chunks(
    pop: Population,
    inputs: FrameInputs,
    timeline: Timeline,
    opto: pd.DataFrame | None,
    *,
    seed: int,
    session_index: int,
    chunk: int,
    drift_step_s: float,
) -> Iterator[UnitChunk]:
    """Generate spikes unit chunk by unit chunk (bounded memory).

    Args:
        pop: The population.
        inputs: Standardized natural-frame inputs.
        timeline: Rate segments of the session.
        opto: Optotagging trials or None (no light-evoked spikes).
        seed: Simulation seed.
        session_index: Session index.
        chunk: Units per chunk.
        drift_step_s: Spacing (s) of the random knots of the slow log-rate drift.

    Yields:
        One `UnitChunk` per `chunk` units, in population order.
    """
    u = pop.units
    dur = timeline.stop - timeline.start
    row = np.full(len(dur), -1, dtype=np.int64)
    for code, off in inputs.offsets.items():
        sel = timeline.code == code
        row[sel] = off + timeline.frame[sel]
    natural = row >= 0
    mid = 0.5 * (timeline.start + timeline.stop)
    if opto is not None and len(opto):
        onsets, cos_starts = _opto_onsets(opto)
    else:
        onsets, cos_starts = np.zeros(0), np.zeros(0)
    for first in range(0, len(u), chunk):
        sl = slice(first, min(first + chunk, len(u)))
        mult = stimulus_response(inputs, pop.weights[sl], u["gain"].to_numpy()[sl])
        times_out, amps_out = [], []
        for j, idx in enumerate(range(sl.start, sl.stop)):
            rng = np.random.default_rng([seed, session_index, 41, idx])
            seg = np.ones(len(dur))
            seg[natural] = mult[row[natural], j]
            if u["gain"].iat[idx] > 0:
                k = float(u["gamma_shape"].iat[idx])
                seg[natural] *= rng.gamma(k, 1.0 / k, natural.sum())
            drift_sd = float(u["drift_sd"].iat[idx])
            if drift_sd > 0:
                knots = np.arange(0.0, timeline.t_end + drift_step_s, drift_step_s)
                seg *= np.exp(np.interp(mid, knots, rng.normal(0.0, drift_sd, len(knots))))
            rate = seg * (float(u["mean_rate_hz"].iat[idx]) * timeline.t_end / float(np.sum(seg * dur)))
            counts = rng.poisson(rate * dur)
            total = int(counts.sum())
            t = np.repeat(timeline.start, counts) + rng.random(total) * np.repeat(dur, counts)
            t += float(u["latency_s"].iat[idx])
            if u["opto_role"].iat[idx] != "none" and len(onsets) + len(cos_starts):
                evoked = opto_spikes(
                    onsets,
                    cos_starts,
                    float(u["opto_reliability"].iat[idx]),
                    float(u["opto_latency_s"].iat[idx]),
                    rng,
                )
                t = np.concatenate([t, evoked])
            t = np.sort(t[(t >= 0.0) & (t < timeline.t_end)])
            amp = float(u["amplitude"].iat[idx]) * 1e-6 * np.exp(rng.normal(0.0, 0.1, len(t)))
            times_out.append(t)
            amps_out.append(amp)
        yield UnitChunk(first=first, spike_times=times_out, spike_amplitudes=amps_out)
