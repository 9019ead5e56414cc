"""Predictions file: one row per test sample, scored without running model code.

A predictions file is a ``.parquet`` file, or a ``.csv`` / ``.csv.gz`` file, with these columns:

- ``sample_id`` (required, unique, non-null): the task's test-split sample ids. Strings; integer ids in a
  parquet file are converted with ``str()``; a CSV column is read as text (``007`` stays ``"007"``).
- the pooled predicted target, in one of two forms (never both):
  ``embedding``, a list column (one list or numpy array of floats per row: what pandas and pyarrow write
  from such a column; in CSV each cell a JSON array such as ``[0.1, 0.2]``), or wide numeric columns
  ``embedding_0 ... embedding_<d-1>`` (contiguous from 0). Every row has the same width; no null row and
  no non-numeric, NaN, inf or null value (pandas writes NaN as null in parquet, as an empty cell in CSV).
- ``narration`` (non-null strings; in CSV an empty cell counts as missing).
- ``patches`` (optional, ignored by this reader).

At least one of the embedding and ``narration`` is required. Index columns that pandas writes
(``__index_level_<N>__``, and index columns named in the parquet ``pandas`` metadata) and the leading
``Unnamed: 0`` column of ``DataFrame.to_csv`` with its default index are ignored; any other column is
refused. A plain file written by pandas, e.g.::

    df = pd.DataFrame({"sample_id": ids, "embedding": list(pooled), "narration": texts})  # pooled: (n, d)
    df.to_parquet("preds.parquet")
    # or wide columns, here in CSV (a list column in CSV needs JSON cells: json.dumps(row.tolist())):
    pd.DataFrame(pooled).add_prefix("embedding_").assign(sample_id=ids).to_csv("preds.csv", index=False)

carries no metadata; the scorer then takes the dataset fingerprint and task from its command line.
:func:`write_predictions` writes parquet with the schema metadata key ``neurrator_bench`` holding JSON
``{"schema_version": 2, "dataset_fingerprint": ..., "task": ..., "split": ..., "narrator": {...}}`` (``narrator``
omitted when unknown; schema_version 1 files lack it; ``split`` is ``test`` or ``final``, absent in files written
before the sealed final test and read as ``test``), so a file made for another dataset build or task
can be refused. Every :class:`~neurrator_bench.errors.PredictionsError` message starts with the file path.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from neurrator_bench.errors import PredictionsError

PREDICTIONS_SCHEMA_VERSION = 2
READABLE_SCHEMA_VERSIONS = (1, 2)
METADATA_KEY = b"neurrator_bench"
KNOWN_COLUMNS = ("sample_id", "embedding", "patches", "narration")
ALLOWED_COLUMNS_TEXT = "'sample_id', 'embedding' or 'embedding_<i>', 'patches', 'narration'"
SUFFIXES = (".parquet", ".csv", ".csv.gz")
MAX_LISTED = 5
_WIDE = re.compile(r"embedding_(0|[1-9][0-9]*)")
_PANDAS_INDEX = re.compile(r"__index_level_[0-9]+__")
_CSV_TEXT_COLUMNS = ("sample_id", "embedding", "narration", "patches")
_CSV_HINT = (
    "write each cell as json.dumps(row.tolist()) (numpy's str() of an array is not JSON), "
    "or write columns embedding_0 ... embedding_<d-1>"
)


@dataclass(frozen=True)
class Predictions:
    """A validated predictions file.

    Attributes:
        path: Where it was read from.
        sample_ids: (n,) unique sample ids.
        embedding: (n, d) float64 pooled predictions, or None.
        narration: n strings, or None.
        dataset_fingerprint: Fingerprint of the dataset the predictions were made for; None when the file
            carries no ``neurrator_bench`` metadata.
        task: Task name they were made for; None likewise.
        narrator: Narrator provenance from the metadata (e.g. ``{"kind": "retrieval", ...}``), or None.
        sha256: Hex SHA-256 of the file's bytes.
        split: The split named by the metadata (``test`` when a package file predates the field); None for a
            plain file.
    """

    path: Path
    sample_ids: list[str]
    embedding: np.ndarray | None
    narration: list[str] | None
    dataset_fingerprint: str | None
    task: str | None
    narrator: dict | None
    sha256: str
    split: str | None = None

    @property
    def has_metadata(self) -> bool:
        """True when the file carried ``neurrator_bench`` metadata (dataset fingerprint and task)."""
        return self.dataset_fingerprint is not None


def write_predictions(
    path: Path,
    sample_ids: list[str],
    *,
    dataset_fingerprint: str,
    task: str,
    embedding: np.ndarray | None = None,
    narration: list[str] | None = None,
    narrator: dict | None = None,
    split: str = "test",
) -> Path:
    """Write a predictions parquet atomically (temporary file, then rename), with metadata.

    Args:
        path: Output path; must end in ``.parquet``.
        sample_ids: (n,) sample ids of the task's test split.
        dataset_fingerprint: ``fingerprint`` of the dataset's manifest.
        task: Task name.
        embedding: (n, d) pooled predicted targets, stored as float32.
        narration: n narrations.
        narrator: Narrator provenance (any JSON-serialisable dict), stored under the metadata key
            ``narrator``; omitted when None.
        split: The split the ids are from (``test``, or ``final`` for the sealed final test).

    Raises:
        PredictionsError: Wrong suffix, nothing to write, or row counts that disagree with ``sample_ids``.
        TypeError: ``narrator`` is not a JSON-serialisable dict.
    """
    path = Path(path)
    if not path.name.lower().endswith(".parquet"):
        raise PredictionsError(f"{path}: write_predictions writes parquet; use a .parquet suffix")
    if embedding is None and narration is None:
        raise PredictionsError(f"{path}: nothing to write: pass an embedding and/or narrations")
    n = len(sample_ids)
    cols = {"sample_id": pa.array(list(sample_ids), pa.string())}
    if embedding is not None:
        emb = np.asarray(embedding, dtype=np.float32)
        if emb.ndim != 2 or emb.shape[0] != n:
            raise PredictionsError(f"{path}: embedding has shape {emb.shape}; expected ({n}, d)")
        cols["embedding"] = pa.FixedSizeListArray.from_arrays(pa.array(emb.reshape(-1)), emb.shape[1])
    if narration is not None:
        if len(narration) != n:
            raise PredictionsError(f"{path}: {len(narration)} narrations for {n} sample ids")
        cols["narration"] = pa.array(list(narration), pa.string())
    meta: dict = {
        "schema_version": PREDICTIONS_SCHEMA_VERSION,
        "dataset_fingerprint": dataset_fingerprint,
        "task": task,
        "split": split,
    }
    if narrator is not None:
        if not isinstance(narrator, dict):
            raise TypeError(f"narrator must be a dict, not {type(narrator).__name__}")
        meta["narrator"] = narrator
    table = pa.table(cols).replace_schema_metadata({METADATA_KEY: json.dumps(meta).encode()})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        pq.write_table(table, tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_predictions(path: Path) -> Predictions:
    """Read and validate a predictions file (``.parquet``, ``.csv`` or ``.csv.gz``).

    Raises:
        PredictionsError: Unsupported suffix, unreadable file, bad metadata, missing/null/duplicate sample
            ids, an unknown column, a malformed embedding (null row, ragged widths, non-numeric, NaN, inf or
            null values) or narration (null, not a string), or nothing to score. Every message starts with the
            file path and names the column and offending sample ids.
    """
    path = Path(path)
    name = path.name.lower()
    if not name.endswith(SUFFIXES):
        raise PredictionsError(f"{path}: unsupported file type; accepted suffixes: {', '.join(SUFFIXES)}")
    digest = _sha256(path)
    if name.endswith(".parquet"):
        source: _Source = _ParquetSource(path)
        meta = _read_metadata(path, source.table.schema.metadata or {})
    else:
        source = _CsvSource(path)
        meta = None

    columns = source.columns
    counts = Counter(columns)
    if any(c > 1 for c in counts.values()):
        raise PredictionsError(f"{path}: duplicate column name(s) {sorted(k for k, c in counts.items() if c > 1)}")
    wide = {int(m.group(1)): c for c in columns if (m := _WIDE.fullmatch(c))}
    unknown = [c for c in columns if c not in KNOWN_COLUMNS and _WIDE.fullmatch(c) is None]
    if unknown:
        hint = " (is it a DataFrame index? write the CSV with index=False)" if isinstance(source, _CsvSource) else ""
        raise PredictionsError(f"{path}: unknown column(s) {unknown}; allowed: {ALLOWED_COLUMNS_TEXT}{hint}")
    if "sample_id" not in columns:
        raise PredictionsError(f"{path}: missing column 'sample_id'")
    ids = _check_ids(path, source.sample_ids())
    if not ids:
        raise PredictionsError(f"{path}: no rows")

    embedding = None
    if "embedding" in columns and wide:
        raise PredictionsError(
            f"{path}: both an 'embedding' column and wide columns embedding_<i> ({len(wide)} of them); use one form"
        )
    if "embedding" in columns:
        embedding = source.list_embedding(ids)
    elif wide:
        missing = next(i for i in range(len(wide) + 1) if i not in wide)
        if missing < len(wide):
            raise PredictionsError(
                f"{path}: wide embedding columns must run embedding_0 ... embedding_<d-1> without gaps; "
                f"column 'embedding_{missing}' is missing (highest index {max(wide)})"
            )
        embedding = np.empty((len(ids), len(wide)), np.float64)
        for i in range(len(wide)):
            embedding[:, i] = source.wide_column(wide[i], ids)
    if embedding is not None:
        if embedding.shape[1] == 0:
            raise PredictionsError(f"{path}: column 'embedding' has width 0")
        bad = np.flatnonzero(~np.isfinite(embedding).all(axis=1))
        if bad.size:
            cols = _bad_wide_columns(embedding, bad, wide)
            raise PredictionsError(
                f"{path}: column {cols} holds NaN or inf values (a null counts as NaN) at {_listed(ids, bad)}"
            )

    narration = source.narration(ids) if "narration" in columns else None
    if embedding is None and narration is None:
        raise PredictionsError(
            f"{path}: nothing to score: needs an 'embedding' (or embedding_<i>) and/or a 'narration' column"
        )
    return Predictions(
        path=path,
        sample_ids=ids,
        embedding=embedding,
        narration=narration,
        dataset_fingerprint=None if meta is None else meta["dataset_fingerprint"],
        task=None if meta is None else meta["task"],
        narrator=None if meta is None else meta.get("narrator"),
        split=None if meta is None else meta.get("split", "test"),
        sha256=digest,
    )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError as exc:
        raise PredictionsError(f"{path}: cannot read ({exc})") from exc
    return h.hexdigest()


def _read_metadata(path: Path, schema_meta: dict) -> dict | None:
    raw = schema_meta.get(METADATA_KEY)
    if raw is None:
        return None
    key = METADATA_KEY.decode()
    try:
        meta = json.loads(raw)
    except ValueError as exc:
        raise PredictionsError(f"{path}: schema metadata key '{key}' is not valid JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise PredictionsError(f"{path}: schema metadata key '{key}' is not a JSON object")
    for field in ("schema_version", "dataset_fingerprint", "task"):
        if field not in meta:
            raise PredictionsError(f"{path}: schema metadata key '{key}' lacks key '{field}'")
    if meta["schema_version"] not in READABLE_SCHEMA_VERSIONS:
        raise PredictionsError(
            f"{path}: schema metadata key '{key}' has schema_version {meta['schema_version']!r}; "
            f"this reader accepts {list(READABLE_SCHEMA_VERSIONS)}"
        )
    for field in ("dataset_fingerprint", "task"):
        if not isinstance(meta[field], str):
            raise PredictionsError(f"{path}: schema metadata key '{key}': '{field}' is not a string")
    if meta.get("narrator") is not None and not isinstance(meta["narrator"], dict):
        raise PredictionsError(f"{path}: schema metadata key '{key}': 'narrator' is not a JSON object")
    if meta.get("split", "test") not in ("test", "final"):
        raise PredictionsError(
            f"{path}: schema metadata key '{key}': 'split' is {meta['split']!r}; expected test or final"
        )
    return meta


def _check_equal_widths(path: Path, ids: list[str], widths: np.ndarray) -> None:
    """Raise unless every embedding row has the same width, naming the rows that differ from the common one."""
    if widths.size and (widths != widths[0]).any():
        common = Counter(widths.tolist()).most_common(1)[0][0]
        rows = np.flatnonzero(widths != common)
        raise PredictionsError(
            f"{path}: column 'embedding' has rows of different widths {sorted(set(widths.tolist()))}; "
            f"most have {common}, not {_listed(ids, rows)}"
        )


def _listed(ids: Sequence[str], rows: np.ndarray | Sequence[int]) -> str:
    rows = list(rows)
    shown = [ids[r] for r in rows[:MAX_LISTED]]
    more = f" ... ({len(rows)} in all)" if len(rows) > MAX_LISTED else ""
    return f"sample_id(s) {shown}{more}"


def _bad_wide_columns(embedding: np.ndarray, bad_rows: np.ndarray, wide: dict[int, str]) -> str:
    if not wide:
        return "'embedding'"
    bad_cols = np.flatnonzero(~np.isfinite(embedding[bad_rows]).all(axis=0))
    names = [wide[int(j)] for j in bad_cols[:MAX_LISTED]]
    return ", ".join(f"'{c}'" for c in names) + (" ..." if bad_cols.size > MAX_LISTED else "")


def _check_ids(path: Path, ids: list) -> list[str]:
    null = [r for r, i in enumerate(ids) if i is None or i == ""]
    if null:
        shown = null[:MAX_LISTED]
        more = f" ... ({len(null)} in all)" if len(null) > MAX_LISTED else ""
        raise PredictionsError(f"{path}: column 'sample_id' is null or empty at row(s) {shown}{more} (0-based)")
    dups = sorted(k for k, c in Counter(ids).items() if c > 1)
    if dups:
        more = f" ... ({len(dups)} in all)" if len(dups) > MAX_LISTED else ""
        raise PredictionsError(f"{path}: column 'sample_id': duplicate sample_id(s) {dups[:MAX_LISTED]}{more}")
    return ids


def _is_number_type(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t)


class _Source:
    """Column access shared by the parquet and CSV readers (columns exclude ignored index columns)."""

    path: Path
    columns: list[str]

    def sample_ids(self) -> list:
        raise NotImplementedError

    def list_embedding(self, ids: list[str]) -> np.ndarray:
        raise NotImplementedError

    def wide_column(self, name: str, ids: list[str]) -> np.ndarray:
        raise NotImplementedError

    def narration(self, ids: list[str]) -> list[str]:
        raise NotImplementedError


class _ParquetSource(_Source):
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.table = pq.read_table(path)
        except (OSError, pa.ArrowException) as exc:
            raise PredictionsError(f"{path}: not a readable parquet file ({exc})") from exc
        index_cols = set(_pandas_index_columns(self.table.schema.metadata or {})) - set(KNOWN_COLUMNS)
        self.columns = [
            c for c in self.table.column_names if _PANDAS_INDEX.fullmatch(c) is None and c not in index_cols
        ]

    def _column(self, name: str) -> pa.Array:
        col = self.table.column(name).combine_chunks()
        if pa.types.is_dictionary(col.type):
            col = col.dictionary_decode()
        return col

    def sample_ids(self) -> list:
        col = self._column("sample_id")
        if pa.types.is_integer(col.type):
            return [None if v is None else str(v) for v in col.to_pylist()]
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            raise PredictionsError(f"{self.path}: column 'sample_id' must hold strings (or integers), not {col.type}")
        return col.to_pylist()

    def list_embedding(self, ids: list[str]) -> np.ndarray:
        path, col = self.path, self._column("embedding")
        t = col.type
        if not (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)):
            raise PredictionsError(f"{path}: column 'embedding' must be a list column of numbers, not {t}")
        if col.null_count:
            rows = np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))
            raise PredictionsError(f"{path}: column 'embedding' has null row(s) at {_listed(ids, rows)}")
        if not _is_number_type(t.value_type):
            raise PredictionsError(f"{path}: column 'embedding' must hold numbers, not {t.value_type}")
        widths = pc.list_value_length(col).to_numpy(zero_copy_only=False)
        _check_equal_widths(path, ids, widths)
        d = int(widths[0]) if widths.size else (t.list_size if pa.types.is_fixed_size_list(t) else 0)
        # Null values come out as NaN (pandas writes NaN as null); the caller reports them.
        values = col.flatten().to_numpy(zero_copy_only=False)
        return values.astype(np.float64, copy=False).reshape(len(ids), d)

    def wide_column(self, name: str, ids: list[str]) -> np.ndarray:
        col = self._column(name)
        if not _is_number_type(col.type):
            raise PredictionsError(f"{self.path}: column '{name}' must hold numbers, not {col.type}")
        return col.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)  # null -> NaN, reported by caller

    def narration(self, ids: list[str]) -> list[str]:
        col = self._column("narration")
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            raise PredictionsError(f"{self.path}: column 'narration' must hold strings, not {col.type}")
        if col.null_count:
            rows = np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))
            raise PredictionsError(f"{self.path}: column 'narration' is null at {_listed(ids, rows)}")
        return col.to_pylist()


def _pandas_index_columns(schema_meta: dict) -> list[str]:
    """Named index columns that ``DataFrame.to_parquet`` recorded in the ``pandas`` metadata."""
    try:
        index = json.loads(schema_meta.get(b"pandas", b"{}")).get("index_columns", [])
    except (ValueError, AttributeError):
        return []
    return [c for c in index if isinstance(c, str)] if isinstance(index, list) else []


class _CsvSource(_Source):
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            header = pd.read_csv(path, nrows=0).columns
            text = [c for c in header if c in _CSV_TEXT_COLUMNS]
            # Text columns: only an empty cell is missing ("NA" is a narration, "007" an id); numbers parse natively.
            self.df = pd.read_csv(
                path,
                dtype=dict.fromkeys(text, "string"),
                keep_default_na=False,
                na_values={c: [""] for c in text},
            )
        except (OSError, EOFError, ValueError, UnicodeDecodeError) as exc:
            raise PredictionsError(f"{path}: not a readable CSV file ({exc})") from exc
        cols = [str(c) for c in self.df.columns]
        self.columns = cols[1:] if cols[:1] == ["Unnamed: 0"] else cols

    def _strings(self, name: str) -> list:
        s = self.df[name]
        return [None if v is pd.NA else v for v in s.astype(object).tolist()]

    def sample_ids(self) -> list:
        return self._strings("sample_id")

    def list_embedding(self, ids: list[str]) -> np.ndarray:
        path = self.path
        cells = self._strings("embedding")
        null = [r for r, c in enumerate(cells) if c is None]
        if null:
            raise PredictionsError(f"{path}: column 'embedding' has empty cell(s) at {_listed(ids, null)}")
        rows = []
        for r, cell in enumerate(cells):
            try:
                v = json.loads(cell)
            except ValueError as exc:
                raise PredictionsError(
                    f"{path}: column 'embedding': the cell of sample_id {ids[r]!r} is not a JSON array "
                    f"({exc}); {_CSV_HINT}"
                ) from exc
            if not isinstance(v, list) or "true" in cell or "false" in cell:
                raise PredictionsError(
                    f"{path}: column 'embedding': the cell of sample_id {ids[r]!r} is not a JSON array of numbers"
                )
            rows.append(v)
        widths = np.array([len(v) for v in rows])
        _check_equal_widths(path, ids, widths)
        try:
            arr = np.array(rows)
        except ValueError:
            arr = np.array(rows, dtype=object)
        if arr.ndim != 2 or arr.dtype.kind not in "iuf":
            bad = [r for r, v in enumerate(rows) if not all(_is_json_number(x) for x in v)]
            raise PredictionsError(f"{path}: column 'embedding' holds non-numeric values at {_listed(ids, bad)}")
        return arr.astype(np.float64, copy=False).reshape(len(ids), -1)

    def wide_column(self, name: str, ids: list[str]) -> np.ndarray:
        s = self.df[name]
        if s.dtype.kind in "iuf":
            return s.to_numpy(dtype=np.float64)
        # Empty cells (pandas writes NaN so) and literal nan/inf, which the fast parser leaves as text, become
        # NaN/inf, reported by the caller; any other text is refused here.
        values = ["nan" if v == "" else v for v in s.astype(object).tolist()]
        bad = [r for r, v in enumerate(values) if not _parses_as_float(v)]
        if bad:
            raise PredictionsError(f"{self.path}: column '{name}' holds non-numeric values at {_listed(ids, bad)}")
        return np.array([float(v) for v in values], dtype=np.float64)

    def narration(self, ids: list[str]) -> list[str]:
        values = self._strings("narration")
        null = [r for r, v in enumerate(values) if v is None]
        if null:
            raise PredictionsError(f"{self.path}: column 'narration' is empty or null at {_listed(ids, null)}")
        return values


def _is_json_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _parses_as_float(v: object) -> bool:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return True
    try:
        float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True
