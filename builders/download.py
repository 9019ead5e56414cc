"""Download Allen session NWB files with resume, retries and sha256 verification (stdlib urllib).

A file is streamed into ``<dest>.part``; an interrupted transfer is resumed with an HTTP ``Range``
request (a 206 reply appends, a 200 reply means the server ignored the range, so the download
restarts from byte 0). The transfer is checked against the server's length (``Content-Length`` /
``Content-Range``), ``expected_size`` and ``sha256`` when given; only a complete, verified file is
renamed to ``dest``. An existing ``dest`` is re-hashed before reuse and re-downloaded when it does
not match. `download_sessions` writes the allensdk cache layout
``<cache_dir>/session_<sid>/session_<sid>.nwb`` and records every file's sha256 in
``<cache_dir>/checksums.json`` so later runs verify against it.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from tqdm import tqdm

from neurrator_bench.atomic_files import file_sha256 as sha256_file
from neurrator_bench.builders.hash_cache import cached_sha256
from neurrator_bench.errors import DownloadError

logger = logging.getLogger(__name__)

ALLEN_S3_SESSION_URL = (
    "https://allen-brain-observatory.s3.amazonaws.com/visual-coding-neuropixels/ecephys-cache/"
    "session_{session_id}/session_{session_id}.nwb"
)
CHECKSUMS_FILE = "checksums.json"
_RETRYABLE_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)")


class _IncompleteTransferError(Exception):
    """A transfer ended early or must restart; the caller retries."""


def part_path(dest: Path) -> Path:
    """Where the partial download of ``dest`` lives: ``<dest>.part``."""
    dest = Path(dest)
    return dest.with_suffix(dest.suffix + ".part")


def _fetch_once(url: str, part: Path, *, timeout_s: float, chunk_bytes: int, progress: bool) -> int | None:
    """One HTTP request appending to (206) or rewriting (200) ``part``; returns the full size if known."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "neurrator-bench", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 (http(s) URLs of the caller)
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)  # noqa: S310
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:
            match = _UNSATISFIED_RANGE.search(err.headers.get("Content-Range", "") or "")
            if match and int(match.group(1)) == offset:
                return offset  # the .part already holds the whole file
            part.unlink()
            raise _IncompleteTransferError(f"range {offset}- not satisfiable; restarting from 0") from err
        raise
    with response:
        if response.status == 206 and offset:
            match = _CONTENT_RANGE.search(response.headers.get("Content-Range", "") or "")
            if match is None or int(match.group(1)) != offset:
                part.unlink()
                raise _IncompleteTransferError(
                    f"206 reply with Content-Range {response.headers.get('Content-Range')!r} does not start "
                    f"at {offset}; restarting from 0"
                )
            total = None if match.group(3) == "*" else int(match.group(3))
            mode = "ab"
        else:
            if offset:
                logger.info("%s: server ignored the Range request; restarting from byte 0", url)
            offset, mode = 0, "wb"
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        with (
            part.open(mode) as out,
            tqdm(total=total, initial=offset, unit="B", unit_scale=True, disable=not progress, desc=part.name) as bar,
        ):
            while chunk := response.read(chunk_bytes):
                out.write(chunk)
                bar.update(len(chunk))
    return total


def with_retries(url: str, once, *, max_retries: int, retry_wait_s: float, on_failure: str = "") -> object:
    """Call ``once()`` until it returns, retrying transient failures; the one retry policy of our downloads.

    Retried: HTTP 408/425/429/5xx, connection and socket errors (timeouts included), and replies cut short
    (``http.client.IncompleteRead`` and other ``HTTPException``). Waits ``retry_wait_s * attempt`` between tries.

    Raises:
        DownloadError: Any other HTTP status at once; the last transient error after ``max_retries`` retries
            (``on_failure`` is appended to its message). A ``DownloadError`` from ``once`` passes through.
    """
    last_error: BaseException | None = None
    for attempt in range(max_retries + 1):
        if attempt:
            time.sleep(retry_wait_s * attempt)
        try:
            return once()
        except DownloadError:
            raise
        except urllib.error.HTTPError as err:
            if err.code not in _RETRYABLE_HTTP:
                raise DownloadError(f"{url}: HTTP {err.code} {err.reason} (expected 200 or 206)") from err
            last_error = err
        except (_IncompleteTransferError, http.client.HTTPException, OSError) as err:
            last_error = err
        logger.warning("%s: attempt %d/%d failed: %s", url, attempt + 1, max_retries + 1, last_error)
    raise DownloadError(
        f"{url}: download failed after {max_retries + 1} attempts (last error: {last_error}){on_failure}"
    )


