"""Simulated units: placement on probes, cell types, stimulus tuning, opto properties, QC metrics.

Tuning is a weight vector over standardized frame inputs (scene features from world.py plus local
luminance/contrast on an rf_grid x rf_grid grid of the rendered image). The code is compositional: units
respond to the *concepts* the patch targets encode (:data:`.vocabulary.CONCEPTS`: object kinds and background
classes), so a response to a new combination is the sum of the responses to its parts:

- V1: a spatial receptive field over luminance/contrast plus local concept selectivity (2-3 concepts, mixed
  signs) over the patches under the same receptive field;
- higher visual areas: position-invariant concept areas (2-3 concepts), a place and the light level, with a
  broad receptive field over concept patches;
- LGd: luminance/contrast in a large receptive field with weak local concept selectivity;
- LP / midbrain: motion; hippocampus and other areas: untuned (slow drift only).

Tagged PV units prefer small rounded objects, SST units vehicles, VIP units darkness (recorded in the
``tuning`` column of the ground-truth unit table).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .presets import CELL_TYPE_OF_GENOTYPE, SimulationConfig
from .probes import ProbeLayout, region_group
from .world import StimulusFrames, feature_names

NATURAL_ORDER = ("natural_movie_one", "natural_movie_three", "natural_scenes")
ROUNDED = ("ball", "cat", "teapot", "dog", "bird")
VEHICLES = ("car", "bicycle", "boat", "bus")
LATENCY_S = {"LGd": 0.035, "V1": 0.045, "HVA": 0.06, "LP": 0.055, "midbrain": 0.05}
GAIN = {"V1": (1.1, 1.5), "HVA": (0.6, 0.95), "LGd": (0.8, 1.1), "LP": (0.3, 0.5), "midbrain": (0.2, 0.35)}
GAMMA_SHAPE = {"V1": 20.0, "HVA": 5.0}


@dataclass
class FrameInputs:
    """Standardized per-frame inputs of all natural stimuli, stacked NM1, NM3, natural scenes.

    Attributes:
        x: float64 (n_frames_total, n_inputs), each column z-scored over frames (constant columns 0).
        names: Input names: scene features, then rf_lum_<r>_<c>, then rf_con_<r>_<c>.
        offsets: Row offset of each stimulus code (1 NM1, 2 NM3, 3 natural scenes).
        grid: RF grid side.
    """

    x: np.ndarray
    names: list[str]
    offsets: dict[int, int]
    grid: int


def build_frame_inputs(
    stimuli: dict[str, StimulusFrames], grid: int, patch_grid: tuple[int, int] = (4, 4)
) -> FrameInputs:
    """Stack scene features and local luminance/contrast of every natural frame.

    Args:
        stimuli: Rendered natural stimuli by name.
        grid: RF grid side g; each frame is pooled into g x g cells (image cropped to a multiple of g).
        patch_grid: Patch grid of the stimuli's features (`world.feature_names`).

    Returns:
        The standardized inputs.
    """
    blocks, offsets, row = [], {}, 0
    for code, name in enumerate(NATURAL_ORDER, start=1):
        st = stimuli[name]
        n, h, w = st.frames.shape
        ch, cw = h // grid, w // grid
        img = st.frames[:, : ch * grid, : cw * grid].astype(np.float32) / 255.0
        cells = img.reshape(n, grid, ch, grid, cw)
        lum = cells.mean(axis=(2, 4)).reshape(n, -1)
        con = cells.std(axis=(2, 4)).reshape(n, -1)
        blocks.append(np.concatenate([st.features, lum, con], axis=1))
        offsets[code] = row
        row += n
    x = np.concatenate(blocks).astype(np.float64)
    sd = x.std(axis=0)
    x = np.where(sd > 1e-9, (x - x.mean(axis=0)) / np.where(sd > 1e-9, sd, 1.0), 0.0)
    cells_names = [f"{r}_{c}" for r in range(grid) for c in range(grid)]
    names = feature_names(patch_grid) + [f"rf_lum_{rc}" for rc in cells_names] + [f"rf_con_{rc}" for rc in cells_names]
    return FrameInputs(x=x, names=names, offsets=offsets, grid=grid)


@dataclass
class Population:
    """All units of one session (unfiltered).

    Attributes:
        units: One row per unit: unit_id, cluster_id, local_index, peak_channel_id, probe_index,
            structure, region_group, true_cell_type, opto_role, tuning, mean_rate_hz, latency_s,
            gain, gamma_shape, drift_sd, opto_reliability, opto_latency_s, quality, QC metrics.
        weights: float64 (n_units, n_inputs) tuning weights over `FrameInputs.x` columns.
    """

    units: pd.DataFrame
    weights: np.ndarray


def _rf_weights(
    names: list[str], grid: int, rng: np.random.Generator, sigma: tuple[float, float]
) -> tuple[np.ndarray, str, tuple[float, float]]:
    w = np.zeros(len(names))
    cy, cx = rng.uniform(0, grid, 2) - 0.5
    s = rng.uniform(*sigma)
    rr, cc = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")
    g = np.exp(-((rr - cy) ** 2 + (cc - cx) ** 2) / (2 * s * s)).ravel()
    pol = 1.0 if rng.random() < 0.5 else -1.0
    first = names.index("rf_lum_0_0")
    w[first : first + grid * grid] = pol * g
    w[first + grid * grid : first + 2 * grid * grid] = rng.uniform(0.3, 1.0) * g
    label = f"rf(x={(cx + 0.5) / grid:.2f},y={(cy + 0.5) / grid:.2f},{'on' if pol > 0 else 'off'})"
    return w, label, ((cx + 0.5) / grid, (cy + 0.5) / grid)


def _patch_rf(names: list[str], centre: tuple[float, float], sigma: float) -> tuple[np.ndarray, list[str]]:
    """Gaussian weights over the patch grid at ``centre`` (fractions of the image) and the concept list."""
    concepts = sorted({n.split("_")[1] for n in names if n.startswith("pc_")})
    rows = 1 + max(int(n.rsplit("_", 2)[1]) for n in names if n.startswith("pc_"))
    cols = 1 + max(int(n.rsplit("_", 1)[1]) for n in names if n.startswith("pc_"))
    rr, cc = np.meshgrid((np.arange(rows) + 0.5) / rows, (np.arange(cols) + 0.5) / cols, indexing="ij")
    g = np.exp(-((rr - centre[1]) ** 2 + (cc - centre[0]) ** 2) / (2 * sigma * sigma)).ravel()
    return g / g.max(), concepts


def _local_concepts(
    names: list[str], centre: tuple[float, float], sigma: float, rng: np.random.Generator, n_concepts: int
) -> np.ndarray:
    """Weights on ``pc_<concept>_<r>_<c>``: 2-3 concepts (mixed signs) under a Gaussian patch field."""
    g, concepts = _patch_rf(names, centre, sigma)
    w = np.zeros(len(names))
    picks = rng.choice(len(concepts), n_concepts, replace=False)
    for k in picks:
        weight = rng.uniform(0.6, 1.2) * (1.0 if rng.random() < 0.75 else -0.6)
        first = names.index(f"pc_{concepts[k]}_0_0")
        w[first : first + g.size] = weight * g
    return w


def _tuning(
    group: str, cell_type: str, names: list[str], grid: int, rng: np.random.Generator
) -> tuple[np.ndarray, str]:
    """Weight vector and a readable tuning label for one unit."""
    w = np.zeros(len(names))
    places = [n for n in names if n.startswith("place_")]
    if cell_type != "none":
        keys = {
            "PV": [f"obj_{k}" for k in ROUNDED],
            "SST": [f"obj_{k}" for k in VEHICLES],
            "VIP": ["light_level", "luminance"],
        }[cell_type]
        sign = -1.0 if cell_type == "VIP" else 1.0
        for k in keys:
            w[names.index(k)] = sign * rng.uniform(0.8, 1.2)
        if cell_type == "VIP":
            w[names.index("place_shop front")] = 0.4
        label = {"PV": "small rounded objects", "SST": "vehicles", "VIP": "darkness/low luminance"}[cell_type]
        return w, f"{cell_type}: {label}"
    areas = [n for n in names if n.startswith("area_")]
    if group == "V1":
        w, label, centre = _rf_weights(names, grid, rng, (0.6, 1.5))
        w = 0.5 * w + _local_concepts(names, centre, 0.2, rng, int(rng.integers(2, 4)))
        return w, f"V1 {label} + local concepts"
    if group == "HVA":
        picks = rng.choice(areas, int(rng.integers(2, 4)), replace=False)
        place = str(rng.choice(places))
        for p in picks:
            w[names.index(p)] = rng.uniform(0.8, 1.5) * (1.0 if rng.random() < 0.8 else -0.6)
        w[names.index(place)] = rng.uniform(0.3, 0.8)
        w[names.index("light_level")] = rng.normal(0, 0.8)
        w += 0.5 * _local_concepts(names, tuple(rng.uniform(0.2, 0.8, 2)), 0.4, rng, 2)
        return w, "semantic: " + ", ".join(sorted(p[5:] for p in picks)) + f", {place[6:]}"
    if group == "LGd":
        w, label, centre = _rf_weights(names, grid, rng, (1.5, 3.0))
        w += 0.3 * _local_concepts(names, centre, 0.3, rng, 2)
        return w, f"LGd luminance/contrast {label}"
    if group == "LP":
        w[names.index("motion")] = 1.0
        w[names.index("luminance")] = rng.normal(0, 0.3)
        return w, "LP motion"
    if group == "midbrain":
        w[names.index("motion")] = 0.6
        return w, "midbrain motion"
    return w, "untuned (slow drift only)"


def _qc_metrics(n: int, keep_good: np.ndarray, cfg: SimulationConfig, rng: np.random.Generator) -> pd.DataFrame:
    """Allen-like QC metrics; a `qc_fail_fraction` of the non-protected units fails one default filter."""
    noise = (rng.random(n) < cfg.noise_fraction) & ~keep_good
    fail = (rng.random(n) < cfg.qc_fail_fraction) & ~keep_good
    which = rng.integers(0, 3, n)
    m = pd.DataFrame(
        {
            "quality": np.where(noise, "noise", "good"),
            "amplitude_cutoff": np.where(fail & (which == 0), rng.uniform(0.11, 0.5, n), rng.uniform(0.0, 0.1, n)),
            "presence_ratio": np.where(fail & (which == 1), rng.uniform(0.4, 0.94, n), rng.uniform(0.95, 0.99, n)),
            "isi_violations": np.where(fail & (which == 2), rng.uniform(0.6, 4.0, n), rng.uniform(0.0, 0.45, n)),
            "PT_ratio": rng.uniform(0.2, 1.0, n),
            "amplitude": rng.uniform(40.0, 400.0, n),
            "cumulative_drift": rng.uniform(50, 400, n),
            "d_prime": rng.uniform(2, 8, n),
            "isolation_distance": rng.uniform(20, 120, n),
            "l_ratio": rng.uniform(0, 0.1, n),
            "max_drift": rng.uniform(10, 80, n),
            "nn_hit_rate": rng.uniform(0.5, 1.0, n),
            "nn_miss_rate": rng.uniform(0, 0.05, n),
            "recovery_slope": rng.uniform(-0.3, 0.0, n),
            "repolarization_slope": rng.uniform(0.2, 1.0, n),
            "silhouette_score": rng.uniform(0.0, 0.3, n),
            "snr": rng.uniform(1.0, 6.0, n),
            "spread": rng.uniform(30, 150, n),
            "velocity_above": rng.normal(0.3, 0.5, n),
            "velocity_below": rng.normal(-0.2, 0.5, n),
            "waveform_duration": rng.uniform(0.45, 0.9, n),
            "waveform_halfwidth": rng.uniform(0.15, 0.4, n),
        }
    )
    for col, frac in (
        ("velocity_above", 0.25),
        ("velocity_below", 0.2),
        ("isolation_distance", 0.03),
        ("silhouette_score", 0.05),
        ("nn_hit_rate", 0.02),
        ("d_prime", 0.02),
    ):
        m.loc[rng.random(n) < frac, col] = np.nan
    return m


def build_population(
    cfg: SimulationConfig,
    layout: ProbeLayout,
    inputs: FrameInputs,
    genotype: str,
    *,
    seed: int,
    session_index: int,
) -> Population:
    """Place units on the probes and give each a cell type, rate, latency, tuning and QC metrics.

    Args:
        cfg: Simulation config (units_per_probe, rates, tagged fraction, decoys, QC fractions).
        layout: Probe layout of the session.
        inputs: Frame inputs (for the tuning weight names).
        genotype: "Pvalb", "Sst", "Vip" or "wt"; the first three carry ChR2-tagged units of that type.
        seed: Simulation seed.
        session_index: Session index.

    Returns:
        The population, units ordered by probe and peak-channel depth.
    """
    rng = np.random.default_rng([seed, session_index, 31])
    ch = layout.channels
    rows = []
    for p, pid in enumerate(layout.probes["probe_id"]):
        sub = ch[ch["probe_id"] == pid]
        weight = np.where(sub["location"] == "", 0.02, 1.0) * np.where(sub["in_cortex"], 3.0, 1.0)
        picks = np.sort(rng.choice(len(sub), cfg.units_per_probe, replace=False, p=weight / weight.sum()))
        for k, i in enumerate(picks):
            rows.append((p, k, int(sub["id"].iloc[i]), str(sub["location"].iloc[i]), bool(sub["valid_data"].iloc[i])))
    units = pd.DataFrame(rows, columns=["probe_index", "local_index", "peak_channel_id", "structure", "valid"])
    n = len(units)
    units.insert(
        0,
        "unit_id",
        950_000_000 + 1_000_000 * session_index + np.arange(n) * 3 + int(rng.integers(0, 10_000)),
    )
    steps = pd.Series(rng.integers(1, 4, n))
    units["cluster_id"] = steps.groupby(units["probe_index"]).cumsum().to_numpy(np.int64)
    units["region_group"] = [region_group(s) for s in units["structure"]]
    cortical = np.flatnonzero(units["region_group"].isin(["V1", "HVA"]).to_numpy() & units["valid"].to_numpy())
    cell_type = np.full(n, "none", dtype=object)
    role = np.full(n, "none", dtype=object)
    ctype = CELL_TYPE_OF_GENOTYPE[genotype]
    if ctype != "none" and len(cortical):
        n_tag = min(len(cortical), max(3, int(round(rng.uniform(*cfg.tagged_fraction) * len(cortical)))))
        chosen = rng.permutation(cortical)
        cell_type[chosen[:n_tag]] = ctype
        role[chosen[:n_tag]] = "tagged"
        decoy_kinds = ("decoy_unreliable", "decoy_late", "decoy_weak")
        for j, u in enumerate(chosen[n_tag : n_tag + cfg.n_decoys]):
            role[u] = decoy_kinds[j % 3]
    units["true_cell_type"] = cell_type
    units["opto_role"] = role
    rate = np.clip(cfg.median_rate_hz * np.exp(cfg.rate_log_sd * rng.normal(size=n)), 0.2, 60.0)
    pv = cell_type == "PV"
    rate[pv] = rng.uniform(*cfg.pv_rate_range_hz, pv.sum())
    rate[role == "decoy_weak"] = rng.uniform(50.0, 60.0, (role == "decoy_weak").sum())
    units["mean_rate_hz"] = rate
    groups = units["region_group"].to_numpy()
    units["latency_s"] = [LATENCY_S.get(g, 0.05) + rng.normal(0, 0.004) for g in groups]
    weights, labels, gains = np.zeros((n, len(inputs.names))), [], np.zeros(n)
    for u in range(n):
        weights[u], label = _tuning(groups[u], cell_type[u], inputs.names, inputs.grid, rng)
        labels.append(label)
        lo_hi = (0.7, 1.0) if cell_type[u] != "none" else GAIN.get(groups[u])
        gains[u] = rng.uniform(*lo_hi) if lo_hi else 0.0
    units["tuning"] = labels
    units["gain"] = gains
    units["gamma_shape"] = [GAMMA_SHAPE.get(g, 10.0) for g in groups]
    units["drift_sd"] = np.where(groups == "hippocampus", 2.0, 1.0) * cfg.drift_sd
    rel = np.zeros(n)
    lat = np.full(n, np.nan)
    tagged = role == "tagged"
    rel[tagged], lat[tagged] = rng.uniform(0.6, 0.95, tagged.sum()), rng.uniform(0.002, 0.006, tagged.sum())
    for kind, r_lo_hi, l_lo_hi in (
        ("decoy_unreliable", (0.08, 0.22), (0.003, 0.006)),
        ("decoy_late", (0.6, 0.9), (0.010, 0.014)),
        ("decoy_weak", (0.03, 0.08), (0.003, 0.006)),
    ):
        sel = role == kind
        rel[sel], lat[sel] = rng.uniform(*r_lo_hi, sel.sum()), rng.uniform(*l_lo_hi, sel.sum())
    units["opto_reliability"] = rel
    units["opto_latency_s"] = lat
    protect = role != "none"
    qc = _qc_metrics(n, protect, cfg, rng)
    qc.loc[pv, "waveform_duration"] = rng.uniform(0.2, 0.35, pv.sum())
    units = pd.concat([units.drop(columns=["valid"]), qc], axis=1)
    return Population(units=units, weights=weights)
