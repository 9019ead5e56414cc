"""Predictions files: plain pandas/pyarrow parquet and CSV forms read like write_predictions' own files."""

from __future__ import annotations

import gzip
import hashlib
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from neurrator_bench.errors import PredictionsError
from neurrator_bench.schemas.predictions import (
    PREDICTIONS_SCHEMA_VERSION,
    Predictions,
    read_predictions,
    write_predictions,
)

IDS = ["s0", "s1", "s2", "s3"]
# Multiples of 1/8: exact in float32, so every form must give exactly these float64 values.
EMB = (np.arange(12, dtype=np.float64).reshape(4, 3) - 5.0) / 8.0
# "NA" and a comma: CSV must keep them as text.
NARR = ["a cat sits", "NA", "dog, running", "None"]
NARRATOR = {"kind": "retrieval", "model_id": None, "k": 5, "pool": ["a", "b"]}


def frame(**extra) -> pd.DataFrame:
    return pd.DataFrame({"sample_id": IDS, "embedding": list(EMB), "narration": NARR, **extra})


def wide_frame() -> pd.DataFrame:
    return pd.DataFrame(EMB).add_prefix("embedding_").assign(sample_id=IDS, narration=NARR)


def assert_same(p: Predictions, *, narration: bool = True) -> None:
    assert p.sample_ids == IDS
    assert p.embedding is not None and p.embedding.dtype == np.float64
    np.testing.assert_array_equal(p.embedding, EMB)
    if narration:
        assert p.narration == NARR


def reference(tmp_path) -> Predictions:
    path = write_predictions(
        tmp_path / "ref.parquet", IDS, dataset_fingerprint="fp1", task="t1", embedding=EMB, narration=NARR
    )
    return read_predictions(path)


def expect_error(path, *parts: str) -> str:
    with pytest.raises(PredictionsError) as info:
        read_predictions(path)
    msg = str(info.value)
    assert msg.startswith(str(path)), msg
    for part in parts:
        assert part in msg, (part, msg)
    return msg


# ---- equivalent forms -------------------------------------------------------------------------------------


def test_writer_round_trip_and_metadata(tmp_path):
    path = write_predictions(
        tmp_path / "p.parquet",
        IDS,
        dataset_fingerprint="fp1",
        task="t1",
        embedding=EMB,
        narration=NARR,
        narrator=NARRATOR,
    )
    p = read_predictions(path)
    assert_same(p)
    assert p.has_metadata is True
    assert (p.dataset_fingerprint, p.task, p.narrator) == ("fp1", "t1", NARRATOR)
    assert p.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert p.path == path
    meta = json.loads(pq.read_schema(path).metadata[b"neurrator_bench"])
    assert meta["schema_version"] == PREDICTIONS_SCHEMA_VERSION == 2
    assert pq.read_schema(path).field("embedding").type == pa.list_(pa.float32(), 3)
    assert not list(tmp_path.glob(".*.tmp"))


def test_writer_without_narrator_omits_key(tmp_path):
    path = write_predictions(tmp_path / "p.parquet", IDS, dataset_fingerprint="fp", task="t", narration=NARR)
    p = read_predictions(path)
    assert p.narrator is None and p.embedding is None and p.narration == NARR and p.has_metadata
    assert "narrator" not in json.loads(pq.read_schema(path).metadata[b"neurrator_bench"])


def test_schema_version_1_file_still_read(tmp_path):
    meta = {"schema_version": 1, "dataset_fingerprint": "fp0", "task": "t0"}
    table = pa.table({"sample_id": IDS, "narration": NARR})
    pq.write_table(table.replace_schema_metadata({b"neurrator_bench": json.dumps(meta)}), tmp_path / "v1.parquet")
    p = read_predictions(tmp_path / "v1.parquet")
    assert (p.dataset_fingerprint, p.task, p.narrator, p.has_metadata) == ("fp0", "t0", None, True)


