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
    format_parameters,
    group_by_model,
    group_by_task,
    load_entries,
    session_coverage,
    status_label,
)
from neurrator_bench.leaderboard.tables import (
    REFERENCE_LEVEL,
    BoardRow,
    Download,
    board_layout,
    board_records,
    board_stem,
    copy_entry_json,
    entry_anchor,
    entry_json_path,
    entry_order,
    entry_record,
    model_page_path,
    subset_text,
    write_downloads,
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
    link = f'<a href="{href(model_page_path(s.model_name))}">{esc(s.model_name)}</a>'
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


FILTER_KEYS = (
    ("board", "board"),
    ("narrator", "narrator"),
    ("origin", "data origin"),
    ("status", "status"),
    ("subset", "units"),
)
"""Row attributes the filters of the page act on (``data-<key>``), with their labels."""


def _row_attributes(s: StoredEntry) -> str:
    """``data-*`` attributes of a row: what the filters match (escaped)."""
    return "".join(f' data-{k}="{esc(v)}"' for k, v in _row_values(s).items())


def _permalink_cell(s: StoredEntry) -> str:
    """The last cell of a row: the entry's permalink and its JSON."""
    links = (
        f'<a class="permalink" href="{href(model_page_path(s.model_name))}#{esc(entry_anchor(s))}">entry</a> '
        f'<a class="entry-json" href="{href(entry_json_path(s))}">json</a>'
    )
    return text_cell(entry_anchor(s), links)


def _downloads(download: Download, what: str) -> str:
    return (
        f'<p class="downloads">Download {esc(what)}: '
        f'<a class="csv" href="{href(download.csv)}" download>CSV</a> '
        f'<a class="json" href="{href(download.json)}" download>JSON</a></p>'
    )


def _group_body(css: str, heading: str, rows: Sequence[str]) -> str:
    """A further ``<tbody>`` of a task table, headed by its group's heading (the sorter leaves it in place)."""
    label = f'<tr class="group-label"><th scope="rowgroup" colspan="99">{esc(heading)}</th></tr>'
    return f'<tbody class="{esc(css)}">\n{label}\n' + "\n".join(rows) + "\n</tbody>\n"


def _task_table(board: str, entries: Sequence[StoredEntry], site: Path) -> str:
    layout = board_layout(board, entries)
    if layout is None:
        return (
            f"<section class='board' data-board='{esc(board)}'><h2>{esc(board)}</h2>\n"
            "<p class='muted'>Only subset entries for this task (see the model pages).</p></section>"
        )
    full = [row.stored for row in layout.rows]
    floors = layout.floors
    ds = full[0].entry.dataset
    headers = [("#", "number"), ("vs above", "text"), ("model", "text"), ("revision", "text")]
    headers += [("narrator", "text"), ("status", "text"), ("sessions", "number"), ("kind", "text")]
    headers += [("main metric", "text")]
    headers += [("main score (95 % CI)", "number"), *((f, "number") for f in floors), ("R@10", "number")]
    headers += [("CKA", "number"), ("parameters", "number"), ("n", "number"), ("entry", "text")]
    head = "".join(
        f'<th scope="col" data-type="{kind}" title="{esc(name)}">{esc(_short_label(name))}</th>'
        for name, kind in headers
    )

    def render(row: BoardRow) -> str:
        s = row.stored
        if row.rank is not None:
            first = num_cell(row.rank, str(row.rank)) + _pair_cell(row.pairing)
            css = ""
        else:
            text = REFERENCE_LEVEL_LABEL if row.group == REFERENCE_LEVEL else "not ranked"
            css = ' class="reference-level"' if row.group == REFERENCE_LEVEL else ' class="incomplete-coverage"'
            first = f'<td class="reference-label" data-sort="">{esc(text)}</td>' + _pair_cell(None)
        cells = first + "".join(_entry_cells(s, floors)) + _permalink_cell(s)
        return f"<tr{css} data-row{_row_attributes(s)}>" + cells + "</tr>"

    by_group: dict[str, list[str]] = {}
    for row in layout.rows:
        by_group.setdefault(row.group, []).append(render(row))
    groups = list(by_group)
    caption = (
        f"Dataset {esc(dataset_label(ds.repo))} (revision {esc(ds.revision or '-')}, fingerprint "
        f"{esc(ds.fingerprint)}, task version {esc(ds.task_version)}, split {esc(ds.split)}, data origin "
        f"{esc(ds.data_origin)}). Main score: sbert_matched, else retrieval_r10. One row per model, revision and "
        f"narrator. {esc(NOT_SIGNIFICANT_MARK)}: {esc(NOT_SIGNIFICANT_LEGEND)}; {esc(NOT_PAIRED_MARK)}: "
        f"{esc(NOT_PAIRED_LEGEND)} (in the ranked order; hover for the difference). Ranking rules: "
        f"{esc(RANKING_RULES)}. Click a header to sort."
    )
    if any(s.entry.scorer_space for s in full):
        caption += f" {esc(SCORER_SPACE_MARK)}: {esc(SCORER_SPACE_LEGEND)}."
    if REFERENCE_LEVEL in by_group:
        caption += (
            f" Rows labelled &ldquo;{esc(REFERENCE_LEVEL_LABEL)}&rdquo; are floor models (what content-free "
            "predictions score): shown for comparison, not ranked."
        )
    body = "<tbody>\n" + "\n".join(by_group[groups[0]]) + "\n</tbody>\n"
    css_of = {SELF_REPORTED_GROUP: "self-reported", INCOMPLETE_GROUP: "incomplete"}
    for group in groups[1:]:
        if group == REFERENCE_LEVEL:
            body += '<tbody class="reference-levels">\n' + "\n".join(by_group[group]) + "\n</tbody>\n"
        else:
            body += _group_body(css_of.get(group, "group"), group, by_group[group])
    download = write_downloads(site, board_stem(board), board, board_records(layout))
    if ds.split == "final":
        title = f"{esc(ds.task)} <span class='badge final'>sealed final test</span>"
    else:
        title = esc(board)
    return (
        f"<section class='board' data-board='{esc(board)}'>\n"
        f"<h2 id='task-{esc(safe_stem(board))}'>{title}{origin_badge(ds.data_origin)}</h2>\n"
        f'<div class="table-wrap"><table class="sortable leaderboard" data-task="{esc(board)}">\n'
        f"<caption>{caption}</caption>\n<thead><tr>{head}</tr></thead>\n{body}</table></div>\n"
        f"{_downloads(download, 'this table')}\n</section>"
    )


def _row_values(s: StoredEntry) -> dict[str, str]:
    """What the filters match on a row (its ``data-*`` attributes)."""
    return {
        "board": s.board,
        "narrator": s.narrator,
        "origin": s.entry.dataset.data_origin,
        "status": status_label(s),
        "subset": subset_text(s),
    }


def _filters(stored: Sequence[StoredEntry], target: str, keys: Sequence[str]) -> str:
    """Selects that show only the rows of ``target`` (an element id) whose attributes match (leaderboard.js)."""
    options: dict[str, set[str]] = {key: set() for key in keys}
    for s in stored:
        for key, value in _row_values(s).items():
            if key in options:
                options[key].add(value)
    parts = []
    for key, label in ((k, v) for k, v in FILTER_KEYS if k in keys):
        items = "".join(f'<option value="{esc(v)}">{esc(v)}</option>' for v in sorted(options[key]))
        parts.append(
            f'<label>{esc(label)} <select data-key="{esc(key)}"><option value="">all</option>{items}</select></label>'
        )
    return (
        f'<form class="filters" data-filter-for="{esc(target)}">{" ".join(parts)} '
        '<span class="filter-count" aria-live="polite"></span></form>'
    )


def _index_html(title: str, stored: Sequence[StoredEntry], site: Path) -> str:
    parts = [f"<h1>{esc(title)}</h1>"]
    parts.append(
        "<p class='muted'>Spike-to-language decoding on Allen Brain Observatory Neuropixels (BO1.1). "
        "Every score carries its 95 % bootstrap confidence interval. "
        "<a href='leaderboard.md'>Markdown version</a>; <a href='entries.html'>every entry</a> (subsets, "
        "narrators, splits), with filters and downloads.</p>"
    )
    if not stored:
        parts.append("<p>No result entries.</p>")
    else:
        # the boards rank full-population entries only: no units filter here (entries.html has one)
        shown = [s for s in stored if not s.subset]
        parts.append(_filters(shown, "boards", [k for k, _ in FILTER_KEYS if k != "subset"]))
    boards = [_task_table(board, entries, site) for board, entries in group_by_task(stored).items()]
    parts.append("<div id='boards'>\n" + "\n".join(boards) + "\n</div>")
    models = group_by_model(stored)
    if models:
        items = "".join(
            f'<li><a href="{href(model_page_path(name))}">{esc(name)}</a> '
            f"<span class='muted'>({len(entries)} entries)</span></li>"
            for name, entries in models.items()
        )
        parts.append(f"<h2>Models</h2>\n<ul class='models'>{items}</ul>")
    return page(title, "\n".join(parts), root="")


def _entries_html(title: str, stored: Sequence[StoredEntry], site: Path) -> str:
    """Every entry in one filterable, sortable table (every task, split, subset and narrator)."""
    order = entry_order(stored)
    download = write_downloads(site, "entries", "every entry", [entry_record(s) for s in order])
    headers = ["model", "revision", "board", "units", "narrator", "status", "data origin", "sessions"]
    headers += ["main metric", "main score (95 % CI)", "R@10", "n", "entry"]
    numeric = {"sessions", "main score (95 % CI)", "R@10", "n"}
    head = "".join(f'<th scope="col" data-type="{"number" if h in numeric else "text"}">{esc(h)}</th>' for h in headers)
    rows = []
    for s in order:
        main = find_main_metric(s.entry)
        scored, total = session_coverage(s)
        cells = [
            text_cell(s.model_name, f'<a href="{href(model_page_path(s.model_name))}">{esc(s.model_name)}</a>'),
            text_cell(s.revision),
            text_cell(s.board),
            text_cell(subset_text(s)),
            text_cell(s.narrator, css="narrator"),
            text_cell(status_label(s), css="verification"),
            text_cell(s.entry.dataset.data_origin),
            num_cell(scored / total if total else None, coverage_label(s)),
            text_cell(main.name if main else ""),
            metric_cell(main),
            metric_cell(find_metric(s.entry, R10_METRIC)),
            num_cell(main.n if main else None, str(main.n) if main else "-"),
            _permalink_cell(s),
        ]
        rows.append(f"<tr data-row{_row_attributes(s)}>" + "".join(cells) + "</tr>")
    body = [
        f"<p><a href='index.html'>&larr; {esc(title)}</a></p>",
        "<h1>Every entry</h1>",
        "<p class='muted'>One row per entry file: every task and split, every unit subset, every narrator. "
        "The leaderboard tables rank full-population entries only.</p>",
        _filters(stored, "entries", [k for k, _ in FILTER_KEYS]),
        '<div class="table-wrap"><table class="sortable entries" id="entries">'
        f"<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody></table></div>",
        _downloads(download, "every entry"),
    ]
    return page(f"every entry - {title}", "\n".join(body), root="")


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

    Writes ``index.html`` (a sortable, filterable table per board, i.e. per task and split: rank, vs above,
    model, revision, narrator, status, sessions, main score with 95 % CI, each floor, R@10, CKA, parameter
    count, n, the entry's permalink; floor models as unranked "reference level" rows after the ranked ones;
    each table's CSV and JSON under ``tables/``), ``entries.html`` (every entry, filterable, with its CSV and
    JSON), ``entries/**.json`` (verbatim copies of the entry files), ``models/<slug>.html`` (every metric of
    every entry with CI, interval, p-value, chance, ceiling, per-session metrics, metadata, each entry's section
    with its stable permalink anchor, :func:`~neurrator_bench.leaderboard.tables.entry_anchor`),
    ``plots/**.png`` (score vs population size by region, similarity heatmaps, per-frame curves), ``assets/``
    (CSS and JS) and ``leaderboard.md``. The folder is built beside ``out_dir`` and swapped in when complete.

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
                staging / model_page_path(name),
                model_html(staging, title, name, entries, interrogations=links.get(name, [])),
            )
        for s in stored:
            copy_entry_json(staging, s)
        write_text_atomic(staging / "index.html", _index_html(title, stored, staging))
        write_text_atomic(staging / "entries.html", _entries_html(title, stored, staging))
        write_text_atomic(staging / "leaderboard.md", render_markdown((s.entry for s in stored), title=title))
        write_text_atomic(staging / SITE_MARKER, "generated by neurrator-bench; this folder is replaced on rebuild\n")
        staging.chmod(0o755)
        _replace_dir(staging, out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    logger.info("leaderboard site with %d entries written to %s", len(stored), out_dir)
    return out_dir / "index.html"
