"""Publish a built dataset folder to the Hugging Face Hub and pin its revision in the card."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from neurrator_bench.atomic_files import write_text_atomic
from neurrator_bench.builders.card import render_card
from neurrator_bench.errors import DatasetFormatError
from neurrator_bench.schemas.dataset import MANIFEST_FILENAME, DatasetManifest

logger = logging.getLogger(__name__)


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


def push_dataset_to_hub(
    dataset_dir: Path,
    repo_id: str,
    *,
    revision: str | None = None,
    private: bool = False,
    token: str | None = None,
    api: Any = None,
) -> str:
    """Upload the dataset, then commit a card that pins the data commit.

    Two commits: the first uploads every file; the second rewrites README.md so that its load snippet and
    YAML ``neurrator_bench.pinned_revision`` name the first commit's sha, the revision users should pin.
    The local README.md is updated the same way.

    Args:
        dataset_dir: A finished dataset folder.
        repo_id: Hub dataset repo, e.g. "org/neurrator-bo11".
        revision: Branch to push to (created if missing); default the repo's main branch.
        private: Create the repo private.
        token: Hub token (else huggingface_hub's own configuration).
        api: An ``HfApi``-compatible object (tests pass a recorder).

    Returns:
        The sha of the data commit.
    """
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(token=token)
    dataset_dir = Path(dataset_dir)
    manifest = load_manifest(dataset_dir)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    if revision is not None:
        api.create_branch(repo_id, repo_type="dataset", branch=revision, exist_ok=True)
    info = api.upload_folder(
        folder_path=str(dataset_dir),
        repo_id=repo_id,
        repo_type="dataset",
        revision=revision,
        commit_message=f"neurrator-bench dataset {manifest.fingerprint[:12]}",
    )
    data_commit = info.oid
    card = render_card(manifest, pinned_revision=data_commit, repo_id=repo_id)
    write_text_atomic(dataset_dir / "README.md", card)
    api.upload_file(
        path_or_fileobj=card.encode("utf-8"),
        path_in_repo="README.md",
        repo_id=repo_id,
        repo_type="dataset",
        revision=revision,
        commit_message=f"Pin revision {data_commit} in the dataset card",
    )
    logger.info("pushed %s to %s at %s", dataset_dir, repo_id, data_commit)
    return data_commit
