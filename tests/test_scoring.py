"""Harness: score predictions files against the built fixture dataset (paper Sec. 4.1, A.4-A.6)."""

import json

import jsonschema
import numpy as np
import pytest
from click.testing import CliRunner

from neurrator_bench.cli import main
from neurrator_bench.dataset_access import load_frame_targets, load_samples
from neurrator_bench.schemas.predictions import read_predictions, write_predictions
from neurrator_bench.schemas.result_entry import SCHEMA_FILE, ModelMeta, json_schema
from neurrator_bench.scoring import ScoringOptions, score_predictions

TASK = "nm1-contiguous-middle"
FAST = ScoringOptions(n_boot=50, celltype_permutations=5)


@pytest.fixture(scope="module")
def oracle(ds):
    s = load_samples(ds, TASK, "test")
    emb = load_frame_targets(ds, "natural_movie_one").pooled[s["frame"].to_numpy()]
    return s, emb


def write(tmp_path, ds, ids, emb=None, narr=None, name="p.parquet", fingerprint=None, task=TASK):
    return write_predictions(
        tmp_path / name,
        list(ids),
        dataset_fingerprint=fingerprint or ds.task_fingerprint(task),
        task=task,
        embedding=emb,
        narration=narr,
    )


def test_oracle_scores_one(tmp_path, ds, oracle, encoder):
    s, emb = oracle
    path = write(tmp_path, ds, s["sample_id"], emb, s["caption"].tolist())
    entry = score_predictions(
        read_predictions(path), ds, TASK, model=ModelMeta(name="oracle"), encoder=encoder, options=FAST
    )
    assert entry.metric("retrieval_r1").value == 1.0 and entry.metric("retrieval_median_rank").value == 1.0
    assert entry.metric("sbert_matched").value == pytest.approx(1.0, abs=1e-5)
    assert entry.metric("cka_linear").value == pytest.approx(1.0, abs=1e-6)
    assert entry.metric("sbert_delta_shuffled").p_value == pytest.approx(1 / (FAST.n_boot + 1))  # the smallest p
    # captions are identical across pseudo-mice, so the cell-type probe on them is at chance
    assert entry.metric("celltype_accuracy").value == pytest.approx(1 / 3, abs=0.1)
    assert entry.similarity is not None and entry.similarity.names == ["PV", "SST", "VIP"]
    assert not [x for x in entry.skipped if x.name.startswith("session:")]
    table = entry.frame_table
    assert set(table.stimulus) == {"natural_movie_one"} and len(table.frame) == 200
    assert table.values["sbert_matched"] == pytest.approx([1.0] * 200, abs=1e-5)
    # Table A2's gallery: all 900 NM1 frames (the simulator's static shots merge into fewer distinct targets)
    assert entry.gallery_frames == {"natural_movie_one": 900}
    assert entry.gallery["natural_movie_one"] == len(
        np.unique(load_frame_targets(ds, "natural_movie_one").pooled, axis=0)
    )
    r10 = entry.metric("retrieval_r10")
    assert r10.chance == pytest.approx(10 / entry.gallery["natural_movie_one"])
    knn = entry.metric("knn_purity")
    assert knn.value == pytest.approx(knn.ceiling) and 0 < knn.chance < knn.ceiling <= 1
    st = entry.statistics
    assert (st.n_frames, st.n_sessions, st.block_frames) == (200, 3, 30)
    assert st.n_samples == entry.metric("sbert_matched").n and r10.n_frames == 200
    assert entry.metric("sbert_delta_shuffled").interval == "frame-blocks"
    assert {row.session_id for row in entry.per_session} == set(
        s.loc[~s["session_id"].str.startswith("pseudo-"), "session_id"]
    )
    assert entry.dataset.fingerprint_source == "embedded" and entry.narrator.kind == "unspecified"
    assert entry.scorer_space is False  # ModelMeta without text_space
    flagged = score_predictions(
        read_predictions(path),
        ds,
        TASK,
        model=ModelMeta(name="oracle", text_space=encoder.model_id),
        encoder=encoder,
        options=FAST,
    )
    assert flagged.scorer_space is True
    # headline numbers come from recorded sessions only
    assert entry.metric("sbert_matched").n == int((~s["session_id"].str.startswith("pseudo-")).sum())


