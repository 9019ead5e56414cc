"""Find Allen session files in a DANDI dandiset (000021: Visual Coding Neuropixels BO1.1) to stream them.

Two read-only endpoints of the DANDI Archive's public REST API are used (stdlib ``urllib``, retried on
connection errors and 5xx replies):

- ``GET {api}/dandisets/{id}/versions/{version}/assets/?page_size=N``: every asset's ``asset_id``, ``path`` and
  ``size``, page by page (``next`` holds the next page's URL);
- ``GET {api}/assets/{asset_id}/``: the asset's metadata, with ``contentUrl`` (the S3 object first where there is
  one, else the API's ``download/`` URL that redirects to it) and ``digest["dandi:sha2-256"]``, the sha256 the
  archive published for the file.

Session files are ``sub-<donor_id>/sub-<donor_id>_ses-<session_id>.nwb`` (allen_nwb_layout.md section 6); the
per-probe ``..._probe-<pid>_ecephys.nwb`` LFP files are skipped.

Our choice: these two GETs instead of the ``dandi`` client, whose install adds about 60 packages (zarr,
tensorstore, a deno runtime, keyring, ...) to read two JSON documents. The files themselves are read with
``remfile`` (see ``remote_nwb``).
"""

from __future__ import annotations

import json
import logging
import re
import urllib.parse
from collections.abc import Sequence

from neurrator_bench.builders.download import fetch_bytes
from neurrator_bench.builders.remote_nwb import RemoteNWB
from neurrator_bench.builders.session_sets import check_natural_stimulus_sessions
from neurrator_bench.builders.sources import read_session_types
from neurrator_bench.errors import DownloadError
from neurrator_bench.realdata import SESSIONS_TABLE

logger = logging.getLogger(__name__)

DANDI_API_URL = "https://api.dandiarchive.org/api"
ALLEN_BO11_DANDISET = "000021"
SHA256_KEY = "dandi:sha2-256"
_SESSION_ASSET = re.compile(r"^sub-(\d+)/sub-\1_ses-(\d+)\.nwb$")


def _get_json(url: str) -> dict:
    """GET a JSON document (retries as every download does: `download.with_retries`)."""
    body = fetch_bytes(url, headers={"Accept": "application/json"})
    try:
        return json.loads(body.decode("utf-8"))
    except ValueError as err:
        raise DownloadError(f"{url}: expected a JSON document: {err}") from err


def list_session_assets(
    dandiset: str = ALLEN_BO11_DANDISET, *, version: str = "draft", api_url: str = DANDI_API_URL, page_size: int = 500
) -> dict[int, dict]:
    """Session id -> asset record (``asset_id``, ``path``, ``size``) of every session file in the dandiset.

    Raises:
        DownloadError: The API cannot be reached or answers an error (names the URL), or a page is malformed.
    """
    base = api_url.rstrip("/")
    query = urllib.parse.urlencode({"page_size": page_size, "order": "path"})
    url: str | None = f"{base}/dandisets/{dandiset}/versions/{version}/assets/?{query}"
    found: dict[int, dict] = {}
    while url:
        page = _get_json(url)
        if not isinstance(page.get("results"), list):
            raise DownloadError(f"{url}: expected a page with a 'results' list, found keys {sorted(page)}")
        for asset in page["results"]:
            match = _SESSION_ASSET.match(str(asset.get("path", "")))
            if match:
                found[int(match.group(2))] = asset
        url = page.get("next")
    return found


def _content_url(metadata: dict, api_url: str, where: str) -> str:
    urls = [u for u in metadata.get("contentUrl", []) if isinstance(u, str)]
    if not urls:
        raise DownloadError(f"{where}: asset metadata has no 'contentUrl'")
    direct = [u for u in urls if not u.startswith(api_url.rstrip("/"))]
    return (direct or urls)[0]


def dandi_sessions(
    session_ids: Sequence[int],
    dandiset: str = ALLEN_BO11_DANDISET,
    *,
    version: str = "draft",
    api_url: str = DANDI_API_URL,
) -> list[RemoteNWB]:
    """The session files of ``session_ids`` in the dandiset, ready to stream (`RemoteNWB`), in the given order.

    Raises:
        ValueError: A session that Allen's session table lists as not BO1.1 (functional connectivity).
        DownloadError: A session is not in the dandiset (the message names it and how many sessions it holds),
            or an asset's metadata lacks its content URL, size or published sha256.
    """
    types = read_session_types(SESSIONS_TABLE)  # a functional-connectivity id is refused before any request
    check_natural_stimulus_sessions(
        [sid for sid in session_ids if sid in types], types, where=f"{SESSIONS_TABLE} (shipped with the package)"
    )
    assets = list_session_assets(dandiset, version=version, api_url=api_url)
    missing = [sid for sid in session_ids if sid not in assets]
    if missing:
        raise DownloadError(
            f"dandiset {dandiset} (version {version}, {api_url}) has no session file for session(s) {missing}; "
            f"it holds {len(assets)} session file(s), e.g. {sorted(assets)[:3]}"
        )
    out = []
    for sid in session_ids:
        asset = assets[sid]
        where = f"{api_url.rstrip('/')}/assets/{asset['asset_id']}/"
        metadata = _get_json(where)
        sha256 = (metadata.get("digest") or {}).get(SHA256_KEY)
        size = metadata.get("contentSize", asset.get("size"))
        if not sha256 or size is None:
            raise DownloadError(f"{where}: asset metadata lacks digest[{SHA256_KEY!r}] or contentSize")
        out.append(RemoteNWB(_content_url(metadata, api_url, where), str(asset["path"]), int(size), str(sha256)))
        logger.info("session %d: %s (%d bytes) at %s", sid, asset["path"], int(size), out[-1].url)
    return out
