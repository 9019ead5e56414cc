"""compare_table / render_compare: reference and baselines side by side with CIs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.table import Table

from neurrator_bench.errors import ResultEntryError
from neurrator_bench.leaderboard.compare import compare_table, render_compare
from tests.leaderboard.entries import RETRIEVAL_METRICS, SBERT_METRICS, TASKS, write_valid_set


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cmp") / "results"
    write_valid_set(root)
    return root


def test_table_columns_reference_first_and_rows_per_metric(results: Path) -> None:
    table = compare_table(results, task=TASKS[1])
    assert isinstance(table, Table)
    headers = [str(c.header).split("\n")[0] for c in table.columns]
    assert headers == ["task / metric", "neurrator/reference", "pca-knn", "ridge"]
    # one header row (revisions) + 9 metrics
    assert table.row_count == 1 + 9


def test_render_shows_latest_revision_with_cis(results: Path) -> None:
    text = render_compare(results, task=TASKS[0], width=160)
    assert "revision v2" in text and "revision v1" not in text  # latest revision only
    assert "0.650 [0.630, 0.670]" in text and "0.620 [0.600, 0.640]" not in text
    assert "retrieval-only" in text and "p=1e-06" in text
    assert "\x1b[" not in text  # plain text for click.echo
    assert max(len(line) for line in text.splitlines()) <= 160


def test_all_tasks_in_sections(results: Path) -> None:
    text = render_compare(results)
    assert all(task in text for task in TASKS)
    assert max(len(line) for line in text.splitlines()) <= 140


def test_unknown_task_and_invalid_folder(results: Path, tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="task 'nope': no full-population entries .* tasks present: \\['nm1"):
        compare_table(results, task="nope")
    bad = tmp_path / "results"
    (path,) = write_valid_set(bad)[:1]
    data = json.loads(path.read_text())
    data["metrics"].append(data["metrics"][0])
    path.write_text(json.dumps(data))
    with pytest.raises(ResultEntryError, match="duplicate metric name 'sbert_matched'"):
        compare_table(bad)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="expected full-population entries, found none"):
        compare_table(tmp_path / "empty")


def test_origin_is_marked_beside_each_task(tmp_path: Path) -> None:
    from neurrator_bench.schemas.result_entry import write_entry
    from tests.leaderboard.entries import make_entry

    entry = make_entry("ridge", "main", TASKS[0])
    entry.dataset.data_origin = "simulated"
    write_entry(tmp_path / "sim", entry)
    assert f"{TASKS[0]} (SIMULATED DATA)" in render_compare(tmp_path / "sim", width=160)
    entry.dataset.data_origin = "allen"
    write_entry(tmp_path / "real", entry)
    text = render_compare(tmp_path / "real", width=160)
    assert TASKS[0] in text and "SIMULATED" not in text and "NOT VERIFIED" not in text


def test_metric_rows_follow_the_registry_headline_first(results: Path) -> None:
    from neurrator_bench.scorers.metric_registry import METRICS

    table = compare_table(results, task=TASKS[1])
    labels = [str(cell).strip() for cell in table.columns[0]._cells]
    present = set(SBERT_METRICS + RETRIEVAL_METRICS)
    registry_order = [
        name for name in METRICS.in_order() if name in present and name not in ("sbert_matched", "retrieval_r10")
    ]
    assert labels[1:] == ["sbert_matched", "retrieval_r10", *registry_order]
    assert len(registry_order) == 7
