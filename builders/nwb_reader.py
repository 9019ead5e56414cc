"""Read one Allen Visual Coding - Neuropixels session NWB file into a `SessionRecording`.

Only h5py is used (no pynwb, no allensdk). The reader follows the layout of the files Allen serves
today (the June 2020 regeneration: S3 ``ecephys-cache`` and DANDI 000021), see
``allen_nwb_layout.md`` sections 1-3:

- ``/units`` is an unfiltered DynamicTable; ``spike_times`` is ragged, split by ``spike_times_index``
  (cumulative end offsets). The brain area of a unit comes from ``units.peak_channel_id`` ->
  ``/general/extracellular_ephys/electrodes`` row with that ``id`` -> ``location`` ("" or "None"
  means out of brain / unknown -> None); the probe is that row's ``group_name``. The electrodes
  ``z`` column is never read (in the released files it duplicates ``y``).
- Stimulus tables are ``/intervals/<stimulus>_presentations``; string parameter columns that hold
  numbers (with "N/A" for missing) are coerced to float, list-like strings such as
  "[250.0, 250.0]" stay strings.
- ``/processing/optotagging/optogenetic_stimulation`` may be missing (module or table).
- The legacy 2019 layout (allensdk < 2) is detected and rejected with an explanation.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from neurrator_bench.builders.recording import SessionRecording
from neurrator_bench.builders.remote_nwb import NWBLocation, as_location, open_nwb
from neurrator_bench.errors import NWBFormatError

logger = logging.getLogger(__name__)

UNITS_PATH = "/units"
ELECTRODES_PATH = "/general/extracellular_ephys/electrodes"
ELECTRODE_GROUPS_PATH = "/general/extracellular_ephys"
INTERVALS_PATH = "/intervals"
OPTOTAGGING_PATH = "/processing/optotagging/optogenetic_stimulation"
PRESENTATIONS_SUFFIX = "_presentations"
MIN_NWB_VERSION = (2, 2, 2)
_MISSING_LOCATIONS = ("", "None")
_MISSING_STRINGS = ("", "N/A", "None", "null", "nan", "NaN")
_ELECTRODE_COLUMNS = ("location", "group_name", "valid_data", "probe_vertical_position")


def _decode(value: object) -> object:
    """Decode a bytes scalar to str; return anything else unchanged."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return value


def _read_scalar_str(f: h5py.File, path: str) -> str | None:
    """Read a scalar string dataset, or None when the path does not exist."""
    if path not in f:
        return None
    return str(_decode(f[path][()])).strip()


def _read_column(ds: h5py.Dataset) -> np.ndarray:
    """Read a 1-D dataset; strings come back as an object array of str."""
    if h5py.check_string_dtype(ds.dtype) is not None:
        return np.asarray(ds.asstr()[()], dtype=object)
    return np.asarray(ds[()])


def _is_ragged_index(group: h5py.Group, name: str) -> bool:
    """Whether ``group[name]`` is the VectorIndex of a ragged column (``X_index`` beside ``X``)."""
    if name.endswith("_index") and name.removesuffix("_index") in group:
        return True
    return str(_decode(group[name].attrs.get("neurodata_type", ""))) == "VectorIndex"


