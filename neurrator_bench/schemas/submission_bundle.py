"""Submission bundle: a folder of prediction files plus ``bundle.json`` (:class:`SubmissionBundle`).

``leaderboard submit PREDICTIONS... --model-name NAME --out BUNDLE`` writes it; ``leaderboard rescore BUNDLE
--dataset D --out RESULTS`` scores every file with the same scorer code a user runs (``neurrator-bench score``)
and writes *verified* entries. ``bundle.json`` lists each file with its task, split, narrator, subset and
sha256; a file missing, changed after bundling, or listed twice is refused by :func:`read_bundle` with the
file and field named.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from neurrator_bench.builders.shards import file_sha256
from neurrator_bench.errors import ResultEntryError
from neurrator_bench.schemas.predictions import SUFFIXES as PREDICTION_SUFFIXES
from neurrator_bench.schemas.result_entry import ModelMeta, NarratorMeta, Subset, narrator_slug, subset_slug

BUNDLE_SCHEMA_VERSION = 1
BUNDLE_FILE = "bundle.json"
PREDICTIONS_DIR = "predictions"


class BundleFile(BaseModel):
    """One predictions file of a bundle."""

    model_config = ConfigDict(extra="forbid")
    path: str = Field(description="relative to the bundle folder: predictions/<file>")
    task: str
    split: Literal["test", "final"] = Field(
        "test", description="the split the predictions are for: test (live) or final (sealed; maintainer-scored)"
    )
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    narrator: NarratorMeta | None = Field(
        None, description="how the narrations were made, as the entry will record it (None: no narrations)"
    )
    subset: Subset = Field(default_factory=Subset)

    @field_validator("path")
    @classmethod
    def _inside(cls, v: str) -> str:
        parts = PurePosixPath(v).parts
        if len(parts) != 2 or parts[0] != PREDICTIONS_DIR or not v.endswith(PREDICTION_SUFFIXES):
            raise ValueError(
                f"expected '{PREDICTIONS_DIR}/<name>' ending in {', '.join(PREDICTION_SUFFIXES)} inside the "
                f"bundle, found {v!r}"
            )
        return v


class SubmissionBundle(BaseModel):
    """``bundle.json``: who submits what."""

    model_config = ConfigDict(extra="forbid")
    bundle_version: Literal[1] = BUNDLE_SCHEMA_VERSION
    model: ModelMeta
    package_version: str
    created_at: str
    files: list[BundleFile] = Field(min_length=1)


def check_unique(files: list[BundleFile], where: Path | str) -> None:
    """Refuse a path listed twice, or two files that would give one entry (task, split, narrator slug, subset).

    Raises:
        ResultEntryError: Naming ``where`` and both list positions.
    """
    seen: dict[str, int] = {}
    keys: dict[tuple, int] = {}
    for i, item in enumerate(files):
        if item.path in seen:
            raise ResultEntryError(
                f"{where}: files[{i}].path {item.path!r} is listed twice (also files[{seen[item.path]}])"
            )
        seen[item.path] = i
        key = (item.task, item.split, narrator_slug(item.narrator), subset_slug(item.subset))
        if key in keys:
            narrator = narrator_slug(item.narrator) or "phrase (default)"
            subset = subset_slug(item.subset) or "all units"
            raise ResultEntryError(
                f"{where}: files[{i}] ({item.path}) would give the same entry as files[{keys[key]}]: task "
                f"{item.task!r}, split {item.split!r}, narrator {narrator!r}, subset {subset!r}; give the narrators "
                "different kinds or revisions"
            )
        keys[key] = i


def bundle_sha256(bundle_dir: Path) -> str:
    """sha256 of the bundle's ``bundle.json`` (recorded in every verified entry)."""
    return file_sha256(Path(bundle_dir) / BUNDLE_FILE)


def write_bundle_json(bundle_dir: Path, bundle: SubmissionBundle) -> Path:
    """Write ``bundle.json`` (the caller writes into a staging folder and renames it into place)."""
    path = Path(bundle_dir) / BUNDLE_FILE
    path.write_text(bundle.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return path


def read_bundle(bundle_dir: Path) -> SubmissionBundle:
    """Read and check a bundle: the schema, then every listed file present, unchanged and listed once.

    Raises:
        ResultEntryError: No ``bundle.json``, a schema violation, a listed file missing or changed (sha256
            differs), a file listed twice, or two files for one (task, split, narrator, subset).
    """
    bundle_dir = Path(bundle_dir)
    path = bundle_dir / BUNDLE_FILE
    if not path.is_file():
        raise ResultEntryError(f"{path}: missing; {bundle_dir} is not a submission bundle (leaderboard submit)")
    try:
        bundle = SubmissionBundle.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise ResultEntryError(f"{path}: {exc}") from exc
    check_unique(bundle.files, path)
    for i, item in enumerate(bundle.files):
        where = f"{path}: files[{i}]"
        file = bundle_dir / item.path
        if file.is_symlink():
            raise ResultEntryError(f"{where}.path: {item.path!r} is a symbolic link; a bundle holds its own files")
        if not file.is_file():
            raise ResultEntryError(f"{where}.path: the bundle lists {item.path!r}, but {file} does not exist")
        digest = file_sha256(file)
        if digest != item.sha256:
            raise ResultEntryError(
                f"{where}.sha256: {item.path!r} has sha256 {digest}, but the bundle lists {item.sha256} (the file "
                "changed after it was bundled)"
            )
    return bundle
