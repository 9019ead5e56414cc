"""Scorer-space honesty (issue 14): a model trained in the scorer's sentence space is marked everywhere."""

from __future__ import annotations

import html
from pathlib import Path

from neurrator_bench.leaderboard.markdown import render_markdown
from neurrator_bench.leaderboard.site import build_site
from neurrator_bench.leaderboard.store import SCORER_SPACE_LEGEND, SCORER_SPACE_MARK
from neurrator_bench.leaderboard.validate import validate_results
from neurrator_bench.schemas.result_entry import write_entry
from tests.leaderboard.entries import TASKS, make_entry

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def _entries():
    flagged = make_entry("baseline-retrieval-encoder", "main", TASKS[0], score=0.8)
    flagged = flagged.model_copy(
        update={"scorer_space": True, "model": flagged.model.model_copy(update={"text_space": MINILM})}
    )
    plain = make_entry("baseline-retrieval-encoder-target", "main", TASKS[0], score=0.5)
    return flagged, plain


def test_markdown_and_site_mark_the_scorer_space_row(tmp_path: Path) -> None:
    flagged, plain = _entries()
    assert flagged.scorer_model == MINILM
    text = render_markdown([flagged, plain])
    rows = [line for line in text.splitlines() if "baseline-retrieval-encoder" in line]
    assert len(rows) == 2
    assert f"baseline-retrieval-encoder {SCORER_SPACE_MARK} |" in rows[0]
    assert SCORER_SPACE_MARK not in rows[1]
    assert f"{SCORER_SPACE_MARK}: " in text and "partly circular" in text
    results = tmp_path / "results"
    for entry in (flagged, plain):
        write_entry(results, entry)
    assert validate_results(results) == []
    index = build_site(results, tmp_path / "site").read_text(encoding="utf-8")
    assert index.count('class="scorer-space"') == 1 and html.escape(SCORER_SPACE_LEGEND) in index


def test_validate_refuses_a_wrong_scorer_space_flag(tmp_path: Path) -> None:
    flagged, _ = _entries()
    wrong = flagged.model_copy(update={"scorer_space": False})
    write_entry(tmp_path / "results", wrong)
    problems = validate_results(tmp_path / "results")
    assert len(problems) == 1 and "field 'scorer_space': expected True" in problems[0].message
