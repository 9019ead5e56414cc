"""Streaming a session from a DANDI-like archive on 127.0.0.1: asset listing, range reads, the same dataset."""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from pathlib import Path

import h5py
import pandas as pd
import pytest
from http_server import ServerState, serve

from neurrator_bench.builders.build import build_dataset
from neurrator_bench.builders.dandi import dandi_sessions, list_session_assets
from neurrator_bench.builders.nwb_reader import read_session
from neurrator_bench.builders.origin import nwb_data_origin
from neurrator_bench.builders.remote_nwb import RemoteNWB
from neurrator_bench.errors import DownloadError
from neurrator_bench.schemas.dataset import WindowSpec

TASK = "nm1-contiguous-middle"
DONOR = 699733573
FC_ID = 847657808  # functional_connectivity in Allen's session table


def _archive(sim_dir: Path, sid: int) -> tuple[ServerState, bytes, tuple[dict, ...]]:
    """A dandiset 000021 on the test server: two asset pages, one metadata document, the file on a 'bucket' path."""
    data = (sim_dir / f"session_{sid}" / f"session_{sid}.nwb").read_bytes()
    state = ServerState()
    asset = {"asset_id": "a-1", "path": f"sub-{DONOR}/sub-{DONOR}_ses-{sid}.nwb", "size": len(data)}
    probe = {"asset_id": "a-2", "path": f"sub-{DONOR}/sub-{DONOR}_ses-{sid}_probe-1_ecephys.nwb", "size": 9}
    other = {"asset_id": "a-3", "path": "sub-1/sub-1_ses-715093703.nwb", "size": 9}
    return state, data, (asset, probe, other)


def _serve_archive(state: ServerState, base: str, data: bytes, assets: tuple[dict, ...]) -> str:
    api = f"{base}/api"
    query = urllib.parse.urlencode({"page_size": 500, "order": "path"})
    first = f"/api/dandisets/000021/versions/draft/assets/?{query}"
    second = "/api/dandisets/000021/versions/draft/assets/?page=2"
    state.files[first] = json.dumps({"count": 3, "next": base + second, "results": list(assets[:2])}).encode()
    state.files[second] = json.dumps({"count": 3, "next": None, "results": [assets[2]]}).encode()
    metadata = {
        "contentSize": len(data),
        "digest": {"dandi:sha2-256": hashlib.sha256(data).hexdigest(), "dandi:dandi-etag": "x-1"},
        "contentUrl": [f"{api}/assets/a-1/download/", f"{base}/bucket/blobs/a-1"],
    }
    state.files["/api/assets/a-1/"] = json.dumps(metadata).encode()
    state.files["/bucket/blobs/a-1"] = data
    return api


def test_streamed_session_builds_the_same_dataset_from_a_fraction_of_the_file(sim_dir, tmp_path, capsys):
    sid = int(sorted(p.name.split("_")[1] for p in sim_dir.glob("session_*"))[0])
    state, data, assets = _archive(sim_dir, sid)
    common = {"stimuli_dir": sim_dir / "stimuli", "window": WindowSpec(stride=4), "tasks": [TASK]}
    with serve(state) as base:
        api = _serve_archive(state, base, data, assets)
        listed = list_session_assets(api_url=api)
        assert set(listed) == {sid, 715093703}  # the probe LFP file is not a session file
        (remote,) = dandi_sessions([sid], api_url=api)
        assert remote == RemoteNWB(f"{base}/bucket/blobs/a-1", assets[0]["path"], len(data), remote.sha256)
        assert remote.sha256 == hashlib.sha256(data).hexdigest()
        assert nwb_data_origin(remote) == "simulated"  # judged by the file's marks, not by where it is served

        state.log.clear()
        streamed_recording = read_session(remote)
        transferred = sum(sent for path, _, _, sent in state.log if path == "/bucket/blobs/a-1")
        assert all(rng is not None for path, rng, _, _ in state.log if path == "/bucket/blobs/a-1")

        state.log.clear()
        streamed = build_dataset([], tmp_path / "streamed", remote=[remote], **common)
        build_bytes = sum(sent for path, _, _, sent in state.log if path == "/bucket/blobs/a-1")
    local = build_dataset([sim_dir / f"session_{sid}"], tmp_path / "local", **common)

    with h5py.File(sim_dir / f"session_{sid}" / f"session_{sid}.nwb", "r") as f:
        needed = f["units/spike_times"].id.get_storage_size()
        unread = sum(f[f"units/{n}"].id.get_storage_size() for n in ("spike_amplitudes", "waveform_mean"))
    with capsys.disabled():
        print(
            f"\nDANDI stream of a {len(data) / 1e6:.1f} MB session: read_session fetched {transferred / 1e6:.1f} MB "
            f"({transferred / len(data):.1%}); the whole build {build_bytes / 1e6:.1f} MB "
            f"({build_bytes / len(data):.1%}); spike_times alone is {needed / len(data):.1%} of the file"
        )
    # every spike time is needed (binned or used for optotagging); spike amplitudes and waveforms never are
    assert needed <= build_bytes < len(data) - 0.9 * unread  # a request may run a few MB past spike_times
    assert build_bytes < 0.6 * len(data)
    on_disk = read_session(sim_dir / f"session_{sid}" / f"session_{sid}.nwb")
    assert streamed_recording.units.equals(on_disk.units)
    assert all((streamed_recording.spike_times[u] == t).all() for u, t in on_disk.spike_times.items())

    # the same dataset: every file byte-identical but the sessions row, which names the file it was read from
    # (so the fingerprints, which cover the sessions table, differ as well)
    assert streamed.manifest.split_sizes == local.manifest.split_sizes
    assert streamed.manifest.split_sizes[TASK]["test"] > 0
    assert streamed.manifest.source_sha256 == {assets[0]["path"].split("/")[1]: remote.sha256}
    assert set(local.manifest.source_sha256.values()) == {remote.sha256}
    for rel in sorted(p.relative_to(local.path) for p in local.path.rglob("*") if p.is_file()):
        if str(rel) in ("README.md", "neurrator_manifest.json", f"data/sessions/{sid}.parquet"):
            continue
        assert (streamed.path / rel).read_bytes() == (local.path / rel).read_bytes(), rel
    rows = [pd.read_parquet(ds.path / f"data/sessions/{sid}.parquet") for ds in (streamed, local)]
    assert list(rows[0]["source_file"]) == [assets[0]["path"].split("/")[1]]
    pd.testing.assert_frame_equal(rows[0].drop(columns="source_file"), rows[1].drop(columns="source_file"))


