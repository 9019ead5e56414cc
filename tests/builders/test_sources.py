from __future__ import annotations

import logging
from pathlib import Path

import pytest

from neurrator_bench.builders.sources import (
    SessionSource,
    is_lfp_file,
    resolve_nwb_inputs,
    scan_nwb_inputs,
    session_id_from_name,
)


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89HDF")
    return path


def _make_cache(root: Path) -> Path:
    (root).mkdir(parents=True)
    (root / "manifest.json").write_text('{"manifest_version": "0.3.0"}')
    (root / "sessions.csv").write_text(
        "id,session_type,specimen_id\n"
        "715093703,brain_observatory_1.1,699733581\n"
        "766640955,functional_connectivity,1\n"
        "719161530,brain_observatory_1.1,2\n"
    )
    for sid in (715093703, 766640955, 719161530):
        _touch(root / f"session_{sid}" / f"session_{sid}.nwb")
        _touch(root / f"session_{sid}" / "probe_810755797_lfp.nwb")
    (root / f"session_{719161530}" / f"session_{719161530}.nwb.part").write_bytes(b"partial")
    return root


def test_names() -> None:
    assert session_id_from_name(Path("session_715093703.nwb")) == 715093703
    assert session_id_from_name(Path("sub-699733573_ses-715093703.nwb")) == 715093703
    assert session_id_from_name(Path("mouse.nwb")) is None
    assert is_lfp_file(Path("probe_810755797_lfp.nwb"))
    assert is_lfp_file(Path("sub-699733573_ses-715093703_probe-810755797_ecephys.nwb"))
    assert not is_lfp_file(Path("session_715093703.nwb"))


def test_allensdk_cache_keeps_bo11(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = _make_cache(tmp_path / "cache")
    with caplog.at_level(logging.WARNING):
        sources = resolve_nwb_inputs([root])
    assert sources == [
        SessionSource(715093703, root / "session_715093703" / "session_715093703.nwb", "allensdk-cache"),
        SessionSource(719161530, root / "session_719161530" / "session_719161530.nwb", "allensdk-cache"),
    ]
    assert "766640955" in caplog.text and "functional_connectivity" in caplog.text
    scan = scan_nwb_inputs([root])
    assert [(s.session_id, "functional_connectivity" in s.reason) for s in scan.skipped] == [(766640955, True)]


def test_cache_found_inside_a_folder(tmp_path: Path) -> None:
    _make_cache(tmp_path / "data" / "ecephys_cache")
    sources = resolve_nwb_inputs([tmp_path / "data"])
    assert [(s.session_id, s.origin) for s in sources] == [
        (715093703, "allensdk-cache"),
        (719161530, "allensdk-cache"),
    ]


def test_plain_folder_and_files_sorted(tmp_path: Path) -> None:
    folder = tmp_path / "dandi"
    a = _touch(folder / "sub-2" / "sub-2_ses-900.nwb")
    _touch(folder / "sub-2" / "sub-2_ses-900_probe-1_ecephys.nwb")
    b = _touch(folder / "nested" / "session_100.nwb")
    c = _touch(folder / "mouse.nwb")
    single = _touch(tmp_path / "elsewhere" / "session_500.nwb")
    sources = resolve_nwb_inputs([single, folder])
    assert sources == [
        SessionSource(100, b, "folder"),
        SessionSource(500, single, "file"),
        SessionSource(900, a, "folder"),
        SessionSource(None, c, "folder"),
    ]


def test_same_file_twice_is_not_a_duplicate(tmp_path: Path) -> None:
    f = _touch(tmp_path / "d" / "session_7.nwb")
    assert resolve_nwb_inputs([f, tmp_path / "d"]) == [SessionSource(7, f, "file")]


def test_duplicate_session_names_both_paths(tmp_path: Path) -> None:
    first = _touch(tmp_path / "a" / "session_7.nwb")
    second = _touch(tmp_path / "b" / "sub-1_ses-7.nwb")
    with pytest.raises(ValueError, match=rf"session 7 found twice: {first}.*{second}"):
        resolve_nwb_inputs([tmp_path])


def test_nothing_found(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    _touch(empty / "probe_1_lfp.nwb")
    _touch(empty / "notes.txt")
    with pytest.raises(FileNotFoundError, match=rf"{empty}: no session NWB files found.*\*\.nwb.*manifest\.json"):
        resolve_nwb_inputs([empty])


def test_only_skipped_sessions(tmp_path: Path) -> None:
    root = tmp_path / "fc"
    root.mkdir()
    (root / "sessions.csv").write_text("id,session_type\n766640955,functional_connectivity\n")
    _touch(root / "session_766640955" / "session_766640955.nwb")
    with pytest.raises(FileNotFoundError, match=r"skipped.*functional_connectivity"):
        resolve_nwb_inputs([root])


def test_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing_dir"):
        resolve_nwb_inputs([tmp_path / "missing_dir"])
    txt = _touch(tmp_path / "x.h5")
    with pytest.raises(ValueError, match=r"x\.h5.*expected a session \.nwb"):
        resolve_nwb_inputs([txt])
    lfp = _touch(tmp_path / "probe_3_lfp.nwb")
    with pytest.raises(ValueError, match="LFP file"):
        resolve_nwb_inputs([lfp])
    bad_csv = tmp_path / "badcache"
    bad_csv.mkdir()
    (bad_csv / "sessions.csv").write_text("ecephys_session_id,type\n1,x\n")
    with pytest.raises(ValueError, match=r"sessions\.csv.*'session_type'|sessions\.csv.*'id'"):
        resolve_nwb_inputs([bad_csv])
    with pytest.raises(ValueError, match="no input paths"):
        resolve_nwb_inputs([])
