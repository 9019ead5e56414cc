"""A complete allensdk ``EcephysProjectCache`` folder from Allen's public archive (or any mirror of its tree).

What a build needs, laid out as allensdk's ``EcephysProjectCache.add_manifest_paths`` lays it out
(``../shared/allen_nwb_layout.md`` section 6), each file at the same relative path under ``base_url``:

- the project tables ``sessions.csv``, ``probes.csv``, ``channels.csv``, ``units.csv``;
- ``session_<sid>/session_<sid>.nwb`` for each requested session;
- the stimulus templates ``natural_movie_templates/natural_movie_{1,3}.h5`` and
  ``natural_scene_templates/natural_scene_<n>.tiff`` (n = 0..117);
- ``manifest.json``: written locally, as allensdk writes its manifest (it is not part of the archive).

Order: the tables first; the requested sessions are then checked against the downloaded ``sessions.csv``
(functional-connectivity or unknown ids are refused before any NWB transfer,
:func:`~neurrator_bench.builders.session_sets.check_natural_stimulus_sessions`); then sessions and templates.
Every file resumes, retries and is verified by :func:`~neurrator_bench.builders.download.download_into_cache`.
Allen publishes no checksums for these files, so the sha256 of the first complete download is recorded in
``checksums.json`` and later runs verify against it: trust on first use (the card says so).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from neurrator_bench.builders.download import check_unique_ids, download_into_cache, session_file
from neurrator_bench.builders.session_sets import check_natural_stimulus_sessions
from neurrator_bench.builders.sources import read_session_types

ALLEN_S3_CACHE_URL = "https://allen-brain-observatory.s3.amazonaws.com/visual-coding-neuropixels/ecephys-cache"
CACHE_TABLES = ("sessions.csv", "probes.csv", "channels.csv", "units.csv")
MOVIE_TEMPLATES = ("natural_movie_templates/natural_movie_1.h5", "natural_movie_templates/natural_movie_3.h5")
N_SCENES = 118
MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = "0.3.0"


def scene_templates(n_scenes: int = N_SCENES) -> list[str]:
    """Relative paths of the natural-scene templates 0..n_scenes-1."""
    return [f"natural_scene_templates/natural_scene_{n}.tiff" for n in range(n_scenes)]


def write_cache_manifest(cache_dir: Path) -> Path:
    """``manifest.json`` with every path key of allensdk's ``EcephysProjectCache.add_manifest_paths``.

    The keys and specs follow allensdk's source; that allensdk itself opens this file was not tested here
    (allensdk cannot be installed beside ``datasets``). The package's readers need only ``sessions.csv``.
    """
    entries = [
        {"key": "BASEDIR", "type": "dir", "spec": "."},
        *(
            {"key": name.removesuffix(".csv"), "type": "file", "spec": name, "parent_key": "BASEDIR"}
            for name in CACHE_TABLES
        ),
        {"key": "session_data", "type": "dir", "spec": "session_%d", "parent_key": "BASEDIR"},
        {"key": "session_nwb", "type": "file", "spec": "session_%d.nwb", "parent_key": "session_data"},
        {
            "key": "session_analysis_metrics",
            "type": "file",
            "spec": "session_%d_analysis_metrics.csv",
            "parent_key": "session_data",
        },
        {"key": "probe_lfp_nwb", "type": "file", "spec": "probe_%d_lfp.nwb", "parent_key": "session_data"},
        {
            "key": "typewise_analysis_metrics",
            "type": "file",
            "spec": "%s_analysis_metrics.csv",
            "parent_key": "BASEDIR",
        },
        {"key": "movie_dir", "type": "dir", "spec": "natural_movie_templates", "parent_key": "BASEDIR"},
        {"key": "natural_movie", "type": "file", "spec": "natural_movie_%d.h5", "parent_key": "movie_dir"},
        {"key": "natural_scene_dir", "type": "dir", "spec": "natural_scene_templates", "parent_key": "BASEDIR"},
        {"key": "natural_scene", "type": "file", "spec": "natural_scene_%d.tiff", "parent_key": "natural_scene_dir"},
    ]
    path = Path(cache_dir) / MANIFEST_NAME
    path.write_text(json.dumps({"manifest_version": MANIFEST_VERSION, "manifest": entries}, indent=2) + "\n")
    return path


def download_cache(
    session_ids: Sequence[int],
    cache_dir: Path,
    *,
    base_url: str = ALLEN_S3_CACHE_URL,
    templates: bool = True,
    n_scenes: int = N_SCENES,
    checksums: Mapping[str, str] | None = None,
    progress: bool = False,
) -> list[Path]:
    """Download tables, sessions and stimulus templates into an allensdk cache folder (module doc).

    Args:
        session_ids: BO1.1 session ids (unique).
        cache_dir: Cache root.
        base_url: Root of the archive's cache tree (default: Allen's public S3 ``ecephys-cache``).
        templates: Also fetch the natural-movie and natural-scene templates (needed for CLIP targets and
            BLIP-2 captions of real frames).
        n_scenes: Natural-scene templates to fetch (118 in the release).
        checksums: Relative path -> expected sha256, taking precedence over ``checksums.json``.
        progress: Show progress bars.

    Returns:
        The session NWB paths, in the order of ``session_ids``.

    Raises:
        ValueError: A repeated id, or a session that is not BO1.1 / not in the downloaded sessions table.
        DownloadError: A transfer failed or a file did not match its checksum.
    """
    ids = check_unique_ids(session_ids)
    cache_dir = Path(cache_dir)

    def fetch(relative_paths: list[str]) -> list[Path]:
        urls = {rel: base_url.rstrip("/") + "/" + rel for rel in relative_paths}
        return download_into_cache(cache_dir, urls, checksums=checksums, progress=progress)

    tables = fetch(list(CACHE_TABLES))
    check_natural_stimulus_sessions(ids, read_session_types(tables[0]), where=f"{tables[0]} (from {base_url})")
    sessions = fetch([session_file(s) for s in ids])
    if templates:
        fetch([*MOVIE_TEMPLATES, *scene_templates(n_scenes)])
    write_cache_manifest(cache_dir)
    return sessions