@pytest.mark.parametrize("index", [None, [10, 11, 12, 13], "named", "sample_id"])
def test_pandas_parquet_equals_writer(tmp_path, index):
    ref = reference(tmp_path)
    df = frame()
    if index == "named":
        df.index = pd.Index([7, 8, 9, 10], name="row")
    elif index == "sample_id":
        df = df.set_index("sample_id")
    elif index is not None:
        df.index = index
    path = tmp_path / "pandas.parquet"
    df.to_parquet(path)
    if index is not None and index not in ("named", "sample_id"):
        assert "__index_level_0__" in pq.read_schema(path).names
    p = read_predictions(path)
    assert p.sample_ids == ref.sample_ids and p.narration == ref.narration
    np.testing.assert_array_equal(p.embedding, ref.embedding)
    assert_same(p)
    assert p.has_metadata is False
    assert (p.dataset_fingerprint, p.task, p.narrator) == (None, None, None)
    assert p.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_pandas_float32_arrays_and_pyarrow_tables(tmp_path):
    frame().assign(embedding=list(EMB.astype(np.float32))).to_parquet(tmp_path / "f32.parquet")
    assert_same(read_predictions(tmp_path / "f32.parquet"))
    for typ in (pa.list_(pa.float64()), pa.large_list(pa.float32()), pa.list_(pa.float32(), 3)):
        table = pa.table({"sample_id": IDS, "embedding": pa.array(EMB.tolist(), typ), "narration": NARR})
        pq.write_table(table, tmp_path / "pa.parquet")
        assert_same(read_predictions(tmp_path / "pa.parquet"))
    ints = pa.table({"sample_id": IDS, "embedding": pa.array([[1, 2], [3, 4], [5, 6], [7, 8]], pa.list_(pa.int64()))})
    pq.write_table(ints, tmp_path / "int.parquet")
    np.testing.assert_array_equal(
        read_predictions(tmp_path / "int.parquet").embedding, [[1, 2], [3, 4], [5, 6], [7, 8]]
    )


def test_chunked_parquet(tmp_path):
    pq.write_table(pa.Table.from_pandas(frame(), preserve_index=False), tmp_path / "c.parquet", row_group_size=1)
    assert pq.ParquetFile(tmp_path / "c.parquet").num_row_groups == 4
    assert_same(read_predictions(tmp_path / "c.parquet"))


def test_wide_parquet_any_column_order(tmp_path):
    df = wide_frame()
    df[["narration", "embedding_2", "sample_id", "embedding_0", "embedding_1"]].to_parquet(tmp_path / "w.parquet")
    assert_same(read_predictions(tmp_path / "w.parquet"))
    df.astype({c: np.float32 for c in df.columns if c.startswith("embedding_")}).to_parquet(tmp_path / "w32.parquet")
    assert_same(read_predictions(tmp_path / "w32.parquet"))


def test_integer_ids_in_parquet_become_strings(tmp_path):
    pd.DataFrame({"sample_id": [3, 1, 2], "narration": ["a", "b", "c"]}).to_parquet(tmp_path / "i.parquet")
    assert read_predictions(tmp_path / "i.parquet").sample_ids == ["3", "1", "2"]


def test_csv_json_cells(tmp_path):
    ref = reference(tmp_path)
    df = frame().assign(embedding=[json.dumps(r.tolist()) for r in EMB])
    df.to_csv(tmp_path / "j.csv", index=False)
    p = read_predictions(tmp_path / "j.csv")
    assert_same(p)
    np.testing.assert_array_equal(p.embedding, ref.embedding)
    assert p.has_metadata is False and p.narrator is None
    assert p.sha256 == hashlib.sha256((tmp_path / "j.csv").read_bytes()).hexdigest()
    # a column of Python lists: to_csv writes str(list), which is JSON for floats
    frame().assign(embedding=[r.tolist() for r in EMB]).to_csv(tmp_path / "l.csv", index=False)
    assert_same(read_predictions(tmp_path / "l.csv"))


def test_csv_wide_plain_gz_and_default_index(tmp_path):
    wide_frame().to_csv(tmp_path / "w.csv", index=False)
    assert_same(read_predictions(tmp_path / "w.csv"))
    wide_frame().to_csv(tmp_path / "w.csv.gz", index=False)
    with gzip.open(tmp_path / "w.csv.gz") as f:
        assert f.read(5)  # really gzip
    assert_same(read_predictions(tmp_path / "w.csv.gz"))
    wide_frame().to_csv(tmp_path / "idx.csv")  # default index: leading 'Unnamed: 0' column is ignored
    assert_same(read_predictions(tmp_path / "idx.csv"))


