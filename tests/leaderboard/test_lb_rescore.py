"""Submissions as predictions: bundle, maintainer re-score (verified entries), integrity checks, ranking rules."""

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from neurrator_bench.cli import main
from neurrator_bench.dataset_access import load_frame_targets, load_samples
from neurrator_bench.errors import PredictionsError, ResultEntryError
from neurrator_bench.leaderboard.rescore import make_bundle, rescore_bundle, rescore_differences
from neurrator_bench.leaderboard.store import (
    StoredEntry,
    rank_groups,
    ranked_full_population,
    session_coverage,
)
from neurrator_bench.leaderboard.validate import validate_results
from neurrator_bench.schemas.predictions import write_predictions
from neurrator_bench.schemas.result_entry import (
    ModelMeta,
    NarratorMeta,
    SkippedMetric,
    Verification,
    entry_path,
    read_entry,
    write_entry,
)
from neurrator_bench.schemas.submission_bundle import read_bundle
from neurrator_bench.scoring import ScoringOptions
from tests.leaderboard.entries import make_entry, metric

TASK = "nm1-contiguous-middle"
OTHER = "nm1-front-only"
FAST = ScoringOptions(n_boot=30, celltype=False)
SCORE_FLAGS = ["--n-boot", "30", "--permutations", "0"]


def noisy_predictions(ds, task, path, *, seed=0):
    """Pooled targets plus noise and the captions of a rolled order: a model that is partly right."""
    s = load_samples(ds, task, "test")
    rng = np.random.default_rng(seed)
    emb = load_frame_targets(ds, "natural_movie_one").pooled[s["frame"].to_numpy()]
    emb = emb + rng.normal(0, 0.05, emb.shape)
    captions = s["caption"].tolist()
    narr = captions[7:] + captions[:7]
    return write_predictions(
        path,
        s["sample_id"].tolist(),
        dataset_fingerprint=ds.task_fingerprint(task),
        task=task,
        embedding=emb,
        narration=narr,
        narrator={"kind": "retrieval", "decoding": "nearest training caption"},
    )


def test_bundle_rescores_to_the_numbers_of_a_local_score_run_and_tampering_is_caught(
    tmp_path, ds, encoder, built_dataset
):
    preds = noisy_predictions(ds, TASK, tmp_path / "preds.parquet")
    runner = CliRunner()
    local = runner.invoke(
        main,
        [
            "score",
            str(preds),
            "--dataset",
            str(built_dataset),
            "--task",
            TASK,
            "--model-name",
            "m",
            "--out",
            str(tmp_path / "local"),
            *SCORE_FLAGS,
        ],
    )
    assert local.exit_code == 0, local.output
    bundle = tmp_path / "bundle"
    made = runner.invoke(main, ["leaderboard", "submit", str(preds), "--model-name", "m", "--out", str(bundle)])
    assert made.exit_code == 0, made.output
    listed = read_bundle(bundle)
    assert [f.task for f in listed.files] == [TASK] and listed.model.name == "m"
    results = tmp_path / "results"
    done = runner.invoke(
        main,
        ["leaderboard", "rescore", str(bundle), "--dataset", str(built_dataset), "--out", str(results), *SCORE_FLAGS],
    )
    assert done.exit_code == 0, done.output
    (local_file,) = (tmp_path / "local").glob("*/*/*.json")
    (verified_file,) = results.glob("*/*/*.json")
    a, b = read_entry(local_file), read_entry(verified_file)
    assert a.verification is None and b.verification is not None
    assert b.verification.scoring["n_boot"] == 30
    # the very same numbers: every metric, interval, p, the frame table and the per-session breakdown
    assert [m.model_dump() for m in a.metrics] == [m.model_dump() for m in b.metrics]
    assert a.frame_table == b.frame_table and a.per_session == b.per_session
    assert a.predictions_sha256 == b.predictions_sha256
    copy = verified_file.with_name(b.verification.predictions_file)
    assert copy.is_file() and copy.read_bytes() == preds.read_bytes()
    assert validate_results(results, dataset=ds, encoder=encoder) == []

    # a tampered score in the verified entry: caught by the re-score
    data = json.loads(verified_file.read_text())
    sbert = next(m for m in data["metrics"] if m["name"] == "sbert_matched")
    # a small nudge inside the interval: every range check still passes, only the re-score can tell
    sbert["value"] = round(sbert["value"] + (sbert["ci_high"] - sbert["value"]) / 2, 6)
    verified_file.write_text(json.dumps(data))
    problems = [p.message for p in validate_results(results, dataset=ds, encoder=encoder)]
    assert len(problems) == 1 and "verified scores do not match a re-score" in problems[0], problems
    assert "metrics[sbert_matched].value" in problems[0]
    assert rescore_differences(verified_file, read_entry(verified_file), ds, encoder=encoder)
    # without the dataset the scores cannot be checked, but a changed predictions file is caught by its hash
    assert validate_results(results) == []
    copy.write_bytes(copy.read_bytes() + b"\0")
    problems = validate_results(results)
    assert len(problems) == 1 and "hashes to" in problems[0].message and "predictions_sha256" in problems[0].message
    copy.unlink()
    problems = validate_results(results)
    assert len(problems) == 1 and "does not exist" in problems[0].message


