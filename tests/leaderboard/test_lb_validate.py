"""validate_results: accepts the fabricated valid set, rejects each kind of bad entry with a specific message."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from neurrator_bench.errors import ResultEntryError
from neurrator_bench.leaderboard.validate import Problem, raise_if_invalid, skipped_covers, validate_results
from neurrator_bench.schemas.result_entry import SkippedMetric, entry_path, write_entry
from tests.leaderboard.entries import (
    EVIL,
    FINGERPRINTS,
    LLAVA_NARRATOR,
    TASKS,
    frame_curve,
    full_metrics,
    make_entry,
    metric,
    write_valid_set,
)

RIDGE_NM1 = Path("ridge/main/nm1-contiguous-middle~retrieval.json")


@pytest.fixture
def results(tmp_path: Path) -> Path:
    write_valid_set(tmp_path / "results", evil=True)
    return tmp_path / "results"


def edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")  # allow_nan=True: writes NaN / Infinity


def only(problems: list[Problem], pattern: str) -> Problem:
    found = [p for p in problems if re.search(pattern, p.message)]
    assert len(found) == 1, f"expected one problem matching {pattern!r}, found {problems}"
    return found[0]


def test_accepts_the_valid_set(results: Path) -> None:
    assert validate_results(results) == []
    assert validate_results(results, expected_fingerprints=FINGERPRINTS) == []
    raise_if_invalid(results, [])  # no problem: no error


def test_missing_results_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="expected a folder"):
        validate_results(tmp_path / "absent")


@pytest.mark.parametrize(
    ("bad", "pattern"),
    [
        (float("nan"), r"invalid number: non-finite number NaN"),
        (float("inf"), r"invalid number: non-finite number Infinity"),
        (float("-inf"), r"invalid number: non-finite number -Infinity"),
    ],
    ids=["nan", "inf", "-inf"],
)
def test_rejects_non_finite_numbers(results: Path, bad: float, pattern: str) -> None:
    path = results / RIDGE_NM1
    edit_json(path, lambda d: d["metrics"][0].__setitem__("value", bad))
    problem = only(validate_results(results), pattern)
    assert problem.path == path
    assert str(problem).startswith(str(path))


def test_rejects_overflowing_number(results: Path) -> None:
    path = results / RIDGE_NM1
    path.write_text(path.read_text(encoding="utf-8").replace('"evaluation_time_s": 12.5', '"evaluation_time_s": 1e999'))
    assert only(validate_results(results), r"number 1e999 overflows to inf").path == path


def test_rejects_out_of_range_value_and_ci(results: Path) -> None:
    entry = make_entry("ridge", "main", TASKS[0], score=0.41, kind="baseline", n_parameters=480_000)
    entry.metrics[0] = metric("sbert_matched", 1.5)  # range [-1, 1]
    entry.metrics[6] = metric("retrieval_r10", 0.3).model_copy(update={"ci_low": 0.35})
    entry.created_at = "2026-01-10T10:00:00+00:00"
    path = write_entry(results, entry)
    problems = validate_results(results)
    value = only(
        problems, r"metric 'sbert_matched': field 'value' expected within the value range \[-1.0, 1.0\], found 1.5"
    )
    only(problems, r"metric 'sbert_matched': field 'ci_high' expected within .* found 1.52")
    only(problems, r"metric 'retrieval_r10': expected ci_low <= value, found ci_low 0.35 > 0.3")
    assert value.path == path


def test_rejects_value_above_ci_high(results: Path) -> None:
    path = results / RIDGE_NM1
    edit_json(path, lambda d: d["metrics"][0].__setitem__("ci_high", 0.2))
    only(
        validate_results(results), r"metric 'sbert_matched': expected value <= ci_high, found value 0.41 > ci_high 0.2"
    )


@pytest.mark.parametrize(
    ("drop", "pattern"),
    [
        (("package_version",), r"field '<root>': 'package_version' is a required property"),
        (("dataset", "fingerprint"), r"field 'dataset': 'fingerprint' is a required property"),
        (("metrics", 0, "n"), r"field 'metrics.0': 'n' is a required property"),
    ],
    ids=["package_version", "dataset.fingerprint", "metrics.0.n"],
)
def test_rejects_missing_required_fields(results: Path, drop: tuple, pattern: str) -> None:
    def change(data: dict) -> None:
        node = data
        for key in drop[:-1]:
            node = node[key]
        del node[drop[-1]]

    path = results / RIDGE_NM1
    edit_json(path, change)
    assert only(validate_results(results), "schema violation at " + pattern).path == path


def test_rejects_wrong_type_and_unreadable_json(results: Path) -> None:
    edit_json(results / RIDGE_NM1, lambda d: d["metrics"][0].__setitem__("value", "high"))
    (results / "pca-knn/main/nm1-contiguous-middle~retrieval.json").write_text("{not json", encoding="utf-8")
    problems = validate_results(results)
    only(problems, r"field 'metrics.0.value': 'high' is not of type 'number'")
    only(problems, r"not valid JSON")


def test_rejects_html_in_model_name_via_pydantic(results: Path) -> None:
    path = results / RIDGE_NM1
    edit_json(path, lambda d: d["model"].__setitem__("name", EVIL))
    problem = only(validate_results(results), r"schema violation: .*model\.name")
    assert problem.path == path


def test_rejects_unknown_and_duplicate_metric_names(results: Path) -> None:
    entry = make_entry("ridge", "main", TASKS[0], score=0.41, kind="baseline", n_parameters=480_000)
    entry.metrics.append(metric("bleu_4", 0.2))
    entry.metrics.append(metric("retrieval_r1", 0.1))
    entry.created_at = "2026-01-10T10:00:00+00:00"
    write_entry(results, entry)
    problems = validate_results(results)
    only(problems, r"metrics: unknown metric name 'bleu_4'; registered: .*retrieval_r10")
    only(problems, r"metrics: duplicate metric name 'retrieval_r1'")


def test_rejects_file_at_the_wrong_path(results: Path) -> None:
    wrong = results / "ridge/v9/nm1-contiguous-middle~retrieval.json"
    wrong.parent.mkdir()
    shutil.move(results / RIDGE_NM1, wrong)
    problem = only(validate_results(results), r"file path does not match its content .*revision 'main'")
    assert problem.path == wrong
    assert str(results / RIDGE_NM1) in problem.message


def test_rejects_stray_json(results: Path) -> None:
    (results / "ridge" / "notes.json").write_text("{}", encoding="utf-8")
    only(validate_results(results), r"JSON file outside <model>/<revision>/<task>.json")


def test_rejects_another_expected_fingerprint(results: Path) -> None:
    problems = validate_results(results, expected_fingerprints={TASKS[1]: "fp-new"})
    assert len(problems) == 4  # every entry of that task
    assert all(
        re.search(
            rf"entry from another dataset fingerprint: task '{TASKS[1]}' expected fingerprint 'fp-new'", p.message
        )
        for p in problems
    )


def test_rejects_two_fingerprints_in_one_task_naming_both_files(results: Path) -> None:
    entry = make_entry("ridge", "main", TASKS[1], score=0.36, fingerprint="fp-other", n_parameters=480_000)
    entry.created_at = "2026-01-10T10:00:00+00:00"
    path = write_entry(results, entry)
    problem = only(validate_results(results), r"dataset fingerprint 'fp-other' differs from 'fp-scenes")
    first = results / "neurrator__reference/v1/scenes-identity-holdout~retrieval.json"
    assert problem.path == path
    assert str(first) in problem.message
    assert problem.others == (first,)


def test_rejects_duplicate_under_case_variant(results: Path) -> None:
    twin = results / "Ridge/main/nm1-contiguous-middle~retrieval.json"
    twin.parent.mkdir(parents=True)
    edit_json(results / RIDGE_NM1, lambda d: None)
    twin.write_text((results / RIDGE_NM1).read_text().replace('"name": "ridge"', '"name": "Ridge"'))
    problem = only(validate_results(results), r"duplicate entry: same model 'ridge', revision 'main', task")
    assert {problem.path, *problem.others} == {twin, results / RIDGE_NM1}


def test_rejects_renamed_model_as_suspected_duplicate(results: Path) -> None:
    entry = make_entry("ridge", "main", TASKS[0], score=0.41, kind="baseline", n_parameters=480_000)
    entry.model.name = "ridge-renamed"
    path = write_entry(results, entry)
    problem = only(validate_results(results), r"suspected duplicate: metrics byte-identical to .*ridge/main")
    assert problem.path in (path, results / RIDGE_NM1)
    assert "'ridge-renamed'" in problem.message


def _later_reference(results: Path, *, metrics, skipped=None, task: str = TASKS[0]) -> Path:
    entry = make_entry(
        "neurrator/reference", "v3", task, kind="reference", metrics=metrics, skipped=skipped, n_parameters=12_300_000
    )
    entry.created_at = "2026-03-01T00:00:00+00:00"
    return write_entry(results, entry)


def test_rejects_metric_dropped_silently_in_later_revision(results: Path) -> None:
    later = _later_reference(results, metrics=[m for m in full_metrics(0.7) if m.name != "cka_linear"])
    problems = validate_results(results)
    problem = only(problems, r"metric 'cka_linear' present in earlier revision 'v2' .* is missing from revision 'v3'")
    assert problem.path == later
    assert str(entry_path(results, make_entry("neurrator/reference", "v2", TASKS[0]))) in problem.message
    # the other task and the subsets of v2 are missing from v3 as well
    only(
        problems,
        rf"task '{TASKS[1]}' subset '' narrator 'retrieval' of revision 'v2' .* missing from later revision 'v3'",
    )


def test_accepts_dropped_metric_listed_as_skipped(tmp_path: Path) -> None:
    results = tmp_path / "results"
    for revision, when, metrics, skipped in (
        ("a", "2026-01-01T00:00:00+00:00", full_metrics(0.5), []),
        (
            "b",
            "2026-02-01T00:00:00",  # naive time: read as UTC
            [m for m in full_metrics(0.6) if m.name != "cka_linear"],
            [SkippedMetric(name="cka_linear", reason="targets not available for this model")],
        ),
    ):
        write_entry(results, make_entry("m", revision, TASKS[0], created_at=when, metrics=metrics, skipped=skipped))
    assert validate_results(results) == []


def test_rejects_unparsable_created_at(results: Path) -> None:
    edit_json(results / RIDGE_NM1, lambda d: d.__setitem__("created_at", "yesterday"))
    only(validate_results(results), r"field 'created_at': expected an ISO 8601 time, found 'yesterday'")


def test_raise_if_invalid_lists_problems(results: Path) -> None:
    edit_json(results / RIDGE_NM1, lambda d: d["metrics"][0].__setitem__("value", 3.0))
    with pytest.raises(
        ResultEntryError, match=r"2 problem\(s\), refusing invalid entries:\n  .*ridge/main.*found 3.0\n"
    ):
        raise_if_invalid(results, validate_results(results))


def test_skipped_family_names_cover_their_metrics(tmp_path: Path) -> None:
    """The scorer skips whole families ("retrieval/cka/knn_purity", "sbert"); a later revision may do so."""
    narration_only = [m for m in full_metrics(0.6) if m.name.startswith("sbert")]
    family = [SkippedMetric(name="retrieval/cka/knn_purity", reason="predictions have no 'embedding' column")]
    for revision, when, metrics, skipped in (
        ("a", "2026-01-01T00:00:00+00:00", full_metrics(0.5), []),
        ("b", "2026-02-01T00:00:00+00:00", narration_only, family),
    ):
        entry = make_entry("m", revision, TASKS[0], created_at=when, metrics=metrics, skipped=skipped)
        entry.dataset.revision = None  # a local dataset folder has no Hub revision
        entry.skipped.append(SkippedMetric(name="session:791319847", reason="no predictions for this session"))
        write_entry(tmp_path, entry)
    assert validate_results(tmp_path) == []
    assert skipped_covers(["sbert/celltype_accuracy"], "sbert_shuffled_floor")
    assert skipped_covers(["sbert/celltype_accuracy"], "celltype_accuracy")
    assert not skipped_covers(["sbert/celltype_accuracy"], "distinct_narration_ratio")
    assert skipped_covers(["knn_purity"], "knn_purity") and not skipped_covers(["cka"], "ckax")


@pytest.mark.parametrize("threads", [1, 2])
def test_draw_average_with_equal_draws_validates(tmp_path: Path, threads: int) -> None:
    """Issue 16: equal draws make mean and percentile differ in the last bit; the entry must still validate."""
    from threadpoolctl import threadpool_limits

    from neurrator_bench.evaluation import combine_draws
    from neurrator_bench.schemas.result_entry import Subset

    draws = [
        make_entry("ridge", "main", TASKS[0], metrics=[metric("sbert_word_salad_floor", 0.1, half=None)])
        for _ in range(3)
    ]
    with threadpool_limits(threads):
        combined = combine_draws(draws, Subset(region_group="visual", n_units=8, draws=3, seed=0))
    floor = combined.metric("sbert_word_salad_floor")
    assert floor.value == float(np.full(3, 0.1).mean()) > 0.1  # the value is the mean, one ulp above 0.1
    assert floor.ci_low <= floor.value <= floor.ci_high  # exactly, by construction
    write_entry(tmp_path / "r", combined)
    assert validate_results(tmp_path / "r") == []


def test_float_noise_in_a_stored_entry_is_tolerated_a_real_gap_is_not(results: Path) -> None:
    path = results / RIDGE_NM1
    value = json.loads(path.read_text(encoding="utf-8"))["metrics"][0]["value"]
    edit_json(path, lambda d: d["metrics"][0].__setitem__("ci_low", float(np.nextafter(value, 2.0))))
    assert validate_results(results) == []
    edit_json(path, lambda d: d["metrics"][0].__setitem__("ci_low", value * (1 + 1e-9)))
    only(validate_results(results), r"metric 'sbert_matched': expected ci_low <= value, found ci_low 0.41")


def _ridge_with_frame_table(results: Path) -> Path:
    entry = make_entry(
        "ridge",
        "main",
        TASKS[0],
        score=0.41,
        n_parameters=480_000,
        frame_table=frame_curve(),
        created_at="2026-01-10T10:00:00+00:00",
    )
    path = write_entry(results, entry)
    assert validate_results(results) == []
    return path


def test_rejects_frame_table_columns_of_other_lengths(results: Path) -> None:
    path = _ridge_with_frame_table(results)

    def change(d: dict) -> None:
        d["frame_table"]["values"]["sbert_matched"].pop()
        d["frame_table"]["block"].append(9)

    edit_json(path, change)
    problems = validate_results(results)
    assert {p.path for p in problems} == {path}
    only(problems, r"frame_table: column 'values.sbert_matched' expected as long as 'frame' \(30 rows\), found 29")
    only(problems, r"frame_table: column 'block' expected as long as 'frame' \(30 rows\), found 31")


def test_rejects_n_frames_that_disagree_with_the_frame_table(results: Path) -> None:
    path = _ridge_with_frame_table(results)
    edit_json(path, lambda d: d["statistics"].__setitem__("n_frames", 200))
    problem = only(validate_results(results), r"statistics: field 'n_frames' expected 30 \(rows of frame_table\)")
    assert problem.path == path and problem.message.endswith("found 200")


def test_rejects_repeated_frames_and_out_of_range_frame_values(results: Path) -> None:
    path = _ridge_with_frame_table(results)

    def change(d: dict) -> None:
        d["frame_table"]["frame"][1] = 0
        d["frame_table"]["values"]["retrieval_r10"][3] = 1.5
        d["frame_table"]["n"][4] = 0

    edit_json(path, change)
    problems = validate_results(results)
    only(problems, r"frame_table: expected one row per \(stimulus, frame\), found \('natural_movie_one', 0\) twice")
    only(problems, r"column 'values.retrieval_r10' expected within the value range \[0.0, 1.0\], found 1.5 at row 3")
    only(problems, r"frame_table: column 'n' expected >= 1 sample per frame, found 0 at row 4")


def test_rejects_chance_and_ceiling_outside_the_range(results: Path) -> None:
    def change(d: dict) -> None:
        r10 = next(m for m in d["metrics"] if m["name"] == "retrieval_r10")
        r10["chance"], r10["ceiling"] = -0.5, 1.25

    edit_json(results / RIDGE_NM1, change)
    problems = validate_results(results)
    only(problems, r"metric 'retrieval_r10': field 'chance' expected within the value range \[0.0, 1.0\], found -0.5")
    only(problems, r"metric 'retrieval_r10': field 'ceiling' expected within .* found 1.25")


def test_two_narrators_are_two_entries_and_a_dropped_narrator_is_reported(tmp_path: Path) -> None:
    results = tmp_path / "results"
    first = [
        make_entry("m", "a", TASKS[0], created_at="2026-01-01T00:00:00+00:00"),
        make_entry("m", "a", TASKS[0], created_at="2026-01-01T00:00:00+00:00", narrator=LLAVA_NARRATOR),
    ]
    for entry in first:
        write_entry(results, entry)
    assert validate_results(results) == []
    write_entry(results, make_entry("m", "b", TASKS[0], created_at="2026-02-01T00:00:00+00:00"))
    problem = only(validate_results(results), r"narrator 'llava \(llava-hf/llava-1.5-7b-hf@a272c74\)' of revision 'a'")
    assert problem.message.startswith(f"task '{TASKS[0]}' subset '' narrator ")
    assert problem.others == (entry_path(results, first[1]),)
