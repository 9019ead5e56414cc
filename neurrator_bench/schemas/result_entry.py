"""Result entry: one JSON file per (model, revision, task), ``<results>/<model>/<revision>/<task>.json``.

Every score is a typed :class:`MetricResult`; the entry records what is needed to trust and compare it
without re-running anything: dataset repo, revision and fingerprint, task version, package version,
scorer model, seeds, subset, environment. ``result_entry.schema.json`` beside this module is the JSON
Schema of :class:`ResultEntry` (kept identical by a test).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from neurrator_bench.atomic_files import write_text_atomic
from neurrator_bench.errors import ResultEntryError

RESULT_SCHEMA_VERSION = 2
SCHEMA_FILE = Path(__file__).with_name("result_entry.schema.json")
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")


class MetricResult(BaseModel):
    """One score with its interval and how both were computed.

    The interval unit is named in ``interval``: ``"frame-blocks"`` (block bootstrap over contiguous blocks of
    frames; for scenes each image is its own block), ``"frame-blocks+sessions"`` (sessions resampled as an outer
    level as well), ``"draws"`` (2.5/97.5 % over random unit draws) or ``"permutation"``; when there is no
    interval, ``no_interval_reason`` says why.
    """

    model_config = ConfigDict(extra="forbid")
    name: str
    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    n: int = Field(ge=0, description="samples the value is computed over")
    n_boot: int = Field(0, ge=0, description="bootstrap resamples behind the CI (0: no CI)")
    higher_is_better: bool
    p_value: float | None = Field(None, description="test against this metric's chance or floor, if any")
    p_test: str | None = Field(None, description="which test gave p_value")
    chance: float | None = Field(None, description="expected value under chance on this test set")
    ceiling: float | None = Field(None, description="value an oracle reaches on this test set, when below the range")
    n_frames: int | None = Field(None, ge=0, description="distinct frames (clusters) behind the value")
    n_sessions: int | None = Field(None, ge=0, description="sessions behind the value")
    interval: str | None = Field(None, description="what the interval resamples (see class doc)")
    no_interval_reason: str | None = None


class SkippedMetric(BaseModel):
    """A metric family that was not computed, and why (nothing is dropped silently)."""

    model_config = ConfigDict(extra="forbid")
    name: str
    reason: str


class DatasetRef(BaseModel):
    """Which dataset the entry was scored on."""

    model_config = ConfigDict(extra="forbid")
    repo: str
    revision: str | None
    fingerprint: str
    task: str
    task_version: int
    split: Literal["test", "final"] = Field(
        "test", description="test: the public live test; final: the sealed final test (scored by the maintainer)"
    )
    data_origin: str = Field(
        "unknown", description="allen | simulated | prebinned-extract (or mixed:...) of the task's sessions"
    )
    fingerprint_source: Literal["embedded", "command-line"] = Field(
        "embedded",
        description="embedded: the predictions file named this fingerprint and task; command-line: a plain file "
        "was matched to the dataset and task given on the command line only",
    )
    target_model: str | None = Field(None, description="model whose patch tokens are the targets")
    reference_captioner: str | None = Field(None, description="captioner of the reference captions")


class ModelMeta(BaseModel):
    """Model metadata shown on the leaderboard."""

    model_config = ConfigDict(extra="forbid")
    name: str
    revision: str = "main"
    kind: str | None = None
    n_parameters: int | None = None
    training_sessions: list[str] = Field(default_factory=list)
    license: str | None = None
    url: str | None = None
    text_space: str | None = Field(
        None, description="sentence-embedding model the model was trained against (None: trained on targets only)"
    )

    @field_validator("name", "revision")
    @classmethod
    def _safe(cls, v: str) -> str:
        if not SAFE_NAME.match(v.replace("/", "__")):
            raise ValueError(f"{v!r} must be 1-128 characters of letters, digits, '.', '_', '+', '-' or '/'")
        return v


class Subset(BaseModel):
    """The units a model was restricted to (None: all units)."""

    model_config = ConfigDict(extra="forbid")
    region_group: str | None = None
    structure: str | None = None
    cell_type: str | None = None
    n_units: int | None = None
    draws: int | None = None
    seed: int | None = None


class NarratorMeta(BaseModel):
    """How the narrations were made. Different narrators are different leaderboard rows."""

    model_config = ConfigDict(extra="forbid")
    kind: str = Field(description="retrieval | llava | phrase | ... ; 'unspecified' for plain files that do not say")
    model_id: str | None = None
    revision: str | None = None
    prompt: str | None = None
    max_new_tokens: int | None = None
    decoding: str | None = Field(None, description="e.g. 'greedy', 'nearest training caption'")

    def label(self) -> str:
        """``kind`` plus the model id and revision when known: ``"llava (llava-hf/llava-1.5-7b-hf@main)"``."""
        if not self.model_id:
            return self.kind
        return f"{self.kind} ({self.model_id}{'@' + self.revision if self.revision else ''})"


class FrameTable(BaseModel):
    """Per-frame means of every per-sample metric (columns aligned by position).

    ``block`` is the resampling cluster of each frame (contiguous blocks of frames of a movie; one per image
    for scenes). Paired comparisons of two entries resample these rows.
    """

    model_config = ConfigDict(extra="forbid")
    stimulus: list[str]
    frame: list[int]
    block: list[int]
    n: list[int] = Field(description="samples behind each frame's means")
    values: dict[str, list[float]]


class SessionMetrics(BaseModel):
    """Headline metrics of one session alone (per-session breakdown)."""

    model_config = ConfigDict(extra="forbid")
    session_id: str
    n: int = Field(ge=0)
    values: dict[str, float]


class Statistics(BaseModel):
    """Counts and the cluster unit behind every interval and test of the entry."""

    model_config = ConfigDict(extra="forbid")
    n_samples: int = Field(ge=0)
    n_frames: int = Field(ge=0)
    n_sessions: int = Field(ge=0)
    n_clusters: int | None = Field(None, ge=0, description="resampling clusters (frame blocks and images)")
    cluster_unit: str = Field(description="what is resampled: e.g. '30-frame blocks (movies), images (scenes)'")
    block_frames: int = Field(ge=1)
    session_level: bool = False
    warning: str | None = Field(None, description="e.g. too few clusters for percentile intervals to cover")


class SimilarityMatrix(BaseModel):
    """Cross-narration similarity between populations (paper Fig. 5)."""

    model_config = ConfigDict(extra="forbid")
    names: list[str]
    values: list[list[float]]


class Verification(BaseModel):
    """How a maintainer re-scored the entry from the submitted predictions (None on an entry: self-reported).

    ``leaderboard rescore`` writes it: the predictions file travels beside the entry (``predictions_file``,
    relative to the entry's folder, hashed in ``ResultEntry.predictions_sha256``) and ``scoring`` holds every
    option of the run, so ``leaderboard validate --dataset`` can score the file again and compare each number.
    """

    model_config = ConfigDict(extra="forbid")
    status: Literal["verified"] = "verified"
    method: str = Field("maintainer re-score of the submitted predictions with the package's scorer")
    predictions_file: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._+@=,~-]*\.predictions\.(parquet|csv|csv\.gz)$",
        description="the predictions file's name, in the entry's folder",
    )
    bundle_sha256: str = Field(description="sha256 of the submission bundle's bundle.json")
    scoring: dict[str, int | float | bool] = Field(description="the ScoringOptions of the re-score")
    rescored_at: str
    rescored_with: str = Field(description="package version of the re-score")


class ResultEntry(BaseModel):
    """A leaderboard result entry (schema version 2)."""

    model_config = ConfigDict(extra="forbid")
    schema_version: Literal[2] = RESULT_SCHEMA_VERSION
    package_version: str
    git_hash: str | None
    dataset: DatasetRef
    model: ModelMeta
    scorer_model: str | None
    scorer_revision: str | None = None
    scorer_space: bool = Field(
        False,
        description="the model was trained against the scorer's own sentence-embedding space (model.text_space == "
        "scorer_model): its SBERT scores are partly circular and the leaderboard marks it",
    )
    floor_pool_version: int
    seeds: dict[str, int]
    subset: Subset = Field(default_factory=Subset)
    sessions: list[str]
    metrics: list[MetricResult]
    skipped: list[SkippedMetric] = Field(default_factory=list)
    narrator: NarratorMeta | None = Field(None, description="None: the predictions hold no narrations")
    predictions_sha256: str | None = None
    gallery: dict[str, int] = Field(
        default_factory=dict, description="retrieval gallery size per stimulus: distinct frame targets ranked among"
    )
    gallery_frames: dict[str, int] = Field(default_factory=dict, description="frames of each gallery stimulus")
    statistics: Statistics | None = None
    frame_table: FrameTable | None = None
    per_session: list[SessionMetrics] = Field(default_factory=list)
    similarity: SimilarityMatrix | None = None
    verification: Verification | None = Field(
        None, description="set by a maintainer re-score (leaderboard rescore); None: a self-reported entry"
    )
    evaluation_time_s: float
    created_at: str
    environment: dict[str, str]

    def metric(self, name: str) -> MetricResult:
        """The metric named ``name`` (KeyError listing those present)."""
        for m in self.metrics:
            if m.name == name:
                return m
        raise KeyError(f"metric {name!r} not in entry; present: {[m.name for m in self.metrics]}")


TIME_FIELDS = ("evaluation_time_s", "created_at")


def subset_slug(subset: Subset) -> str:
    """The subset part of an entry's file name.

    ``""`` for the full population, else e.g. ``"@region_group=V1,n_units=32"`` (fields in schema order;
    ``higher_visual|V1`` is written ``V1+higher_visual``).
    """
    parts = []
    for k, v in subset.model_dump().items():
        if v is None or k in ("draws", "seed"):
            continue
        # alternatives ("V1|higher_visual") in a canonical order, joined by "+" ("|" is not a legal file name
        # character on Windows)
        text = "+".join(sorted(str(v).split("|"))) if isinstance(v, str) else str(v)
        parts.append(f"{k}={text}")
    return "@" + ",".join(parts) if parts else ""


DEFAULT_PHRASE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
"""Sentence model of the default phrase narrator (the embedded target space's MiniLM)."""


def narrator_slug(narrator: NarratorMeta | None) -> str:
    """The narrator part of an entry's file name (different narrators never share a file).

    ``""`` for the default narrator of ``evaluate`` (the phrase narrator over the default MiniLM, no revision),
    ``"~embeddings-only"`` for an entry without narrations, ``"~retrieval"`` for the retrieval narrator without
    a model id, else ``"~<kind>[-<model id>][@<revision>]"`` with every character outside
    ``[A-Za-z0-9._+@-]`` replaced by ``-`` (``"~llava-llava-hf-llava-1.5-7b-hf"``). Narrators that differ only
    in prompt or decoding settings share a slug: give them different revisions.
    """
    if narrator is None:
        return "~embeddings-only"
    if narrator.kind == "phrase" and narrator.model_id in (None, DEFAULT_PHRASE_MODEL) and not narrator.revision:
        return ""
    if narrator.kind == "retrieval" and not narrator.model_id and not narrator.revision:
        return "~retrieval"
    text = narrator.kind + (f"-{narrator.model_id}" if narrator.model_id else "")
    text += f"@{narrator.revision}" if narrator.revision else ""
    return "~" + re.sub(r"[^A-Za-z0-9._+@-]", "-", text)


def split_slug(split: str) -> str:
    """The split part of an entry's file name: ``""`` for the live test, ``".final"`` for the sealed final test."""
    return "" if split == "test" else f".{split}"


def entry_path(results_dir: Path, entry: ResultEntry) -> Path:
    """``<results>/<model name, / as __>/<revision>/<task><split slug><subset slug><narrator slug>.json``."""
    name = (
        f"{entry.dataset.task}{split_slug(entry.dataset.split)}{subset_slug(entry.subset)}"
        f"{narrator_slug(entry.narrator)}.json"
    )
    return Path(results_dir) / entry.model.name.replace("/", "__") / entry.model.revision / name


def write_entry(results_dir: Path, entry: ResultEntry) -> Path:
    """Validate and write an entry atomically (temp file + rename); return its path."""
    return write_text_atomic(entry_path(results_dir, entry), entry.model_dump_json(indent=2) + "\n")


def read_entry(path: Path) -> ResultEntry:
    """Read and validate an entry.

    Raises:
        ResultEntryError: Unreadable JSON or a schema violation, naming the file and field.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ResultEntryError(f"{path}: not a readable JSON file ({exc})") from exc
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version != RESULT_SCHEMA_VERSION:
        raise ResultEntryError(
            f"{path}: schema_version {version!r} is not supported (expected {RESULT_SCHEMA_VERSION}; entries of "
            "version 1 predate frame-level statistics and narrator provenance: re-score their predictions)"
        )
    try:
        return ResultEntry.model_validate(data)
    except ValueError as exc:
        raise ResultEntryError(f"{path}: {exc}") from exc


def json_schema() -> dict:
    """The JSON Schema of :class:`ResultEntry`."""
    return ResultEntry.model_json_schema()
