"""BO1.1 stimulus schedule: presentation tables, optotagging trials, invalid times, running speed.

Tables follow allen_nwb_layout.md section 2: one table per stimulus, rows in start_time order,
per-table parameter columns with the real dtypes (some str columns holding "N/A"), movies with
one row per frame and no repeat column, natural_scenes `frame` -1.0 for blanks, spontaneous rows
between blocks without `stimulus_block`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .presets import SimulationConfig

BLOCK_ORDER: tuple[str, ...] = (
    "gabors",
    "flashes",
    "drifting_gratings",
    "natural_movie_three",
    "natural_movie_one",
    "drifting_gratings",
    "natural_movie_three",
    "drifting_gratings",
    "static_gratings",
    "natural_scenes",
    "natural_scenes",
    "static_gratings",
    "natural_movie_one",
    "natural_scenes",
    "static_gratings",
)
STIMULUS_INDEX = {
    "gabors": 0.0,
    "flashes": 1.0,
    "drifting_gratings": 2.0,
    "natural_movie_three": 3.0,
    "natural_movie_one": 4.0,
    "static_gratings": 5.0,
    "natural_scenes": 6.0,
}
NATURAL_CODES = {"natural_movie_one": 1, "natural_movie_three": 2, "natural_scenes": 3}
OPTO_CONDITIONS: tuple[tuple[str, str, float, float], ...] = (
    ("pulse", "a single square pulse", 0.01, 0.5),
    ("pulse", "a single square pulse", 0.005, 0.2),
    ("fast_pulses", "2.5 ms pulses at 10 Hz", 1.0, 0.15),
    ("raised_cosine", "half-period of a cosine wave", 1.0, 0.15),
)
NA = "N/A"


@dataclass
class Timeline:
    """The session tiled into piecewise-constant rate segments (seconds, session clock).

    Attributes:
        start: float64 (n_segments,) segment starts, sorted, contiguous with `stop`.
        stop: float64 (n_segments,) segment ends.
        code: int64 (n_segments,) 0 = baseline (gratings, spontaneous, blanks, opto), 1 = NM1 frame,
            2 = NM3 frame, 3 = natural scene image.
        frame: int64 (n_segments,) frame / image index for codes 1-3, -1 for baseline.
        t_end: End of the session in seconds.
    """

    start: np.ndarray
    stop: np.ndarray
    code: np.ndarray
    frame: np.ndarray
    t_end: float


def _contiguous(t0: float, n: int, dur: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    steps = dur + rng.normal(0.0, dur * 2e-4, n)
    edges = t0 + np.concatenate([[0.0], np.cumsum(steps)])
    return edges[:-1], edges[1:]


def _grating_rows(name: str, n: int, rng: np.random.Generator) -> dict[str, np.ndarray | list]:
    """Parameter columns of a grating/flash block (dtypes as in the real files)."""
    if name == "flashes":
        color = rng.choice(["-1.0", "1.0"], n)
        return {
            "color": list(color),
            "contrast": np.full(n, 0.8),
            "mask": ["None"] * n,
            "opacity": np.ones(n),
            "orientation": np.zeros(n),
            "phase": ["[0.0, 0.0]"] * n,
            "size": ["[300.0, 300.0]"] * n,
            "spatial_frequency": ["[0.0, 0.0]"] * n,
            "units": ["deg"] * n,
        }
    if name == "static_gratings":
        blank = rng.random(n) < 1 / 121
        ori = np.where(blank, np.nan, rng.choice(np.arange(0.0, 151.0, 30.0), n))
        sf = np.where(blank, np.nan, rng.choice([0.02, 0.04, 0.08, 0.16, 0.32], n))
        phase = [NA if b else p for b, p in zip(blank, rng.choice(["0.0", "0.25", "0.5", "0.75"], n), strict=True)]
        return {
            "color": ["[1.0, 1.0, 1.0]"] * n,
            "contrast": np.where(blank, np.nan, 0.8),
            "mask": ["None"] * n,
            "opacity": np.ones(n),
            "orientation": ori,
            "phase": phase,
            "size": ["[250.0, 250.0]"] * n,
            "spatial_frequency": sf,
            "units": ["deg"] * n,
        }
    blank = rng.random(n) < (1 / 41 if name == "drifting_gratings" else 0.0)
    ori_set = np.arange(0.0, 316.0, 45.0) if name == "drifting_gratings" else np.array([0.0, 45.0, 90.0])
    tf = rng.choice([1.0, 2.0, 4.0, 8.0, 15.0], n) if name == "drifting_gratings" else np.full(n, 4.0)
    sf = "0.04" if name == "drifting_gratings" else "0.08"
    cols: dict[str, np.ndarray | list] = {
        "color": ["[1.0, 1.0, 1.0]"] * n,
        "contrast": np.where(blank, np.nan, 0.8),
        "mask": ["None" if name == "drifting_gratings" else "circle"] * n,
        "opacity": np.ones(n),
        "orientation": np.where(blank, np.nan, rng.choice(ori_set, n)),
        "phase": [NA if b else "[42471.86666667, 42471.86666667]" for b in blank],
        "size": ["[250.0, 250.0]" if name == "drifting_gratings" else "[20.0, 20.0]"] * n,
        "spatial_frequency": [NA if b else sf for b in blank],
        "temporal_frequency": np.where(blank, np.nan, tf),
        "units": ["deg"] * n,
    }
    if name == "gabors":
        cols["x_position"] = rng.choice(np.arange(-40.0, 41.0, 10.0), n)
        cols["y_position"] = rng.choice(np.arange(-40.0, 41.0, 10.0), n)
    return cols


def _movie_block(cfg: SimulationConfig, name: str, t0: float, rng: np.random.Generator) -> dict:
    n_frames = cfg.nm1_frames if name == "natural_movie_one" else cfg.nm3_frames
    reps = cfg.nm1_repeats_per_block if name == "natural_movie_one" else cfg.nm3_repeats_per_block
    n = n_frames * reps
    start, stop = _contiguous(t0, n, cfg.movie_frame_s, rng)
    return {
        "start_time": start,
        "stop_time": stop,
        "color": ["[1.0, 1.0, 1.0]"] * n,
        "contrast": np.ones(n),
        "frame": np.tile(np.arange(n_frames, dtype=np.float64), reps),
        "opacity": np.ones(n),
        "orientation": np.zeros(n),
        "size": ["[1920.0, 1080.0]"] * n,
        "units": ["pix"] * n,
    }


def build_presentations(cfg: SimulationConfig, seed: int) -> tuple[dict[str, pd.DataFrame], float]:
    """Lay out the BO1.1 blocks in their real order.

    Args:
        cfg: Simulation config (block sizes, durations, gaps).
        seed: Seed of the random parts (condition order, timing jitter).

    Returns:
        (tables, t_stim_end): mapping stimulus name -> presentations table (columns start_time,
        stop_time, stimulus_name, stimulus_block, stimulus_index, parameter columns; spontaneous
        without block/index), and the end of the last block in seconds.
    """
    rng = np.random.default_rng([seed, 11])
    n_ns = (cfg.ns_images + 1) * cfg.ns_presentations_per_image
    ns_order = rng.permutation(
        np.repeat(np.arange(-1, cfg.ns_images, dtype=np.float64), cfg.ns_presentations_per_image)
    )
    ns_splits = np.array_split(ns_order, 3)
    ns_used = 0
    rows: dict[str, list[pd.DataFrame]] = {}
    spont: list[tuple[float, float]] = []
    t = cfg.first_start_s
    for block, name in enumerate(BLOCK_ORDER):
        gap = cfg.long_spontaneous_s if block == 2 else cfg.spontaneous_gap_s
        spont.append((t, t + gap))
        t += gap
        if name.startswith("natural_movie"):
            cols = _movie_block(cfg, name, t, rng)
        elif name == "natural_scenes":
            frames = ns_splits[ns_used]
            ns_used += 1
            start, stop = _contiguous(t, len(frames), cfg.ns_duration_s, rng)
            cols = {"start_time": start, "stop_time": stop, "frame": frames}
        else:
            n = {"gabors": cfg.gabors_rows, "flashes": cfg.flashes_rows}.get(
                name, cfg.dg_rows_per_block if name == "drifting_gratings" else cfg.sg_rows_per_block
            )
            on = {"drifting_gratings": 2.0}.get(name, 0.25)
            period = {"drifting_gratings": 3.0, "flashes": 2.0}.get(name, 0.25)
            start = t + np.arange(n) * period + rng.normal(0, 1e-4, n)
            cols = {"start_time": start, "stop_time": start + on, **_grating_rows(name, n, rng)}
        df = pd.DataFrame(cols)
        df.insert(2, "stimulus_name", name)
        df.insert(3, "stimulus_block", float(block))
        df.insert(4, "stimulus_index", STIMULUS_INDEX[name])
        rows.setdefault(name, []).append(df)
        t = float(df["stop_time"].iloc[-1]) + (1.0 if name in ("drifting_gratings", "flashes") else 0.0)
    if sum(len(x) for x in rows["natural_scenes"]) != n_ns:
        raise ValueError(f"natural_scenes: expected {n_ns} rows, found a different count")
    tables = {name: pd.concat(parts, ignore_index=True) for name, parts in rows.items()}
    sp = np.array(spont)
    tables["spontaneous"] = pd.DataFrame(
        {"start_time": sp[:, 0], "stop_time": sp[:, 1], "stimulus_name": "spontaneous"}
    )
    return tables, t


def build_optotagging(cfg: SimulationConfig, t0: float, seed: int) -> pd.DataFrame:
    """Optotagging trials at the session end, ~2 s apart, mostly 10 ms pulses.

    Args:
        cfg: Simulation config (`opto_trials`).
        t0: First trial not before this time (s).
        seed: Seed.

    Returns:
        Columns in the real order: start_time, condition, level, stop_time, stimulus_name, duration.
    """
    rng = np.random.default_rng([seed, 12])
    n = cfg.opto_trials
    which = rng.choice(len(OPTO_CONDITIONS), n, p=[c[3] for c in OPTO_CONDITIONS])
    start = t0 + 2.0 * np.arange(n) + rng.uniform(0, 0.5, n)
    dur = np.array([OPTO_CONDITIONS[i][2] for i in which]) + rng.normal(0, 2e-7, n)
    return pd.DataFrame(
        {
            "start_time": start,
            "condition": [OPTO_CONDITIONS[i][1] for i in which],
            "level": rng.choice([1.3, 1.7, 2.0], n),
            "stop_time": start + dur,
            "stimulus_name": [OPTO_CONDITIONS[i][0] for i in which],
            "duration": dur,
        }
    )


def build_invalid_times(
    cfg: SimulationConfig, tables: dict[str, pd.DataFrame], probes: list[tuple[str, int]], seed: int
) -> pd.DataFrame:
    """A few probe-level invalid intervals inside drifting-grating blocks (never over natural stimuli).

    Args:
        cfg: Simulation config (`n_invalid_times`).
        tables: Presentation tables from `build_presentations`.
        probes: (name, probe_id) per probe.
        seed: Seed.

    Returns:
        Columns start_time, stop_time, tags (list of 3 str: "EcephysProbe", probe id, probe name).
    """
    rng = np.random.default_rng([seed, 13])
    dg = tables["drifting_gratings"]
    rows = []
    for _ in range(cfg.n_invalid_times):
        i = int(rng.integers(len(dg)))
        name, pid = probes[int(rng.integers(len(probes)))]
        rows.append(
            (
                float(dg["start_time"].iloc[i]),
                float(dg["stop_time"].iloc[i]),
                ["EcephysProbe", str(pid), name],
            )
        )
    rows.sort(key=lambda r: r[0])
    return pd.DataFrame(rows, columns=["start_time", "stop_time", "tags"])


def build_timeline(tables: dict[str, pd.DataFrame], t_end: float, max_baseline_s: float) -> Timeline:
    """Tile [0, t_end) into natural-frame segments and baseline segments of at most `max_baseline_s`.

    Args:
        tables: Presentation tables.
        t_end: Session end (s).
        max_baseline_s: Longest baseline segment (s), so slow drift can vary within gaps.

    Returns:
        The timeline (natural_scenes blanks count as baseline).
    """
    starts, stops, codes, frames = [], [], [], []
    for name, code in NATURAL_CODES.items():
        df = tables[name]
        fr = df["frame"].to_numpy().astype(np.int64)
        starts.append(df["start_time"].to_numpy())
        stops.append(df["stop_time"].to_numpy())
        codes.append(np.where(fr < 0, 0, code))
        frames.append(fr)
    s, e, c, f = (np.concatenate(x) for x in (starts, stops, codes, frames))
    order = np.argsort(s, kind="stable")
    s, e, c, f = s[order], e[order], c[order], f[order]
    e = np.minimum(e, np.append(s[1:], np.inf))
    gap_s = np.concatenate([[0.0], e])
    gap_e = np.concatenate([s, [t_end]])
    gs, ge = [], []
    for a, b in zip(gap_s, gap_e, strict=True):
        if b - a > 1e-9:
            k = int(np.ceil((b - a) / max_baseline_s))
            edges = np.linspace(a, b, k + 1)
            gs.append(edges[:-1])
            ge.append(edges[1:])
    bs, be = np.concatenate(gs), np.concatenate(ge)
    all_s = np.concatenate([s, bs])
    order = np.argsort(all_s, kind="stable")
    return Timeline(
        start=all_s[order],
        stop=np.concatenate([e, be])[order],
        code=np.concatenate([c, np.zeros(len(bs), np.int64)])[order],
        frame=np.concatenate([np.where(c == 0, -1, f), np.full(len(bs), -1, np.int64)])[order],
        t_end=t_end,
    )


def running_speed(t_end: float, rate_hz: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Smooth non-negative running speed.

    Args:
        t_end: Session end (s).
        rate_hz: Samples per second.
        seed: Seed.

    Returns:
        (timestamps (n,) s, speed (n,) cm/s).
    """
    rng = np.random.default_rng([seed, 14])
    ts = np.arange(0.0, t_end, 1.0 / rate_hz)
    knots = np.arange(0.0, t_end + 20.0, 10.0)
    level = np.clip(rng.normal(5.0, 8.0, len(knots)), 0, None)
    return ts, np.clip(np.interp(ts, knots, level) + rng.normal(0, 0.5, len(ts)), 0, None)
