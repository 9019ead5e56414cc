"""The static leaderboard site: opens from disk (file://), no server, no network, no CDN.

``index.html`` holds one sortable table per task: the ranked models, then the floor models as unranked
rows labelled "reference level" in a table body of their own (sorting reorders the ranked rows only);
``models/<model slug>.html`` lists every metric of every entry of a model with its metadata and plots
(``plots/``); ``leaderboard.md`` is the markdown version. Datasets are named by Hub repo id, or by folder
name for a local path.
Only validated entries are rendered, and every string taken from an entry is HTML-escaped; no inline
script or event handler is ever written, and a Content-Security-Policy forbids them.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.parse import quote, urlsplit

from neurrator_bench.atomic_files import write_text_atomic
from neurrator_bench.leaderboard.markdown import (
    REFERENCE_LEVEL_LABEL,
    dataset_label,
    render_markdown,
    split_reference_levels,
)
from neurrator_bench.leaderboard.plots import plot_per_frame, plot_scaling, plot_similarity
from neurrator_bench.leaderboard.store import (
    CKA_METRIC,
    FLOOR_PATTERN,
    R10_METRIC,
    StoredEntry,
    find_main_metric,
    find_metric,
    floor_names,
    format_parameters,
    format_score,
    format_value,
    group_by_model,
    group_by_revision,
    group_by_task,
    load_entries,
    model_slug,
    ranked_full_population,
)
from neurrator_bench.leaderboard.validate import raise_if_invalid, validate_results
from neurrator_bench.provenance import origin_badge_text
from neurrator_bench.schemas.result_entry import MetricResult
from neurrator_bench.scorers.metric_registry import METRICS

logger = logging.getLogger(__name__)

ASSETS_DIR = Path(__file__).with_name("assets")
ASSET_FILES = ("leaderboard.css", "leaderboard.js")
SITE_MARKER = ".neurrator-leaderboard"
CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:"


def esc(value: object) -> str:
    """HTML-escape any value for element text and double-quoted attributes (``& < > " '``)."""
    return html.escape(str(value), quote=True)


def _href(path: str) -> str:
    """A relative URL for a generated path: percent-encoded, then escaped for an attribute."""
    return esc(quote(path))


def _safe_stem(text: str) -> str:
    """A file-name stem for any text: readable part plus a short hash so distinct texts never collide."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")[:60] or "x"
    return f"{readable}-{hashlib.sha1(text.encode('utf-8')).hexdigest()[:8]}"  # noqa: S324 (names, not security)


def _page(title: str, body: str, *, root: str) -> str:
    """A complete HTML page; ``root`` is the relative path to the site root (``""`` or ``"../"``)."""
    return (
        "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        "<meta name='viewport' content='width=device-width, initial-scale=1'>\n"
        "<meta name='generator' content='neurrator-bench leaderboard'>\n"
        '<link rel="icon" href="data:,">\n'
        f'<link rel="stylesheet" href="{root}assets/leaderboard.css">\n'
        f"<title>{esc(title)}</title>\n"
        f'<script src="{root}assets/leaderboard.js" defer></script>\n'
        f"</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _num_cell(sort_value: float | int | None, text: str) -> str:
    key = "" if sort_value is None else repr(sort_value)
    return f'<td class="num" data-sort="{esc(key)}">{esc(text)}</td>'


def _text_cell(text: str, inner_html: str | None = None) -> str:
    return f'<td data-sort="{esc(text)}">{esc(text) if inner_html is None else inner_html}</td>'


def _metric_cell(metric: MetricResult | None) -> str:
    return _num_cell(None if metric is None else metric.value, format_score(metric))


def _short_label(name: str) -> str:
    """Column label: ``sbert_off_topic_floor`` -> ``off topic floor``; other names unchanged."""
    if FLOOR_PATTERN.match(name):
        return name.removeprefix("sbert_").replace("_", " ")
    return name


def _entry_cells(s: StoredEntry, floors: Sequence[str]) -> list[str]:
    """Every cell of a task-table row after the rank cell."""
    main = find_main_metric(s.entry)
    slug = model_slug(s.model_name)
    link = f'<a href="{_href(f"models/{slug}.html")}">{esc(s.model_name)}</a>'
    return [
        _text_cell(s.model_name, link),
        _text_cell(s.revision),
        _text_cell(s.entry.model.kind or ""),
        _text_cell(main.name if main else ""),
        _metric_cell(main),
        *(_metric_cell(find_metric(s.entry, f)) for f in floors),
        _metric_cell(find_metric(s.entry, R10_METRIC)),
        _metric_cell(find_metric(s.entry, CKA_METRIC)),
        _num_cell(s.entry.model.n_parameters, format_parameters(s.entry.model.n_parameters)),
        _num_cell(main.n if main else None, str(main.n) if main else "-"),
    ]


def _origin_badge(origin: str) -> str:
    """A visible badge beside scores on simulated (or unverified) sessions; nothing for real data."""
    text = origin_badge_text(origin)
    if text is None:
        return ""
    return f' <span class="badge simulated" title="data origin: {esc(origin)}">{esc(text)}</span>'


def _task_table(task: str, entries: Sequence[StoredEntry]) -> str:
    full = ranked_full_population(entries)
    if not full:
        return f"<h2>{esc(task)}</h2>\n<p class='muted'>Only subset entries for this task (see the model pages).</p>"
    models, levels = split_reference_levels(full)
    floors = floor_names(s.entry for s in full)
    ds = full[0].entry.dataset
    headers = [("#", "number"), ("model", "text"), ("revision", "text"), ("kind", "text"), ("main metric", "text")]
    headers += [("main score (95 % CI)", "number"), *((f, "number") for f in floors), ("R@10", "number")]
    headers += [("CKA", "number"), ("parameters", "number"), ("n", "number")]
    head = "".join(
        f'<th scope="col" data-type="{kind}" title="{esc(name)}">{esc(_short_label(name))}</th>'
        for name, kind in headers
    )
    rows = [
        "<tr>" + _num_cell(rank, str(rank)) + "".join(_entry_cells(s, floors)) + "</tr>"
        for rank, s in enumerate(models, start=1)
    ]
    label = f'<td class="reference-label" data-sort="">{esc(REFERENCE_LEVEL_LABEL)}</td>'
    level_rows = ['<tr class="reference-level">' + label + "".join(_entry_cells(s, floors)) + "</tr>" for s in levels]
    caption = (
        f"Dataset {esc(dataset_label(ds.repo))} (revision {esc(ds.revision or '-')}, fingerprint "
        f"{esc(ds.fingerprint)}, task version {esc(ds.task_version)}, data origin {esc(ds.data_origin)}). "
        "Main score: sbert_matched, else retrieval_r10. Click a header to sort."
    )
    if levels:
        caption += (
            f" Rows labelled &ldquo;{esc(REFERENCE_LEVEL_LABEL)}&rdquo; are floor models (what content-free "
            "predictions score): shown for comparison, not ranked."
        )
    body = "<tbody>\n" + "\n".join(rows) + "\n</tbody>\n"
    if levels:
        body += '<tbody class="reference-levels">\n' + "\n".join(level_rows) + "\n</tbody>\n"
    return (
        f"<h2 id='task-{esc(_safe_stem(task))}'>{esc(task)}{_origin_badge(ds.data_origin)}</h2>\n"
        f'<div class="table-wrap"><table class="sortable leaderboard" data-task="{esc(task)}">\n'
        f"<caption>{caption}</caption>\n<thead><tr>{head}</tr></thead>\n{body}</table></div>"
    )


def _index_html(title: str, stored: Sequence[StoredEntry]) -> str:
    parts = [f"<h1>{esc(title)}</h1>"]
    parts.append(
        "<p class='muted'>Spike-to-language decoding on Allen Brain Observatory Neuropixels (BO1.1). "
        "Every score carries its 95 % bootstrap confidence interval. "
        "<a href='leaderboard.md'>Markdown version</a>.</p>"
    )
    if not stored:
        parts.append("<p>No result entries.</p>")
    for task, entries in group_by_task(stored).items():
        parts.append(_task_table(task, entries))
    models = group_by_model(stored)
    if models:
        items = "".join(
            f'<li><a href="{_href(f"models/{model_slug(name)}.html")}">{esc(name)}</a> '
            f"<span class='muted'>({len(entries)} entries)</span></li>"
            for name, entries in models.items()
        )
        parts.append(f"<h2>Models</h2>\n<ul class='models'>{items}</ul>")
    return _page(title, "\n".join(parts), root="")


def _dl(items: Iterable[tuple[str, object]], *, trusted_html: Iterable[tuple[str, str]] = ()) -> str:
    """A definition list; ``items`` values are escaped, ``trusted_html`` values must be built with :func:`esc`."""
    rows = [f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items]
    rows += [f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in trusted_html]
    return "<dl class='meta'>" + "".join(rows) + "</dl>"


def _model_url(url: str | None) -> str:
    """A link for http(s) URLs only; anything else (``javascript:``, ``data:``) is shown as text."""
    if not url:
        return "-"
    if urlsplit(url).scheme.lower() in ("http", "https"):
        return f'<a href="{esc(url)}" rel="nofollow noopener noreferrer">{esc(url)}</a>'
    return esc(url)


def _direction(metric: MetricResult) -> str:
    if FLOOR_PATTERN.match(metric.name):
        return "floor (reference level)"
    return "higher is better" if metric.higher_is_better else "lower is better"


def _metrics_table(metrics: Sequence[MetricResult]) -> str:
    head = "".join(
        f'<th scope="col" data-type="{t}">{h}</th>'
        for h, t in (
            ("metric", "text"),
            ("value", "number"),
            ("95 % CI", "number"),
            ("p-value", "number"),
            ("n", "number"),
            ("bootstrap", "number"),
            ("direction", "text"),
            ("meaning", "text"),
        )
    )
    rows = []
    for m in metrics:
        spec = METRICS.get(m.name) if m.name in METRICS else None
        ci = "-" if m.ci_low is None else f"[{format_value(m.ci_low)}, {format_value(m.ci_high)}]"
        meaning = "" if spec is None else f"{spec.description} ({spec.paper_section}; chance: {spec.chance})"
        cells = [
            _text_cell(m.name),
            _num_cell(m.value, format_value(m.value)),
            _num_cell(m.ci_low, ci),
            _num_cell(m.p_value, "-" if m.p_value is None else f"{m.p_value:.3g}"),
            _num_cell(m.n, str(m.n)),
            _num_cell(m.n_boot, str(m.n_boot)),
            _text_cell(_direction(m)),
            _text_cell(meaning),
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<div class="table-wrap"><table class="sortable metrics"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _figure(src: str, caption: str) -> str:
    return f'<figure><img src="{_href(src)}" alt="{esc(caption)}"><figcaption>{esc(caption)}</figcaption></figure>'


def _entry_section(site: Path, s: StoredEntry) -> str:
    e = s.entry
    label = f"{s.task}{s.subset}"
    stem = _safe_stem(label)
    plot_dir = f"plots/{model_slug(s.model_name)}/{s.revision}"
    parts = [
        f"<h3>{esc(s.task)} <span class='muted'>{esc(s.subset or 'all units')}</span>"
        f"{_origin_badge(e.dataset.data_origin)}</h3>"
    ]
    parts.append(_metrics_table(e.metrics))
    if e.skipped:
        items = "".join(f"<li><code>{esc(k.name)}</code>: {esc(k.reason)}</li>" for k in e.skipped)
        parts.append(f"<p>Not computed:</p><ul class='skipped'>{items}</ul>")
    if e.per_frame:
        rel = f"{plot_dir}/{stem}-per-frame.png"
        plot_per_frame(e.per_frame, site / rel, title=f"{s.model_name}@{s.revision} {label}: per-frame score")
        parts.append(_figure(f"../{rel}", f"Per-frame score over the movie, {label}"))
    if e.similarity is not None:
        rel = f"{plot_dir}/{stem}-similarity.png"
        plot_similarity(e.similarity, site / rel, title=f"{s.model_name}@{s.revision} {label}: similarity")
        parts.append(_figure(f"../{rel}", f"Cross-population similarity, {label}"))
    ds = e.dataset
    parts.append(
        "<details><summary>Provenance</summary>"
        + _dl(
            [
                ("dataset", f"{dataset_label(ds.repo)} @ {ds.revision or '-'}"),
                ("fingerprint", ds.fingerprint),
                ("data origin", ds.data_origin),
                ("task version", ds.task_version),
                ("split", ds.split),
                ("subset", e.subset.model_dump_json(exclude_none=True)),
                ("package version", e.package_version),
                ("git hash", e.git_hash or "-"),
                ("scorer model", f"{e.scorer_model or '-'} @ {e.scorer_revision or '-'}"),
                ("floor pool version", e.floor_pool_version),
                ("seeds", ", ".join(f"{k}={v}" for k, v in sorted(e.seeds.items()))),
                ("sessions", ", ".join(e.sessions)),
                ("created at", e.created_at),
                ("evaluation time", f"{e.evaluation_time_s:.1f} s"),
                *((f"environment: {k}", v) for k, v in sorted(e.environment.items())),
            ]
        )
        + "</details>"
    )
    return "\n".join(parts)


def _model_html(site: Path, title: str, name: str, entries: Sequence[StoredEntry]) -> str:
    revisions = group_by_revision(entries)
    latest = revisions[list(revisions)[-1]][0].entry.model
    parts = [f"<p><a href='../index.html'>&larr; {esc(title)}</a></p>", f"<h1>{esc(name)}</h1>"]
    parts.append(
        _dl(
            [
                ("kind", latest.kind or "-"),
                ("parameters", format_parameters(latest.n_parameters)),
                ("license", latest.license or "-"),
                ("training sessions", ", ".join(latest.training_sessions) or "-"),
                ("revisions", ", ".join(revisions)),
            ],
            trusted_html=[("url", _model_url(latest.url))],
        )
    )
    for revision in reversed(revisions):
        rev_entries = sorted(revisions[revision], key=lambda s: (s.task, s.subset))
        parts.append(f"<h2>revision {esc(revision)}</h2>")
        for task, task_entries in group_by_task(rev_entries).items():
            rel = f"plots/{model_slug(name)}/{revision}/{_safe_stem(task)}-scaling.png"
            written = plot_scaling(
                [s.entry for s in task_entries], site / rel, title=f"{name}@{revision} {task}: score vs population"
            )
            if written is not None:
                parts.append(_figure(f"../{rel}", f"{task}: main score vs population size by region"))
            parts.extend(_entry_section(site, s) for s in task_entries)
    return _page(f"{name} - {title}", "\n".join(parts), root="../")


def _replace_dir(staging: Path, out_dir: Path) -> None:
    """Swap ``staging`` in as ``out_dir``; only an earlier site (marker file) or an empty folder is replaced."""
    if out_dir.exists():
        if not out_dir.is_dir() or (any(out_dir.iterdir()) and not (out_dir / SITE_MARKER).is_file()):
            raise FileExistsError(
                f"site folder {out_dir}: expected a missing, empty or earlier leaderboard folder (with "
                f"{SITE_MARKER}), found other content; refusing to overwrite it"
            )
        old = out_dir.with_name(f".{out_dir.name}.old")
        if old.exists():
            shutil.rmtree(old)
        out_dir.replace(old)
        staging.replace(out_dir)
        shutil.rmtree(old)
    else:
        staging.replace(out_dir)


def build_site(results_dir: Path, out_dir: Path, *, title: str = "neurrator-bench leaderboard") -> Path:
    """Validate a results folder and render the static leaderboard site.

    Writes ``index.html`` (a sortable table per task: model, revision, main score with 95 % CI, each
    floor, R@10, CKA, parameter count, n; floor models as unranked "reference level" rows after the ranked
    ones), ``models/<slug>.html`` (every metric of every entry with CI,
    p-value and metadata), ``plots/**.png`` (score vs population size by region, similarity heatmaps,
    per-frame curves), ``assets/`` (CSS and JS) and ``leaderboard.md``. The folder is built beside
    ``out_dir`` and swapped in when complete.

    Args:
        results_dir: The results folder (``<model>/<revision>/<task><subset>.json``).
        out_dir: The site folder; must be missing, empty or an earlier site.
        title: Page title.

    Returns:
        The path of ``index.html``.

    Raises:
        ResultEntryError: If validation finds problems (all listed; nothing is rendered).
        FileNotFoundError: If ``results_dir`` is not a folder.
        FileExistsError: If ``out_dir`` holds something other than an earlier site.
    """
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    raise_if_invalid(results_dir, validate_results(results_dir))
    stored = load_entries(results_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        for name in ASSET_FILES:
            (staging / "assets").mkdir(exist_ok=True)
            shutil.copyfile(ASSETS_DIR / name, staging / "assets" / name)
        for name, entries in group_by_model(stored).items():
            write_text_atomic(
                staging / "models" / f"{model_slug(name)}.html", _model_html(staging, title, name, entries)
            )
        write_text_atomic(staging / "index.html", _index_html(title, stored))
        write_text_atomic(staging / "leaderboard.md", render_markdown((s.entry for s in stored), title=title))
        write_text_atomic(staging / SITE_MARKER, "generated by neurrator-bench; this folder is replaced on rebuild\n")
        staging.chmod(0o755)
        _replace_dir(staging, out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    logger.info("leaderboard site with %d entries written to %s", len(stored), out_dir)
    return out_dir / "index.html"
