"""Reference model and baselines side by side, and paired comparisons of two entries.

:func:`compare_table`: one column per (model, narrator) (its latest revision by ``created_at``, full
population), one row per (task, metric) in the metric registry's order; the best value of each ranked
metric within a task is bold (floors are reference levels, not ranked). Two narrators of one model are
two columns, never one.

:func:`paired_compare`: two entries of one task and dataset, metric by metric, as the mean per-frame
difference with its 95 % paired block-bootstrap interval over the frames of their frame tables
(:func:`neurrator_bench.scorers.frame_stats.paired_frame_difference`).
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
    REFERENCE_KINDS,
    StoredEntry,
    created_at,
    find_metric,
    format_parameters,
    format_value,
    frame_values,
    group_by_task,
    load_entries,
    metric_order,
    model_slug,
    narrator_label,
)
from neurrator_bench.leaderboard.validate import raise_if_invalid, validate_results
from neurrator_bench.provenance import origin_badge_text
from neurrator_bench.schemas.result_entry import MetricResult, ResultEntry, read_entry
from neurrator_bench.scorers.frame_stats import PairedDifference, paired_frame_difference
from neurrator_bench.scorers.metric_registry import METRICS

Column = tuple[str, str]  # (model slug, narrator label)


def latest_full_population(entries: Sequence[StoredEntry]) -> list[StoredEntry]:
    """For each (task, model, narrator), the full-population entry of the latest revision (by ``created_at``).

    Args:
        entries: Validated entries.

    Returns:
        One entry per (task, model, narrator), in input order of first appearance.
    """
    latest: dict[tuple[str, str, str], StoredEntry] = {}
    for s in entries:
        if s.subset:
            continue
        key = (s.board, model_slug(s.model_name), s.narrator)
        if key not in latest or created_at(s.entry) > created_at(latest[key].entry):
            latest[key] = s
    return list(latest.values())


def _column(s: StoredEntry) -> Column:
    return (model_slug(s.model_name), s.narrator)


def _metric_rows(entries: Sequence[StoredEntry]) -> list[str]:
    """The metrics present in ``entries``: the headline metrics first, then the registry's order."""
    return metric_order((m.name for s in entries for m in s.entry.metrics), headline_first=True)


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


def _column_order(entries: Sequence[StoredEntry]) -> list[Column]:
    """(model slug, narrator) columns: reference models first, then the rest, each by model, then narrator."""
    kinds = {_column(s): s.entry.model.kind for s in entries}
    return sorted(kinds, key=lambda col: (kinds[col] not in REFERENCE_KINDS, col[0].casefold(), col[1].casefold()))