def fetch_bytes(
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    timeout_s: float = 60.0,
    max_retries: int = 3,
    retry_wait_s: float = 0.5,
) -> bytes:
    """The whole body of a small document (e.g. an archive's JSON), with :func:`with_retries`'s policy.

    Raises:
        DownloadError: Not an http(s) URL, a non-retryable status, or transient failures past the retries.
    """
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise DownloadError(f"{url}: expected an http(s) URL")
    request = urllib.request.Request(url, headers={"User-Agent": "neurrator-bench", **(headers or {})})  # noqa: S310

    def once() -> bytes:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 (http(s), checked above)
            return response.read()

    return with_retries(url, once, max_retries=max_retries, retry_wait_s=retry_wait_s)


def _transfer(
    url: str,
    part: Path,
    *,
    timeout_s: float,
    chunk_bytes: int,
    max_retries: int,
    retry_wait_s: float,
    progress: bool,
) -> None:
    """Bring ``part`` to the full length the server reports, retrying up to ``max_retries`` times."""

    def once() -> None:
        total = _fetch_once(url, part, timeout_s=timeout_s, chunk_bytes=chunk_bytes, progress=progress)
        size = part.stat().st_size if part.exists() else 0
        if total is not None and size > total:
            part.unlink()
            raise DownloadError(f"{url}: received {size} bytes, more than the {total} the server announced")
        if total is not None and size < total:
            raise _IncompleteTransferError(f"connection closed after {size} of {total} bytes")

    with_retries(
        url,
        once,
        max_retries=max_retries,
        retry_wait_s=retry_wait_s,
        on_failure=f"; partial data kept in {part} and resumed next time",
    )


def download_file(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    expected_size: int | None = None,
    chunk_bytes: int = 1 << 20,
    max_retries: int = 3,
    timeout_s: float = 60.0,
    progress: bool = False,
    retry_wait_s: float = 1.0,
) -> str:
    """Download ``url`` to ``dest`` with resume, retries and verification.

    Args:
        url: http(s) URL of the file.
        dest: Final path; the transfer goes to ``<dest>.part`` and is renamed when verified.
        sha256: Expected hex sha256 (case-insensitive), or None to skip the check.
        expected_size: Expected size in bytes, or None.
        chunk_bytes: Read size in bytes.
        max_retries: Retries after the first attempt (each resumes the .part), so at most
            ``max_retries + 1`` requests per transfer.
        timeout_s: Socket timeout per request, seconds.
        progress: Show a tqdm progress bar.
        retry_wait_s: Wait before retry k is ``k * retry_wait_s`` seconds.

    Returns:
        The hex sha256 of the complete file at ``dest``.

    Raises:
        DownloadError: HTTP error (e.g. 404, naming the URL), retries exhausted (the .part is kept for
            a later resume), or a size/sha256 mismatch (names URL, expected and got; the bad .part is
            removed).
    """
    dest = Path(dest)
    expected_sha = sha256.lower() if sha256 else None
    if dest.exists():
        digest = cached_sha256(dest)  # hashed once per (path, size, mtime): resumes do not re-read 2-3 GB
        size = dest.stat().st_size
        if (expected_sha is None or digest == expected_sha) and (expected_size in (None, size)):
            logger.info("%s: already present and verified (sha256 %s)", dest, digest)
            return digest
        logger.warning(
            "%s: existing file does not match (sha256 %s, %d bytes; expected %s, %s bytes); re-downloading",
            dest,
            digest,
            size,
            expected_sha,
            expected_size,
        )
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(dest)
    _transfer(
        url,
        part,
        timeout_s=timeout_s,
        chunk_bytes=chunk_bytes,
        max_retries=max_retries,
        retry_wait_s=retry_wait_s,
        progress=progress,
    )
    size = part.stat().st_size
    if expected_size is not None and size != expected_size:
        part.unlink()
        raise DownloadError(f"{url}: size mismatch: expected {expected_size} bytes, got {size} bytes")
    digest = sha256_file(part, chunk_bytes)
    if expected_sha is not None and digest != expected_sha:
        part.unlink()
        raise DownloadError(f"{url}: sha256 mismatch: expected {expected_sha}, got {digest}")
    part.replace(dest)
    return digest


