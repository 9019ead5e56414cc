"""build_site, render_markdown, the plots and the store's headline selection."""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from neurrator_bench.errors import ResultEntryError
from neurrator_bench.leaderboard.markdown import escape_markdown, render_markdown
from neurrator_bench.leaderboard.plots import scaling_points
from neurrator_bench.leaderboard.site import SITE_MARKER, build_site
from neurrator_bench.leaderboard.store import (
    find_main_metric,
    format_parameters,
    format_score,
    group_by_revision,
    load_entries,
    ranked_full_population,
)
from tests.leaderboard.entries import EVIL, TASKS, make_entry, valid_entries, write_entries, write_valid_set

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
    assert index.count("<tr><td") == 6 + 4  # ranked full-population rows of the two tasks
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
            assert (page.parent / html.unescape(ref)).exists(), (page, ref)


def test_index_shows_main_score_floors_r10_cka_params_n(site: Path) -> None:
    index = (site / "index.html").read_text(encoding="utf-8")
    row = re.search(r"<tr><td[^>]*>1</td>.*?</tr>", index).group(0)
    cells = [html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
    assert re.sub("<[^>]+>", "", cells[1]) == "neurrator/reference"
    assert cells[2:6] == ["v2", "reference", "sbert_matched", "0.650 [0.630, 0.670]"]
    assert cells[6:9] == ["0.080 [0.060, 0.100]", "0.210 [0.190, 0.230]", "0.120 [0.100, 0.140]"]  # floors
    assert cells[9:] == ["0.325 [0.305, 0.345]", "0.217", "12.3M", "200"]  # R@10, CKA, parameters, n
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
    assert text.count("| # | model |".replace("#", "\\#")) == len(TASKS)
    assert "| 1 | neurrator/reference | v2 | sbert\\_matched | 0.650 [0.630, 0.670] |" in text
    assert "| 5 | retrieval-only | main | retrieval\\_r10 | 0.250 [0.230, 0.270] | - | - | - |" in text
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