def test_csv_ids_stay_text(tmp_path):
    (tmp_path / "t.csv").write_text("sample_id,narration\n007,x\n12,y\nNA,z\n")
    assert read_predictions(tmp_path / "t.csv").sample_ids == ["007", "12", "NA"]


def test_narration_only_and_upper_case_suffix(tmp_path):
    pd.DataFrame({"sample_id": IDS, "narration": NARR}).to_parquet(tmp_path / "N.PARQUET")
    p = read_predictions(tmp_path / "N.PARQUET")
    assert p.embedding is None and p.narration == NARR


# ---- errors -----------------------------------------------------------------------------------------------


def test_unsupported_suffix(tmp_path):
    (tmp_path / "p.json").write_text("{}")
    expect_error(tmp_path / "p.json", "p.json", ".parquet", ".csv", ".csv.gz")


def test_unreadable_files(tmp_path):
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    expect_error(tmp_path / "bad.parquet", "not a readable parquet")
    (tmp_path / "bad.csv.gz").write_bytes(b"not gzip")
    expect_error(tmp_path / "bad.csv.gz", "not a readable CSV")
    expect_error(tmp_path / "absent.csv", "cannot read")


def test_unknown_column(tmp_path):
    frame(score=1.0).to_parquet(tmp_path / "u.parquet")
    expect_error(tmp_path / "u.parquet", "u.parquet", "'score'", "'sample_id'", "'embedding_<i>'", "'narration'")
    wide_frame().rename_axis("row").to_csv(tmp_path / "u.csv")
    expect_error(tmp_path / "u.csv", "'row'", "index=False")


def test_missing_and_null_and_duplicate_ids(tmp_path):
    pd.DataFrame({"narration": NARR}).to_parquet(tmp_path / "m.parquet")
    expect_error(tmp_path / "m.parquet", "m.parquet", "'sample_id'")
    pa_ids = pa.table({"sample_id": ["a", None, "c"], "narration": ["x", "y", "z"]})
    pq.write_table(pa_ids, tmp_path / "n.parquet")
    expect_error(tmp_path / "n.parquet", "n.parquet", "'sample_id'", "row(s) [1]")
    (tmp_path / "n.csv").write_text("sample_id,narration\na,x\nb,y\n,z\n")
    expect_error(tmp_path / "n.csv", "n.csv", "'sample_id'", "row(s) [2]")
    ids = ["d0", "d1", "d2", "d3", "d4", "d5", "d6", "ok"]
    pd.DataFrame({"sample_id": ids + ids[:7], "narration": ["x"] * 15}).to_parquet(tmp_path / "d.parquet")
    msg = expect_error(tmp_path / "d.parquet", "d.parquet", "'sample_id'", "duplicate", "'d0'", "'d4'", "7 in all")
    assert "'d5'" not in msg and "'ok'" not in msg


def test_no_rows(tmp_path):
    pd.DataFrame({"sample_id": pd.Series([], dtype=str), "narration": pd.Series([], dtype=str)}).to_parquet(
        tmp_path / "e.parquet"
    )
    expect_error(tmp_path / "e.parquet", "no rows")


def test_embedding_null_row(tmp_path):
    frame().assign(embedding=[EMB[0], None, EMB[2], EMB[3]]).to_parquet(tmp_path / "n.parquet")
    expect_error(tmp_path / "n.parquet", "n.parquet", "'embedding'", "null row", "['s1']")
    frame().assign(embedding=[json.dumps(r.tolist()) for r in EMB[:3]] + [None]).to_csv(tmp_path / "n.csv", index=False)
    expect_error(tmp_path / "n.csv", "n.csv", "'embedding'", "['s3']")


def test_embedding_ragged(tmp_path):
    frame().assign(embedding=[EMB[0], EMB[1][:2], EMB[2], EMB[3]]).to_parquet(tmp_path / "r.parquet")
    expect_error(tmp_path / "r.parquet", "r.parquet", "'embedding'", "different widths [2, 3]", "['s1']")
    cells = [json.dumps(r.tolist()) for r in EMB]
    cells[2] = "[1.0]"
    frame().assign(embedding=cells).to_csv(tmp_path / "r.csv", index=False)
    expect_error(tmp_path / "r.csv", "r.csv", "'embedding'", "different widths", "['s2']")


