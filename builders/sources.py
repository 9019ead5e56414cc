"""Resolve user inputs (files, folders, allensdk cache folders) into session NWB files.

Accepted inputs:
- a session ``.nwb`` file (origin "file");
- a folder, searched recursively for ``*.nwb`` (origin "folder"), skipping per-probe LFP files
  (``probe_<pid>_lfp.nwb`` and DANDI ``*_probe-<pid>_ecephys.nwb``) and partial downloads;
- an allensdk ``EcephysProjectCache`` folder (origin "allensdk-cache"), recognised by
  ``manifest.json`` and/or ``sessions.csv``, anywhere under a given folder. Its session files are
  ``session_<sid>/session_<sid>.nwb``; when ``sessions.csv`` (columns ``id``, ``session_type``)
  is present, only ``brain_observatory_1.1`` sessions are kept and the others are recorded as
  skipped (see `scan_nwb_inputs`). allensdk is never imported.

Session ids come from file names (``session_<sid>.nwb`` or DANDI ``..._ses-<sid>.nwb``); a file
named otherwise gets ``session_id=None`` (the reader takes the id from ``/identifier``).
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from neurrator_bench.builders.remote_nwb import NWBLocation

logger = logging.getLogger(__name__)

CACHE_MARKERS = ("manifest.json", "sessions.csv")
BO11_SESSION_TYPE = "brain_observatory_1.1"
_SESSION_NAME = re.compile(r"^session_(\d+)\.nwb$")
_DANDI_NAME = re.compile(r"_ses-(\d+)\.nwb$")
_LFP_NAME = re.compile(r"(^probe_\d+_lfp\.nwb$)|(_probe-\d+_ecephys\.nwb$)")


@dataclass(frozen=True)
class SessionSource:
    """One session NWB file to read.

    Attributes:
        session_id: Allen session id parsed from the file name, or None if the name has none.
        nwb_path: The session NWB file, or a `RemoteNWB` read over HTTP.
        origin: "file" (given directly), "folder" (found by search), "allensdk-cache" or "remote".
    """

    session_id: int | None
    nwb_path: NWBLocation
    origin: str


@dataclass(frozen=True)
class SkippedSession:
    """A session found but not used. ``reason`` says why (e.g. its session_type)."""

    session_id: int | None
    nwb_path: Path
    reason: str


@dataclass(frozen=True)
class SourceScan:
    """Result of `scan_nwb_inputs`: the sessions to read and those skipped, with reasons."""

    sources: list[SessionSource]
    skipped: list[SkippedSession] = field(default_factory=list)


def session_id_from_name(path: Path) -> int | None:
    """Allen session id in a file name (``session_<sid>.nwb``, ``..._ses-<sid>.nwb``), else None."""
    name = Path(path).name
    match = _SESSION_NAME.match(name) or _DANDI_NAME.search(name)
    return int(match.group(1)) if match else None


def is_lfp_file(path: Path) -> bool:
    """True for per-probe LFP NWB files, which are not session files."""
    return _LFP_NAME.search(Path(path).name) is not None


def is_allensdk_cache(folder: Path) -> bool:
    """True when ``folder`` holds an allensdk EcephysProjectCache marker file."""
    return any((Path(folder) / marker).is_file() for marker in CACHE_MARKERS)


def read_session_types(sessions_csv: Path) -> dict[int, str]:
    """``sessions.csv`` id -> session_type."""
    with sessions_csv.open(newline="") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        for needed in ("id", "session_type"):
            if needed not in columns:
                raise ValueError(f"{sessions_csv}: missing column {needed!r}; found {columns}")
        return {int(row["id"]): row["session_type"].strip() for row in reader}


def _scan_cache(root: Path) -> SourceScan:
    sources: list[SessionSource] = []
    skipped: list[SkippedSession] = []
    sessions_csv = root / "sessions.csv"
    types = read_session_types(sessions_csv) if sessions_csv.is_file() else None
    for nwb in sorted(root.glob("session_*/session_*.nwb")):
        sid = session_id_from_name(nwb)
        if sid is None or nwb.parent.name != f"session_{sid}":
            continue
        if types is not None and sid in types and types[sid] != BO11_SESSION_TYPE:
            reason = f"session_type {types[sid]!r} in {sessions_csv} is not {BO11_SESSION_TYPE!r}"
            skipped.append(SkippedSession(sid, nwb, reason))
            continue
        if types is not None and sid not in types:
            logger.warning("%s: session %d is not listed in %s; keeping it", nwb, sid, sessions_csv)
        sources.append(SessionSource(sid, nwb, "allensdk-cache"))
    return SourceScan(sources, skipped)


def _scan_folder(folder: Path) -> SourceScan:
    cache_roots = sorted({m.parent for marker in CACHE_MARKERS for m in folder.rglob(marker)})
    sources: list[SessionSource] = []
    skipped: list[SkippedSession] = []
    for root in cache_roots:
        scan = _scan_cache(root)
        sources += scan.sources
        skipped += scan.skipped
    claimed = {s.nwb_path for s in sources} | {s.nwb_path for s in skipped}
    for nwb in sorted(folder.rglob("*.nwb")):
        if nwb in claimed or is_lfp_file(nwb) or not nwb.is_file():
            continue
        sources.append(SessionSource(session_id_from_name(nwb), nwb, "folder"))
    return SourceScan(sources, skipped)


def _scan_one(path: Path) -> SourceScan:
    if not path.exists():
        raise FileNotFoundError(f"input path does not exist: {path}")
    if path.is_file():
        if path.suffix != ".nwb":
            raise ValueError(f"{path}: expected a session .nwb file or a folder, found a {path.suffix!r} file")
        if is_lfp_file(path):
            raise ValueError(f"{path}: this is a per-probe LFP file, not a session file (session_<sid>.nwb)")
        return SourceScan([SessionSource(session_id_from_name(path), path, "file")])
    scan = _scan_folder(path)
    if not scan.sources and not scan.skipped:
        raise FileNotFoundError(
            f"{path}: no session NWB files found (looked recursively for *.nwb, excluding "
            f"probe_*_lfp.nwb, and for allensdk caches with {' or '.join(CACHE_MARKERS)} holding "
            "session_<sid>/session_<sid>.nwb)"
        )
    return scan


def _sort_key(source: SessionSource) -> tuple[int, int, str]:
    if source.session_id is None:
        return (1, 0, str(source.nwb_path))
    return (0, source.session_id, str(source.nwb_path))


def scan_nwb_inputs(paths: Sequence[Path]) -> SourceScan:
    """Find the session NWB files in ``paths`` and the sessions skipped on the way.

    Args:
        paths: Files and/or folders (see module docstring).

    Returns:
        SourceScan with ``sources`` sorted by session id (files without an id last, by path) and
        ``skipped`` (non-BO1.1 sessions of allensdk caches) in the same order.

    Raises:
        FileNotFoundError: A path does not exist, a folder holds no session file, or nothing usable
            was found at all.
        ValueError: A file is not ``.nwb`` or is an LFP file, or one session id appears under two
            different paths (both are named).
    """
    if not paths:
        raise ValueError("no input paths given; expected .nwb files or folders")
    sources: list[SessionSource] = []
    skipped: list[SkippedSession] = []
    seen: dict[Path, SessionSource] = {}
    for raw in paths:
        scan = _scan_one(Path(raw))
        skipped += scan.skipped
        for source in scan.sources:
            resolved = source.nwb_path.resolve()
            if resolved not in seen:  # the same file reached twice is not a duplicate session
                seen[resolved] = source
                sources.append(source)
    check_unique_sessions(sources)
    for skip in skipped:
        logger.warning("skipping %s (session %s): %s", skip.nwb_path, skip.session_id, skip.reason)
    if not sources:
        raise FileNotFoundError(
            f"no usable session NWB file in {[str(p) for p in paths]}: all {len(skipped)} session(s) "
            f"found were skipped (e.g. {skipped[0].reason if skipped else 'none found'})"
        )
    sources.sort(key=_sort_key)
    skipped.sort(key=lambda s: (s.session_id is None, s.session_id or 0, str(s.nwb_path)))
    return SourceScan(sources, skipped)


def check_unique_sessions(sources: Sequence[SessionSource]) -> None:
    """Refuse two sources of one session id (local files, cache entries or remote assets alike).

    Raises:
        ValueError: The same session id comes from two sources (both named).
    """
    by_id: dict[int, SessionSource] = {}
    for source in sources:
        if source.session_id is None:
            continue
        if source.session_id in by_id:
            raise ValueError(
                f"session {source.session_id} found twice: {by_id[source.session_id].nwb_path} and "
                f"{source.nwb_path}; pass only one of them"
            )
        by_id[source.session_id] = source


def resolve_nwb_inputs(paths: Sequence[Path]) -> list[SessionSource]:
    """Session NWB files to read, from files, folders and allensdk cache folders.

    Skipped sessions (non-BO1.1 sessions of an allensdk cache) are logged as warnings; call
    `scan_nwb_inputs` to get them as records.

    Args:
        paths: Files and/or folders (see module docstring).

    Returns:
        Sources sorted by session id (files whose names carry no id last, by path).

    Raises:
        FileNotFoundError: A path does not exist or no session file was found (names the path and
            what was looked for).
        ValueError: A bad file type, or the same session id under two paths (both named).
    """
    return scan_nwb_inputs(paths).sources