def test_bad_bundles_and_bad_files_get_clear_errors(tmp_path, ds):
    preds = noisy_predictions(ds, TASK, tmp_path / "preds.parquet")
    bundle = tmp_path / "bundle"
    make_bundle([preds], bundle, model=ModelMeta(name="m"))
    listed = read_bundle(bundle).files[0].path
    # a bundle without a file it lists
    (bundle / listed).unlink()
    with pytest.raises(ResultEntryError, match=rf"the bundle lists '{listed}', but .* does not exist"):
        rescore_bundle(bundle, ds, tmp_path / "r", options=FAST)
    # a file changed after bundling
    shutil.copyfile(preds, bundle / listed)
    with (bundle / listed).open("ab") as fh:
        fh.write(b"x")
    with pytest.raises(ResultEntryError, match="changed after it was bundled"):
        rescore_bundle(bundle, ds, tmp_path / "r", options=FAST)
    # a plain file made for another task, bundled as this task: its ids are not in this task's test split
    other = load_samples(ds, OTHER, "test")
    plain = tmp_path / "plain.parquet"
    pd.DataFrame({"sample_id": other["sample_id"], "narration": other["caption"]}).to_parquet(plain)
    make_bundle([plain], tmp_path / "b2", model=ModelMeta(name="m"), tasks=[TASK])
    with pytest.raises(
        PredictionsError, match=r"00-nm1-contiguous-middle.parquet: column 'sample_id': .* not in the test"
    ):
        rescore_bundle(tmp_path / "b2", ds, tmp_path / "r", options=FAST)
    # the package's file for another task, listed for this task in a hand-edited bundle.json
    make_bundle([noisy_predictions(ds, OTHER, tmp_path / "o.parquet")], tmp_path / "b3", model=ModelMeta(name="m"))
    meta = json.loads((tmp_path / "b3" / "bundle.json").read_text())
    meta["files"][0]["task"] = TASK
    (tmp_path / "b3" / "bundle.json").write_text(json.dumps(meta))
    with pytest.raises(
        PredictionsError, match=f"metadata field 'task' is '{OTHER}', but bundle.json lists it for task"
    ):
        rescore_bundle(tmp_path / "b3", ds, tmp_path / "r", options=FAST)
    # a plain file without its task; a listed path outside predictions/
    with pytest.raises(PredictionsError, match="names no task; give --task"):
        make_bundle([plain], tmp_path / "b4", model=ModelMeta(name="m"))
    meta["files"][0]["path"] = "../../etc/passwd.parquet"
    (tmp_path / "b3" / "bundle.json").write_text(json.dumps(meta))
    with pytest.raises(ResultEntryError, match="expected 'predictions/<name>'"):
        read_bundle(tmp_path / "b3")
    assert not (tmp_path / "r").exists()  # nothing written by a refused bundle


