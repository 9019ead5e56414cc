"""Reference model and baselines side by side: every metric with its 95 % CI, as a rich table.

One column per model (its latest revision by ``created_at``, full population), one row per (task, metric);
the best value of each ranked metric within a task is bold (floors are reference levels, not ranked).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from neurrator_bench.leaderboard.store import (
    FLOOR_PATTERN,
    MAIN_METRICS,
    REFERENCE_KINDS,
    StoredEntry,
    created_at,
    find_metric,
    format_parameters,
    format_value,
    group_by_task,
    load_entries,
    model_slug,
)
from neurrator_bench.leaderboard.validate import raise_if_invalid, validate_results
from neurrator_bench.provenance import origin_badge_text
from neurrator_bench.schemas.result_entry import MetricResult
from neurrator_bench.scorers.metric_registry import METRICS

METRIC_ORDER = (
    *MAIN_METRICS,
    "sbert_word_salad_floor",
    "sbert_off_topic_floor",
    "sbert_shuffled_floor",
    "sbert_delta_word_salad",
    "sbert_delta_off_topic",
    "sbert_delta_shuffled",
    "retrieval_r1",
    "retrieval_r5",
    "retrieval_median_rank",
    "cka_linear",
    "knn_purity",
    "celltype_accuracy",
    "distinct_narration_ratio",
)


def latest_full_population(entries: Sequence[StoredEntry]) -> list[StoredEntry]:
    """For each (task, model), the full-population entry of the latest revision (by ``created_at``).

    Args:
        entries: Validated entries.

    Returns:
        One entry per (task, model), in input order of first appearance.
    """
    latest: dict[tuple[str, str], StoredEntry] = {}
    for s in entries:
        if s.subset:
            continue
        key = (s.task, model_slug(s.model_name))
        if key not in latest or created_at(s.entry) > created_at(latest[key].entry):
            latest[key] = s
    return list(latest.values())


def _metric_rows(entries: Sequence[StoredEntry]) -> list[str]:
    present = {m.name for s in entries for m in s.entry.metrics}
    ordered = [name for name in METRIC_ORDER if name in present]
    return ordered + sorted(present - set(ordered))


def _best(entries: Sequence[StoredEntry], name: str) -> float | None:
    """The best value of a ranked metric among ``entries`` (None for floors, unknown or absent metrics)."""
    if FLOOR_PATTERN.match(name) or name not in METRICS:
        return None
    values = [m.value for s in entries if (m := find_metric(s.entry, name)) is not None]
    if not values:
        return None
    return max(values) if METRICS.get(name).higher_is_better else min(values)


def _cell(metric: MetricResult | None, best: float | None) -> Text:
    if metric is None:
        return Text("-", style="dim")
    text = Text(format_value(metric.value), style="bold" if best is not None and metric.value == best else "")
    if metric.ci_low is not None and metric.ci_high is not None:
        text.append(f" [{format_value(metric.ci_low)}, {format_value(metric.ci_high)}]", style="dim")
    if metric.p_value is not None:
        text.append(f"\np={metric.p_value:.2g}", style="dim")
    return text


def _model_order(entries: Sequence[StoredEntry]) -> list[str]:
    """Model slugs: reference models first, then the rest, each alphabetically."""
    kinds = {model_slug(s.model_name): s.entry.model.kind for s in entries}
    return sorted(kinds, key=lambda slug: (kinds[slug] not in REFERENCE_KINDS, slug.casefold()))


def compare_table(results_dir: Path, *, task: str | None = None) -> Table:
    """Build a table of the reference model and baselines side by side, every metric with its 95 % CI.

    Rows are a task header (revisions) followed by its metrics; columns are models (latest revision,
    full population), reference models first. A cell reads ``value [ci_low, ci_high]`` (and ``p=`` when
    the metric has a p-value); the best value of a ranked metric within a task is bold.

    Args:
        results_dir: The results folder; it is validated first.
        task: Restrict to one task (default: every task, one table section each).

    Returns:
        A ``rich.table.Table``.

    Raises:
        ResultEntryError: If the results folder is invalid.
        FileNotFoundError: If ``results_dir`` is not a folder.
        KeyError: If ``task`` has no full-population entry; lists the tasks present.
        ValueError: If the folder holds no full-population entry at all.
    """
    results_dir = Path(results_dir)
    raise_if_invalid(results_dir, validate_results(results_dir))
    chosen = latest_full_population(load_entries(results_dir))
    if not chosen:
        raise ValueError(f"results folder {results_dir}: expected full-population entries, found none")
    groups = group_by_task(chosen)
    if task is not None:
        if task not in groups:
            raise KeyError(f"task {task!r}: no full-population entries in {results_dir}; tasks present: {list(groups)}")
        groups = {task: groups[task]}
    shown = [s for g in groups.values() for s in g]
    models = _model_order(shown)
    table = Table(
        title=f"neurrator-bench results in {results_dir}",
        caption="value [95 % CI]; bold: best per task and metric (floors are reference levels, not ranked)",
    )
    table.add_column("task / metric", no_wrap=True)
    for slug in models:
        first = next(s for s in shown if model_slug(s.model_name) == slug)
        meta = first.entry.model
        header = f"{meta.name}\n{meta.kind or '-'}, {format_parameters(meta.n_parameters)} params"
        table.add_column(Text(header), justify="right")
    for i, (task_name, entries) in enumerate(groups.items()):
        if i:
            table.add_section()
        by_model = {model_slug(s.model_name): s for s in entries}
        badge = origin_badge_text(entries[0].entry.dataset.data_origin)
        label = Text(task_name, style="bold")
        if badge:
            label.append(f" ({badge.upper()})", style="bold red")
        table.add_row(
            label,
            *(Text(f"revision {by_model[m].revision}" if m in by_model else "-", style="dim") for m in models),
        )
        for name in _metric_rows(entries):
            best = _best(entries, name)
            table.add_row(
                Text(f"  {name}"),
                *(_cell(find_metric(by_model[m].entry, name) if m in by_model else None, best) for m in models),
            )
    return table


def render_compare(results_dir: Path, task: str | None = None, width: int = 140) -> str:
    """Render :func:`compare_table` as plain text for the CLI to echo.

    Args:
        results_dir: The results folder.
        task: Restrict to one task (default: all).
        width: Console width in characters.

    Returns:
        The table as text (no ANSI styles).
    """
    console = Console(file=io.StringIO(), width=width, record=True, color_system=None, force_terminal=False)
    console.print(compare_table(results_dir, task=task))
    return console.export_text(styles=False)
