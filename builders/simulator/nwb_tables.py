"""Low-level NWB 2.2 / hdmf-common writing with h5py: typed groups, VectorData, VectorIndex, tables.

Output is byte-reproducible: datasets are written with `track_times=False`, object ids are UUIDs
drawn from a seeded generator, and the caller opens the file with `libver="earliest"`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import h5py
import numpy as np

STR = h5py.string_dtype("utf-8")
TS_DTYPE = np.dtype([("idx_start", "<i4"), ("count", "<i4"), ("timeseries", h5py.ref_dtype)])


@dataclass
class H5Writer:
    """Writes NWB objects into an open h5py file with deterministic object ids."""

    f: h5py.File
    seed: int
    rng: np.random.Generator = field(init=False)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng([self.seed, 51])

    def object_id(self) -> str:
        """A UUID4 string drawn from the seeded generator."""
        return str(uuid.UUID(bytes=self.rng.bytes(16), version=4))

    def typed(self, obj: h5py.HLObject, neurodata_type: str, namespace: str = "core", **attrs: object) -> None:
        """Set namespace, neurodata_type, object_id and extra attributes on a group or dataset."""
        obj.attrs["namespace"] = namespace
        obj.attrs["neurodata_type"] = neurodata_type
        obj.attrs["object_id"] = self.object_id()
        for key, value in attrs.items():
            if isinstance(value, np.ndarray) and value.dtype == object:
                obj.attrs.create(key, value, dtype=STR)
            else:
                obj.attrs[key] = value

    def group(
        self, path: str, neurodata_type: str | None = None, namespace: str = "core", **attrs: object
    ) -> h5py.Group:
        """Create (or open) a group, typed when `neurodata_type` is given."""
        g = self.f.require_group(path)
        if neurodata_type is not None:
            self.typed(g, neurodata_type, namespace, **attrs)
        return g

    def scalar_str(self, path: str, value: str) -> h5py.Dataset:
        """A scalar variable-length UTF-8 string dataset."""
        return self.f.create_dataset(path, data=value, dtype=STR, track_times=False)

    def data(self, parent: h5py.Group, name: str, values: object, **kwargs: object) -> h5py.Dataset:
        """An untyped dataset; str sequences become variable-length UTF-8."""
        arr = _as_array(values)
        if arr.dtype == object and h5py.check_dtype(ref=arr.dtype) is None:
            kwargs.setdefault("dtype", STR)
        return parent.create_dataset(name, data=arr, track_times=False, **kwargs)

    def vector_data(
        self,
        parent: h5py.Group,
        name: str,
        values: object,
        description: str = "no description",
        **kwargs: object,
    ) -> h5py.Dataset:
        """A VectorData column."""
        ds = self.data(parent, name, values, **kwargs)
        self.typed(ds, "VectorData", "hdmf-common", description=description)
        return ds

    def vector_index(self, parent: h5py.Group, name: str, ends: np.ndarray, target: h5py.Dataset) -> h5py.Dataset:
        """A VectorIndex (cumulative end offsets, unsigned as hdmf-common requires) pointing at `target`."""
        ds = self.data(parent, name, np.asarray(ends, dtype=np.uint64))
        self.typed(
            ds,
            "VectorIndex",
            "hdmf-common",
            description=f"Index for VectorData '{target.name.split('/')[-1]}'",
        )
        ds.attrs["target"] = target.ref
        return ds

    def ids(self, parent: h5py.Group, ids: np.ndarray) -> h5py.Dataset:
        """The ElementIdentifiers `id` dataset."""
        ds = self.data(parent, "id", np.asarray(ids, dtype=np.int64))
        self.typed(ds, "ElementIdentifiers", "hdmf-common")
        return ds

    def timeseries(
        self, path: str, data: np.ndarray, timestamps: np.ndarray, unit: str, description: str
    ) -> h5py.Group:
        """A core TimeSeries with explicit timestamps (s)."""
        g = self.group(path, "TimeSeries", comments="no comments", description=description)
        d = self.data(g, "data", data)
        d.attrs["conversion"] = 1.0
        d.attrs["resolution"] = -1.0
        d.attrs["unit"] = unit
        ts = self.data(g, "timestamps", np.asarray(timestamps, dtype=np.float64))
        ts.attrs["interval"] = np.int32(1)
        ts.attrs["unit"] = "seconds"
        return g

    def table(
        self,
        path: str,
        columns: Sequence[tuple[str, object]],
        ids: np.ndarray,
        *,
        neurodata_type: str,
        namespace: str,
        description: str,
        ragged: dict[str, Sequence[Sequence[object]]] | None = None,
        timeseries: tuple[h5py.Group, np.ndarray] | None = None,
        descriptions: dict[str, str] | None = None,
    ) -> h5py.Group:
        """A DynamicTable-like group.

        Args:
            path: Group path.
            columns: (name, values) per scalar column, in `colnames` order.
            ids: (n_rows,) int64 row ids.
            neurodata_type: e.g. "DynamicTable", "TimeIntervals", "Units".
            namespace: "hdmf-common" or "core".
            description: Table description attribute.
            ragged: name -> per-row lists, written as VectorData + <name>_index after the scalar columns.
            timeseries: (TimeSeries group, (n_rows,) int idx_start) for a `timeseries` column
                (count 1 per row) with its index.
            descriptions: Column descriptions other than "no description".

        Returns:
            The table group.
        """
        g = self.f.create_group(path)
        names = [c[0] for c in columns] + list(ragged or {}) + (["timeseries"] if timeseries else [])
        self.typed(g, neurodata_type, namespace, colnames=np.array(names, dtype=object), description=description)
        descriptions = descriptions or {}
        for name, values in columns:
            self.vector_data(g, name, values, descriptions.get(name, "no description"))
        for name, rows in (ragged or {}).items():
            flat = [v for r in rows for v in r]
            target = self.vector_data(g, name, flat, descriptions.get(name, "no description"))
            self.vector_index(g, f"{name}_index", np.cumsum([len(r) for r in rows]), target)
        if timeseries is not None:
            ts_group, idx = timeseries
            comp = np.zeros(len(idx), dtype=TS_DTYPE)
            comp["idx_start"] = idx
            comp["count"] = 1
            comp["timeseries"] = ts_group.ref
            target = g.create_dataset("timeseries", data=comp, dtype=TS_DTYPE, track_times=False)
            self.typed(target, "VectorData", "hdmf-common", description="index into a TimeSeries object")
            self.vector_index(g, "timeseries_index", np.arange(1, len(idx) + 1), target)
        self.ids(g, ids)
        return g


def _as_array(values: object) -> np.ndarray:
    if isinstance(values, np.ndarray) and (values.dtype != object or h5py.check_dtype(ref=values.dtype)):
        return values
    seq = list(values) if not isinstance(values, (str, bytes)) else [values]
    if seq and all(isinstance(v, str) for v in seq):
        return np.array(seq, dtype=object)
    if not seq:
        return np.zeros(0, dtype=object)
    return np.asarray(seq)