def test_two_narrators_of_one_task_bundle_as_two_entries_and_one_narrator_twice_is_refused(tmp_path, ds):
    retrieval = noisy_predictions(ds, TASK, tmp_path / "r.parquet")
    s = load_samples(ds, TASK, "test")
    llava = write_predictions(
        tmp_path / "l.parquet",
        s["sample_id"].tolist(),
        dataset_fingerprint=ds.task_fingerprint(TASK),
        task=TASK,
        narration=s["caption"].tolist(),
        narrator={"kind": "llava", "model_id": "llava-hf/llava-1.5-7b-hf"},
    )
    bundle = make_bundle([retrieval, llava], tmp_path / "b", model=ModelMeta(name="m"))
    assert [f.narrator.kind for f in bundle.files] == ["retrieval", "llava"]
    # a plain file declared as retrieval beside the package's retrieval file: one entry path, refused up front
    plain = tmp_path / "plain.parquet"
    pd.DataFrame({"sample_id": s["sample_id"], "narration": s["caption"]}).to_parquet(plain)
    with pytest.raises(ResultEntryError, match=r"files\[1\] .* would give the same entry as files\[0\]"):
        make_bundle(
            [retrieval, plain],
            tmp_path / "b2",
            model=ModelMeta(name="m"),
            tasks=[TASK],
            narrator=NarratorMeta(kind="retrieval"),
        )
    assert not (tmp_path / "b2").exists()
    with pytest.raises(KeyError, match="nm1-contiguous-midle"):
        make_bundle([plain], tmp_path / "b3", model=ModelMeta(name="m"), tasks=["nm1-contiguous-midle"])


def verification() -> Verification:
    return Verification(
        predictions_file="x.predictions.parquet",
        bundle_sha256="0" * 64,
        scoring={"seed": 0},
        rescored_at="2026-01-01T00:00:00+00:00",
        rescored_with="0.1.0",
    )


def test_ranking_rules_coverage_verification_and_tie_break(tmp_path):
    def entry(name, score, r10, *, verified=False, missing=False, no_pseudo=False):
        e = make_entry(name, "main", TASK, score=score)
        e.metrics = [m if m.name != "retrieval_r10" else metric("retrieval_r10", r10) for m in e.metrics]
        if verified:
            e.verification = verification()
        if missing:
            e.skipped = [*e.skipped, SkippedMetric(name="session:123", reason="no predictions for this session")]
        if no_pseudo:  # a baseline that knows no tagged unit: the pseudo-mouse is left out, the recordings are not
            e.skipped = [*e.skipped, SkippedMetric(name="session:pseudo-tagged", reason="the model knows none")]
        return StoredEntry(entry_path(tmp_path, e), e)

    rows = [
        entry("self-a", 0.50, 0.10),
        entry("self-b", 0.50, 0.20),  # tie on the main score: the higher R@10 ranks first
        entry("verified-low", 0.40, 0.10, verified=True),
        entry("partial-best", 0.90, 0.90, missing=True),
        entry("no-pseudo", 0.30, 0.10, no_pseudo=True),
    ]
    ranked = ranked_full_population(rows)
    assert [s.model_name for s in ranked] == ["partial-best", "self-b", "self-a", "verified-low", "no-pseudo"]
    groups = rank_groups(ranked)
    assert [s.model_name for s in groups.verified] == ["verified-low"]
    assert [s.model_name for s in groups.self_reported] == ["self-b", "self-a", "no-pseudo"]
    assert [s.model_name for s in groups.incomplete] == ["partial-best"]
    assert session_coverage(rows[3]) == (1, 2) and session_coverage(rows[0]) == (1, 1)
    assert session_coverage(rows[4]) == (1, 1)

    # the markdown table ranks them so, and says why the best score is not ranked
    from neurrator_bench.leaderboard.markdown import render_markdown

    text = render_markdown([s.entry for s in rows])
    verified_at, self_at, partial_at = (text.index(t) for t in ("Verified (", "Self-reported (", "Not ranked ("))
    assert verified_at < self_at < partial_at
    ranks = dict((m, r) for r, m in re.findall(r"^\| (\d) \| [^|]* \| ([a-z-]+) \|", text, re.M))
    assert ranks == {"verified-low": "1", "self-b": "1", "self-a": "2", "no-pseudo": "3"}  # partial row: none
    assert "1/2" in text.split("Not ranked (")[1]


