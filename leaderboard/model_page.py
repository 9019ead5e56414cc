"""The per-model page of the static site: every entry of a model, newest revision first.

Per entry (one per task, subset and narrator): the narrator, how the predictions were matched and scored
(predictions sha256, fingerprint source, target model, reference captioner, statistics), every metric with
its 95 % interval, what the interval resamples (or why there is none), chance and ceiling, the per-session
metrics, plots, and the provenance. Every string taken from an entry is HTML-escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from neurrator_bench.leaderboard.markdown import dataset_label
from neurrator_bench.leaderboard.page_parts import (
    definition_list,
    esc,
    figure,
    href,
    num_cell,
    origin_badge,
    page,
    safe_stem,
    text_cell,
)
from neurrator_bench.leaderboard.plots import plot_per_frame, plot_scaling, plot_similarity
from neurrator_bench.leaderboard.store import (
    FLOOR_PATTERN,
    StoredEntry,
    entry_label,
    find_main_metric,
    format_parameters,
    format_value,
    group_by_revision,
    group_by_task,
    metric_order,
    model_slug,
)
from neurrator_bench.leaderboard.tables import entry_anchor, entry_json_path
from neurrator_bench.schemas.result_entry import MetricResult, NarratorMeta, ResultEntry, subset_slug
from neurrator_bench.scorers.metric_registry import METRICS


def _model_url(url: str | None) -> str:
    """A link for http(s) URLs only; anything else (``javascript:``, ``data:``) is shown as text."""
    if not url:
        return "-"
    if urlsplit(url).scheme.lower() in ("http", "https"):
        return f'<a href="{esc(url)}" rel="nofollow noopener noreferrer">{esc(url)}</a>'
    return esc(url)


def _direction(metric: MetricResult) -> str:
    """Direction as registered (the entry's own flag for an unregistered name)."""
    if FLOOR_PATTERN.match(metric.name):
        return "floor (reference level)"
    higher = METRICS.get(metric.name).higher_is_better if metric.name in METRICS else metric.higher_is_better
    return "higher is better" if higher else "lower is better"


def _meaning(name: str) -> str:
    if name not in METRICS:
        return ""
    spec = METRICS.get(name)
    return f"{spec.description} ({spec.paper_section}; chance: {spec.chance})"


def interval_text(metric: MetricResult) -> str:
    """What the interval resamples, or why there is none: ``"frame-blocks"``, ``"none: single split"``, ``"-"``."""
    if metric.interval:
        return metric.interval
    if metric.no_interval_reason:
        return f"none: {metric.no_interval_reason}"
    return "-"


def _metrics_table(metrics: Sequence[MetricResult]) -> str:
    headers = (
        ("metric", "text"),
        ("value", "number"),
        ("95 % CI", "number"),
        ("interval", "text"),
        ("p-value", "number"),
        ("p test", "text"),
        ("n", "number"),
        ("frames", "number"),
        ("sessions", "number"),
        ("bootstrap", "number"),
        ("chance", "number"),
        ("ceiling", "number"),
        ("direction", "text"),
        ("meaning", "text"),
    )
    head = "".join(f'<th scope="col" data-type="{t}">{esc(h)}</th>' for h, t in headers)
    by_name = {m.name: m for m in metrics}
    rows = []
    for name in metric_order(by_name, headline_first=True):
        m = by_name[name]
        ci = "-" if m.ci_low is None else f"[{format_value(m.ci_low)}, {format_value(m.ci_high)}]"
        counts = [(m.n_frames, "frames"), (m.n_sessions, "sessions")]
        cells = [
            text_cell(m.name),
            num_cell(m.value, format_value(m.value)),
            num_cell(m.ci_low, ci, title=interval_text(m)),
            text_cell(interval_text(m)),
            num_cell(m.p_value, "-" if m.p_value is None else f"{m.p_value:.3g}"),
            text_cell(m.p_test or "-"),
            num_cell(m.n, str(m.n)),
            *(num_cell(v, "-" if v is None else str(v)) for v, _ in counts),
            num_cell(m.n_boot, str(m.n_boot)),
            num_cell(m.chance, "-" if m.chance is None else f"{m.chance:.4g}"),
            num_cell(m.ceiling, "-" if m.ceiling is None else f"{m.ceiling:.4g}"),
            text_cell(_direction(m)),
            text_cell(_meaning(m.name)),
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<div class="table-wrap"><table class="sortable metrics"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _per_session_table(entry: ResultEntry) -> str:
    names = metric_order((name for s in entry.per_session for name in s.values), headline_first=True)
    head = "".join(
        f'<th scope="col" data-type="{t}">{esc(h)}</th>'
        for h, t in [("session", "text"), ("n", "number"), *((n, "number") for n in names)]
    )
    rows = []
    for s in entry.per_session:
        cells = [text_cell(s.session_id), num_cell(s.n, str(s.n))]
        cells += [num_cell(s.values.get(n), format_value(s.values.get(n))) for n in names]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<div class="table-wrap"><table class="sortable per-session"><caption>Per-session metrics (each session '
        f"scored alone)</caption><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def narrator_items(narrator: NarratorMeta | None) -> list[tuple[str, object]]:
    """Definition-list items of a narrator (``"none"`` when the predictions hold no narrations)."""
    if narrator is None:
        return [("narrator", "none (the predictions hold no narrations)")]
    return [
        ("narrator", narrator.label()),
        ("narrator kind", narrator.kind),
        ("narrator model", narrator.model_id or "-"),
        ("narrator revision", narrator.revision or "-"),
        ("narrator prompt", narrator.prompt or "-"),
        ("max new tokens", "-" if narrator.max_new_tokens is None else narrator.max_new_tokens),
        ("decoding", narrator.decoding or "-"),
    ]


def scoring_items(entry: ResultEntry) -> list[tuple[str, object]]:
    """Definition-list items of how an entry was scored: predictions, dataset matching, statistics."""
    ds, st = entry.dataset, entry.statistics
    items: list[tuple[str, object]] = [
        ("predictions sha256", entry.predictions_sha256 or "-"),
        ("fingerprint source", ds.fingerprint_source),
        ("target model", ds.target_model or "-"),
        ("reference captioner", ds.reference_captioner or "-"),
        ("retrieval gallery", ", ".join(f"{k}: {v} frames" for k, v in sorted(entry.gallery.items())) or "-"),
    ]
    if st is None:
        return [*items, ("statistics", "-")]
    return [
        *items,
        ("frames", st.n_frames),
        ("samples", st.n_samples),
        ("sessions", st.n_sessions),
        ("cluster unit", st.cluster_unit),
        ("block frames", st.block_frames),
        ("sessions resampled", "yes (outer level)" if st.session_level else "no"),
    ]


def _provenance(entry: ResultEntry) -> str:
    ds = entry.dataset
    return (
        "<details><summary>Provenance</summary>"
        + definition_list(
            [
                ("dataset", f"{dataset_label(ds.repo)} @ {ds.revision or '-'}"),
                ("fingerprint", ds.fingerprint),
                ("data origin", ds.data_origin),
                ("task version", ds.task_version),
                ("split", ds.split),
                ("subset", entry.subset.model_dump_json(exclude_none=True)),
                ("package version", entry.package_version),
                ("git hash", entry.git_hash or "-"),
                ("scorer model", f"{entry.scorer_model or '-'} @ {entry.scorer_revision or '-'}"),
                ("floor pool version", entry.floor_pool_version),
                ("seeds", ", ".join(f"{k}={v}" for k, v in sorted(entry.seeds.items()))),
                ("sessions", ", ".join(entry.sessions)),
                ("created at", entry.created_at),
                ("evaluation time", f"{entry.evaluation_time_s:.1f} s"),
                *((f"environment: {k}", v) for k, v in sorted(entry.environment.items())),
            ]
        )
        + "</details>"
    )


def _entry_section(site: Path, s: StoredEntry) -> str:
    e = s.entry
    label = entry_label(s)
    stem = safe_stem(label)
    plot_dir = f"plots/{model_slug(s.model_name)}/{s.revision}"
    anchor = entry_anchor(s)
    split = "" if e.dataset.split == "test" else f" <span class='badge final'>{esc(e.dataset.split)} test</span>"
    parts = [
        f"<section class='entry' id='{esc(anchor)}'>",
        f"<h3>{esc(s.task)}{split} <span class='muted'>{esc(s.subset or 'all units')}</span> "
        f"<span class='narrator'>narrator: {esc(s.narrator)}</span>{origin_badge(e.dataset.data_origin)} "
        f"<a class='permalink' href='#{esc(anchor)}' title='permalink to this entry'>permalink</a> "
        f"<a class='entry-json' href='../{href(entry_json_path(s))}' download>json</a></h3>",
        definition_list([*narrator_items(e.narrator), *scoring_items(e)]),
        _metrics_table(e.metrics),
    ]
    if e.skipped:
        items = "".join(f"<li><code>{esc(k.name)}</code>: {esc(k.reason)}</li>" for k in e.skipped)
        parts.append(f"<p>Not computed:</p><ul class='skipped'>{items}</ul>")
    if e.per_session:
        parts.append(_per_session_table(e))
    main = find_main_metric(e)
    if e.frame_table is not None and main is not None and main.name in e.frame_table.values:
        rel = f"{plot_dir}/{stem}-per-frame.png"
        title = f"{s.model_name}@{s.revision} {label}: {main.name} per frame"
        plot_per_frame(e.frame_table, site / rel, metric=main.name, title=title)
        parts.append(figure(f"../{rel}", f"Per-frame mean {main.name} by stimulus, {label}"))
    if e.similarity is not None:
        rel = f"{plot_dir}/{stem}-similarity.png"
        plot_similarity(e.similarity, site / rel, title=f"{s.model_name}@{s.revision} {label}: similarity")
        parts.append(figure(f"../{rel}", f"Cross-population similarity, {label}"))
    parts.append(_provenance(e))
    parts.append("</section>")
    return "\n".join(parts)


def model_html(
    site: Path,
    title: str,
    name: str,
    entries: Sequence[StoredEntry],
    *,
    interrogations: Sequence[tuple[str, str]] = (),
) -> str:
    """The page of one model: metadata, then each revision (newest first), task and entry.

    Args:
        site: The site folder being built (plots are written below it).
        title: Site title.
        name: Model name.
        entries: Every entry of the model.
        interrogations: (label, site-relative href) of the model's interrogation reports.

    Returns:
        The page HTML.
    """
    revisions = group_by_revision(entries)
    newest = revisions[list(revisions)[-1]]
    # the model's metadata is read from a full-population entry of the newest revision when there is one
    latest = next((s for s in newest if not subset_slug(s.entry.subset)), newest[0]).entry.model
    narrators = sorted({s.narrator for s in entries})
    parts = [f"<p><a href='../index.html'>&larr; {esc(title)}</a></p>", f"<h1>{esc(name)}</h1>"]
    parts.append(
        definition_list(
            [
                ("kind", latest.kind or "-"),
                ("parameters", format_parameters(latest.n_parameters)),
                ("license", latest.license or "-"),
                ("training sessions", ", ".join(latest.training_sessions) or "-"),
                ("revisions", ", ".join(revisions)),
                ("narrators", ", ".join(narrators)),
            ],
            trusted_html=[("url", _model_url(latest.url))],
        )
    )
    if interrogations:
        items = "".join(f"<li><a href='../{href(link)}'>{esc(label)}</a></li>" for label, link in interrogations)
        parts.append(f"<h2>What its populations see (interrogate)</h2><ul>{items}</ul>")
    for revision in reversed(revisions):
        rev_entries = sorted(revisions[revision], key=lambda s: (s.task, s.narrator, s.subset))
        parts.append(f"<h2>revision {esc(revision)}</h2>")
        for task, task_entries in group_by_task(rev_entries).items():
            for narrator in sorted({s.narrator for s in task_entries}):
                same = [s for s in task_entries if s.narrator == narrator]
                rel = f"plots/{model_slug(name)}/{revision}/{safe_stem(task + ' ' + narrator)}-scaling.png"
                written = plot_scaling(
                    [s.entry for s in same],
                    site / rel,
                    title=f"{name}@{revision} {task} (narrator {narrator}): score vs population",
                )
                if written is not None:
                    parts.append(
                        figure(f"../{rel}", f"{task} (narrator {narrator}): main score vs population size by region")
                    )
            parts.extend(_entry_section(site, s) for s in task_entries)
    return page(f"{name} - {title}", "\n".join(parts), root="../")
