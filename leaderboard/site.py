"""The static leaderboard site: opens from disk (file://), no server, no network, no CDN.

``index.html`` holds one sortable table per task: the ranked rows, then the floor models as unranked
rows labelled "reference level" in a table body of their own (sorting reorders the ranked rows only).
A row is (model, revision, narrator), with the narrator in a column of its own; the "vs above" column
marks a row whose main score is not significantly different from the row above (``≈``, paired block
bootstrap over frames, 95 %; the tooltip gives the difference) or says "not paired".
``models/<model slug>.html`` (:mod:`neurrator_bench.leaderboard.model_page`) lists every metric of every
entry of a model with its metadata and plots (``plots/``); ``leaderboard.md`` is the markdown version.
Datasets are named by Hub repo id, or by folder name for a local path.
Only validated entries are rendered, and every string taken from an entry is HTML-escaped; no inline
script or event handler is ever written, and a Content-Security-Policy forbids them.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from neurrator_bench.atomic_files import write_text_atomic
from neurrator_bench.leaderboard.markdown import (
    REFERENCE_LEVEL_LABEL,
    dataset_label,
    render_markdown,
    split_reference_levels,
)
from neurrator_bench.leaderboard.model_page import model_html
from neurrator_bench.leaderboard.page_parts import (
    esc,
    href,
    metric_cell,
    num_cell,
    origin_badge,
    page,
    safe_stem,
    text_cell,
)
from neurrator_bench.leaderboard.store import (
    CKA_METRIC,
    FLOOR_PATTERN,
    INCOMPLETE_GROUP,
    NOT_PAIRED_LEGEND,
    NOT_PAIRED_MARK,
    NOT_SIGNIFICANT_LEGEND,
    NOT_SIGNIFICANT_MARK,
    R10_METRIC,
    RANKING_RULES,
    SCORER_SPACE_LEGEND,
    SCORER_SPACE_MARK,
    SELF_REPORTED_GROUP,
    RowPairing,
    StoredEntry,
    coverage_label,
    find_main_metric,
    find_metric,
    floor_names,
    format_parameters,
    group_by_model,
    group_by_task,
    load_entries,
    model_slug,
    pair_adjacent_rows,
    rank_groups,
    ranked_full_population,
    session_coverage,
    status_label,
)
from neurrator_bench.leaderboard.validate import raise_if_invalid, validate_results

logger = logging.getLogger(__name__)

ASSETS_DIR = Path(__file__).with_name("assets")
ASSET_FILES = ("leaderboard.css", "leaderboard.js")
SITE_MARKER = ".neurrator-leaderboard"


def _short_label(name: str) -> str:
    """Column label: ``sbert_off_topic_floor`` -> ``off topic floor``; other names unchanged."""
    if FLOOR_PATTERN.match(name):
        return name.removeprefix("sbert_").replace("_", " ")
    return name


def _entry_cells(s: StoredEntry, floors: Sequence[str]) -> list[str]:
    """Every cell of a task-table row after the rank and "vs above" cells."""
    main = find_main_metric(s.entry)
    slug = model_slug(s.model_name)
    link = f'<a href="{href(f"models/{slug}.html")}">{esc(s.model_name)}</a>'
    if s.entry.scorer_space:
        link += f' <span class="scorer-space" title="{esc(SCORER_SPACE_LEGEND)}">{esc(SCORER_SPACE_MARK)}</span>'
    scored, total = session_coverage(s)
    return [
        text_cell(s.model_name, link),
        text_cell(s.revision),
        text_cell(s.narrator, css="narrator"),
        text_cell(status_label(s), css="verification"),
        num_cell(scored / total if total else None, coverage_label(s)),
        text_cell(s.entry.model.kind or ""),
        text_cell(main.name if main else ""),
        metric_cell(main),
        *(metric_cell(find_metric(s.entry, f)) for f in floors),
        metric_cell(find_metric(s.entry, R10_METRIC)),
        metric_cell(find_metric(s.entry, CKA_METRIC)),
        num_cell(s.entry.model.n_parameters, format_parameters(s.entry.model.n_parameters)),
        num_cell(main.n if main else None, str(main.n) if main else "-"),
    ]


def _pair_cell(pairing: RowPairing | None) -> str:
    """The "vs above" cell: the mark, with the paired difference (or why there is none) as its tooltip."""
    if pairing is None or pairing.status == "first":
        return '<td class="pair" data-sort=""></td>'
    return text_cell(pairing.mark, title=pairing.describe(), css="pair")


def _group_body(css: str, heading: str, rows: Sequence[str]) -> str:
    """A further ``<tbody>`` of a task table, headed by its group's heading (the sorter leaves it in place)."""
    label = f'<tr class="group-label"><th scope="rowgroup" colspan="99">{esc(heading)}</th></tr>'
    return f'<tbody class="{esc(css)}">\n{label}\n' + "\n".join(rows) + "\n</tbody>\n"


