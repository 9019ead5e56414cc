"""build_site, render_markdown, the plots and the store's headline selection."""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from neurrator_bench.errors import ResultEntryError
from neurrator_bench.leaderboard.markdown import escape_markdown, render_markdown
from neurrator_bench.leaderboard.plots import per_frame_series, plot_per_frame, scaling_points
from neurrator_bench.leaderboard.site import SITE_MARKER, build_site
from neurrator_bench.leaderboard.store import (
    find_main_metric,
    format_parameters,
    format_score,
    group_by_revision,
    load_entries,
    ranked_full_population,
)
from neurrator_bench.schemas.result_entry import FrameTable
from tests.leaderboard.entries import (
    EVIL,
    PREDICTIONS_SHA256,
    TASKS,
    frame_curve,
    make_entry,
    valid_entries,
    write_entries,
    write_valid_set,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class TagCollector(HTMLParser):
    """Start tags with their attributes, visible text and inline script text of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text = ""
        self.script_text = ""
        self._in_script = False

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append((tag, attrs))
        self._in_script = tag == "script"

    def handle_endtag(self, tag) -> None:
        self._in_script = False

    def handle_data(self, data) -> None:
        if self._in_script:
            self.script_text += data
        else:
            self.text += data


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("site")
    write_valid_set(root / "results", evil=True)
    return build_site(root / "results", root / "site").parent


def pages(site: Path) -> dict[Path, str]:
    return {p: p.read_text(encoding="utf-8") for p in [*site.rglob("*.html"), site / "leaderboard.md"]}


def test_site_layout(site: Path) -> None:
    index = (site / "index.html").read_text(encoding="utf-8")
    assert index.count('<table class="sortable leaderboard"') == len(TASKS)
    assert index.count("<tr data-row") == 6 + 4  # ranked full-population rows of the two tasks
    assert "<title>neurrator-bench leaderboard</title>" in index
    slugs = {"neurrator__reference", "ridge", "pca-knn", "retrieval-only", "evil-model"}
    assert {p.stem for p in (site / "models").glob("*.html")} == slugs
    assert 'href="models/neurrator__reference.html"' in index
    assert (site / "assets/leaderboard.js").is_file() and (site / "assets/leaderboard.css").is_file()
    assert (site / SITE_MARKER).is_file()
    pngs = sorted(site.rglob("*.png"))
    assert any(p.name.endswith("-scaling.png") for p in pngs)
    assert any(p.name.endswith("-similarity.png") for p in pngs)
    assert any(p.name.endswith("-per-frame.png") for p in pngs)
    assert all(p.read_bytes().startswith(PNG_MAGIC) for p in pngs)
    for page, text in pages(site).items():  # every referenced file exists
        for ref in re.findall(r'(?:src|href)="([^"#:]+)"', text):
            assert (page.parent / unquote(html.unescape(ref))).exists(), (page, ref)


def test_index_shows_main_score_floors_r10_cka_params_n(site: Path) -> None:
    index = (site / "index.html").read_text(encoding="utf-8")
    row = re.search(r"<tr data-row[^>]*><td[^>]*>1</td>.*?</tr>", index).group(0)
    cells = [html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
    assert cells[1] == ""  # "vs above": nothing above the first row
    assert re.sub("<[^>]+>", "", cells[2]) == "neurrator/reference"
    # revision, narrator, status (nothing re-scored by a maintainer), sessions covered / test sessions
    assert cells[3:7] == ["v2", "retrieval", "self-reported", "1/1"]
    assert cells[7:10] == ["reference", "sbert_matched", "0.650 [0.630, 0.670]"]
    assert cells[10:13] == ["0.120 [0.100, 0.140]", "0.080 [0.060, 0.100]", "0.210 [0.190, 0.230]"]  # floors
    assert cells[13:17] == ["0.325 [0.305, 0.345]", "0.217", "12.3M", "200"]  # R@10, CKA, parameters, n
    assert 'class="permalink" href="models/neurrator__reference.html#entry-v2--' in cells[17]  # then its permalink
    assert 'data-sort="12300000"' in row


def test_detail_page_lists_every_metric_with_ci_and_p_value(site: Path) -> None:
    page = (site / "models/neurrator__reference.html").read_text(encoding="utf-8")
    assert page.count("<h2>revision ") == 2
    assert page.count('<td data-sort="sbert_delta_word_salad">') == 2 + 2 + 6  # v1, v2 tasks + 6 subsets
    assert "[0.630, 0.670]" in page and ">1e-06<" in page
    assert "fp-nm1-contiguous-middle-0001" in page and "sentence-transformers/all-MiniLM-L6-v2" in page
    assert '<a href="https://example.org/neurrator" rel="nofollow noopener noreferrer">' in page


def test_every_entry_string_is_escaped(site: Path) -> None:
    escaped = html.escape(EVIL)
    for page, text in pages(site).items():
        if page.suffix == ".md":
            assert "<img" not in text
            continue
        parsed = TagCollector()
        parsed.feed(text)
        attrs = [(tag, name, value or "") for tag, pairs in parsed.tags for name, value in pairs]
        assert not [a for a in attrs if a[1].startswith("on")], page  # no event handler attribute
        urls = [a[2] for a in attrs if a[1] in ("href", "src") and a[2] != "data:,"]  # data:, is the empty favicon
        assert all(urlsplit(u).scheme in ("", "http", "https") for u in urls), page  # never javascript:
        assert not [a for a in attrs if a[0] == "img" and a[1] == "src" and not a[2].endswith(".png")], page
        assert parsed.script_text.strip() == "", page  # no inline script
        assert EVIL in parsed.text or page.name != "evil-model.html"  # shown as literal text
    evil_page = (site / "models/evil-model.html").read_text(encoding="utf-8")
    assert escaped in (site / "index.html").read_text(encoding="utf-8")
    assert evil_page.count(escaped) >= 3  # kind, license, skipped reason
    assert "<dd>javascript:alert(1)</dd>" in evil_page  # shown as text, not a link


def test_refuses_invalid_entries(tmp_path: Path) -> None:
    results = tmp_path / "results"
    (path,) = write_valid_set(results)[:1]
    data = json.loads(path.read_text())
    data["metrics"][0]["value"] = 7.0
    path.write_text(json.dumps(data))
    with pytest.raises(
        ResultEntryError, match=r"(?s)problem\(s\), refusing invalid entries:.*expected within the value"
    ):
        build_site(results, tmp_path / "site")
    assert not (tmp_path / "site").exists()


def test_rebuild_replaces_site_but_never_foreign_folder(tmp_path: Path) -> None:
    results = tmp_path / "results"
    write_entries(results, [make_entry("m", "main", TASKS[0])])
    out = tmp_path / "site"
    build_site(results, out)
    (out / "stale.html").write_text("old")
    build_site(results, out)
    assert not (out / "stale.html").exists() and (out / "index.html").is_file()
    foreign = tmp_path / "docs"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="found other content; refusing to overwrite"):
        build_site(results, foreign)
    assert (foreign / "keep.txt").read_text() == "mine"


def test_empty_results_folder_builds_empty_site(tmp_path: Path) -> None:
    (tmp_path / "results").mkdir()
    index = build_site(tmp_path / "results", tmp_path / "site")
    assert "No result entries." in index.read_text(encoding="utf-8")


def test_escape_markdown() -> None:
    assert escape_markdown("a|b") == r"a\|b"
    assert escape_markdown(EVIL) == "&lt;img src=x onerror=alert(1)&gt;"
    assert escape_markdown("x_[y](z)*`\n") == r"x\_\[y\](z)\*\`"


def test_render_markdown_tables_and_escaping() -> None:
    text = render_markdown(valid_entries())
    assert text.count("| \\# | vs above | model | revision | narrator |") == len(TASKS)
    assert "| 1 |  | neurrator/reference | v2 | retrieval | sbert\\_matched | 0.650 [0.630, 0.670] |" in text
    assert "| 2 |  | neurrator/reference | v1 | retrieval | sbert\\_matched | 0.620 [0.600, 0.640] |" in text
    row = "| 5 | not paired | retrieval-only | main | - | retrieval\\_r10 | 0.250 [0.230, 0.270] | - | - | - |"
    assert row in text
    evil = make_entry("m", "main", "t|x<b>", fingerprint="fp|<i>")
    md = render_markdown([evil])
    assert "## t\\|x&lt;b&gt;" in md and "fingerprint fp\\|&lt;i&gt;" in md
    assert "<b>" not in md and "<i>" not in md
    rows = [line for line in md.splitlines() if line.startswith("|")]
    assert len({len(re.findall(r"(?<!\\)\|", line)) for line in rows}) == 1  # same column count everywhere


def test_store_headline_ranking_and_formatting(tmp_path: Path) -> None:
    write_valid_set(tmp_path)
    stored = load_entries(tmp_path)
    nm1 = [s for s in stored if s.task == TASKS[0]]
    ranked = ranked_full_population(nm1)
    assert [(s.model_name, s.revision) for s in ranked] == [
        ("neurrator/reference", "v2"),
        ("neurrator/reference", "v1"),
        ("ridge", "main"),
        ("pca-knn", "main"),
        ("retrieval-only", "main"),  # ranked by retrieval_r10 only after every sbert_matched entry
    ]
    assert find_main_metric(ranked[-1].entry).name == "retrieval_r10"
    assert list(group_by_revision([s for s in stored if s.model_name == "neurrator/reference"])) == ["v1", "v2"]
    assert format_score(None) == "-" and format_score(ranked[0].entry.metrics[-1]) == "0.217"
    assert [format_parameters(n) for n in (None, 950, 480_000, 12_300_000, 7_000_000_000)] == [
        "-",
        "950",
        "480.0k",
        "12.3M",
        "7.0B",
    ]


def test_scaling_points_by_region() -> None:
    points = scaling_points(valid_entries())
    assert list(points) == ["LM", "V1"]
    assert [p[0] for p in points["V1"]] == [8, 32, 128]
    assert [p[1] for p in points["V1"]] == [0.5, 0.6, 0.7]
    assert points["V1"][0][2:] == pytest.approx((0.48, 0.52))


def test_model_page_shows_narrator_scoring_statistics_and_sessions(site: Path) -> None:
    page = (site / "models/neurrator__reference.html").read_text(encoding="utf-8")
    for item in (
        "<dt>narrator</dt><dd>retrieval</dd>",
        "<dt>decoding</dt><dd>nearest training caption</dd>",
        f"<dt>predictions sha256</dt><dd>{PREDICTIONS_SHA256}</dd>",
        "<dt>fingerprint source</dt><dd>embedded</dd>",
        "<dt>target model</dt><dd>openai/clip-vit-large-patch14-336</dd>",
        "<dt>reference captioner</dt><dd>Salesforce/blip2-opt-2.7b</dd>",
        "<dt>retrieval gallery</dt><dd>natural_movie_one: 900 frames</dd>",
        "<dt>frames</dt><dd>30</dd><dt>samples</dt><dd>300</dd><dt>sessions</dt><dd>1</dd>",
        "<dt>cluster unit</dt><dd>30-frame blocks (movies), single images (scenes)</dd>",
    ):
        assert item in page, item
    assert page.count('<table class="sortable per-session">') == 2 + 2 + 6
    session_row = '<tr><td data-sort="791319847">791319847</td><td class="num" data-sort="300">300</td>'
    assert session_row + '<td class="num" data-sort="0.65">0.650</td></tr>' in page  # v2 nm1, sbert_matched
    metric_table = re.search(r'<table class="sortable metrics">.*?</table>', page, re.S)[0]
    heads = re.findall(r"<th [^>]*>(.*?)</th>", metric_table)
    assert heads[:4] == ["metric", "value", "95 % CI", "interval"] and "chance" in heads and "ceiling" in heads
    rows = {
        re.sub("<[^>]+>", "", cells[0]): cells
        for row in re.findall(r"<tr>(.*?)</tr>", metric_table, re.S)
        if (cells := re.findall(r"<td[^>]*>(.*?)</td>", row))
    }
    assert list(rows)[:2] == ["sbert_matched", "retrieval_r10"]  # headline first, then the registry's order
    r10 = dict(zip(heads, rows["retrieval_r10"], strict=True))
    assert (r10["interval"], r10["chance"], r10["ceiling"], r10["frames"]) == ("frame-blocks", "0.01111", "-", "200")
    assert r10["direction"] == "higher is better" and "A.6 (Tables A2, A3); chance: 10/m" in r10["meaning"]
    cka = dict(zip(heads, rows["cka_linear"], strict=True))
    assert (cka["95 % CI"], cka["interval"]) == ("-", "none: one fit on the whole test set")
    assert 'title="none: one fit on the whole test set">-</td>' in metric_table
    assert dict(zip(heads, rows["sbert_word_salad_floor"], strict=True))["direction"] == "floor (reference level)"


def test_evil_narrator_and_statistics_are_escaped(site: Path) -> None:
    page = (site / "models/evil-model.html").read_text(encoding="utf-8")
    escaped = html.escape(EVIL)
    for field in ("narrator model", "narrator prompt", "decoding", "target model", "reference captioner"):
        assert f"<dt>{field}</dt><dd>{escaped}</dd>" in page, field
    assert f"<dt>cluster unit</dt><dd>{escaped}</dd>" in page
    assert f'<td data-sort="{escaped}">{escaped}</td>' in page  # session id and p test
    assert "<img src=x" not in page
    index = (site / "index.html").read_text(encoding="utf-8")
    assert f'<td class="narrator" data-sort="llava ({escaped})">llava ({escaped})</td>' in index


def test_per_frame_series_and_plot(tmp_path: Path) -> None:
    movie, scenes = frame_curve(3, "natural_movie_one"), frame_curve(2, "natural_scenes")
    both = FrameTable(
        stimulus=scenes.stimulus + movie.stimulus,
        frame=[1, 0, 2, 1, 0],
        block=scenes.block + movie.block,
        n=scenes.n + movie.n,
        values={"sbert_matched": [0.9, 0.8, 0.3, 0.2, 0.1], "retrieval_r10": [0.0] * 5},
    )
    series = per_frame_series(both)
    assert series == {"natural_movie_one": ([0, 1, 2], [0.1, 0.2, 0.3]), "natural_scenes": ([0, 1], [0.8, 0.9])}
    assert per_frame_series(both, "retrieval_r10")["natural_scenes"] == ([0, 1], [0.0, 0.0])
    with pytest.raises(KeyError, match=r"no column 'knn_purity'; present: \['sbert_matched', 'retrieval_r10'\]"):
        plot_per_frame(both, tmp_path / "x.png", metric="knn_purity", title="t")
    assert not (tmp_path / "x.png").exists()
    out = plot_per_frame(both, tmp_path / "per-frame.png", title="$x$ per frame")
    assert out.read_bytes().startswith(PNG_MAGIC)


def test_interrogation_reports_are_published_and_linked_from_their_model(tmp_path: Path) -> None:
    from neurrator_bench.leaderboard.store import model_slug
    from tests.leaderboard.entries import MODELS

    write_valid_set(tmp_path / "results")
    name = MODELS[0][0]
    report = tmp_path / "rep"
    report.mkdir()
    populations = ["pseudo-PV", "<b>evil</b>"]
    prov = {"model": {"name": name}, "task": "nm1-sparse-random", "data_origin": "simulated"}
    # the smallest report the page renderer reads; the page given beside it is never published as is
    prov = {
        **prov,
        "dataset": "d",
        "dataset_fingerprint": "f" * 64,
        "sae_dir": "s",
        "sae": {"n_features": 4, "activation": "topk"},
    }
    main = {
        "populations": populations,
        "units": {n: {"s": 3} for n in populations},
        "classifier": {
            "accuracy": 0.5,
            "ci_low": 0.4,
            "ci_high": 0.6,
            "chance": 0.5,
            "p_value": 0.01,
            "n_permutations": 99,
            "n": 10,
        },
        "n_bins": 5,
        "distinctive_words": {},
        "concept_differences": [],
        "dictionary": {},
        "stability": {"n_boot": 2, "summary": {}},
        "feature_concepts": None,
        "feature_concepts_skipped": None,
        "planted": None,
    }
    (report / "report.json").write_text(json.dumps({"provenance": prov, "main": main, "shuffled_control": None}))
    (report / "index.html").write_text("<html><script>alert(1)</script></html>")
    (report / "similarity.png").write_bytes(b"png")
    (report / "other.js").write_text("alert(1)")
    index = build_site(tmp_path / "results", tmp_path / "site", interrogations=[report])
    page_text = (index.parent / "models" / f"{model_slug(name)}.html").read_text(encoding="utf-8")
    links = re.findall(r"href='\.\./(interrogations/[^']+)'", page_text)
    assert len(links) == 1
    published = index.parent / links[0]
    text = published.read_text()
    assert "<script" not in text and "Content-Security-Policy" in text and "&lt;b&gt;evil&lt;/b&gt;" in text
    assert sorted(p.name for p in published.parent.iterdir()) == ["index.html", "report.json", "similarity.png"]
    assert "&lt;b&gt;evil&lt;/b&gt;" in page_text and "<b>evil</b>" not in page_text
    assert "(simulated)" in page_text
    with pytest.raises(FileNotFoundError, match="not an interrogation report"):
        build_site(tmp_path / "results", tmp_path / "site2", interrogations=[tmp_path / "results"])
    (report / "report.json").write_text(json.dumps({"provenance": {**prov, "model": {"name": "nobody"}}, "main": main}))
    with pytest.raises(ValueError, match=r"report\.json: provenance\.model\.name 'nobody' has no entry"):
        build_site(tmp_path / "results", tmp_path / "site3", interrogations=[report])
    (report / "report.json").write_text("{")
    with pytest.raises(ValueError, match=r"report\.json: not a report written by"):
        build_site(tmp_path / "results", tmp_path / "site4", interrogations=[report])