def _read_table(group: h5py.Group, path_for_errors: str) -> pd.DataFrame:
    """Read every scalar column of an NWB DynamicTable group.

    Ragged columns are skipped: per the NWB/HDMF DynamicTable convention a ragged column ``X`` is a
    VectorData ``X`` plus a VectorIndex ``X_index``, so ``X`` is skipped when ``X_index`` exists and
    ``X_index`` is skipped when ``X`` exists (or when it is typed ``VectorIndex``). Any other column whose
    name ends in ``_index`` (e.g. ``local_index`` in /units and the electrodes table, ``stimulus_index``
    in the presentation tables) is an ordinary scalar column and is kept. Object references and
    compound columns (``timeseries``) are skipped. The ``id`` dataset becomes the ``id`` column.

    Args:
        group: The DynamicTable HDF5 group.
        path_for_errors: Its file path and HDF5 path, used in error messages.

    Returns:
        DataFrame with one row per table row, columns in the table's ``colnames`` order after ``id``.

    Raises:
        NWBFormatError: The table has no ``id`` dataset or a column length differs from ``id``.
    """
    if "id" not in group:
        raise NWBFormatError(f"{path_for_errors}: DynamicTable has no 'id' dataset")
    ids = np.asarray(group["id"][()])
    names = [str(_decode(c)) for c in group.attrs.get("colnames", [])]
    names += sorted(k for k in group if k not in names and k != "id")
    columns: dict[str, np.ndarray] = {"id": ids}
    for name in names:
        if name not in group or f"{name}_index" in group or _is_ragged_index(group, name):
            continue
        ds = group[name]
        if not isinstance(ds, h5py.Dataset) or ds.ndim != 1:
            continue
        if ds.dtype.names is not None or h5py.check_ref_dtype(ds.dtype) is not None:
            continue
        values = _read_column(ds)
        if len(values) != len(ids):
            raise NWBFormatError(
                f"{path_for_errors}/{name}: expected {len(ids)} rows (length of 'id'), found {len(values)}"
            )
        columns[name] = values
    return pd.DataFrame(columns)


def _coerce_numeric(table: pd.DataFrame) -> pd.DataFrame:
    """Turn string columns that hold only numbers (or missing markers such as "N/A") into float64.

    A column is converted only if every value outside ``_MISSING_STRINGS`` parses as a number, so
    list-like strings ("[250.0, 250.0]") and words keep the column as str.
    """
    out = table.copy()
    for name in out.columns:
        col = out[name]
        if not (col.dtype == object or pd.api.types.is_string_dtype(col.dtype)):
            continue
        text = col.astype(str).str.strip()
        present = ~text.isin(_MISSING_STRINGS)
        numeric = pd.to_numeric(text.where(present), errors="coerce")
        if present.any() and numeric[present].notna().all():
            out[name] = numeric.astype(np.float64)
    return out


def _nwb_version(f: h5py.File) -> tuple[int, ...] | None:
    """The root ``nwb_version`` attribute as an int tuple (``"2.0b"`` -> (2, 0)), None if absent."""
    raw = f.attrs.get("nwb_version")
    if raw is None:
        return None
    parts = re.findall(r"\d+", str(_decode(raw)))
    return tuple(int(p) for p in parts[:3])


def _legacy_layout_reason(f: h5py.File) -> str | None:
    """Why the file looks like the legacy 2019 layout, or None when it does not."""
    version = _nwb_version(f)
    if version is not None and version < MIN_NWB_VERSION:
        return f"root nwb_version {f.attrs['nwb_version']!r} < 2.2.2"
    if "/general/lab_meta_data/metadata" in f:
        return "it has /general/lab_meta_data/metadata (EcephysLabMetaData)"
    if ELECTRODE_GROUPS_PATH in f:
        for name, obj in f[ELECTRODE_GROUPS_PATH].items():
            if not isinstance(obj, h5py.Group) or name == "electrodes":
                continue
            kind = str(_decode(obj.attrs.get("neurodata_type", "")))
            if name.isdigit() or kind == "EcephysProbe":
                return f"electrode group {name!r} (neurodata_type {kind!r}) is named by numeric probe id"
    return None


def _check_not_legacy(f: h5py.File, path: Path) -> None:
    reason = _legacy_layout_reason(f)
    if reason is not None:
        raise NWBFormatError(
            f"{path}: this is the legacy 2019 Allen ecephys NWB layout ({reason}); the reader needs the "
            "files regenerated for allensdk>=2 (June 2020), as served by the S3 ecephys-cache "
            "(visual-coding-neuropixels/ecephys-cache) or DANDI 000021"
        )


