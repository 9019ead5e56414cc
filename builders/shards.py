"""Write parquet shards that ``datasets.load_dataset`` reads with the right features, atomically.

Arrays are handed to Arrow without copies (``Array2D`` storage is ``list<list<T>>``); the Hugging Face
features are stored in the parquet schema metadata, so plain ``load_dataset(folder, config)`` restores
``Array2D`` columns without importing this package.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from datasets import Features

from neurrator_bench.atomic_files import file_sha256

ROW_GROUP_SIZE = 1024
COMPRESSION = "zstd"


def array2d_column(values: np.ndarray, arrow_type: pa.DataType) -> pa.Array:
    """Wrap a (n, rows, cols) array as an ``Array2D`` extension column without copying.

    Args:
        values: (n, rows, cols) array with the dtype of the feature.
        arrow_type: The extension type from ``Features.arrow_schema``.
    """
    n, rows, cols = values.shape
    flat = pa.array(np.ascontiguousarray(values).reshape(-1))
    inner = pa.ListArray.from_arrays(pa.array(np.arange(0, n * rows * cols + 1, cols, dtype=np.int32)), flat)
    outer = pa.ListArray.from_arrays(pa.array(np.arange(0, n * rows + 1, rows, dtype=np.int32)), inner)
    return pa.ExtensionArray.from_storage(arrow_type, outer)


def fixed_list_column(values: np.ndarray, arrow_type: pa.DataType) -> pa.Array:
    """Wrap a (n, d) array as a fixed-size list column."""
    n, d = values.shape
    return pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(values).reshape(-1)), d).cast(arrow_type)


def build_table(columns: Mapping[str, Any], features: Features) -> pa.Table:
    """Assemble an Arrow table in the column order of ``features``.

    ``Array2D`` columns take a 3-d numpy array, fixed-length lists a 2-d array, other columns anything
    ``pa.array`` accepts.

    Raises:
        KeyError: A feature has no column, or a column has no feature.
    """
    schema = features.arrow_schema
    extra = set(columns) - set(schema.names)
    missing = set(schema.names) - set(columns)
    if extra or missing:
        raise KeyError(
            f"shard columns do not match the features: missing {sorted(missing)}, unexpected {sorted(extra)}"
        )
    arrays = []
    for field in schema:
        value = columns[field.name]
        if isinstance(field.type, pa.ExtensionType):
            arrays.append(array2d_column(np.asarray(value), field.type))
        elif pa.types.is_fixed_size_list(field.type) and isinstance(value, np.ndarray):
            arrays.append(fixed_list_column(value, field.type))
        else:
            arrays.append(pa.array(value, type=field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def atomic_write_parquet(table: pa.Table, path: Path) -> str:
    """Write ``table`` to ``path`` via a temp file and rename; return the file's sha256.

    Output is deterministic for equal tables (fixed row groups, compression, no timestamps).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, compression=COMPRESSION, row_group_size=ROW_GROUP_SIZE, write_statistics=False)
    digest = file_sha256(tmp)
    tmp.replace(path)
    return digest
