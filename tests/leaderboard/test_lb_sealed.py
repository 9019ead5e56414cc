"""The sealed final test end to end: predict the final samples, submit, re-score with the sealed references."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from neurrator_bench.cli import main
from neurrator_bench.dataset_access import load_frame_targets, load_samples, open_dataset
from neurrator_bench.errors import DatasetFormatError, PredictionsError, ResultEntryError
from neurrator_bench.leaderboard.rescore import make_bundle, rescore_bundle
from neurrator_bench.leaderboard.store import group_by_task, load_entries
from neurrator_bench.leaderboard.validate import validate_results
from neurrator_bench.schemas.predictions import read_predictions, write_predictions
from neurrator_bench.schemas.result_entry import ModelMeta, read_entry
from neurrator_bench.schemas.sealed_references import open_references
from neurrator_bench.scoring import ScoringOptions, score_predictions
from neurrator_bench.tasks import NM1

TASK = "nm1-contiguous-middle"
FAST = ScoringOptions(n_boot=30, celltype=False)
SCORE_FLAGS = ["--n-boot", "30", "--permutations", "0"]


@pytest.fixture(scope="module")
def sealed(sealed_build):
    root, refs_dir = sealed_build
    ds = open_dataset(root)
    return ds, open_references(refs_dir, dataset_fingerprint=ds.manifest.fingerprint)


def predictions(ds, refs, split, path, *, noise=0.05, roll=7, seed=0):
    """Targets plus noise and rolled captions of ``split`` (a partly right model); the truth when noise=roll=0."""
    s = load_samples(ds, TASK, split)
    pooled = refs.fill_gallery(NM1, load_frame_targets(ds, NM1).pooled)
    emb = pooled[s["frame"].to_numpy()] + np.random.default_rng(seed).normal(0, noise, (len(s), pooled.shape[1]))
    captions = [refs.captions[NM1].get(int(f)) or c for f, c in zip(s["frame"], s["caption"], strict=True)]
    narr = captions[roll:] + captions[:roll]
    return write_predictions(
        path,
        s["sample_id"].tolist(),
        dataset_fingerprint=ds.task_fingerprint(TASK),
        task=TASK,
        embedding=emb,
        narration=narr,
        narrator={"kind": "retrieval", "decoding": "nearest training caption"},
        split=split,
    )


def _value(entry, name):
    return next(m.value for m in entry.metrics if m.name == name)


def test_final_scores_against_the_sealed_references_and_live_ranks_among_public_frames(sealed, tmp_path, encoder):
    ds, refs = sealed
    n_sealed = len(ds.manifest.sealed_final.frames[NM1])
    truth = {}
    for split in ("test", "final"):
        path = predictions(ds, refs, split, tmp_path / f"{split}.parquet", noise=0, roll=0)
        truth[split] = score_predictions(
            read_predictions(path),
            ds,
            TASK,
            model=ModelMeta(name="oracle"),
            options=FAST,
            encoder=encoder,
            split=split,
            references=refs if split == "final" else None,
        )
    live, final = truth["test"], truth["final"]
    assert live.dataset.split == "test" and final.dataset.split == "final"
    # the oracle: exact captions and targets give SBERT 1 and R@10 1 on both
    for entry in (live, final):
        assert _value(entry, "sbert_matched") == pytest.approx(1.0, abs=1e-6)
        assert _value(entry, "retrieval_r10") == 1.0
    # the final test ranks among every frame, the live test among the public ones only
    assert final.gallery_frames[NM1] == 900 and live.gallery_frames[NM1] == 900 - n_sealed
    # the final test publishes no per-frame values (the feedback a hidden test withholds); the live test does
    assert final.frame_table is None and live.frame_table is not None
    assert final.statistics.n_samples == len(
        load_samples(ds, TASK, "final").query("~session_id.str.startswith('pseudo')")
    )


def test_final_split_requests_that_cannot_be_scored_get_clear_errors(sealed, ds, tmp_path):
    sealed_ds, refs = sealed
    final = predictions(sealed_ds, refs, "final", tmp_path / "final.parquet")
    live = predictions(sealed_ds, refs, "test", tmp_path / "test.parquet")
    model = ModelMeta(name="m")
    with pytest.raises(DatasetFormatError, match="references of split 'final' are sealed"):
        score_predictions(read_predictions(final), sealed_ds, TASK, model=model, options=FAST, split="final")
    with pytest.raises(DatasetFormatError, match="no sealed final split .* built without --seal-final"):
        score_predictions(read_predictions(final), ds, TASK, model=model, options=FAST, split="final", references=refs)
    with pytest.raises(PredictionsError, match="metadata field 'split' is 'test'"):
        score_predictions(
            read_predictions(live), sealed_ds, TASK, model=model, options=FAST, split="final", references=refs
        )
    # references that lack a sealed frame's target: a hard error, never a gallery quietly smaller
    import dataclasses

    with pytest.raises(DatasetFormatError, match="not finite"):
        score_predictions(
            read_predictions(final),
            sealed_ds,
            TASK,
            model=model,
            options=FAST,
            split="final",
            references=dataclasses.replace(refs, pooled={}),
        )
    # CLI: --split final without --references
    result = CliRunner().invoke(
        main, ["score", str(final), "--dataset", str(sealed_ds.root), "--task", TASK, "--split", "final", *SCORE_FLAGS]
    )
    assert result.exit_code != 0 and "--references DIR" in result.output


def test_bundle_of_live_and_final_rescores_like_local_runs_and_tampering_is_caught(sealed, tmp_path, encoder):
    ds, refs = sealed
    runner = CliRunner()
    files = [predictions(ds, refs, split, tmp_path / f"{split}.parquet") for split in ("test", "final")]
    local = runner.invoke(
        main,
        [
            "score",
            str(files[1]),
            "--dataset",
            str(ds.root),
            "--task",
            TASK,
            "--split",
            "final",
            "--references",
            str(refs.root),
            "--model-name",
            "m",
            "--out",
            str(tmp_path / "local"),
            *SCORE_FLAGS,
        ],
    )
    assert local.exit_code == 0, local.output
    bundle = tmp_path / "bundle"
    make_bundle(files, bundle, model=ModelMeta(name="m"))
    results = tmp_path / "results"
    # without the references the final file cannot be scored: refused before any entry is written
    with pytest.raises(DatasetFormatError, match="sealed"):
        rescore_bundle(bundle, ds, results, options=FAST, encoder=encoder)
    assert not results.exists()
    done = runner.invoke(
        main,
        [
            "leaderboard",
            "rescore",
            str(bundle),
            "--dataset",
            str(ds.root),
            "--references",
            str(refs.root),
            "--out",
            str(results),
            *SCORE_FLAGS,
        ],
    )
    assert done.exit_code == 0, done.output
    written = sorted(p.name for p in results.glob("*/*/*.json"))
    (local_file,) = (tmp_path / "local").glob("*/*/*.json")
    a, b = read_entry(local_file), read_entry(results / "m" / "main" / f"{TASK}.final~retrieval.json")
    assert [m.model_dump() for m in a.metrics] == [m.model_dump() for m in b.metrics]
    assert a.frame_table == b.frame_table and b.verification is not None
    # a second re-score would replace them: refused unless asked, and nothing changes
    before = {p: p.read_bytes() for p in results.rglob("*") if p.is_file()}
    with pytest.raises(ResultEntryError, match="would replace 2 existing entry file"):
        rescore_bundle(bundle, ds, results, options=FAST, encoder=encoder, references=refs)
    assert {p: p.read_bytes() for p in results.rglob("*") if p.is_file()} == before
    assert len(rescore_bundle(bundle, ds, results, options=FAST, encoder=encoder, references=refs, overwrite=True)) == 2
    assert written == [f"{TASK}.final~retrieval.json", f"{TASK}~retrieval.json"]
    # live and final are separate boards, not duplicates
    boards = group_by_task(load_entries(results))
    assert sorted(boards) == [TASK, f"{TASK} (final)"]
    assert [p.message for p in validate_results(results, dataset=ds, encoder=encoder, references=refs)] == []
    # without the references the final entry is reported, never passed silently
    problems = [p.message for p in validate_results(results, dataset=ds, encoder=encoder)]
    assert len(problems) == 1 and "could not be re-scored" in problems[0] and "sealed" in problems[0]
    # the page: the final test is a board of its own
    from neurrator_bench.leaderboard.site import build_site

    index = build_site(results, tmp_path / "site").read_text()
    assert f"data-board='{TASK} (final)'" in index and "sealed final test" in index
    # a self-reported final entry (no maintainer re-score) is refused outright
    path = results / "m" / "main" / f"{TASK}.final~retrieval.json"
    saved = path.read_text()
    data = json.loads(saved)
    data["verification"] = None
    path.write_text(json.dumps(data))
    problems = [p.message for p in validate_results(results)]
    assert len(problems) == 1 and "self-reported scores on the sealed final test are not accepted" in problems[0]
    path.write_text(saved)
    # a tampered final score is caught by the re-score
    data = json.loads(path.read_text())
    sbert = next(m for m in data["metrics"] if m["name"] == "sbert_matched")
    sbert["value"] = round(sbert["value"] + (sbert["ci_high"] - sbert["value"]) / 2, 6)
    path.write_text(json.dumps(data))
    problems = [p.message for p in validate_results(results, dataset=ds, encoder=encoder, references=refs)]
    assert len(problems) == 1 and "metrics[sbert_matched].value" in problems[0]


TINY = {
    "encoder": {"conv_kernels": [3], "conv_channels": 4, "d_model": 16, "n_heads": 2, "n_layers": 1, "ff_mult": 1},
    "train": {"lr": 1e-3, "batch_size": 512, "max_epochs": 1, "patience": 1, "device": "cpu"},
}


def test_a_model_narrates_the_final_samples_and_only_the_references_score_them(sealed, tmp_path, encoder):
    """`narrate --split final` on a trained model: the spikes are public, so the file is made without references."""
    from neurrator_bench.reference_model.train_on_dataset import train_reference

    ds, refs = sealed
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps(TINY))
    model = train_reference(ds, TASK, tmp_path / "model", sessions=["9000800803"], config_file=cfg, seed=0)
    out = tmp_path / "final.parquet"
    result = CliRunner().invoke(
        main,
        ["narrate", str(model), "--dataset", str(ds.root), "--task", TASK, "--split", "final", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    preds = read_predictions(out)
    final = load_samples(ds, TASK, "final", sessions=["9000800803"])
    recorded = sorted(i for i in preds.sample_ids if i.startswith("9000800803/"))
    assert preds.split == "final" and recorded == sorted(final["sample_id"])
    assert all(isinstance(n, str) and n for n in preds.narration)
    entry = score_predictions(
        preds, ds, TASK, model=ModelMeta(name="tiny"), options=FAST, encoder=encoder, split="final", references=refs
    )
    assert entry.dataset.split == "final" and "9000800803" in entry.sessions
    assert 0 < _value(entry, "sbert_matched") < 1 and entry.gallery_frames[NM1] == 900