def test_shuffled_oracle_is_near_chance(tmp_path, ds, oracle, encoder):
    s, emb = oracle
    rng = np.random.default_rng(1)
    perm = rng.permutation(len(s))
    path = write(tmp_path, ds, s["sample_id"], emb[perm], [s["caption"].tolist()[i] for i in perm])
    entry = score_predictions(
        read_predictions(path), ds, TASK, model=ModelMeta(name="shuffled"), encoder=encoder, options=FAST
    )
    # the simulator repeats one target over a shot, so a permuted oracle meets its own target more often than
    # 1/m (the embedded-world issue); the retrieval scorer itself is at chance on distinct targets
    # (tests/scorers/test_retrieval.py::test_shuffled_oracle_is_at_chance)
    r1 = entry.metric("retrieval_r1")
    assert r1.value < 0.15 and r1.ci_low < 0.15
    assert entry.metric("sbert_matched").value < 0.8
    assert (
        entry.metric("sbert_delta_shuffled_narration").ci_low
        < 0
        < entry.metric("sbert_delta_shuffled_narration").ci_high
    )
    knn = entry.metric("knn_purity")
    assert knn.ci_low <= knn.chance * 1.5 and knn.value < 0.2 * knn.ceiling


def test_shuffled_partners_never_share_frame_or_caption_on_any_task(ds):
    from neurrator_bench.scorers.sbert import shuffled_partners

    for task in ds.tasks():
        test = load_samples(ds, task, "test")
        if test["caption"].isna().any() or test["frame"].nunique() < 2:
            continue
        keys = (test["stimulus"] + ":" + test["frame"].astype(str)).to_numpy()
        captions = test["caption"].to_numpy()
        partner = shuffled_partners(test["sample_id"].to_numpy(), keys, captions, seed=0)
        assert int(np.sum(keys[partner] == keys)) == 0, task
        assert int(np.sum(captions[partner] == captions)) == 0, task


def test_duplicating_samples_of_a_frame_does_not_shrink_the_interval(tmp_path, ds, oracle, encoder):
    """Must-show: with frame-level statistics, ten copies of one frame's samples cannot narrow an interval."""
    from neurrator_bench.scorers.frame_stats import cluster_bootstrap, make_clusters

    s, emb = oracle
    values = np.random.default_rng(0).normal(size=len(s))
    clusters = make_clusters(s["stimulus"], s["frame"], s["session_id"], movie_stimuli=("natural_movie_one",))
    base = cluster_bootstrap(values, clusters, n_boot=200)
    rows = np.concatenate([np.arange(len(s)), np.repeat(np.flatnonzero(s["frame"] == s["frame"].iloc[0]), 9)])
    dup = s.iloc[rows]
    wide = cluster_bootstrap(
        values[rows],
        make_clusters(dup["stimulus"], dup["frame"], dup["session_id"], movie_stimuli=("natural_movie_one",)),
        n_boot=200,
    )
    assert wide.high - wide.low >= base.high - base.low - 1e-12


def test_entry_is_reproducible_and_matches_schema(tmp_path, ds, oracle, encoder):
    s, emb = oracle
    path = write(tmp_path, ds, s["sample_id"], emb, s["caption"].tolist())
    dumps = []
    for _ in range(2):
        e = score_predictions(
            read_predictions(path), ds, TASK, model=ModelMeta(name="m"), encoder=encoder, options=FAST
        )
        data = json.loads(e.model_dump_json())
        jsonschema.validate(data, json.loads(SCHEMA_FILE.read_text()))
        for key in ("created_at", "evaluation_time_s"):
            data.pop(key)
        dumps.append(json.dumps(data, sort_keys=True))
    assert dumps[0] == dumps[1]
    assert json.loads(SCHEMA_FILE.read_text()) == json_schema()


