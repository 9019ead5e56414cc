"""Publish a built dataset folder to the Hugging Face Hub and pin its revision in the card."""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from neurrator_bench.atomic_files import write_text_atomic
from neurrator_bench.builders.build import fingerprint
from neurrator_bench.builders.card import is_unverified, render_card
from neurrator_bench.builders.shards import file_sha256
from neurrator_bench.errors import DatasetFormatError
from neurrator_bench.schemas.dataset import MANIFEST_FILENAME, DatasetManifest

logger = logging.getLogger(__name__)

CARD_FILENAME = "README.md"
DATA_PREFIX = "data/"


def load_manifest(dataset_dir: Path) -> DatasetManifest:
    """Read ``neurrator_manifest.json`` of a built dataset.

    Raises:
        DatasetFormatError: Missing or invalid manifest, naming the file.
    """
    path = Path(dataset_dir) / MANIFEST_FILENAME
    if not path.exists():
        raise DatasetFormatError(f"{path}: missing; {dataset_dir} is not a finished neurrator-bench dataset")
    try:
        return DatasetManifest.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DatasetFormatError(f"{path}: invalid manifest: {exc}") from exc


def verify_local_files(dataset_dir: Path, manifest: DatasetManifest) -> None:
    """Check that every data file the manifest lists exists with its sha256, and the fingerprint matches.

    Raises:
        DatasetFormatError: A listed file is missing or differs from its recorded sha256, or the manifest's
            fingerprint is not the one of its ``files``; names the files.
    """
    root = Path(dataset_dir)
    missing = sorted(rel for rel in manifest.files if not (root / rel).is_file())
    if missing:
        raise DatasetFormatError(f"{root}: data file(s) listed in {MANIFEST_FILENAME} are missing: {missing[:10]}")
    changed = sorted(rel for rel, sha in manifest.files.items() if file_sha256(root / rel) != sha)
    if changed:
        raise DatasetFormatError(
            f"{root}: data file(s) differ from the sha256 recorded in {MANIFEST_FILENAME}: {changed[:10]}; rebuild"
        )
    if fingerprint(manifest.files) != manifest.fingerprint:
        raise DatasetFormatError(
            f"{root / MANIFEST_FILENAME}: fingerprint {manifest.fingerprint} is not the fingerprint of its files "
            f"({fingerprint(manifest.files)})"
        )


def stale_data_files(remote_files: Iterable[str], manifest: DatasetManifest) -> list[str]:
    """Files of a Hub revision that a load of the new dataset could read although its manifest does not list them.

    A file counts as data when it is under ``data/`` or matches one of the card's ``data_files`` globs
    (``manifest.configs``); data files that ``manifest.files`` does not list are stale (left by an earlier
    build). The card, the manifest, ``.gitattributes`` and any other file outside ``data/`` are never stale.

    Args:
        remote_files: Paths in the repo (``list_repo_files``).
        manifest: The manifest of the dataset being pushed.

    Returns:
        Sorted stale paths.
    """
    listed = set(manifest.files)
    globs = [g for cfg in manifest.configs.values() for paths in cfg.splits.values() for g in paths]
    return sorted(
        p
        for p in set(remote_files)
        if p not in listed and (p.startswith(DATA_PREFIX) or any(fnmatch.fnmatchcase(p, g) for g in globs))
    )


