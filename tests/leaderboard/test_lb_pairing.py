"""Paired block bootstrap between entries: the "≈" / "not paired" marks of ranked tables, and compare --paired."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from neurrator_bench.cli import main
from neurrator_bench.leaderboard.compare import paired_compare, render_paired
from neurrator_bench.leaderboard.markdown import render_markdown
from neurrator_bench.leaderboard.site import build_site
from neurrator_bench.leaderboard.store import (
    NOT_SIGNIFICANT_LEGEND,
    StoredEntry,
    frame_values,
    pair_adjacent_rows,
    pair_rows,
)
from neurrator_bench.schemas.result_entry import FrameTable, write_entry
from tests.leaderboard.entries import TASKS, frame_curve, make_entry, write_entries

N_BOOT = 200


def stored(entry) -> StoredEntry:
    return StoredEntry(Path(f"{entry.model.name}.json"), entry)


def shifted(table: FrameTable, by: float) -> FrameTable:
    """The same frames with every value plus ``by``."""
    values = {name: [v + by for v in column] for name, column in table.values.items()}
    return table.model_copy(update={"values": values})


def ranked_set() -> list:
    """Four rows: a, b (a's frame table exactly), c (0.3 below on every frame), d (other frames), e (no table)."""
    table = frame_curve()
    return [
        make_entry("a", "main", TASKS[0], score=0.60, frame_table=table),
        make_entry("b", "main", TASKS[0], score=0.59, frame_table=table),
        make_entry("c", "main", TASKS[0], score=0.30, frame_table=frame_curve(offset=-0.3)),
        make_entry("d", "main", TASKS[0], score=0.29, frame_table=frame_curve(first_frame=100)),
        make_entry("e", "main", TASKS[0], score=0.20),
    ]


def test_frame_values_and_its_errors() -> None:
    table = frame_curve(3)
    values = frame_values(table, "sbert_matched")
    assert list(values) == [("natural_movie_one", 0), ("natural_movie_one", 1), ("natural_movie_one", 2)]
    assert [v[0] for v in values.values()] == pytest.approx([0.4, 0.42, 0.44])
    assert [v[1] for v in values.values()] == [0, 0, 0]
    with pytest.raises(KeyError, match=r"no column 'knn_purity'; present: \['sbert_matched', 'retrieval_r10'\]"):
        frame_values(table, "knn_purity")
    twice = table.model_copy(update={"frame": [0, 0, 1]})
    with pytest.raises(ValueError, match=r"one row per \(stimulus, frame\), found \('natural_movie_one', 0\) twice"):
        frame_values(twice, "sbert_matched")
    short = table.model_copy(update={"block": [0, 0]})
    with pytest.raises(ValueError, match=r"of one length, found 3, 3, 2 and 3"):
        frame_values(short, "sbert_matched")


def test_identical_frame_tables_are_marked_not_significant() -> None:
    a, b, *_ = ranked_set()
    pairing = pair_rows(stored(a), stored(b), n_boot=N_BOOT)
    assert pairing.status == "not significant" and pairing.mark == "\u2248"
    d = pairing.difference
    assert (d.metric, d.difference, d.low, d.high, d.p_two_sided, d.n_frames) == ("sbert_matched", 0, 0, 0, 1, 30)
    assert "row above minus this row 0 [0, 0], two-sided p=1, 30 frames" in pairing.describe()


def test_clearly_separated_frames_are_not_marked() -> None:
    _, b, c, *_ = ranked_set()
    pairing = pair_rows(stored(b), stored(c), n_boot=N_BOOT)
    assert pairing.status == "significant" and pairing.mark == ""
    d = pairing.difference
    assert d.difference == pytest.approx(0.3, abs=1e-12)
    assert d.low == pytest.approx(0.3, abs=1e-12) and d.high == pytest.approx(0.3, abs=1e-12)
    assert d.p_two_sided == pytest.approx(2 / (N_BOOT + 1))


def test_different_frame_sets_or_no_table_are_not_paired() -> None:
    _, _, c, d, e = ranked_set()
    other_frames = pair_rows(stored(c), stored(d), n_boot=N_BOOT)
    assert other_frames.status == "not paired" and other_frames.mark == "not paired"
    assert other_frames.difference is None and "cover different frames" in other_frames.describe()
    no_table = pair_rows(stored(d), stored(e), n_boot=N_BOOT)
    assert no_table.mark == "not paired" and no_table.reason == "e (retrieval): no frame table"
    r10_only = make_entry("f", "main", TASKS[0], metrics=[m for m in e.metrics if m.name == "retrieval_r10"])
    assert "different main metrics ['sbert_matched', 'retrieval_r10']" in pair_rows(stored(e), stored(r10_only)).reason


def test_marks_in_markdown_and_site(tmp_path: Path) -> None:
    entries = ranked_set()
    assert [p.status for p in pair_adjacent_rows([stored(x) for x in entries], n_boot=N_BOOT)] == [
        "first",
        "not significant",
        "significant",
        "not paired",
        "not paired",
    ]
    md = render_markdown(entries)
    marks = re.findall(r"^\| (\d) \| ([^|]*) \| ([a-z]) \|", md, re.M)
    assert [(r, m.strip(), name) for r, m, name in marks] == [
        ("1", "", "a"),
        ("2", "\u2248", "b"),
        ("3", "", "c"),
        ("4", "not paired", "d"),
        ("5", "not paired", "e"),
    ]
    assert f"\u2248: {NOT_SIGNIFICANT_LEGEND}" in md
    write_entries(tmp_path / "results", entries)
    index = build_site(tmp_path / "results", tmp_path / "site").read_text(encoding="utf-8")
    cells = re.findall(r'<td class="pair" data-sort="([^"]*)"(?: title="([^"]*)")?>', index)
    assert [c[0] for c in cells] == ["", "\u2248", "", "not paired", "not paired"]
    assert cells[1][1].startswith("sbert_matched: row above minus this row 0 [0, 0], two-sided p=1, 30 frames")
    assert cells[2][1].startswith("sbert_matched: row above minus this row 0.3 [0.3, 0.3]")
    assert cells[4][1] == "e (retrieval): no frame table"
    assert f"&#x27;: {NOT_SIGNIFICANT_LEGEND}" not in index and NOT_SIGNIFICANT_LEGEND in index


def test_paired_compare_known_values() -> None:
    table = frame_curve()
    a = make_entry("a", "main", TASKS[0], frame_table=table)
    b = make_entry("b", "main", TASKS[0], frame_table=shifted(table, -0.1))
    diffs = paired_compare(a, b, n_boot=N_BOOT, seed=3)
    assert [d.metric for d in diffs] == ["sbert_matched", "retrieval_r10"]  # registration order
    for d in diffs:
        assert d.difference == pytest.approx(0.1, abs=1e-12)
        assert d.high - d.low == pytest.approx(0.0, abs=1e-12)  # every frame differs by exactly 0.1
        assert d.p_two_sided == pytest.approx(2 / (N_BOOT + 1)) and d.n_frames == 30 and d.significant
    (same,) = paired_compare(a, a, ["sbert_matched"], n_boot=N_BOOT)
    assert (same.difference, same.low, same.high, same.p_two_sided, same.significant) == (0, 0, 0, 1, False)


def test_paired_compare_refuses_what_cannot_be_paired() -> None:
    table = frame_curve()
    a = make_entry("a", "main", TASKS[0], frame_table=table)
    other_task = make_entry("b", "main", TASKS[1], frame_table=table)
    with pytest.raises(ValueError, match=r"^A.json and B.json: field 'dataset.task' differs \('nm1-contiguous"):
        paired_compare(a, other_task, labels=("A.json", "B.json"))
    other_data = make_entry("b", "main", TASKS[0], frame_table=table, fingerprint="fp-other")
    with pytest.raises(ValueError, match=r"field 'dataset.fingerprint' differs \('fp-nm1-contiguous-middle-0001' vs"):
        paired_compare(a, other_data)
    with pytest.raises(ValueError, match=r"^entry B: field 'frame_table' is empty"):
        paired_compare(a, make_entry("b", "main", TASKS[0]))
    with pytest.raises(
        KeyError, match=r"\['knn_purity'\]: not in the frame tables .* available: \['sbert_matched', 'retrieval_r10'"
    ):
        paired_compare(a, a, ["sbert_matched", "knn_purity"])
    with pytest.raises(ValueError, match=r"^entry A vs entry B: .*cover different frames"):
        paired_compare(a, make_entry("b", "main", TASKS[0], frame_table=frame_curve(first_frame=1)))


@pytest.fixture
def pair_files(tmp_path: Path) -> tuple[Path, Path]:
    table = frame_curve()
    a = write_entry(tmp_path, make_entry("a", "main", TASKS[0], frame_table=table))
    b = write_entry(tmp_path, make_entry("b", "main", TASKS[0], frame_table=shifted(table, -0.1)))
    return a, b


def test_render_paired_rows(pair_files: tuple[Path, Path]) -> None:
    text = render_paired(*pair_files, n_boot=N_BOOT, width=200)
    row = next(line for line in text.splitlines() if "sbert_matched" in line)
    assert re.search(r"0\.4900 .* 0\.3900 .* \+0\.1000 \[\+0\.1000, \+0\.1000\] .* 0\.00995 .* 30", row)
    assert "A: a@main" in text and "B: b@main" in text and "narrator: retrieval" in text
    assert str(pair_files[0]) in text and "200 replicates, seed 0" in text


def test_cli_compare_paired(pair_files: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = (str(p) for p in pair_files)
    run = CliRunner().invoke(main, ["compare", "--paired", a, b, "--metric", "sbert_matched", "--n-boot", "200"])
    assert run.exit_code == 0, run.output
    assert "+0.1000 [+0.1000, +0.1000]" in run.output and "retrieval_r10" not in run.output
    unknown = CliRunner().invoke(main, ["compare", "--paired", a, b, "--metric", "nope"])
    assert unknown.exit_code == 1 and "available: ['sbert_matched', 'retrieval_r10']" in unknown.output
    other = write_entry(
        tmp_path / "x", make_entry("c", "main", TASKS[0], fingerprint="fp-x", frame_table=frame_curve())
    )
    refused = CliRunner().invoke(main, ["compare", "--paired", a, str(other)])
    assert refused.exit_code == 1
    assert f"{a} and {other}: field 'dataset.fingerprint' differs" in " ".join(refused.output.split())


def test_cli_compare_flag_conflicts(pair_files: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = (str(p) for p in pair_files)
    for args, message in (
        ([str(tmp_path), "--paired", a, b], "give no RESULTS_DIR and no --task"),
        ([str(tmp_path), "--seed", "1"], "--metric, --n-boot and --seed apply to --paired only"),
        ([], "give RESULTS_DIR, or --paired A.json B.json"),
    ):
        run = CliRunner().invoke(main, ["compare", *args])
        assert run.exit_code == 2 and message in run.output, (args, run.output)
