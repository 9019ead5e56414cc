"""Leaderboard plots as PNG files (matplotlib, Agg canvas; no pyplot global state).

Three figures: headline score vs population size by region (from subset entries carrying
``region_group`` and ``n_units``), the cross-population similarity matrix (``entry.similarity``), and
per-frame means of one metric over each stimulus (``entry.frame_table``). Every function writes one PNG
atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from neurrator_bench.leaderboard.store import find_main_metric, metric_order
from neurrator_bench.schemas.result_entry import FrameTable, ResultEntry, SimilarityMatrix

DPI = 100


def _plain(text: str) -> str:
    """Entry text shown literally: ``$`` would otherwise start matplotlib mathtext."""
    return text.replace("$", r"\$")


def _save(fig: Figure, out_path: Path) -> Path:
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    FigureCanvasAgg(fig)
    fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})
    tmp.replace(out_path)
    return out_path


def scaling_points(entries: Sequence[ResultEntry]) -> dict[str, list[tuple[int, float, float | None, float | None]]]:
    """Headline score against population size, per region group.

    Args:
        entries: Entries of one model revision and task; those without ``subset.region_group`` and
            ``subset.n_units`` or without a main score are left out.

    Returns:
        ``{region_group: [(n_units, value, ci_low, ci_high), ...]}`` sorted by region, then ``n_units``.
    """
    points: dict[str, list[tuple[int, float, float | None, float | None]]] = {}
    for entry in entries:
        main = find_main_metric(entry)
        if entry.subset.region_group is None or entry.subset.n_units is None or main is None:
            continue
        points.setdefault(entry.subset.region_group, []).append(
            (entry.subset.n_units, main.value, main.ci_low, main.ci_high)
        )
    return {region: sorted(pts) for region, pts in sorted(points.items())}


def plot_scaling(entries: Sequence[ResultEntry], out_path: Path, *, title: str) -> Path | None:
    """Plot the headline score (with 95 % CI bars) vs number of units, one line per region, x on a log scale.

    Args:
        entries: Entries of one model revision and task (subset entries carry the points).
        out_path: PNG file to write.
        title: Figure title.

    Returns:
        ``out_path``, or None when no entry has ``region_group`` and ``n_units`` (nothing written).
    """
    points = scaling_points(entries)
    if not points:
        return None
    metric_names = sorted({m.name for e in entries if (m := find_main_metric(e)) is not None})
    fig = Figure(figsize=(6.0, 4.0))
    ax = fig.add_subplot()
    for region, pts in points.items():
        x = np.array([p[0] for p in pts], dtype=float)
        y = np.array([p[1] for p in pts])
        low = np.array([p[1] if p[2] is None else p[2] for p in pts])
        high = np.array([p[1] if p[3] is None else p[3] for p in pts])
        ax.errorbar(x, y, yerr=np.vstack([y - low, high - y]), marker="o", capsize=3, label=_plain(region))
    ax.set_xscale("log")
    ax.set_xlabel("population size (units)")
    ax.set_ylabel(" / ".join(metric_names) + " (95 % CI)")
    ax.set_title(_plain(title), fontsize=9)
    ax.legend(title="region", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, out_path)


def plot_similarity(matrix: SimilarityMatrix, out_path: Path, *, title: str) -> Path:
    """Heatmap of a cross-population similarity matrix, shape ``(n_populations, n_populations)``.

    Args:
        matrix: Names and values (a validated square matrix).
        out_path: PNG file to write.
        title: Figure title.

    Returns:
        ``out_path``.
    """
    values = np.asarray(matrix.values, dtype=float)
    k = len(matrix.names)
    size = 3.0 + 0.4 * k
    fig = Figure(figsize=(size + 1.0, size))
    ax = fig.add_subplot()
    image = ax.imshow(values, cmap="viridis")
    ax.set_xticks(range(k), labels=[_plain(n) for n in matrix.names], rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), labels=[_plain(n) for n in matrix.names], fontsize=8)
    if k <= 12:
        for i in range(k):
            for j in range(k):
                ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=7, color="white")
    fig.colorbar(image, ax=ax, label="similarity")
    ax.set_title(_plain(title), fontsize=9)
    fig.tight_layout()
    return _save(fig, out_path)


def per_frame_series(table: FrameTable, metric: str = "sbert_matched") -> dict[str, tuple[list[int], list[float]]]:
    """One metric of a frame table as a curve per stimulus.

    Args:
        table: An entry's frame table.
        metric: A column of ``table.values``.

    Returns:
        ``{stimulus: (frames, values)}``, stimuli sorted, frames ascending.

    Raises:
        KeyError: If ``metric`` is not a column of the table; lists the columns present.
        ValueError: If ``values[metric]`` is not as long as ``frame``.
    """
    if metric not in table.values:
        raise KeyError(f"frame_table.values: no column {metric!r}; present: {metric_order(table.values)}")
    values = table.values[metric]
    if not len(table.stimulus) == len(table.frame) == len(values):
        raise ValueError(
            f"frame_table: expected stimulus, frame and values[{metric!r}] of one length, found "
            f"{len(table.stimulus)}, {len(table.frame)} and {len(values)}"
        )
    points: dict[str, list[tuple[int, float]]] = {}
    for stimulus, frame, value in zip(table.stimulus, table.frame, values, strict=True):
        points.setdefault(stimulus, []).append((frame, value))
    return {
        stimulus: ([p[0] for p in sorted(pts)], [p[1] for p in sorted(pts)]) for stimulus, pts in sorted(points.items())
    }


def plot_per_frame(table: FrameTable, out_path: Path, *, metric: str = "sbert_matched", title: str) -> Path:
    """Per-frame mean of one metric, one line per stimulus.

    Args:
        table: An entry's frame table (per-frame means of every per-sample metric).
        out_path: PNG file to write.
        metric: The column plotted.
        title: Figure title.

    Returns:
        ``out_path``.

    Raises:
        KeyError: If ``metric`` is not a column of the table.
    """
    series = per_frame_series(table, metric)
    fig = Figure(figsize=(7.0, 3.5))
    ax = fig.add_subplot()
    for stimulus, (frames, values) in series.items():
        ax.plot(frames, values, linewidth=1.0, label=_plain(stimulus))
    ax.set_xlabel("frame")
    ax.set_ylabel(_plain(f"{metric}, mean per frame"))
    ax.set_title(_plain(title), fontsize=9)
    ax.legend(title="stimulus", fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, out_path)
