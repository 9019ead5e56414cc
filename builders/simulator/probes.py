"""Probe and channel layout: 384 channels per Neuropixels probe with CCF acronyms along the shank."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

N_CHANNELS = 384
PROBE_AREA: dict[str, str] = {
    "probeA": "VISam",
    "probeB": "VISpm",
    "probeC": "VISp",
    "probeD": "VISl",
    "probeE": "VISal",
    "probeF": "VISrl",
}
PROBE_PRIORITY = ("probeC", "probeD", "probeA", "probeE", "probeB", "probeF")
# structures below the cortex, top to bottom, as (acronym, channel count)
DEEP_STRUCTURES: dict[str, tuple[tuple[str, int], ...]] = {
    "probeA": (("grey", 8), ("CA1", 24), ("SUB", 20), ("ProS", 14), ("DG", 20), ("None", 4), ("APN", 40)),
    "probeB": (("grey", 6), ("CA1", 26), ("ProS", 10), ("SUB", 20), ("DG", 24), ("None", 4), ("APN", 40)),
    "probeC": (("grey", 6), ("CA1", 30), ("DG", 30), ("CA3", 20), ("None", 4), ("LGd", 50)),
    "probeD": (("grey", 6), ("CA1", 28), ("CA2", 6), ("CA3", 24), ("DG", 24), ("None", 4), ("LP", 50)),
    "probeE": (("grey", 6), ("CA1", 30), ("CA3", 24), ("DG", 24), ("None", 4), ("LP", 50)),
    "probeF": (("grey", 6), ("CA1", 30), ("CA2", 6), ("CA3", 20), ("None", 4), ("LP", 40)),
}
HIPPOCAMPUS = frozenset({"CA1", "CA2", "CA3", "DG", "SUB", "ProS"})
VISUAL = frozenset(PROBE_AREA.values())


def region_group(acronym: str) -> str:
    """Coarse group of a CCF acronym: "V1", "HVA", "LGd", "LP", "hippocampus", "midbrain" or "other"."""
    if acronym == "VISp":
        return "V1"
    if acronym in VISUAL:
        return "HVA"
    if acronym in ("LGd", "LP"):
        return acronym
    if acronym in HIPPOCAMPUS:
        return "hippocampus"
    return "midbrain" if acronym == "APN" else "other"


@dataclass
class ProbeLayout:
    """Probes and the electrodes table of one session.

    Attributes:
        probes: Columns name ("probeA"), probe_id (int64), sampling_rate, lfp_sampling_rate.
        channels: One row per channel (n_probes * 384), columns id, probe_id, local_index, valid_data,
            group_name, probe_vertical_position, probe_horizontal_position, x, y, z (z == y, the
            released-file bug), location ("" above the brain surface, a few "None"),
            in_cortex (bool, simulator-only helper, not written).
    """

    probes: pd.DataFrame
    channels: pd.DataFrame


def probe_names(n_probes: int) -> list[str]:
    """Names of the first `n_probes` probes by priority (VISp first), in letter order."""
    return sorted(PROBE_PRIORITY[:n_probes])


def build_probe_layout(n_probes: int, seed: int, session_index: int) -> ProbeLayout:
    """Channel-by-channel layout with CCF acronyms, validity and coordinates.

    Args:
        n_probes: Number of probes (1-6).
        seed: Simulation seed.
        session_index: Index of the session (varies ids and layout).

    Returns:
        The probe layout; local_index 0 is the deepest channel (at the tip).
    """
    rng = np.random.default_rng([seed, session_index, 21])
    names = probe_names(n_probes)
    probe_base = 700_000_000 + 1_000_000 * session_index + int(rng.integers(0, 500_000))
    chan_base = 840_000_000 + 1_000_000 * session_index + int(rng.integers(0, 500_000))
    probe_rows, chan_frames = [], []
    for p, name in enumerate(names):
        pid = probe_base + 2 * p
        probe_rows.append((name, pid, 30000.0 + rng.normal(0, 0.05), 2500.0 / 2 + rng.normal(0, 0.01)))
        surface = int(rng.integers(320, 360))
        loc = np.full(N_CHANNELS, "", dtype=object)
        top = surface
        n_ctx = int(rng.integers(86, 100))
        loc[top - n_ctx : top] = PROBE_AREA[name]
        top -= n_ctx
        for acr, n_nominal in DEEP_STRUCTURES[name]:
            n = max(2, int(round(n_nominal * rng.uniform(0.85, 1.15))))
            loc[max(top - n, 0) : top] = acr
            top -= n
        loc[: max(top, 0)] = "grey"
        local = np.arange(N_CHANNELS)
        vert = 20 * (local // 2 + 1)
        depth = (vert[surface - 1] - vert).astype(float)
        in_brain = loc != ""
        ap = 7500.0 + 350.0 * p + rng.normal(0, 20)
        y = np.where(in_brain, 400.0 + depth, np.nan)
        valid = rng.random(N_CHANNELS) > 0.03
        valid[191] = False
        chan_frames.append(
            pd.DataFrame(
                {
                    "id": chan_base + p * 2000 + local,
                    "probe_id": pid,
                    "local_index": local,
                    "valid_data": valid,
                    "group_name": name,
                    "probe_vertical_position": vert,
                    "probe_horizontal_position": np.array([43, 11, 59, 27])[local % 4],
                    "x": np.where(in_brain, ap + 0.05 * depth, np.nan),
                    "y": y,
                    "z": y.copy(),
                    "location": loc.astype(str),
                    "in_cortex": loc == PROBE_AREA[name],
                }
            )
        )
    probes = pd.DataFrame(probe_rows, columns=["name", "probe_id", "sampling_rate", "lfp_sampling_rate"])
    channels = pd.concat(chan_frames, ignore_index=True)
    for col in ("id", "probe_id", "local_index", "probe_vertical_position", "probe_horizontal_position"):
        channels[col] = channels[col].astype(np.int64)
    return ProbeLayout(probes=probes, channels=channels)
