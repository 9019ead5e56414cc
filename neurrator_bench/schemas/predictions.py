"""Predictions file: a parquet file with one row per test sample, scored without running model code.

Columns: ``sample_id`` (string, required, unique) and any of ``embedding`` (list of floats: the pooled
predicted target), ``patches`` (optional, list of lists), ``narration`` (string). The parquet schema
metadata key ``neurrator_bench`` holds JSON ``{"schema_version": 1, "dataset_fingerprint": ..., "task": ...}``
so a file made for another dataset build or task is refused. :func:`write_predictions` writes it.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from neurrator_bench.errors import PredictionsError

PREDICTIONS_SCHEMA_VERSION = 1
METADATA_KEY = b"neurrator_bench"
KNOWN_COLUMNS = ("sample_id", "embedding", "patches", "narration")


@dataclass(frozen=True)
class Predictions:
    """A validated predictions file.

    Attributes:
        path: Where it was read from.
        sample_ids: (n,) unique sample ids.
        embedding: (n, d) float64 pooled predictions, or None.
        narration: n strings, or None.
        dataset_fingerprint: Fingerprint of the dataset the predictions were made for.
        task: Task name they were made for.
    """

    path: Path
    sample_ids: list[str]
    embedding: np.ndarray | None
    narration: list[str] | None
    dataset_fingerprint: str
    task: str


def write_predictions(
    path: Path,
    sample_ids: list[str],
    *,
    dataset_fingerprint: str,
    task: str,
    embedding: np.ndarray | None = None,
    narration: list[str] | None = None,
) -> Path:
    """Write a predictions file atomically.

    Args:
        path: Output parquet path.
        sample_ids: (n,) sample ids of the task's test split.
        dataset_fingerprint: ``fingerprint`` of the dataset's manifest.
        task: Task name.
        embedding: (n, d) pooled predicted targets.
        narration: n narrations.
    """
    cols = {"sample_id": pa.array(sample_ids, pa.string())}
    if embedding is not None:
        emb = np.asarray(embedding, dtype=np.float32)
        cols["embedding"] = pa.FixedSizeListArray.from_arrays(pa.array(emb.reshape(-1)), emb.shape[1])
    if narration is not None:
        cols["narration"] = pa.array(narration, pa.string())
    table = pa.table(cols)
    meta = {
        "schema_version": PREDICTIONS_SCHEMA_VERSION,
        "dataset_fingerprint": dataset_fingerprint,
        "task": task,
    }
    table = table.replace_schema_metadata({METADATA_KEY: json.dumps(meta).encode()})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)
    return path


def read_predictions(path: Path) -> Predictions:
    """Read and validate a predictions file.

    Raises:
        PredictionsError: Unreadable file, missing metadata, missing/duplicate/null sample ids, NaN or inf
            embeddings, ragged embedding widths, unknown columns; every message names the file and column.
    """
    path = Path(path)
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise PredictionsError(f"{path}: not a readable parquet file ({exc})") from exc
    raw = (table.schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise PredictionsError(
            f"{path}: no 'neurrator_bench' metadata (dataset_fingerprint, task); write the file with "
            "neurrator_bench.schemas.predictions.write_predictions"
        )
    meta = json.loads(raw)
    unknown = sorted(set(table.column_names) - set(KNOWN_COLUMNS))
    if unknown:
        raise PredictionsError(f"{path}: unknown column(s) {unknown}; allowed: {list(KNOWN_COLUMNS)}")
    if "sample_id" not in table.column_names:
        raise PredictionsError(f"{path}: missing column 'sample_id'")
    ids = table.column("sample_id").to_pylist()
    if any(i is None for i in ids):
        raise PredictionsError(f"{path}: column 'sample_id' has a null at row {ids.index(None)}")
    dups = sorted(k for k, c in Counter(ids).items() if c > 1)
    if dups:
        raise PredictionsError(f"{path}: duplicate sample_id(s) {dups[:5]}{' ...' if len(dups) > 5 else ''}")
    embedding = None
    if "embedding" in table.column_names:
        rows = table.column("embedding").to_pylist()
        widths = {len(r) if r is not None else -1 for r in rows}
        if -1 in widths:
            raise PredictionsError(f"{path}: column 'embedding' has a null row")
        if len(widths) != 1:
            raise PredictionsError(f"{path}: column 'embedding' has rows of different widths {sorted(widths)}")
        embedding = np.asarray(rows, dtype=np.float64).reshape(len(rows), -1)
        bad = np.argwhere(~np.isfinite(embedding))
        if bad.size:
            r = int(bad[0][0])
            raise PredictionsError(f"{path}: column 'embedding' holds NaN or inf (first at sample_id {ids[r]!r})")
    narration = None
    if "narration" in table.column_names:
        narration = table.column("narration").to_pylist()
        if any(n is None for n in narration):
            raise PredictionsError(f"{path}: column 'narration' has a null at row {narration.index(None)}")
    if embedding is None and narration is None:
        raise PredictionsError(f"{path}: nothing to score: needs an 'embedding' and/or a 'narration' column")
    return Predictions(
        path=path,
        sample_ids=ids,
        embedding=embedding,
        narration=narration,
        dataset_fingerprint=str(meta.get("dataset_fingerprint")),
        task=str(meta.get("task")),
    )