def _read_spike_times(f: h5py.File, path: Path, unit_ids: np.ndarray) -> dict[int, np.ndarray]:
    """Split the ragged ``/units/spike_times`` into one sorted float64 array per unit.

    The whole dataset is read once and split with numpy (no per-unit HDF5 reads).
    """
    times = np.asarray(f[f"{UNITS_PATH}/spike_times"][()], dtype=np.float64)
    ends = np.asarray(f[f"{UNITS_PATH}/spike_times_index"][()], dtype=np.int64)
    if ends.shape != unit_ids.shape:
        raise NWBFormatError(
            f"{path}: {UNITS_PATH}/spike_times_index has {ends.size} entries, expected one per unit ({unit_ids.size})"
        )
    if ends.size and (np.any(np.diff(ends) < 0) or ends[0] < 0 or ends[-1] != times.size):
        raise NWBFormatError(
            f"{path}: {UNITS_PATH}/spike_times_index must be non-decreasing cumulative ends ending at "
            f"len(spike_times)={times.size}; found first={ends[0]}, last={ends[-1]}"
        )
    starts = np.concatenate(([0], ends[:-1])) if ends.size else ends
    pieces = np.split(times, ends[:-1]) if ends.size else []
    spikes = {int(uid): piece for uid, piece in zip(unit_ids, pieces, strict=True)}
    # positions i with times[i] < times[i-1] that are not the first spike of a unit
    descending = np.flatnonzero(times[1:] < times[:-1]) + 1
    descending = descending[~np.isin(descending, starts)]
    for u in np.unique(np.searchsorted(ends, descending, side="right")):
        uid = int(unit_ids[u])
        logger.warning("%s: spike times of unit %d are not sorted; sorting them", path, uid)
        spikes[uid] = np.sort(spikes[uid])
    return spikes


def _read_units(f: h5py.File, path: Path) -> pd.DataFrame:
    """Units table indexed by ``unit_id`` with the peak-channel electrode columns joined."""
    if UNITS_PATH not in f:
        raise NWBFormatError(f"{path}: missing group {UNITS_PATH} (the units table)")
    for name in ("spike_times", "spike_times_index"):
        if f"{UNITS_PATH}/{name}" not in f:
            raise NWBFormatError(f"{path}: missing dataset {UNITS_PATH}/{name} (ragged spike times)")
    units = _read_table(f[UNITS_PATH], f"{path}:{UNITS_PATH}")
    units = units.rename(columns={"id": "unit_id"}).set_index("unit_id")
    units.index = units.index.astype(np.int64)
    if units.index.has_duplicates:
        dup = units.index[units.index.duplicated()].unique().tolist()[:5]
        raise NWBFormatError(f"{path}:{UNITS_PATH}/id: unit ids must be unique; duplicated: {dup}")
    if "peak_channel_id" not in units.columns:
        raise NWBFormatError(f"{path}:{UNITS_PATH}: missing column 'peak_channel_id'")
    if ELECTRODES_PATH not in f:
        raise NWBFormatError(f"{path}: missing table {ELECTRODES_PATH} (needed for unit locations)")
    electrodes = _read_table(f[ELECTRODES_PATH], f"{path}:{ELECTRODES_PATH}")
    missing = [c for c in _ELECTRODE_COLUMNS if c not in electrodes.columns]
    if missing:
        raise NWBFormatError(f"{path}:{ELECTRODES_PATH}: missing column(s) {missing}; found {list(electrodes.columns)}")
    electrodes = electrodes.set_index("id")
    if electrodes.index.has_duplicates:
        raise NWBFormatError(f"{path}:{ELECTRODES_PATH}/id: channel ids must be unique")
    peak = units["peak_channel_id"].astype(np.int64)
    unknown = sorted(set(peak.tolist()) - set(electrodes.index.tolist()))
    if unknown:
        raise NWBFormatError(
            f"{path}:{UNITS_PATH}/peak_channel_id: {len(unknown)} id(s) not found in "
            f"{ELECTRODES_PATH}/id, e.g. {unknown[:5]}"
        )
    rows = electrodes.loc[peak.to_numpy()]
    location = rows["location"].astype(object).to_numpy()
    structure = [None if (v is None or str(v).strip() in _MISSING_LOCATIONS) else str(v) for v in location]
    units["peak_channel_id"] = peak
    units["structure"] = pd.Series(structure, index=units.index, dtype=object)
    units["probe"] = rows["group_name"].astype(str).to_numpy()
    valid = rows["valid_data"].to_numpy()
    if valid.dtype == object:
        valid = np.array([str(v).strip().lower() in ("true", "1") for v in valid])
    units["valid_data"] = valid.astype(bool)
    units["probe_vertical_position"] = pd.to_numeric(rows["probe_vertical_position"]).to_numpy()
    return units