def test_simulated_and_real_entries_of_one_task_are_refused(tmp_path):
    sim = make_entry("a", "main", TASK)
    real = make_entry("b", "main", TASK)
    sim.dataset.data_origin, real.dataset.data_origin = "simulated", "allen"
    write_entry(tmp_path, sim)
    write_entry(tmp_path, real)
    problems = validate_results(tmp_path)
    assert any("entries on simulated data are never ranked with real-data rows" in p.message for p in problems)


def test_verified_entries_travel_with_their_predictions_in_an_entries_submission(tmp_path, ds, encoder):
    from neurrator_bench.leaderboard.submit import submit_results

    preds = noisy_predictions(ds, TASK, tmp_path / "p.parquet")
    make_bundle([preds], tmp_path / "b", model=ModelMeta(name="m"))
    (written,) = rescore_bundle(tmp_path / "b", ds, tmp_path / "results", options=FAST, encoder=encoder)
    outcome = submit_results(tmp_path / "results" / "m", "org/results", offline=True, bundle_dir=tmp_path / "s")
    copy = written.path.with_name(written.entry.verification.predictions_file)
    assert outcome.files == (f"results/m/main/{written.path.name}", f"results/m/main/{copy.name}")
    assert (tmp_path / "s" / "results" / "m" / "main" / copy.name).read_bytes() == preds.read_bytes()
    upload = (tmp_path / "s" / "UPLOAD.md").read_text()
    assert "(revisions main; 1 entries)" in upload


def test_submit_records_the_unit_subset_of_prediction_files(tmp_path, ds, encoder):
    """Predictions mode: --units / --n-units say which units the predicting model read; the entry keeps them."""
    preds = noisy_predictions(ds, TASK, tmp_path / "preds.parquet")
    runner = CliRunner()
    bundle = tmp_path / "bundle"
    made = runner.invoke(
        main,
        [
            "leaderboard",
            "submit",
            str(preds),
            "--model-name",
            "m",
            "--units",
            "region=V1",
            "--n-units",
            "8",
            "--out",
            str(bundle),
        ],
    )
    assert made.exit_code == 0, made.output
    (item,) = read_bundle(bundle).files
    assert (item.subset.region_group, item.subset.n_units, item.subset.draws) == ("V1", 8, 1)
    (written,) = rescore_bundle(bundle, ds, tmp_path / "results", options=FAST, encoder=encoder)
    assert written.entry.subset.region_group == "V1" and written.path.name.startswith(
        f"{TASK}@region_group=V1,n_units=8"
    )
    # the flags describe prediction files: refused in entries mode, and several draws need --n-units
    refused = runner.invoke(
        main, ["leaderboard", "submit", str(tmp_path / "results" / "m"), "--repo", "o/r", "--units", "region=V1"]
    )
    assert refused.exit_code == 2 and "predictions mode" in refused.output
    refused = runner.invoke(
        main, ["leaderboard", "submit", str(preds), "--model-name", "m", "--draws", "3", "--out", str(tmp_path / "b2")]
    )
    assert refused.exit_code == 2 and "needs n_units" in refused.output