def test_embedding_non_numeric(tmp_path):
    table = pa.table({"sample_id": IDS, "embedding": [["a"], ["b"], ["c"], ["d"]]})
    pq.write_table(table, tmp_path / "s.parquet")
    expect_error(tmp_path / "s.parquet", "s.parquet", "'embedding'", "must hold numbers", "string")
    cells = [json.dumps(r.tolist()) for r in EMB]
    cells[1] = '[1.0, "x", 2.0]'
    cells[3] = "[1.0, true, 2.0]"
    frame().assign(embedding=cells).to_csv(tmp_path / "s.csv", index=False)
    expect_error(tmp_path / "s.csv", "s.csv", "'embedding'", "'s3'", "JSON array of numbers")
    cells[3] = "[1.0, null, 2.0]"
    frame().assign(embedding=cells).to_csv(tmp_path / "s.csv", index=False)
    expect_error(tmp_path / "s.csv", "s.csv", "'embedding'", "non-numeric", "['s1', 's3']")


def test_embedding_null_value_inside_list(tmp_path):
    rows = EMB.tolist()
    rows[2][1] = None
    pq.write_table(pa.table({"sample_id": IDS, "embedding": rows}), tmp_path / "v.parquet")
    expect_error(tmp_path / "v.parquet", "v.parquet", "'embedding'", "NaN or inf", "['s2']")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_embedding_nan_inf(tmp_path, bad):
    emb = EMB.copy()
    emb[1, 2] = bad
    emb[3, 0] = bad
    frame().assign(embedding=list(emb)).to_parquet(tmp_path / "f.parquet")
    expect_error(tmp_path / "f.parquet", "f.parquet", "'embedding'", "NaN or inf", "['s1', 's3']")
    write_predictions(tmp_path / "w.parquet", IDS, dataset_fingerprint="f", task="t", embedding=emb)
    expect_error(tmp_path / "w.parquet", "w.parquet", "'embedding'", "NaN or inf", "['s1', 's3']")
    wide = pd.DataFrame(emb).add_prefix("embedding_").assign(sample_id=IDS)
    wide.to_parquet(tmp_path / "wide.parquet")
    expect_error(tmp_path / "wide.parquet", "wide.parquet", "'embedding_0', 'embedding_2'", "['s1', 's3']")
    wide.to_csv(tmp_path / "wide.csv", index=False)
    expect_error(tmp_path / "wide.csv", "wide.csv", "'embedding_0', 'embedding_2'", "['s1', 's3']")
    frame().assign(embedding=[json.dumps(r.tolist()) for r in emb]).to_csv(tmp_path / "j.csv", index=False)
    expect_error(tmp_path / "j.csv", "j.csv", "'embedding'", "NaN or inf", "['s1', 's3']")


def test_csv_bad_json_cell(tmp_path):
    frame().to_csv(tmp_path / "np.csv", index=False)  # numpy arrays: str() gives "[-0.625 -0.5 -0.375]"
    expect_error(tmp_path / "np.csv", "np.csv", "'embedding'", "'s0'", "not a JSON array", "json.dumps")
    cells = [json.dumps(r.tolist()) for r in EMB]
    cells[2] = "[1.0, 2.0"
    frame().assign(embedding=cells).to_csv(tmp_path / "j.csv", index=False)
    expect_error(tmp_path / "j.csv", "j.csv", "'embedding'", "'s2'")
    cells[2] = '{"a": 1}'
    frame().assign(embedding=cells).to_csv(tmp_path / "o.csv", index=False)
    expect_error(tmp_path / "o.csv", "o.csv", "'embedding'", "'s2'", "not a JSON array")


def test_csv_wide_non_numeric_and_empty(tmp_path):
    text = "sample_id,embedding_0,embedding_1\na,1.0,2.0\nb,abc,2.0\nc,,3.0\nd,4.0,5.0\ne,NA,1\n"
    (tmp_path / "w.csv").write_text(text)
    expect_error(tmp_path / "w.csv", "w.csv", "'embedding_0'", "non-numeric", "['b', 'e']")
    # an empty cell is how pandas writes NaN
    (tmp_path / "e.csv").write_text("sample_id,embedding_0,embedding_1\na,1.0,2.0\nc,,3.0\n")
    expect_error(tmp_path / "e.csv", "e.csv", "'embedding_0'", "NaN or inf", "['c']")