def test_embedding_only_skips_narration_metrics(tmp_path, ds, oracle):
    s, emb = oracle
    entry = score_predictions(
        read_predictions(write(tmp_path, ds, s["sample_id"], emb)), ds, TASK, model=ModelMeta(name="m"), options=FAST
    )
    assert {m.name for m in entry.metrics} == {
        "retrieval_r1",
        "retrieval_r5",
        "retrieval_r10",
        "retrieval_median_rank",
        "cka_linear",
        "knn_purity",
    }
    assert any(x.name.startswith("sbert") for x in entry.skipped)


def run_score(path, ds_path, task=TASK):
    return CliRunner().invoke(
        main, ["score", str(path), "--dataset", str(ds_path), "--task", task, "--n-boot", "20", "--permutations", "0"]
    )


def test_cli_rejects_bad_inputs(tmp_path, ds, oracle, built_dataset):
    s, emb = oracle
    ids = s["sample_id"].tolist()
    bad = emb.copy()
    bad[3, 2] = np.nan
    cases = {
        "nan": (
            write(tmp_path, ds, ids, bad, name="nan.parquet"),
            f"column 'embedding' holds NaN or inf values (a null counts as NaN) at sample_id(s) ['{ids[3]}']",
        ),
        "inf": (write(tmp_path, ds, ids, np.where(emb > 0, np.inf, emb), name="inf.parquet"), "NaN or inf"),
        "width": (
            write(tmp_path, ds, ids, emb[:, :-1], name="width.parquet"),
            "width 383; the dataset's targets have 384",
        ),
        "missing": (write(tmp_path, ds, ids[1:], emb[1:], name="missing.parquet"), f"missing, e.g. ['{ids[0]}'"),
        "duplicate": (
            write(tmp_path, ds, [ids[0], *ids[:-1]], emb, name="dup.parquet"),
            f"duplicate sample_id(s) ['{ids[0]}']",
        ),
        "extra": (
            write(tmp_path, ds, [*ids[:-1], "nope/x/r00/f0000"], emb, name="extra.parquet"),
            "column 'sample_id': 1 id(s) are not in the test split, e.g. ['nope/x/r00/f0000']",
        ),
        "fingerprint": (
            write(tmp_path, ds, ids, emb, name="fp.parquet", fingerprint="0" * 64),
            "made for task fingerprint 0000",
        ),
    }
    for name, (path, message) in cases.items():
        result = run_score(path, built_dataset)
        assert result.exit_code != 0, name
        assert message in result.output, (name, result.output)
        assert path.name in result.output, (name, result.output)
    result = run_score(write(tmp_path, ds, ids, emb, name="ok.parquet"), built_dataset, task="nm1-frontonly")
    assert result.exit_code != 0 and "Did you mean 'nm1-front-only'" in result.output


def test_task_the_dataset_lacks(tmp_path):
    from neurrator_bench.builders.build import build_dataset
    from tests.conftest import REAL_MAT

    real = build_dataset([], tmp_path / "real", prebinned=[REAL_MAT]).path
    path = write_predictions(
        tmp_path / "p.parquet", ["a"], dataset_fingerprint="x", task="nm1-front-only", embedding=np.ones((1, 3))
    )
    result = run_score(path, real, task="nm1-front-only")
    assert result.exit_code != 0 and "has no task 'nm1-front-only'" in result.output


