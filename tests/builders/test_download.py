from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from http_server import ServerState, serve

from neurrator_bench.builders.download import (
    ALLEN_S3_SESSION_URL,
    download_file,
    download_sessions,
    part_path,
    read_checksums,
)
from neurrator_bench.errors import DownloadError

PAYLOAD = np.random.default_rng(0).bytes(50_000)
SHA = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture
def server() -> Iterator[tuple[str, ServerState]]:
    state = ServerState(files={"/data/file.bin": PAYLOAD})
    with serve(state) as base:
        yield base, state


def test_complete_download(server, tmp_path: Path) -> None:
    base, state = server
    dest = tmp_path / "sub" / "file.bin"
    digest = download_file(f"{base}/data/file.bin", dest, sha256=SHA.upper(), expected_size=len(PAYLOAD))
    assert digest == SHA
    assert dest.read_bytes() == PAYLOAD
    assert not part_path(dest).exists()
    assert state.log == [("/data/file.bin", None, 200, len(PAYLOAD))]


def test_resume_after_truncated_response(server, tmp_path: Path) -> None:
    base, state = server
    state.cut_next["/data/file.bin"] = [12_345]
    dest = tmp_path / "file.bin"
    assert download_file(f"{base}/data/file.bin", dest, sha256=SHA, retry_wait_s=0) == SHA
    assert dest.read_bytes() == PAYLOAD
    assert state.log == [
        ("/data/file.bin", None, 200, 12_345),
        ("/data/file.bin", "bytes=12345-", 206, len(PAYLOAD) - 12_345),
    ]


def test_resume_existing_part(server, tmp_path: Path) -> None:
    base, state = server
    dest = tmp_path / "file.bin"
    part_path(dest).write_bytes(PAYLOAD[:30_000])
    assert download_file(f"{base}/data/file.bin", dest, sha256=SHA) == SHA
    assert state.log == [("/data/file.bin", "bytes=30000-", 206, 20_000)]


def test_complete_part_not_yet_renamed(server, tmp_path: Path) -> None:
    base, state = server
    dest = tmp_path / "file.bin"
    part_path(dest).write_bytes(PAYLOAD)
    assert download_file(f"{base}/data/file.bin", dest, sha256=SHA) == SHA
    assert dest.read_bytes() == PAYLOAD
    assert [entry[2] for entry in state.log] == [416]


def test_server_ignoring_range_restarts(server, tmp_path: Path) -> None:
    base, state = server
    state.ignore_range = True
    dest = tmp_path / "file.bin"
    part_path(dest).write_bytes(b"garbage-that-would-corrupt-an-append")
    assert download_file(f"{base}/data/file.bin", dest, sha256=SHA) == SHA
    assert dest.read_bytes() == PAYLOAD
    assert state.log == [("/data/file.bin", "bytes=36-", 200, len(PAYLOAD))]


def test_checksum_mismatch_removes_part(server, tmp_path: Path) -> None:
    base, _ = server
    dest = tmp_path / "file.bin"
    wrong = "0" * 64
    with pytest.raises(DownloadError, match=rf"/data/file\.bin: sha256 mismatch: expected {wrong}, got {SHA}"):
        download_file(f"{base}/data/file.bin", dest, sha256=wrong)
    assert not dest.exists()
    assert not part_path(dest).exists()


def test_size_mismatch(server, tmp_path: Path) -> None:
    base, _ = server
    with pytest.raises(DownloadError, match=r"size mismatch: expected 10 bytes, got 50000"):
        download_file(f"{base}/data/file.bin", tmp_path / "f.bin", expected_size=10)


def test_404_names_url(server, tmp_path: Path) -> None:
    base, state = server
    url = f"{base}/data/missing.bin"
    with pytest.raises(DownloadError, match=rf"{re.escape(url)}: HTTP 404"):
        download_file(url, tmp_path / "m.bin")
    assert len(state.log) == 1  # no retries for a 404