def test_parquet_wide_wrong_type_and_null(tmp_path):
    table = pa.table({"sample_id": IDS, "embedding_0": [1.0, 2.0, 3.0, 4.0], "embedding_1": ["1", "2", "3", "4"]})
    pq.write_table(table, tmp_path / "t.parquet")
    expect_error(tmp_path / "t.parquet", "t.parquet", "'embedding_1'", "must hold numbers")
    table = pa.table({"sample_id": IDS, "embedding_0": [1.0, None, 3.0, 4.0]})
    pq.write_table(table, tmp_path / "n.parquet")
    expect_error(tmp_path / "n.parquet", "n.parquet", "'embedding_0'", "NaN or inf", "['s1']")


def test_wide_gap_and_both_forms(tmp_path):
    wide_frame().drop(columns="embedding_1").to_parquet(tmp_path / "g.parquet")
    expect_error(tmp_path / "g.parquet", "g.parquet", "'embedding_1' is missing")
    wide_frame().drop(columns="embedding_0").to_csv(tmp_path / "g.csv", index=False)
    expect_error(tmp_path / "g.csv", "g.csv", "'embedding_0' is missing")
    frame(embedding_0=1.0).to_parquet(tmp_path / "b.parquet")
    expect_error(tmp_path / "b.parquet", "b.parquet", "'embedding'", "embedding_<i>", "one form")


def test_narration_errors(tmp_path):
    frame().assign(narration=["a", None, "c", None]).to_parquet(tmp_path / "n.parquet")
    expect_error(tmp_path / "n.parquet", "n.parquet", "'narration'", "null", "['s1', 's3']")
    frame().assign(narration=[1, 2, 3, 4]).to_parquet(tmp_path / "i.parquet")
    expect_error(tmp_path / "i.parquet", "i.parquet", "'narration'", "must hold strings", "int64")
    wide_frame().assign(narration=["a", "", "c", "d"]).to_csv(tmp_path / "n.csv", index=False)
    expect_error(tmp_path / "n.csv", "n.csv", "'narration'", "['s1']")


def test_nothing_to_score(tmp_path):
    pd.DataFrame({"sample_id": IDS}).to_parquet(tmp_path / "z.parquet")
    expect_error(tmp_path / "z.parquet", "z.parquet", "nothing to score", "'embedding'", "'narration'")


@pytest.mark.parametrize(
    ("raw", "parts"),
    [
        (b"{not json", ["'neurrator_bench'", "not valid JSON"]),
        (b"[1, 2]", ["'neurrator_bench'", "not a JSON object"]),
        (json.dumps({"schema_version": 2, "task": "t"}).encode(), ["'neurrator_bench'", "'dataset_fingerprint'"]),
        (json.dumps({"schema_version": 2, "dataset_fingerprint": "f"}).encode(), ["'neurrator_bench'", "'task'"]),
        (json.dumps({"dataset_fingerprint": "f", "task": "t"}).encode(), ["'schema_version'"]),
        (json.dumps({"schema_version": 3, "dataset_fingerprint": "f", "task": "t"}).encode(), ["3", "[1, 2]"]),
        (
            json.dumps({"schema_version": 2, "dataset_fingerprint": "f", "task": "t", "narrator": "x"}).encode(),
            ["'narrator'"],
        ),
    ],
)
def test_bad_metadata(tmp_path, raw, parts):
    table = pa.table({"sample_id": IDS, "narration": NARR}).replace_schema_metadata({b"neurrator_bench": raw})
    pq.write_table(table, tmp_path / "m.parquet")
    expect_error(tmp_path / "m.parquet", "m.parquet", *parts)


def test_writer_refuses_bad_input(tmp_path):
    with pytest.raises(PredictionsError, match=r"p\.csv.*\.parquet suffix"):
        write_predictions(tmp_path / "p.csv", IDS, dataset_fingerprint="f", task="t", narration=NARR)
    with pytest.raises(PredictionsError, match=r"shape \(3, 3\)"):
        write_predictions(tmp_path / "p.parquet", IDS, dataset_fingerprint="f", task="t", embedding=EMB[:3])
    with pytest.raises(PredictionsError, match="nothing to write"):
        write_predictions(tmp_path / "p.parquet", IDS, dataset_fingerprint="f", task="t")
    assert not (tmp_path / "p.parquet").exists()
