"""Narrator as a first-class column: two narrators of one model are two rows (markdown, site, compare)."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from neurrator_bench.leaderboard.compare import compare_table, latest_full_population, render_compare
from neurrator_bench.leaderboard.markdown import render_markdown
from neurrator_bench.leaderboard.site import build_site
from neurrator_bench.leaderboard.store import load_entries, narrator_label, ranked_full_population
from neurrator_bench.leaderboard.validate import validate_results
from neurrator_bench.schemas.result_entry import NarratorMeta, entry_path, narrator_slug
from tests.leaderboard.entries import LLAVA_LABEL, LLAVA_NARRATOR, TASKS, make_entry, write_entries

MODEL = "neurrator/reference"


def two_narrators() -> list:
    """One model revision scored twice on one task: retrieval narrations (0.62) and LLaVA narrations (0.55)."""
    common = {"kind": "reference", "created_at": "2026-02-05T10:00:00+00:00"}
    return [
        make_entry(MODEL, "v2", TASKS[0], score=0.62, **common),
        make_entry(MODEL, "v2", TASKS[0], score=0.55, narrator=LLAVA_NARRATOR, **common),
        make_entry("ridge", "main", TASKS[0], score=0.41, narrator=None, created_at="2026-01-10T10:00:00+00:00"),
    ]


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("narrators") / "results"
    write_entries(root, two_narrators())
    return root


def test_narrator_labels() -> None:
    assert LLAVA_NARRATOR.label() == LLAVA_LABEL
    assert narrator_label(LLAVA_NARRATOR) == LLAVA_LABEL
    assert narrator_label(NarratorMeta(kind="retrieval")) == "retrieval"
    assert narrator_label(None) == "-"


def test_two_narrators_are_two_files_and_valid(results: Path) -> None:
    retrieval, llava, _ = two_narrators()
    assert entry_path(results, retrieval).name == f"{TASKS[0]}~retrieval.json"
    assert entry_path(results, llava).name == f"{TASKS[0]}~llava-llava-hf-llava-1.5-7b-hf@a272c74.json"
    assert validate_results(results) == []  # not a duplicate, not a renamed model


def test_narrator_slugs_never_collide() -> None:
    slugs = {
        narrator_slug(n)
        for n in (
            None,
            NarratorMeta(kind="retrieval"),
            NarratorMeta(kind="llava", model_id="llava-hf/llava-1.5-7b-hf"),
            NarratorMeta(kind="llava", model_id="llava-hf/llava-1.5-13b-hf"),
            NarratorMeta(kind="llava", model_id="llava-hf/llava-1.5-7b-hf", revision="abc123"),
            NarratorMeta(kind="phrase", model_id="sentence-transformers/all-MiniLM-L6-v2"),
            NarratorMeta(kind="phrase", model_id="my/other-minilm"),
        )
    }
    assert len(slugs) == 7 and "" in slugs and "~embeddings-only" in slugs and "~retrieval" in slugs


def test_ranked_rows_are_model_revision_narrator(results: Path) -> None:
    ranked = ranked_full_population(load_entries(results))
    assert [(s.model_name, s.revision, s.narrator) for s in ranked] == [
        (MODEL, "v2", "retrieval"),
        (MODEL, "v2", LLAVA_LABEL),
        ("ridge", "main", "-"),
    ]


def test_markdown_has_two_rows_with_different_narrators() -> None:
    md = render_markdown(two_narrators())
    rows = re.findall(r"^\| (\d) \| [^|]* \| ([^|]+) \| ([^|]+) \| ([^|]+) \| ([^|]+) \| ([^|]+) \|", md, re.M)
    assert [tuple(c.strip() for c in row) for row in rows] == [
        ("1", MODEL, "v2", "retrieval", "sbert\\_matched", "0.620 [0.600, 0.640]"),
        ("2", MODEL, "v2", LLAVA_LABEL, "sbert\\_matched", "0.550 [0.530, 0.570]"),
        ("3", "ridge", "main", "-", "sbert\\_matched", "0.410 [0.390, 0.430]"),
    ]


def test_site_has_two_rows_with_different_narrators(results: Path, tmp_path: Path) -> None:
    site = build_site(results, tmp_path / "site").parent
    index = (site / "index.html").read_text(encoding="utf-8")
    body = re.search(r"<tbody>(.*?)</tbody>", index, re.S)[1]
    narrators = [
        (html.unescape(re.sub("<[^>]+>", "", cells[2])), html.unescape(cells[4]))
        for row in re.findall(r"<tr data-row[^>]*>(.*?)</tr>", body, re.S)
        if (cells := re.findall(r"<td[^>]*>(.*?)</td>", row, re.S))
    ]
    assert narrators == [(MODEL, "retrieval"), (MODEL, LLAVA_LABEL), ("ridge", "-")]
    page = (site / "models/neurrator__reference.html").read_text(encoding="utf-8")
    assert page.count("<span class='narrator'>narrator: ") == 2
    assert f"<span class='narrator'>narrator: {html.escape(LLAVA_LABEL)}</span>" in page
    assert "<dt>narrators</dt><dd>llava (llava-hf/llava-1.5-7b-hf@a272c74), retrieval</dd>" in page
    assert f"<dt>narrator prompt</dt><dd>{html.escape(LLAVA_NARRATOR.prompt)}</dd>" in page
    assert "<dt>max new tokens</dt><dd>32</dd>" in page and "<dt>decoding</dt><dd>greedy</dd>" in page
    ridge = (site / "models/ridge.html").read_text(encoding="utf-8")
    assert "<dt>narrator</dt><dd>none (the predictions hold no narrations)</dd>" in ridge


def test_compare_has_one_column_per_narrator(results: Path) -> None:
    table = compare_table(results)
    headers = [str(c.header).split("\n")[:2] for c in table.columns]
    assert headers == [
        ["task / metric"],
        [MODEL, f"narrator: {LLAVA_LABEL}"],
        [MODEL, "narrator: retrieval"],
        ["ridge", "narrator: -"],
    ]
    text = render_compare(results, width=200)
    assert f"narrator: {LLAVA_LABEL}" in text and "narrator: retrieval" in text
    assert "0.550 [0.530, 0.570]" in text and "0.620 [0.600, 0.640]" in text


def test_latest_revision_is_chosen_per_narrator(tmp_path: Path) -> None:
    """Each (task, model, narrator) keeps its own latest revision: one per narrator, never one per model."""
    entries = [
        make_entry(MODEL, "v1", TASKS[0], score=0.5, narrator=LLAVA_NARRATOR, created_at="2026-01-01T00:00:00+00:00"),
        make_entry(MODEL, "v1", TASKS[0], score=0.6, created_at="2026-01-01T00:00:00+00:00"),
        make_entry(MODEL, "v2", TASKS[0], score=0.7, created_at="2026-02-01T00:00:00+00:00"),
        make_entry(MODEL, "v2", TASKS[0], score=0.65, narrator=LLAVA_NARRATOR, created_at="2026-02-01T00:00:00+00:00"),
    ]
    write_entries(tmp_path, entries)
    chosen = latest_full_population(load_entries(tmp_path))
    assert sorted((s.narrator, s.revision, s.entry.metric("sbert_matched").value) for s in chosen) == [
        (LLAVA_LABEL, "v2", 0.65),
        ("retrieval", "v2", 0.7),
    ]
