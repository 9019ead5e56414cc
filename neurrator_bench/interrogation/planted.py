"""Ground truth for the embedded default: the preferences the simulator planted in PV / SST / VIP units.

The simulator tunes tagged PV units to small rounded objects, SST units to vehicles and VIP units to darkness
(``builders.simulator.population``; the per-unit tuning is in ``truth/session_<id>_units.parquet``). Whether a
frame shows those is read from the simulation's own stimulus annotations (``stimuli/<name>/annotations.parquet``,
the phrases painted in each patch), never from narrations or model output:

- ``rounded``: a patch shows part of a ball, cat, teapot, dog or bird;
- ``vehicle``: a patch shows part of a car, bicycle, boat or bus;
- ``dark``: the majority lighting implied by the frame's patch phrases is "dark" (the phrase narrator's rule).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from neurrator_bench.builders.simulator.population import ROUNDED, VEHICLES
from neurrator_bench.builders.simulator.vocabulary import PHRASES
from neurrator_bench.builders.stimulus_bundle import load_stimulus_bundle

CONCEPTS = ("rounded", "vehicle", "dark")
PLANTED = {"PV": "rounded", "SST": "vehicle", "VIP": "dark"}
"""Cell type -> the frame concept the simulator tunes its tagged units to."""


def _concepts(phrases: list[str]) -> dict[str, bool]:
    kinds = {PHRASES[p].object_kind for p in phrases if p in PHRASES}
    light = Counter(PHRASES[p].lighting for p in phrases if p in PHRASES and PHRASES[p].lighting)
    majority = min(light, key=lambda w: (-light[w], w)) if light else ""
    return {
        "rounded": bool(kinds & set(ROUNDED)),
        "vehicle": bool(kinds & set(VEHICLES)),
        "dark": majority == "dark",
    }


def frame_concepts(simulation_dir: Path, stimuli: list[str]) -> pd.DataFrame:
    """One row per (stimulus, frame) of the simulation: ``stimulus, frame, rounded, vehicle, dark`` (bools).

    Raises:
        FileNotFoundError: ``simulation_dir`` has no stimulus bundle (names the path expected).
    """
    bundle = Path(simulation_dir) / "stimuli"
    if not (bundle / "bundle.json").is_file():
        raise FileNotFoundError(f"{bundle / 'bundle.json'}: not found; pass the folder `neurrator-bench simulate` made")
    rows = []
    for name, st in load_stimulus_bundle(bundle, stimuli).items():
        for frame, phrases in enumerate(st.patch_descriptions or []):
            rows.append({"stimulus": name, "frame": frame, **_concepts(list(phrases))})
    return pd.DataFrame(rows)


def enrichment(hits: np.ndarray, base_rate: float, *, n_boot: int = 1000, seed: int = 0) -> dict[str, float]:
    """Share of ``hits`` (features x top frames, bool) showing the concept, minus its corpus base rate.

    The interval resamples features (rows) with replacement: a feature's top frames move together.
    """
    h = np.asarray(hits, dtype=np.float64)
    if h.size == 0:
        return {
            "share": float("nan"),
            "base_rate": base_rate,
            "gain": float("nan"),
            "low": float("nan"),
            "high": float("nan"),
            "n_features": 0,
        }
    rng = np.random.default_rng(seed)
    per = h.mean(axis=1)
    boots = np.array([per[rng.integers(0, per.size, per.size)].mean() for _ in range(n_boot)])
    low, high = np.quantile(boots - base_rate, [0.025, 0.975])
    share = float(per.mean())
    return {
        "share": share,
        "base_rate": float(base_rate),
        "gain": share - float(base_rate),
        "low": float(min(low, share - base_rate)),
        "high": float(max(high, share - base_rate)),
        "n_features": int(per.size),
    }


AXIS_OF_CONCEPT = {"rounded": "a small round object", "vehicle": "a car or vehicle", "dark": "darkness or shadows"}
"""Frame concept -> the concept prompt (``concept_axes.CONCEPT_BANK``) whose narration score should track it."""


def tracking(scores: np.ndarray, has: np.ndarray, *, n_boot: int = 1000, seed: int = 0) -> dict[str, float]:
    """Mean narration score on bins whose frame shows the concept minus on bins whose frame does not.

    How strongly a population's narrations follow the planted content; the interval resamples bins with
    replacement (stratified: with-concept and without-concept bins separately).
    """
    s, h = np.asarray(scores, dtype=np.float64), np.asarray(has, dtype=bool)
    if h.all() or not h.any():
        return {"value": float("nan"), "low": float("nan"), "high": float("nan"), "n_with": int(h.sum())}
    a, b = s[h], s[~h]
    rng = np.random.default_rng(seed)
    boots = np.array(
        [a[rng.integers(0, a.size, a.size)].mean() - b[rng.integers(0, b.size, b.size)].mean() for _ in range(n_boot)]
    )
    v = float(a.mean() - b.mean())
    low, high = np.quantile(boots, [0.025, 0.975])
    return {"value": v, "low": float(min(low, v)), "high": float(max(high, v)), "n_with": int(h.sum())}


def tracking_contrast(
    scores: dict[str, np.ndarray], has: np.ndarray, *, n_boot: int = 1000, seed: int = 0
) -> dict[str, dict[str, float]]:
    """Per population, its :func:`tracking` minus the mean tracking of the other populations, paired by bin.

    Positive with an interval above 0: this population follows the concept more than the others do (the planted
    ordering). Every replicate resamples the same bins (stratified by ``has``) for all populations.
    """
    names = list(scores)
    h = np.asarray(has, dtype=bool)
    nan = {"value": float("nan"), "low": float("nan"), "high": float("nan")}
    if h.all() or not h.any() or len(names) < 2:
        return {n: dict(nan) for n in names}
    s = np.stack([np.asarray(scores[n], dtype=np.float64) for n in names])  # (P, K)
    a_idx, b_idx = np.flatnonzero(h), np.flatnonzero(~h)

    def contrast(ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
        t = s[:, ia].mean(axis=1) - s[:, ib].mean(axis=1)
        return t - (t.sum() - t) / (len(names) - 1)

    value = contrast(a_idx, b_idx)
    rng = np.random.default_rng(seed)
    boots = np.stack([contrast(rng.choice(a_idx, a_idx.size), rng.choice(b_idx, b_idx.size)) for _ in range(n_boot)])
    low, high = np.quantile(boots, [0.025, 0.975], axis=0)
    return {
        n: {"value": float(value[p]), "low": float(min(low[p], value[p])), "high": float(max(high[p], value[p]))}
        for p, n in enumerate(names)
    }