def push_dataset_to_hub(
    dataset_dir: Path,
    repo_id: str,
    *,
    revision: str | None = None,
    private: bool = False,
    token: str | None = None,
    api: Any = None,
    allow_simulated: bool = False,
) -> str:
    """Upload the dataset, then commit a card that pins the data commit.

    Two commits. The first (``create_commit``) adds every data file of the manifest, the manifest and the
    card, and deletes the data files that the branch already holds but the new manifest does not list
    (:func:`stale_data_files`): the card's YAML selects shards by glob, so a stale shard of an earlier build
    would otherwise be read by ``load_dataset`` of the new revision. Before that commit the local files are
    checked against the manifest's sha256s and fingerprint; after it, the data files of the new commit must
    be exactly the manifest's. The second commit rewrites README.md so that its load snippet and YAML
    ``neurrator_bench.pinned_revision`` name the first commit's sha, the revision users should pin. The
    local README.md is updated the same way.

    Args:
        dataset_dir: A finished dataset folder.
        repo_id: Hub dataset repo, e.g. "org/neurrator-bo11".
        revision: Branch to push to (created if missing); default the repo's main branch.
        private: Create the repo private.
        token: Hub token (else huggingface_hub's own configuration).
        api: An ``HfApi``-compatible object (tests pass a recorder).
        allow_simulated: Publish a build whose task configs come from simulated sessions (refused otherwise,
            so simulated data is never published as if it were Allen recordings; its card title says SIMULATED).

    Returns:
        The sha of the data commit.

    Raises:
        DatasetFormatError: The folder's files do not match its manifest, the data commit's files differ
            from the manifest's (stale or missing data files, named), or the build is simulated and
            ``allow_simulated`` is False.
    """
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(token=token)
    dataset_dir = Path(dataset_dir)
    manifest = load_manifest(dataset_dir)
    if is_unverified(manifest) and not allow_simulated:
        simulated = sorted(k for k, v in manifest.data_origin.items() if "simulated" in v)
        raise DatasetFormatError(
            f"{dataset_dir}: configs {simulated} come from simulated sessions (neurrator_manifest.json "
            "data_origin), not Allen recordings; pass allow_simulated=True (--allow-simulated) to publish them "
            "anyway (the card title says SIMULATED)"
        )
    verify_local_files(dataset_dir, manifest)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    if revision is not None:
        api.create_branch(repo_id, repo_type="dataset", branch=revision, exist_ok=True)
    stale = stale_data_files(api.list_repo_files(repo_id, repo_type="dataset", revision=revision), manifest)
    uploads = [*sorted(manifest.files), MANIFEST_FILENAME]
    if (dataset_dir / CARD_FILENAME).is_file():
        uploads.append(CARD_FILENAME)
    operations = [CommitOperationAdd(path_in_repo=rel, path_or_fileobj=str(dataset_dir / rel)) for rel in uploads]
    operations += [CommitOperationDelete(path_in_repo=rel) for rel in stale]
    if stale:
        logger.info("%s: deleting %d data file(s) of an earlier build: %s", repo_id, len(stale), stale[:10])
    info = api.create_commit(
        repo_id,
        operations=operations,
        commit_message=f"neurrator-bench dataset {manifest.fingerprint[:12]}",
        commit_description=f"{len(uploads)} file(s) added, {len(stale)} stale data file(s) deleted",
        repo_type="dataset",
        revision=revision,
    )
    data_commit = info.oid
    remote = set(api.list_repo_files(repo_id, repo_type="dataset", revision=data_commit))
    left, absent = stale_data_files(remote, manifest), sorted(set(manifest.files) - remote)
    if left or absent:
        raise DatasetFormatError(
            f"{repo_id}@{data_commit}: data files differ from fingerprint {manifest.fingerprint}: "
            f"not in the manifest {left[:10]}, missing {absent[:10]}; the card was not pinned"
        )
    card = render_card(manifest, pinned_revision=data_commit, repo_id=repo_id)
    write_text_atomic(dataset_dir / CARD_FILENAME, card)
    api.upload_file(
        path_or_fileobj=card.encode("utf-8"),
        path_in_repo=CARD_FILENAME,
        repo_id=repo_id,
        repo_type="dataset",
        revision=revision,
        commit_message=f"Pin revision {data_commit} in the dataset card",
    )
    logger.info("pushed %s to %s at %s", dataset_dir, repo_id, data_commit)
    return data_commit
