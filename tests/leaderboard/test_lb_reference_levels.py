"""Floor models are reference lines, not ranks; datasets are named by repo id or folder name, never by path."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from neurrator_bench.leaderboard.markdown import dataset_label, is_reference_level, render_markdown
from neurrator_bench.leaderboard.site import build_site
from tests.leaderboard.entries import EVIL, TASKS, make_entry, valid_entries, write_entries

LOCAL_DATASET = "/home/someone/private-runs/2026-06/bo11-build"


def floor_entries() -> list:
    """Floors of the nm1 task, written the way baselines/floors.py names them (kind ``floor-<name>``).

    ``floor-most-frequent-caption`` scores above every model: ranked, it would take rank 1.
    """
    return [
        make_entry("floor-most-frequent-caption", "main", TASKS[0], score=0.9, kind="floor-most-frequent-caption"),
        make_entry("floor-random-caption", "main", TASKS[0], score=0.1, kind="floor-random-caption"),
        make_entry("floor-train-mean", "main", TASKS[1], score=0.2, kind="floor", n_parameters=384),
    ]


def local_entry():
    entry = make_entry("local-model", "main", "nm3-local", score=0.4)
    return entry.model_copy(update={"dataset": entry.dataset.model_copy(update={"repo": LOCAL_DATASET})})


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("reference-levels")
    write_entries(root / "results", [*valid_entries(), *floor_entries(), local_entry()])
    return build_site(root / "results", root / "site").parent


def _table(index: str, task: str) -> str:
    return re.search(rf'<table class="sortable leaderboard" data-task="{re.escape(task)}">.*?</table>', index, re.S)[0]


def _first_cells(rows_html: str) -> list[tuple[str, str]]:
    """(first cell text, model name) of every row (the second cell is "vs above")."""
    out = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", rows_html, re.S):
        cells = [html.unescape(re.sub("<[^>]+>", "", c)) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        out.append((cells[0], cells[2]))
    return out


def test_floor_kinds() -> None:
    kinds = {e.model.kind: is_reference_level(e) for e in [*valid_entries(), *floor_entries()]}
    assert kinds == {
        "reference": False,
        "baseline": False,
        "floor-most-frequent-caption": True,
        "floor-random-caption": True,
        "floor": True,
    }
    assert not is_reference_level(make_entry("m", "main", TASKS[0], kind="floorish"))
    assert not is_reference_level(make_entry("m", "main", TASKS[0], kind=None))


def test_index_ranks_models_and_shows_floors_as_reference_lines(site: Path) -> None:
    index = (site / "index.html").read_text(encoding="utf-8")
    nm1 = _table(index, TASKS[0])
    ranked_body, level_body = re.findall(r"<tbody[^>]*>(.*?)</tbody>", nm1, re.S)
    ranked = ["neurrator/reference", "neurrator/reference", "ridge", "pca-knn", "retrieval-only"]
    assert _first_cells(ranked_body) == [(str(i), name) for i, name in enumerate(ranked, start=1)]
    assert '<tbody class="reference-levels">' in nm1
    assert _first_cells(level_body) == [
        ("reference level", "floor-most-frequent-caption"),
        ("reference level", "floor-random-caption"),
    ]
    assert "floor models" in re.search(r"<caption>(.*?)</caption>", nm1, re.S)[1]
    holdout = _table(index, TASKS[1])
    assert _first_cells(re.findall(r'<tbody class="reference-levels">(.*?)</tbody>', holdout, re.S)[0]) == [
        ("reference level", "floor-train-mean")
    ]
    assert index.count('<tr class="reference-level" data-row') == 3
    css = (site / "assets/leaderboard.css").read_text(encoding="utf-8")
    assert "tbody.reference-levels" in css


def test_markdown_ranks_models_and_lists_floors_unranked(site: Path) -> None:
    md = (site / "leaderboard.md").read_text(encoding="utf-8")
    nm1 = re.split(rf"## {re.escape(TASKS[0])}(?: \([A-Z ]+\))?\n", md)[1].split("\n## ")[0]
    ranked = re.findall(r"^\| (\d+) \| [^|]* \| ([^|]+) \|", nm1, re.M)
    assert [(r, n.strip()) for r, n in ranked] == [
        ("1", "neurrator/reference"),
        ("2", "neurrator/reference"),
        ("3", "ridge"),
        ("4", "pca-knn"),
        ("5", "retrieval-only"),
    ]
    levels = nm1.split("Reference levels")[1]
    assert levels.splitlines()[2].startswith("| reference level | revision | narrator | main metric |")
    assert "| floor-most-frequent-caption | main | retrieval | sbert\\_matched | 0.900 [0.880, 0.920] |" in levels
    assert "| floor-random-caption | main |" in levels
    assert "floor-" not in nm1.split("Reference levels")[0]
    rows = [line for line in md.splitlines() if line.startswith("|")]
    widths = {len(re.findall(r"(?<!\\)\|", line)) for line in rows if "reference level" not in line}
    assert len(widths) <= 2  # ranked tables have one column more (#) than reference tables


def test_only_floors_for_a_task() -> None:
    md = render_markdown([make_entry("floor-train-mean", "main", TASKS[0], kind="floor-train-mean")])
    assert "No ranked model entries." in md and "| floor-train-mean | main |" in md
    assert not re.search(r"^\| 1 \|", md, re.M)


@pytest.mark.parametrize(
    ("repo", "label"),
    [
        ("neurrator/bo11-spike-to-text", "neurrator/bo11-spike-to-text"),
        ("org/name.v2", "org/name.v2"),
        ("/home/someone/data/bo11", "bo11 (local folder)"),
        ("/tmp/x/ds/", "ds (local folder)"),
        ("C:\\Users\\me\\bo11", "bo11 (local folder)"),
        ("./bo11", "bo11 (local folder)"),
        ("bo11", "bo11 (local folder)"),
    ],
)
def test_dataset_label(repo: str, label: str) -> None:
    assert dataset_label(repo) == label


def test_pages_name_local_dataset_by_folder_never_by_path(site: Path) -> None:
    for page in [site / "index.html", site / "leaderboard.md", site / "models/local-model.html"]:
        text = page.read_text(encoding="utf-8")
        assert "bo11-build (local folder)" in text, page
        assert "/home/someone" not in text and "private-runs" not in text, page
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "Dataset neurrator/bo11-spike-to-text (revision r1," in index
    ridge = (site / "models/ridge.html").read_text(encoding="utf-8")
    assert "<dd>neurrator/bo11-spike-to-text @ r1</dd>" in ridge


def test_reference_lines_stay_escaped(tmp_path: Path) -> None:
    floor = make_entry("floor-x", "main", TASKS[0], kind="floor-train-mean", license=EVIL)
    local = floor.model_copy(update={"dataset": floor.dataset.model_copy(update={"repo": f"/tmp/{EVIL}"})})
    md = render_markdown([local])
    assert "<img" not in md and "&lt;img src=x onerror=alert(1)&gt; (local folder)" in md
    write_entries(tmp_path / "results", [local])
    index = build_site(tmp_path / "results", tmp_path / "site").read_text(encoding="utf-8")
    assert "<img src=x" not in index and html.escape(EVIL) in index


def test_simulated_entries_carry_a_visible_badge(tmp_path):
    from neurrator_bench.leaderboard.markdown import render_markdown
    from neurrator_bench.leaderboard.site import build_site
    from neurrator_bench.schemas.result_entry import write_entry
    from tests.leaderboard.entries import TASKS, make_entry

    entry = make_entry("ridge", "main", TASKS[0])
    entry.dataset.data_origin = "simulated"
    write_entry(tmp_path / "results", entry)
    index = build_site(tmp_path / "results", tmp_path / "site").read_text(encoding="utf-8")
    assert '<span class="badge simulated"' in index and "data origin simulated" in index
    assert f"## {TASKS[0]} (SIMULATED DATA)" in render_markdown([entry])
    real = entry.model_copy(deep=True)
    real.dataset.data_origin = "allen"
    assert "SIMULATED" not in render_markdown([real]) and "NOT VERIFIED" not in render_markdown([real])
    unknown = entry.model_copy(deep=True)
    unknown.dataset.data_origin = "unknown"
    assert f"## {TASKS[0]} (ORIGIN NOT VERIFIED)" in render_markdown([unknown])