def _presentation_names(f: h5py.File) -> list[str]:
    if INTERVALS_PATH not in f:
        return []
    return sorted(
        k[: -len(PRESENTATIONS_SUFFIX)]
        for k, v in f[INTERVALS_PATH].items()
        if k.endswith(PRESENTATIONS_SUFFIX) and isinstance(v, h5py.Group)
    )


def _needs_frame(stimulus: str) -> bool:
    """Movie and natural-scene tables must carry a ``frame`` column."""
    return stimulus.startswith("natural_movie") or stimulus == "natural_scenes"


def _read_presentations(f: h5py.File, path: Path, stimulus: str) -> pd.DataFrame:
    hdf_path = f"{INTERVALS_PATH}/{stimulus}{PRESENTATIONS_SUFFIX}"
    table = _coerce_numeric(_read_table(f[hdf_path], f"{path}:{hdf_path}"))
    required = ["start_time", "stop_time"] + (["frame"] if _needs_frame(stimulus) else [])
    for column in required:
        if column not in table.columns:
            raise NWBFormatError(f"{path}:{hdf_path}: missing column {column!r}; found {[c for c in table.columns]}")
        if not pd.api.types.is_numeric_dtype(table[column]):
            raise NWBFormatError(f"{path}:{hdf_path}/{column}: expected numbers, found {table[column].dtype}")
    for column in ("start_time", "stop_time", "frame", "stimulus_block"):
        if column in table.columns:
            table[column] = table[column].astype(np.float64)
    return table.sort_values("start_time", kind="stable").reset_index(drop=True)


def _read_optotagging(f: h5py.File, path: Path) -> pd.DataFrame | None:
    if OPTOTAGGING_PATH not in f:
        reason = "module" if "/processing/optotagging" not in f else "table"
        logger.info("%s: no optotagging %s (%s); optotagging=None", path, reason, OPTOTAGGING_PATH)
        return None
    table = _coerce_numeric(_read_table(f[OPTOTAGGING_PATH], f"{path}:{OPTOTAGGING_PATH}"))
    for column in ("start_time", "stop_time"):
        if column not in table.columns:
            raise NWBFormatError(f"{path}:{OPTOTAGGING_PATH}: missing column {column!r}")
    if "duration" not in table.columns:
        table["duration"] = table["stop_time"] - table["start_time"]
    return table.sort_values("start_time", kind="stable").reset_index(drop=True)


def _read_invalid_times(f: h5py.File, path: Path) -> pd.DataFrame | None:
    """``/intervals/invalid_times`` with its ragged ``tags`` column as a list of str per row, or None."""
    if "intervals/invalid_times" not in f:
        return None
    group = f["intervals/invalid_times"]
    table = _coerce_numeric(_read_table(group, f"{path}: /intervals/invalid_times"))
    tags: list[list[str]] = [[] for _ in range(len(table))]
    if "tags" in group and "tags_index" in group:
        values = [str(_decode(v)) for v in group["tags"][()]]
        ends = np.asarray(group["tags_index"][()], dtype=np.int64)
        starts = np.concatenate([[0], ends[:-1]])
        tags = [values[a:b] for a, b in zip(starts, ends, strict=True)]
    table["tags"] = tags
    return table


def _session_id(f: h5py.File, path: Path) -> int:
    for hdf_path in ("/identifier", "/general/session_id"):
        text = _read_scalar_str(f, hdf_path)
        if text is not None and text.isdigit():
            return int(text)
    raise NWBFormatError(
        f"{path}: /identifier: expected the integer Allen session id, found "
        f"{_read_scalar_str(f, '/identifier')!r} (and no integer /general/session_id)"
    )