def test_plain_pandas_file_scores_like_the_package_file(tmp_path, ds, oracle, encoder, built_dataset):
    """Must-show: a pandas-written file (no package metadata) gives the same scores as the package's writer."""
    import pandas as pd

    s, emb = oracle
    emb32 = emb.astype(np.float32)
    captions = s["caption"].tolist()
    package = read_predictions(write(tmp_path, ds, s["sample_id"], emb32, captions))
    plain_path = tmp_path / "plain.parquet"
    pd.DataFrame({"sample_id": s["sample_id"], "embedding": list(emb32), "narration": captions}).to_parquet(plain_path)
    plain = read_predictions(plain_path)
    assert not plain.has_metadata and package.has_metadata
    a, b = (
        score_predictions(p, ds, TASK, model=ModelMeta(name="m"), encoder=encoder, options=FAST)
        for p in (package, plain)
    )
    assert [m.model_dump() for m in a.metrics] == [m.model_dump() for m in b.metrics]
    assert a.frame_table == b.frame_table
    assert (a.dataset.fingerprint_source, b.dataset.fingerprint_source) == ("embedded", "command-line")
    assert a.predictions_sha256 != b.predictions_sha256 and len(b.predictions_sha256) == 64
    # the CLI scores the plain file too, and records the narrator it is told
    out = tmp_path / "results"
    result = CliRunner().invoke(
        main,
        [
            "score",
            str(plain_path),
            "--dataset",
            str(built_dataset),
            "--task",
            TASK,
            "--n-boot",
            "20",
            "--permutations",
            "0",
            "--narrator",
            "llava",
            "--narrator-model",
            "llava-hf/llava-1.5-7b-hf",
            "--block-frames",
            "10",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    written = list(out.rglob("*.json"))
    assert len(written) == 1 and written[0].name == f"{TASK}~llava-llava-hf-llava-1.5-7b-hf.json"
    assert "narrator: llava (llava-hf/llava-1.5-7b-hf)" in result.output
    stored = json.loads(written[0].read_text())
    assert stored["statistics"]["block_frames"] == 10 and stored["metrics"][0]["n_boot"] == 20


def test_embedded_task_mismatch_is_refused(tmp_path, ds, oracle, built_dataset):
    s, emb = oracle
    path = write(
        tmp_path,
        ds,
        s["sample_id"],
        emb,
        name="other.parquet",
        task="nm1-sparse-random",
        fingerprint=ds.task_fingerprint(TASK),
    )
    result = run_score(path, built_dataset)
    assert result.exit_code != 0
    assert "other.parquet" in result.output and "'task' is 'nm1-sparse-random', but --task is" in result.output


def test_llava_and_retrieval_narrations_of_one_model_are_two_rows(tmp_path, ds, oracle, encoder):
    """Must-show: the narrators' own provenance travels file -> entry -> leaderboard as two labelled rows."""
    from neurrator_bench.inference import LlavaCaptioner, RetrievalCaptioner
    from neurrator_bench.leaderboard.markdown import render_markdown
    from neurrator_bench.reference_model.narrators import PROMPT, tiny_random_llava
    from neurrator_bench.schemas.result_entry import write_entry

    model, tokenizer = tiny_random_llava()
    model.save_pretrained(tmp_path / "llava")
    tokenizer.save_pretrained(tmp_path / "llava")
    llava = LlavaCaptioner(str(tmp_path / "llava")).provenance
    assert llava == {
        "kind": "llava",
        "model_id": str(tmp_path / "llava"),
        "prompt": PROMPT,
        "max_new_tokens": 60,
        "decoding": "greedy (do_sample=False, num_beams=1)",
    }
    retrieval = RetrievalCaptioner(ds, TASK).provenance
    assert retrieval["kind"] == "retrieval" and "nearest of" in retrieval["decoding"]
    s, emb = oracle
    results = tmp_path / "results"
    entries = []
    for name, narrator, text in (("r", retrieval, s["caption"].tolist()), ("l", llava, ["a dark room"] * len(s))):
        path = write_predictions(
            tmp_path / f"{name}.parquet",
            s["sample_id"].tolist(),
            dataset_fingerprint=ds.task_fingerprint(TASK),
            task=TASK,
            embedding=emb,
            narration=text,
            narrator=narrator,
        )
        entry = score_predictions(
            read_predictions(path), ds, TASK, model=ModelMeta(name="ref"), encoder=encoder, options=FAST
        )
        entries.append(entry)
        write_entry(results, entry)
    assert entries[1].narrator.prompt == PROMPT and entries[1].narrator.max_new_tokens == 60
    assert sorted(p.name for p in results.rglob("*.json")) == sorted(
        [f"{TASK}~retrieval.json", f"{TASK}~llava-{str(tmp_path / 'llava').replace('/', '-')}.json"]
    )
    rows = [
        line for line in render_markdown(entries).splitlines() if "| ref " in line or "|ref" in line.replace(" ", "")
    ]
    labels = {"retrieval" if "| retrieval |" in r else "llava" if "llava (" in r else "?" for r in rows}
    assert labels == {"retrieval", "llava"}, rows