def test_missing_and_functional_connectivity_sessions_are_refused(sim_dir):
    sid = int(sorted(p.name.split("_")[1] for p in sim_dir.glob("session_*"))[0])
    state, data, assets = _archive(sim_dir, sid)
    with serve(state) as base:
        api = _serve_archive(state, base, data, assets)
        with pytest.raises(DownloadError, match=r"has no session file for session\(s\) \[123\]; it holds 2"):
            dandi_sessions([123], api_url=api)
        state.log.clear()
        with pytest.raises(ValueError, match=rf"{FC_ID} \(functional_connectivity\)"):
            dandi_sessions([FC_ID], api_url=api)
        assert state.log == []  # refused before any request
        with pytest.raises(DownloadError, match=r"/api/dandisets/000099/.*HTTP 404"):
            list_session_assets("000099", api_url=api)


def test_build_command_streams_from_dandi(sim_dir, tmp_path):
    from click.testing import CliRunner

    from neurrator_bench.cli import main

    sid = int(sorted(p.name.split("_")[1] for p in sim_dir.glob("session_*"))[0])
    state, data, assets = _archive(sim_dir, sid)
    with serve(state) as base:
        api = _serve_archive(state, base, data, assets)
        args = ["build", "--dandi", "000021", "--session", str(sid), "--dandi-api", api]
        args += ["--stimuli", str(sim_dir / "stimuli"), "--task", TASK, "--stride", "4", "--out", str(tmp_path / "ds")]
        result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert f"{TASK}: train=" in result.output
    usage = CliRunner().invoke(main, ["build", "--session", "1", "--out", str(tmp_path / "x")])
    assert usage.exit_code != 0 and "--session / --dandi-api / --dandi-version only apply with --dandi" in usage.output
    usage = CliRunner().invoke(main, ["build", "--dandi", "000021", "--out", str(tmp_path / "x")])
    assert usage.exit_code != 0 and "--dandi needs the sessions to stream" in usage.output


def test_a_session_given_as_a_file_and_as_a_remote_asset_is_refused(sim_dir, tmp_path):
    sid = int(sorted(p.name.split("_")[1] for p in sim_dir.glob("session_*"))[0])
    remote = RemoteNWB(f"http://127.0.0.1:9/sub-{DONOR}_ses-{sid}.nwb", f"sub-{DONOR}_ses-{sid}.nwb", 10, "0" * 64)
    with pytest.raises(ValueError, match=rf"session {sid} found twice: .*session_{sid}.nwb and .*ses-{sid}.nwb"):
        build_dataset([sim_dir / f"session_{sid}"], tmp_path / "ds", remote=[remote], stimuli_dir=sim_dir / "stimuli")
    assert not (tmp_path / "ds.partial").exists()


def test_a_stalled_server_times_out_with_the_url_named(monkeypatch):
    """remfile sets no request timeout; ours does, so a server that never answers fails instead of hanging."""
    import socket
    import time

    import remfile.RemFile

    from neurrator_bench.builders import remote_nwb
    from neurrator_bench.errors import NWBFormatError

    monkeypatch.setattr(remote_nwb, "REQUEST_TIMEOUT_S", 0.2)
    monkeypatch.setattr(remfile.RemFile.time, "sleep", lambda s: None)  # skip remfile's retry backoff
    with socket.socket() as listener:  # accepts connections (the kernel's backlog) and never replies
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/blob"
        start = time.perf_counter()
        with pytest.raises(NWBFormatError, match=r"127\.0\.0\.1.*/blob \(sub-1_ses-2\.nwb\).*[Tt]imed? ?out"):
            remote_nwb.open_nwb(RemoteNWB(url, "sub-1_ses-2.nwb", 4096, "0" * 64))
        assert time.perf_counter() - start < 20