def _task_table(task: str, entries: Sequence[StoredEntry]) -> str:
    full = ranked_full_population(entries)
    if not full:
        return f"<h2>{esc(task)}</h2>\n<p class='muted'>Only subset entries for this task (see the model pages).</p>"
    models, levels = split_reference_levels(full)
    groups = rank_groups(models)
    first, apart = (groups.verified, groups.self_reported) if groups.verified else (groups.self_reported, [])
    floors = floor_names(s.entry for s in full)
    ds = full[0].entry.dataset
    headers = [("#", "number"), ("vs above", "text"), ("model", "text"), ("revision", "text")]
    headers += [("narrator", "text"), ("status", "text"), ("sessions", "number"), ("kind", "text")]
    headers += [("main metric", "text")]
    headers += [("main score (95 % CI)", "number"), *((f, "number") for f in floors), ("R@10", "number")]
    headers += [("CKA", "number"), ("parameters", "number"), ("n", "number")]
    head = "".join(
        f'<th scope="col" data-type="{kind}" title="{esc(name)}">{esc(_short_label(name))}</th>'
        for name, kind in headers
    )

    def ranked_rows(group: Sequence[StoredEntry]) -> list[str]:
        return [
            "<tr>" + num_cell(rank, str(rank)) + _pair_cell(pairing) + "".join(_entry_cells(s, floors)) + "</tr>"
            for rank, (s, pairing) in enumerate(zip(group, pair_adjacent_rows(group), strict=True), start=1)
        ]

    def labelled_rows(group: Sequence[StoredEntry], text: str, css: str) -> list[str]:
        label = f'<td class="reference-label" data-sort="">{esc(text)}</td>'
        return [
            f'<tr class="{css}">' + label + _pair_cell(None) + "".join(_entry_cells(s, floors)) + "</tr>" for s in group
        ]

    rows = ranked_rows(first)
    level_rows = labelled_rows(levels, REFERENCE_LEVEL_LABEL, "reference-level")
    caption = (
        f"Dataset {esc(dataset_label(ds.repo))} (revision {esc(ds.revision or '-')}, fingerprint "
        f"{esc(ds.fingerprint)}, task version {esc(ds.task_version)}, data origin {esc(ds.data_origin)}). "
        "Main score: sbert_matched, else retrieval_r10. One row per model, revision and narrator. "
        f"{esc(NOT_SIGNIFICANT_MARK)}: {esc(NOT_SIGNIFICANT_LEGEND)}; {esc(NOT_PAIRED_MARK)}: "
        f"{esc(NOT_PAIRED_LEGEND)} (in the ranked order; hover for the difference). Ranking rules: "
        f"{esc(RANKING_RULES)}. Click a header to sort."
    )
    if any(s.entry.scorer_space for s in full):
        caption += f" {esc(SCORER_SPACE_MARK)}: {esc(SCORER_SPACE_LEGEND)}."
    if levels:
        caption += (
            f" Rows labelled &ldquo;{esc(REFERENCE_LEVEL_LABEL)}&rdquo; are floor models (what content-free "
            "predictions score): shown for comparison, not ranked."
        )
    body = "<tbody>\n" + "\n".join(rows) + "\n</tbody>\n"
    if apart:
        body += _group_body("self-reported", SELF_REPORTED_GROUP, ranked_rows(apart))
    if groups.incomplete:
        body += _group_body(
            "incomplete", INCOMPLETE_GROUP, labelled_rows(groups.incomplete, "not ranked", "incomplete-coverage")
        )
    if levels:
        body += '<tbody class="reference-levels">\n' + "\n".join(level_rows) + "\n</tbody>\n"
    return (
        f"<h2 id='task-{esc(safe_stem(task))}'>{esc(task)}{origin_badge(ds.data_origin)}</h2>\n"
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
            f'<li><a href="{href(f"models/{model_slug(name)}.html")}">{esc(name)}</a> '
            f"<span class='muted'>({len(entries)} entries)</span></li>"
            for name, entries in models.items()
        )
        parts.append(f"<h2>Models</h2>\n<ul class='models'>{items}</ul>")
    return page(title, "\n".join(parts), root="")


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