def test_retries_capped_and_part_kept(server, tmp_path: Path) -> None:
    base, state = server
    state.cut_next["/data/file.bin"] = [100, 0, 0]
    dest = tmp_path / "file.bin"
    with pytest.raises(DownloadError, match=r"failed after 3 attempts"):
        download_file(f"{base}/data/file.bin", dest, max_retries=2, retry_wait_s=0)
    assert [entry[1] for entry in state.log] == [None, "bytes=100-", "bytes=100-"]
    assert not dest.exists()
    assert part_path(dest).read_bytes() == PAYLOAD[:100]  # kept for a later resume


def test_existing_dest_reverified(server, tmp_path: Path) -> None:
    base, state = server
    dest = tmp_path / "file.bin"
    dest.write_bytes(PAYLOAD)
    assert download_file(f"{base}/data/file.bin", dest, sha256=SHA) == SHA
    assert state.log == []  # reused after re-hashing
    dest.write_bytes(b"corrupted")
    assert download_file(f"{base}/data/file.bin", dest, sha256=SHA) == SHA
    assert dest.read_bytes() == PAYLOAD
    assert len(state.log) == 1


def test_download_sessions_cache_layout(server, tmp_path: Path) -> None:
    base, state = server
    other = PAYLOAD[::-1]
    state.files = {"/s3/session_1/session_1.nwb": PAYLOAD, "/s3/session_2/session_2.nwb": other}
    template = base + "/s3/session_{session_id}/session_{session_id}.nwb"
    cache = tmp_path / "cache"
    paths = download_sessions([2, 1], cache, url_template=template)
    assert paths == [cache / "session_2" / "session_2.nwb", cache / "session_1" / "session_1.nwb"]
    recorded = json.loads((cache / "checksums.json").read_text())
    assert recorded == {
        "algorithm": "sha256",
        "files": {
            "session_1/session_1.nwb": SHA,
            "session_2/session_2.nwb": hashlib.sha256(other).hexdigest(),
        },
    }
    # a second run verifies against checksums.json; a corrupted file is fetched again
    paths[1].write_bytes(b"bitrot")
    state.log.clear()
    download_sessions([1, 2], cache, url_template=template)
    assert [entry[0] for entry in state.log] == ["/s3/session_1/session_1.nwb"]
    assert paths[1].read_bytes() == PAYLOAD
    assert read_checksums(cache)["session_1/session_1.nwb"] == SHA
    assert sorted(p.name for p in cache.iterdir()) == ["checksums.json", "session_1", "session_2"]


def test_download_sessions_given_checksum_mismatch(server, tmp_path: Path) -> None:
    base, state = server
    state.files = {"/s3/session_1/session_1.nwb": PAYLOAD}
    template = base + "/s3/session_{session_id}/session_{session_id}.nwb"
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        download_sessions([1], tmp_path, url_template=template, checksums={1: "ab" * 32})
    assert not (tmp_path / "checksums.json").exists()
    with pytest.raises(ValueError, match=r"repeated: \[1\]"):
        download_sessions([1, 1], tmp_path, url_template=template)


def test_s3_template() -> None:
    assert ALLEN_S3_SESSION_URL.format(session_id=715093703) == (
        "https://allen-brain-observatory.s3.amazonaws.com/visual-coding-neuropixels/ecephys-cache/"
        "session_715093703/session_715093703.nwb"
    )


def test_a_reply_cut_short_is_retried_then_named(monkeypatch):
    """An ``IncompleteRead`` (a body shorter than its Content-Length) is transient: retried, then a DownloadError."""
    import http.client

    from neurrator_bench.builders import download

    calls = []

    class CutShort:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self):
            calls.append(1)
            raise http.client.IncompleteRead(b"{", 9)

    monkeypatch.setattr(download.urllib.request, "urlopen", lambda request, timeout: CutShort())
    with pytest.raises(
        DownloadError, match=r"http://127\.0\.0\.1/x\.json: download failed after 3 attempts.*IncompleteRead"
    ):
        download.fetch_bytes("http://127.0.0.1/x.json", max_retries=2, retry_wait_s=0)
    assert len(calls) == 3
    with pytest.raises(DownloadError, match="expected an http"):
        download.fetch_bytes("file:///etc/passwd")
