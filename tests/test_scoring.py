"""Harness: score predictions files against the built fixture dataset (paper Sec. 4.1, A.4-A.6)."""

import json

import jsonschema
import numpy as np
import pytest
from click.testing import CliRunner

from neurrator_bench.cli import main
from neurrator_bench.dataset_access import load_frame_targets, load_samples, open_dataset
from neurrator_bench.errors import PredictionsError
from neurrator_bench.schemas.predictions import read_predictions, write_predictions
from neurrator_bench.schemas.result_entry import SCHEMA_FILE, ModelMeta, json_schema
from neurrator_bench.scoring import ScoringOptions, score_predictions
from neurrator_bench.text_embedding import SentenceEncoder

TASK = "nm1-contiguous-middle"
FAST = ScoringOptions(n_boot=50, celltype_permutations=5)


@pytest.fixture(scope="module")
def ds(built_dataset):
    return open_dataset(built_dataset)


@pytest.fixture(scope="module")
def encoder():
    return SentenceEncoder()


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
    assert entry.metric("sbert_delta_shuffled").p_value < 1e-3
    # captions are identical across pseudo-mice, so the cell-type probe on them is at chance
    assert entry.metric("celltype_accuracy").value == pytest.approx(1 / 3, abs=0.1)
    assert entry.similarity is not None and entry.similarity.names == ["PV", "SST", "VIP"]
    assert not [x for x in entry.skipped if x.name.startswith("session:")]
    assert {f.stimulus for f in entry.per_frame} == {"natural_movie_one"} and len(entry.per_frame) == 200
    # headline numbers come from recorded sessions only
    assert entry.metric("sbert_matched").n == int((~s["session_id"].str.startswith("pseudo-")).sum())


def test_shuffled_oracle_at_chance(tmp_path, ds, oracle, encoder):
    s, emb = oracle
    rng = np.random.default_rng(1)
    perm = rng.permutation(len(s))
    path = write(tmp_path, ds, s["sample_id"], emb[perm], [s["caption"].tolist()[i] for i in perm])
    entry = score_predictions(
        read_predictions(path), ds, TASK, model=ModelMeta(name="shuffled"), encoder=encoder, options=FAST
    )
    n_candidates = len(np.unique(emb, axis=0))
    assert entry.metric("retrieval_r1").value < 3 / n_candidates + 0.05
    assert entry.metric("sbert_matched").value < 0.8
    assert entry.metric("sbert_delta_shuffled").p_value > 0.01


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
        "nan": (write(tmp_path, ds, ids, bad, name="nan.parquet"), "NaN or inf"),
        "inf": (write(tmp_path, ds, ids, np.where(emb > 0, np.inf, emb), name="inf.parquet"), "NaN or inf"),
        "width": (
            write(tmp_path, ds, ids, emb[:, :-1], name="width.parquet"),
            "width 383; the dataset's targets have 384",
        ),
        "missing": (write(tmp_path, ds, ids[1:], emb[1:], name="missing.parquet"), "missing, e.g."),
        "duplicate": (write(tmp_path, ds, [ids[0], *ids[:-1]], emb, name="dup.parquet"), "duplicate sample_id"),
        "extra": (
            write(tmp_path, ds, [*ids[:-1], "nope/x/r00/f0000"], emb, name="extra.parquet"),
            "not in the test split",
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


def test_predictions_without_metadata_refused(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"sample_id": ["a"], "narration": ["x"]}), tmp_path / "raw.parquet")
    with pytest.raises(PredictionsError, match="no 'neurrator_bench' metadata"):
        read_predictions(tmp_path / "raw.parquet")