def read_checksums(cache_dir: Path) -> dict[str, str]:
    """Recorded checksums of ``<cache_dir>/checksums.json``: relative path -> hex sha256 ({} if none).

    Raises:
        DownloadError: The file exists but is not the expected JSON object.
    """
    path = Path(cache_dir) / CHECKSUMS_FILE
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    files = data.get("files") if isinstance(data, dict) else None
    if data.get("algorithm") != "sha256" or not isinstance(files, dict):
        raise DownloadError(f"{path}: expected {{'algorithm': 'sha256', 'files': {{...}}}}, found {data!r:.200}")
    return {str(k): str(v) for k, v in files.items()}


def write_checksums(cache_dir: Path, files: Mapping[str, str]) -> Path:
    """Atomically write ``<cache_dir>/checksums.json`` (temp file + rename)."""
    path = Path(cache_dir) / CHECKSUMS_FILE
    payload = json.dumps({"algorithm": "sha256", "files": dict(sorted(files.items()))}, indent=2) + "\n"
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=".checksums.", delete=False) as tmp:
        tmp.write(payload)
    Path(tmp.name).replace(path)
    return path


def check_unique_ids(session_ids: Sequence[int]) -> list[int]:
    """The ids as ints, each once.

    Raises:
        ValueError: A session id is repeated (the message lists the repeated ones).
    """
    ids = [int(s) for s in session_ids]
    repeated = sorted({s for s in ids if ids.count(s) > 1})
    if repeated:
        raise ValueError(f"session_ids: each session once; repeated: {repeated}")
    return ids


def download_into_cache(
    cache_dir: Path,
    urls: Mapping[str, str],
    *,
    checksums: Mapping[str, str] | None = None,
    progress: bool = False,
) -> list[Path]:
    """Download files of a cache tree, ``url`` -> ``<cache_dir>/<relative>`` for each ``relative: url``, verified.

    Each file is checked against ``checksums`` (relative path -> hex sha256), else against the sha256
    recorded in ``<cache_dir>/checksums.json`` by an earlier download (trust on first use), and its sha256
    is recorded there after every file, so an interrupted run keeps what it verified.

    Returns:
        The local paths, in the order of ``urls``.

    Raises:
        DownloadError: A download failed or did not match its checksum.
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    recorded = read_checksums(cache_dir)
    given = {k: v.lower() for k, v in (checksums or {}).items()}
    paths = []
    for relative, url in urls.items():
        expected = given.get(relative) or recorded.get(relative)
        if relative in given and relative in recorded and recorded[relative] != given[relative]:
            logger.warning("%s: given sha256 differs from %s; using the given one", relative, CHECKSUMS_FILE)
        dest = cache_dir / relative
        recorded[relative] = download_file(url, dest, sha256=expected, progress=progress)
        write_checksums(cache_dir, recorded)
        paths.append(dest)
    return paths


def session_file(session_id: int) -> str:
    """Relative path of a session's NWB file in an allensdk cache."""
    return f"session_{int(session_id)}/session_{int(session_id)}.nwb"


def download_sessions(
    session_ids: Sequence[int],
    cache_dir: Path,
    *,
    url_template: str = ALLEN_S3_SESSION_URL,
    checksums: Mapping[int, str] | None = None,
    progress: bool = False,
) -> list[Path]:
    """Download session NWB files into the allensdk cache layout.

    Args:
        session_ids: Allen ecephys session ids (unique).
        cache_dir: Cache root; files go to ``session_<sid>/session_<sid>.nwb``.
        url_template: URL with a ``{session_id}`` field (default: Allen's public S3 ecephys-cache).
        checksums: Session id -> expected hex sha256; takes precedence over ``checksums.json``.
        progress: Show progress bars.

    Returns:
        Paths of the session files, in the order of ``session_ids``.

    Raises:
        ValueError: A session id is repeated.
        DownloadError: A download failed or did not match its checksum (recorded or given).
    """
    ids = check_unique_ids(session_ids)
    urls = {session_file(sid): url_template.format(session_id=sid) for sid in ids}
    given = {session_file(sid): value for sid, value in (checksums or {}).items()}
    return download_into_cache(cache_dir, urls, checksums=given, progress=progress)