def compare_table(results_dir: Path, *, task: str | None = None) -> Table:
    """Build a table of the reference model and baselines side by side, every metric with its 95 % CI.

    Rows are a task header (revisions) followed by its metrics (headline metrics first, then the metric
    registry's order); columns are (model, narrator) pairs (latest revision, full population), reference
    models first, each headed by the model name and its narrator label (``-``: no narrations). A cell
    reads ``value [ci_low, ci_high]`` (and ``p=`` when the metric has a p-value); the best value of a
    ranked metric within a task is bold.

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
    models = _column_order(shown)
    table = Table(
        title=f"neurrator-bench results in {results_dir}",
        caption="value [95 % CI]; one column per model and narrator; bold: best per task and metric "
        "(floors are reference levels, not ranked)",
    )
    table.add_column("task / metric", no_wrap=True)
    for col in models:
        first = next(s for s in shown if _column(s) == col)
        meta = first.entry.model
        params = format_parameters(meta.n_parameters)
        header = f"{meta.name}\nnarrator: {first.narrator}\n{meta.kind or '-'}, {params} params"
        table.add_column(Text(header), justify="right")
    for i, (task_name, entries) in enumerate(groups.items()):
        if i:
            table.add_section()
        by_model = {_column(s): s for s in entries}
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


def paired_compare(
    entry_a: ResultEntry,
    entry_b: ResultEntry,
    metrics: Sequence[str] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    *,
    labels: tuple[str, str] = ("entry A", "entry B"),
) -> list[PairedDifference]:
    """Paired per-frame differences ``A - B`` of two entries, one per metric of both frame tables.

    Args:
        entry_a: Entry A.
        entry_b: Entry B, scored on the same task and dataset fingerprint.
        metrics: Metrics to compare, in this order (default: every column of both frame tables, in the
            metric registry's order).
        n_boot: Block-bootstrap replicates.
        seed: Base seed of the replicates.
        labels: How errors name the two entries (their files, for the CLI).

    Returns:
        One :class:`~neurrator_bench.scorers.frame_stats.PairedDifference` per metric: the mean over frames
        of ``a_f - b_f`` with its 95 % interval, two-sided p and the number of frames.

    Raises:
        ValueError: If the entries differ in task or dataset fingerprint, one has no frame table, no metric
            is common to both, or the frame sets differ; names both entries and the field.
        KeyError: If a requested metric is not a column of both frame tables; lists those that are.
    """
    a_label, b_label = labels
    for field in ("task", "fingerprint", "split"):
        a_value, b_value = getattr(entry_a.dataset, field), getattr(entry_b.dataset, field)
        if a_value != b_value:
            raise ValueError(
                f"{a_label} and {b_label}: field 'dataset.{field}' differs ({a_value!r} vs {b_value!r}); a paired "
                "comparison needs two entries scored on the same task and dataset"
            )
    table_a, table_b = entry_a.frame_table, entry_b.frame_table
    for label, table in ((a_label, table_a), (b_label, table_b)):
        if table is None:
            raise ValueError(f"{label}: field 'frame_table' is empty; a paired comparison needs per-frame values")
    available = metric_order(set(table_a.values) & set(table_b.values))
    if metrics is None:
        if not available:
            raise ValueError(
                f"{a_label} and {b_label}: field 'frame_table.values' has no metric in common (A: "
                f"{metric_order(table_a.values)}, B: {metric_order(table_b.values)})"
            )
        metrics = available
    unknown = [name for name in metrics if name not in available]
    if unknown:
        raise KeyError(
            f"metric(s) {unknown}: not in the frame tables of both {a_label} and {b_label}; available: {available}"
        )
    out = []
    for name in metrics:
        try:
            a, b = frame_values(table_a, name), frame_values(table_b, name)
            out.append(paired_frame_difference(name, a, b, n_boot=n_boot, seed=seed))
        except ValueError as exc:
            raise ValueError(f"{a_label} vs {b_label}: {exc}") from exc
    return out


def _frame_mean(entry: ResultEntry, metric: str) -> float:
    values = entry.frame_table.values[metric]
    return sum(values) / len(values)


def _side(label: str, entry: ResultEntry) -> str:
    return f"{label}: {entry.model.name}@{entry.model.revision}\nnarrator: {narrator_label(entry.narrator)}"


def paired_table(
    path_a: Path,
    path_b: Path,
    *,
    metrics: Sequence[str] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> Table:
    """Read two entry files and tabulate :func:`paired_compare`, one row per metric.

    Columns: metric, A and B (mean over frames of each frame table), ``A - B`` with its 95 % paired
    block-bootstrap interval, the two-sided p, the number of frames.

    Args:
        path_a: Entry file A.
        path_b: Entry file B.
        metrics: Metrics to compare (default: every metric of both frame tables).
        n_boot: Block-bootstrap replicates.
        seed: Base seed.

    Returns:
        A ``rich.table.Table``.

    Raises:
        ResultEntryError: If a file is not a valid entry (names the file and field).
        ValueError: See :func:`paired_compare` (errors name both files).
        KeyError: If a requested metric is not in both frame tables.
    """
    entry_a, entry_b = read_entry(Path(path_a)), read_entry(Path(path_b))
    diffs = paired_compare(entry_a, entry_b, metrics, n_boot, seed, labels=(str(path_a), str(path_b)))
    badge = origin_badge_text(entry_a.dataset.data_origin)
    table = Table(
        title=f"paired comparison on {entry_a.dataset.task}"
        + (f" ({badge.upper()})" if badge else "")
        + f"\nA: {path_a}\nB: {path_b}",
        caption=f"A, B: mean over frames of each frame table; A - B: mean per-frame difference [95 % paired block "
        f"bootstrap over frames, {n_boot} replicates, seed {seed}]; p: two-sided",
    )
    table.add_column("metric", no_wrap=True)
    table.add_column(Text(_side("A", entry_a)), justify="right")
    table.add_column(Text(_side("B", entry_b)), justify="right")
    table.add_column("A - B [95 % CI]", justify="right", no_wrap=True)
    table.add_column("p (two-sided)", justify="right")
    table.add_column("frames", justify="right")
    for d in diffs:
        diff = Text(f"{d.difference:+.4f} [{d.low:+.4f}, {d.high:+.4f}]", style="bold" if d.significant else "")
        table.add_row(
            d.metric,
            format_value(_frame_mean(entry_a, d.metric), 4),
            format_value(_frame_mean(entry_b, d.metric), 4),
            diff,
            f"{d.p_two_sided:.3g}",
            str(d.n_frames),
        )
    return table


def render_paired(
    path_a: Path,
    path_b: Path,
    *,
    metrics: Sequence[str] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    width: int = 140,
) -> str:
    """Render :func:`paired_table` as plain text for the CLI to echo (same arguments, plus ``width``)."""
    console = Console(file=io.StringIO(), width=width, record=True, color_system=None, force_terminal=False)
    console.print(paired_table(path_a, path_b, metrics=metrics, n_boot=n_boot, seed=seed))
    return console.export_text(styles=False)