def _copy_interrogations(staging: Path, reports: Sequence[Path], models: set[str]) -> dict[str, list[tuple[str, str]]]:
    """Publish interrogation reports under ``interrogations/<stem>/``; model name -> [(label, relative href)].

    Only ``report.json`` and the report's known figures are copied; the page is rendered again from
    ``report.json`` by the package's own renderer (escaped, no script), never copied as given.

    Raises:
        FileNotFoundError: A folder without ``report.json``.
        ValueError: A malformed ``report.json`` (names the file and field), or a report of a model that has no
            entry in the results folder.
    """
    from neurrator_bench.interrogation.report import FIGURE_NAMES, render_page

    links: dict[str, list[tuple[str, str]]] = {}
    for folder in map(Path, reports):
        path = folder / "report.json"
        if not path.is_file():
            raise FileNotFoundError(f"{folder}: not an interrogation report (expected report.json)")
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
            prov = report["provenance"]
            name, task, populations = str(prov["model"]["name"]), str(prov["task"]), report["main"]["populations"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not a report written by `neurrator-bench interrogate` ({exc!r})") from exc
        if name not in models:
            raise ValueError(f"{path}: provenance.model.name {name!r} has no entry in the results folder")
        stem = safe_stem(f"{name}-{task}-{folder.name}")
        target = staging / "interrogations" / stem
        target.mkdir(parents=True)
        shutil.copyfile(path, target / "report.json")
        figures = [f for f in FIGURE_NAMES if (folder / f).is_file()]
        for f in figures:
            shutil.copyfile(folder / f, target / f)
        try:
            write_text_atomic(target / "index.html", render_page(report, figures))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{path}: field missing or malformed ({exc!r})") from exc
        label = f"{task}: {', '.join(map(str, populations))} ({prov.get('data_origin', 'unknown')})"
        links.setdefault(name, []).append((label, f"interrogations/{stem}/index.html"))
    return links


def build_site(
    results_dir: Path,
    out_dir: Path,
    *,
    title: str = "neurrator-bench leaderboard",
    interrogations: Sequence[Path] = (),
) -> Path:
    """Validate a results folder and render the static leaderboard site.

    Writes ``index.html`` (a sortable table per task: rank, vs above, model, revision, narrator, main
    score with 95 % CI, each floor, R@10, CKA, parameter count, n; floor models as unranked "reference
    level" rows after the ranked ones), ``models/<slug>.html`` (every metric of every entry with CI,
    interval, p-value, chance, ceiling, per-session metrics and metadata), ``plots/**.png`` (score vs
    population size by region, similarity heatmaps, per-frame curves), ``assets/`` (CSS and JS) and
    ``leaderboard.md``. The folder is built beside ``out_dir`` and swapped in when complete.

    Args:
        results_dir: The results folder (``<model>/<revision>/<task><subset><narrator>.json``).
        out_dir: The site folder; must be missing, empty or an earlier site.
        title: Page title.
        interrogations: Report folders of ``neurrator-bench interrogate``, copied into the site and linked from
            their model's page.

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
        by_model = group_by_model(stored)
        links = _copy_interrogations(staging, interrogations, set(by_model))
        for name, entries in by_model.items():
            write_text_atomic(
                staging / "models" / f"{model_slug(name)}.html",
                model_html(staging, title, name, entries, interrogations=links.get(name, [])),
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
