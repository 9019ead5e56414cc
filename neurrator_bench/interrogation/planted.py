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
from typing import Any

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


def _block_weights(blocks: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) row weights: each replicate draws the blocks with replacement; a row weighs its block's count."""
    codes, inv = np.unique(np.asarray(blocks), return_inverse=True)
    rng = np.random.default_rng(seed)
    counts = np.stack(
        [np.bincount(rng.integers(0, codes.size, codes.size), minlength=codes.size) for _ in range(n_boot)]
    )
    return counts[:, inv].astype(np.float64)


def _diff(s: np.ndarray, h: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted mean over rows with the concept minus over rows without, for (..., n) scores and (r, n) weights."""
    wa, wb = w * h, w * ~h
    with np.errstate(invalid="ignore", divide="ignore"):
        return (s[..., None, :] * wa).sum(-1) / wa.sum(-1) - (s[..., None, :] * wb).sum(-1) / wb.sum(-1)


def tracking(
    scores: np.ndarray, has: np.ndarray, blocks: np.ndarray | None = None, *, n_boot: int = 1000, seed: int = 0
) -> dict[str, float]:
    """Mean narration score on bins whose frame shows the concept minus on bins whose frame does not.

    How strongly a population's narrations follow the planted content. The interval resamples ``blocks`` (the
    frame blocks of every other interval of the package; default: each bin its own block) with replacement;
    replicates that miss one of the two groups are dropped.
    """
    s, h = np.asarray(scores, dtype=np.float64), np.asarray(has, dtype=bool)
    if h.all() or not h.any():
        return {"value": float("nan"), "low": float("nan"), "high": float("nan"), "n_with": int(h.sum())}
    blocks = np.arange(s.size) if blocks is None else blocks
    v = float(s[h].mean() - s[~h].mean())
    boots = _diff(s, h, _block_weights(blocks, n_boot, seed))
    low, high = np.nanquantile(boots, [0.025, 0.975])
    return {"value": v, "low": float(min(low, v)), "high": float(max(high, v)), "n_with": int(h.sum())}


def tracking_contrast(
    scores: dict[str, np.ndarray],
    has: np.ndarray,
    blocks: np.ndarray | None = None,
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Per population, its :func:`tracking` minus the mean tracking of the other populations, paired by bin.

    Positive with an interval above 0: this population follows the concept more than the others do (the planted
    ordering). Every replicate resamples the same blocks for all populations.
    """
    names = list(scores)
    h = np.asarray(has, dtype=bool)
    nan = {"value": float("nan"), "low": float("nan"), "high": float("nan")}
    if h.all() or not h.any() or len(names) < 2:
        return {n: dict(nan) for n in names}
    s = np.stack([np.asarray(scores[n], dtype=np.float64) for n in names])  # (P, K)
    blocks = np.arange(s.shape[1]) if blocks is None else blocks

    def contrast(t: np.ndarray) -> np.ndarray:  # (P, ...) tracking -> own minus the mean of the others
        return t - (t.sum(axis=0, keepdims=True) - t) / (len(names) - 1)

    value = contrast(s[:, h].mean(axis=1) - s[:, ~h].mean(axis=1))
    boots = contrast(_diff(s, h, _block_weights(blocks, n_boot, seed)))  # (P, n_boot)
    low, high = np.nanquantile(boots, [0.025, 0.975], axis=1)
    return {
        n: {"value": float(value[p]), "low": float(min(low[p], value[p])), "high": float(max(high[p], value[p]))}
        for p, n in enumerate(names)
    }


def population_of(names: tuple[str, ...] | list[str], cell_type: str) -> str | None:
    """The population standing for ``cell_type``: the first named ``...-<cell_type>`` (``pseudo-PV``), or None."""
    return next((n for n in names if str(n).rsplit("-", 1)[-1] == cell_type), None)


def verdict(names: tuple[str, ...] | list[str], contrasts: dict[str, dict[str, dict[str, float]]]) -> dict[str, Any]:
    """Per planted concept: does the population of its cell type follow it more than every other one does?

    A population named ``...-PV`` / ``-SST`` / ``-VIP`` (``pseudo-PV``, ``shuffled-PV``) stands for that cell type.
    ``recovered`` is True when that population has the largest tracking contrast and its interval is above 0;
    on the shuffled-label control every verdict should be False.
    """
    out: dict[str, Any] = {}
    for cell_type, concept in PLANTED.items():
        own = population_of(names, cell_type)
        c = contrasts[concept]
        best = max(names, key=lambda n: (np.nan_to_num(c[n]["value"], nan=-np.inf), str(n)))
        out[concept] = {
            "planted_in": own,
            "highest": best,
            "recovered": bool(own is not None and best == own and c[own]["low"] > 0),
        }
    return out