def list_presentation_tables(path: NWBLocation) -> list[str]:
    """List the stimulus names that have an ``/intervals/<name>_presentations`` table.

    Args:
        path: Session NWB file.

    Returns:
        Sorted stimulus names, e.g. ["drifting_gratings", "natural_movie_one", ...].

    Raises:
        FileNotFoundError: The file does not exist.
        NWBFormatError: The file is not readable HDF5, or is the legacy 2019 layout.
    """
    path = as_location(path)
    with open_nwb(path) as f:
        _check_not_legacy(f, path)
        return _presentation_names(f)


def read_session(path: NWBLocation, stimuli: Sequence[str] | None = None) -> SessionRecording:
    """Read an Allen session NWB file (allensdk>=2 layout) into a `SessionRecording`.

    Args:
        path: ``session_<sid>.nwb``, or a `RemoteNWB` (read over HTTP range requests, see ``remote_nwb``).
        stimuli: Stimulus names whose ``/intervals/<name>_presentations`` tables to load
            (e.g. ["natural_movie_one", "natural_scenes"]); None loads every table present.

    Returns:
        The unfiltered session: ``units`` (n_units rows, indexed by unit id, with ``structure``,
        ``probe``, ``valid_data``, ``probe_vertical_position`` joined through ``peak_channel_id``),
        ``spike_times`` (unit id -> sorted float64 seconds, shape (n_spikes,)), the requested
        presentations tables (rows sorted by ``start_time``; numeric columns float64; ``id`` is the
        per-table row id) and the optotagging table or None.

    Raises:
        FileNotFoundError: The file does not exist.
        NWBFormatError: Unreadable/truncated HDF5, the legacy 2019 layout, a missing table, column or
            dataset (message names the file and HDF5 path), or a requested stimulus that has no table.
    """
    path = as_location(path)
    with open_nwb(path) as f:
        try:
            return _read_open_session(f, path, stimuli)
        except OSError as err:
            raise NWBFormatError(
                f"{path}: not a readable HDF5/NWB file (possibly a truncated or interrupted download): {err}"
            ) from err


def _read_open_session(f: h5py.File, path: Path, stimuli: Sequence[str] | None) -> SessionRecording:
    _check_not_legacy(f, path)
    available = _presentation_names(f)
    if stimuli is None:
        wanted = available
    else:
        wanted = list(dict.fromkeys(stimuli))
        absent = [s for s in wanted if s not in available]
        if absent:
            raise NWBFormatError(
                f"{path}: missing table(s) "
                f"{', '.join(f'{INTERVALS_PATH}/{s}{PRESENTATIONS_SUFFIX}' for s in absent)} (stimulus {absent}); "
                f"tables present: {available}"
            )
    units = _read_units(f, path)
    spike_times = _read_spike_times(f, path, units.index.to_numpy())
    session_type = _read_scalar_str(f, "/general/stimulus")
    if session_type is None:
        logger.warning("%s: no /general/stimulus (session type); using ''", path)
    return SessionRecording(
        path=path,
        session_id=_session_id(f, path),
        session_type=session_type or "",
        genotype=_read_scalar_str(f, "/general/subject/genotype") or "",
        subject_id=_read_scalar_str(f, "/general/subject/subject_id") or "",
        units=units,
        spike_times=spike_times,
        presentations={s: _read_presentations(f, path, s) for s in wanted},
        optotagging=_read_optotagging(f, path),
        invalid_times=_read_invalid_times(f, path),
        running_speed=_read_running_speed(f, path),
    )


RUNNING_SPEED_PATH = "/processing/running/running_speed"


def _read_running_speed(f: h5py.File, path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """``(timestamps, speed cm/s)`` of ``/processing/running/running_speed`` sorted by time, or None if absent."""
    node = f.get(RUNNING_SPEED_PATH)
    if node is None or "data" not in node or "timestamps" not in node:
        logger.info("%s: no %s; running speed omitted", path, RUNNING_SPEED_PATH)
        return None
    t = np.asarray(node["timestamps"][()], dtype=np.float64)
    v = np.asarray(node["data"][()], dtype=np.float64)
    if t.shape != v.shape:
        raise NWBFormatError(
            f"{path}: {RUNNING_SPEED_PATH}: expected data and timestamps of one length, found {v.shape} and {t.shape}"
        )
    order = np.argsort(t, kind="stable")
    return t[order], v[order]
