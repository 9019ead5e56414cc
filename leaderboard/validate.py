"""Validate a results folder before anything is rendered or submitted.

Per file: readable JSON without NaN/inf, the shipped JSON Schema and the pydantic model, registered and
unique metric names, values, CIs, chance and ceiling inside each metric's registered range (up to float
noise: :mod:`neurrator_bench.scorers.intervals`), a frame table whose columns are all as long as ``frame``
with one row per (stimulus, frame) and registered columns inside their range, ``statistics.n_frames``
equal to the frame table's rows, the file at the path its content implies. Across files: one dataset
(revision, fingerprint, task version) per task, the expected fingerprint when given, no duplicate entries
(also under a renamed model or a case variant; entries of different narrators are different entries),
nothing dropped silently between revisions of a model, and no task mixing data origins (simulated entries never
beside real-data rows). Verified entries (``leaderboard rescore``): the predictions file beside the entry hashes to
``predictions_sha256``; given the dataset, it is scored again and every number must match.

A metric without an interval and without ``no_interval_reason`` is not reported: problems have no
severity levels here, and every problem refuses the folder.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jsonschema

import neurrator_bench.scorers  # noqa: F401  (registers every metric in METRICS)
from neurrator_bench.builders.shards import file_sha256
from neurrator_bench.dataset_access import DatasetHandle
from neurrator_bench.errors import NeurratorError, ResultEntryError
from neurrator_bench.leaderboard.store import (
    StoredEntry,
    created_at,
    find_entry_files,
    find_stray_json,
    model_slug,
)
from neurrator_bench.schemas.result_entry import (
    SCHEMA_FILE,
    FrameTable,
    MetricResult,
    ResultEntry,
    entry_path,
    narrator_slug,
    read_entry,
)
from neurrator_bench.scorers.intervals import leq, within
from neurrator_bench.scorers.metric_registry import METRICS
from neurrator_bench.text_embedding import same_sentence_model

MAX_SCHEMA_ERRORS = 10


@dataclass(frozen=True)
class Problem:
    """One reason a results folder is not valid.

    Attributes:
        path: The file at fault.
        message: What was expected and what was found.
        others: Further files involved (the other side of a conflict or duplicate).
    """

    path: Path
    message: str
    others: tuple[Path, ...] = ()

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class _NonFiniteError(ValueError):
    pass


def _reject_constant(token: str) -> float:
    raise _NonFiniteError(f"non-finite number {token} (NaN and infinities are not allowed)")


def _finite_float(token: str) -> float:
    value = float(token)
    if not math.isfinite(value):
        raise _NonFiniteError(f"number {token} overflows to {value} (only finite numbers are allowed)")
    return value


@cache
def _schema_validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def _field_path(parts: Sequence[object]) -> str:
    return ".".join(str(p) for p in parts) or "<root>"


def _read_one(path: Path) -> tuple[ResultEntry | None, list[Problem]]:
    """Parse and schema-check one file; return the entry (None if invalid) and its problems."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(path, f"not a readable UTF-8 file ({exc})")]
    try:
        data = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except _NonFiniteError as exc:
        return None, [Problem(path, f"invalid number: {exc}")]
    except ValueError as exc:
        return None, [Problem(path, f"not valid JSON ({exc})")]
    errors = sorted(_schema_validator().iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    problems = [
        Problem(path, f"schema violation at field {_field_path(err.absolute_path)!r}: {err.message}")
        for err in errors[:MAX_SCHEMA_ERRORS]
    ]
    if len(errors) > MAX_SCHEMA_ERRORS:
        problems.append(Problem(path, f"... and {len(errors) - MAX_SCHEMA_ERRORS} more schema violations"))
    try:
        entry = read_entry(path)
    except ResultEntryError as exc:
        if not problems:
            detail = " ".join(str(exc).removeprefix(f"{path}: ").split())  # pydantic's lines on one line
            problems.append(Problem(path, f"schema violation: {detail}"))
        return None, problems
    return (None if problems else entry), problems


def _metric_problems(path: Path, metric: MetricResult) -> list[Problem]:
    if metric.name not in METRICS:
        return [Problem(path, f"metrics: unknown metric name {metric.name!r}; registered: {', '.join(METRICS)}")]
    spec = METRICS.get(metric.name)
    low, high = spec.value_range
    where = f"metric {metric.name!r}"
    problems = []
    # Bounds are compared up to float noise (a few ulps, relative; neurrator_bench.scorers.intervals):
    # a bound and a value that are the same quantity summed in another order must not fail here, while a
    # real violation (ci_low 0.35 > value 0.30) is many orders of magnitude above the tolerance.
    for field in ("value", "ci_low", "ci_high", "chance", "ceiling"):
        value = getattr(metric, field)
        if value is not None and not within(value, low, high):
            problems.append(
                Problem(
                    path, f"{where}: field {field!r} expected within the value range [{low}, {high}], found {value}"
                )
            )
    if (metric.ci_low is None) != (metric.ci_high is None):
        problems.append(
            Problem(
                path, f"{where}: expected both ci_low and ci_high or neither, found {metric.ci_low}, {metric.ci_high}"
            )
        )
    if metric.ci_low is not None and not leq(metric.ci_low, metric.value):
        problems.append(
            Problem(path, f"{where}: expected ci_low <= value, found ci_low {metric.ci_low} > {metric.value}")
        )
    if metric.ci_high is not None and not leq(metric.value, metric.ci_high):
        problems.append(
            Problem(path, f"{where}: expected value <= ci_high, found value {metric.value} > ci_high {metric.ci_high}")
        )
    if metric.p_value is not None and not within(metric.p_value, 0.0, 1.0):
        problems.append(Problem(path, f"{where}: field 'p_value' expected within [0, 1], found {metric.p_value}"))
    if metric.higher_is_better != spec.higher_is_better:
        problems.append(
            Problem(
                path,
                f"{where}: field 'higher_is_better' expected {spec.higher_is_better} (registry), "
                f"found {metric.higher_is_better}",
            )
        )
    return problems


def _frame_table_problems(path: Path, entry: ResultEntry, table: FrameTable) -> list[Problem]:
    """Columns of one length, one row per (stimulus, frame), registered columns in range, n_frames agreeing."""
    n_rows = len(table.frame)
    problems = []
    columns = {"stimulus": table.stimulus, "block": table.block, "n": table.n}
    columns.update({f"values.{name}": values for name, values in table.values.items()})
    for name, column in columns.items():
        if len(column) != n_rows:
            problems.append(
                Problem(
                    path,
                    f"frame_table: column {name!r} expected as long as 'frame' ({n_rows} rows), found {len(column)}",
                )
            )
    seen: set[tuple[str, int]] = set()
    for key in zip(table.stimulus, table.frame, strict=False):
        if key in seen:
            problems.append(Problem(path, f"frame_table: expected one row per (stimulus, frame), found {key} twice"))
            break
        seen.add(key)
    for i, n in enumerate(table.n):
        if n < 1:
            problems.append(
                Problem(path, f"frame_table: column 'n' expected >= 1 sample per frame, found {n} at row {i}")
            )
            break
    for name, values in table.values.items():
        if name not in METRICS:
            continue  # a column without a registered range is checked for length only
        low, high = METRICS.get(name).value_range
        bad = next(((i, v) for i, v in enumerate(values) if not within(v, low, high)), None)
        if bad is not None:
            problems.append(
                Problem(
                    path,
                    f"frame_table: column 'values.{name}' expected within the value range [{low}, {high}], found "
                    f"{bad[1]} at row {bad[0]}",
                )
            )
    stats = entry.statistics
    if stats is not None and stats.n_frames != n_rows:
        problems.append(
            Problem(
                path,
                f"statistics: field 'n_frames' expected {n_rows} (rows of frame_table), found {stats.n_frames}",
            )
        )
    return problems


def _entry_problems(results_dir: Path, path: Path, entry: ResultEntry) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for metric in entry.metrics:
        if metric.name in seen:
            problems.append(Problem(path, f"metrics: duplicate metric name {metric.name!r}"))
        seen.add(metric.name)
        problems.extend(_metric_problems(path, metric))
    in_scorer_space = same_sentence_model(entry.model.text_space, entry.scorer_model)
    if entry.scorer_space != in_scorer_space:
        problems.append(
            Problem(
                path,
                f"field 'scorer_space': expected {in_scorer_space} (model.text_space {entry.model.text_space!r}, "
                f"scorer_model {entry.scorer_model!r}), found {entry.scorer_space}",
            )
        )
    for skipped in entry.skipped:
        if skipped.name in seen:
            problems.append(Problem(path, f"skipped: metric {skipped.name!r} is both reported and listed as skipped"))
        if not skipped.reason.strip():
            problems.append(Problem(path, f"skipped: metric {skipped.name!r} expected a reason, found ''"))
    if entry.similarity is not None:
        n = len(entry.similarity.names)
        shapes = [len(row) for row in entry.similarity.values]
        if len(shapes) != n or any(s != n for s in shapes):
            problems.append(
                Problem(path, f"similarity: expected a {n}x{n} matrix for {n} names, found row lengths {shapes}")
            )
    if entry.frame_table is not None:
        problems.extend(_frame_table_problems(path, entry, entry.frame_table))
    try:
        created_at(entry)
    except ValueError as exc:
        problems.append(Problem(path, str(exc)))
    expected = entry_path(results_dir, entry)
    if path.resolve() != expected.resolve():
        problems.append(
            Problem(
                path,
                f"file path does not match its content (model {entry.model.name!r}, revision "
                f"{entry.model.revision!r}, task {entry.dataset.task!r}, subset {entry.subset.model_dump()}, "
                f"narrator slug {narrator_slug(entry.narrator)!r}): expected {expected}",
            )
        )
    return problems


def _has_iso_time(entry: ResultEntry) -> bool:
    try:
        created_at(entry)
    except ValueError:
        return False
    return True


def _dataset_problems(entries: Sequence[StoredEntry], expected: Mapping[str, str] | None) -> list[Problem]:
    problems = []
    reference: dict[str, StoredEntry] = {}
    for stored in entries:
        ds = stored.entry.dataset
        if expected is not None and ds.task in expected and ds.fingerprint != expected[ds.task]:
            problems.append(
                Problem(
                    stored.path,
                    f"entry from another dataset fingerprint: task {ds.task!r} expected fingerprint "
                    f"{expected[ds.task]!r}, found {ds.fingerprint!r}",
                )
            )
        first = reference.setdefault(ds.task, stored)
        ref = first.entry.dataset
        if ds.data_origin != ref.data_origin and "unknown" not in (ds.data_origin, ref.data_origin):
            problems.append(
                Problem(
                    stored.path,
                    f"task {ds.task!r}: data origin {ds.data_origin!r} beside {ref.data_origin!r} in {first.path}; "
                    "entries on simulated data are never ranked with real-data rows (keep them in separate results "
                    "folders)",
                    (first.path,),
                )
            )
        for field in ("revision", "fingerprint", "task_version"):
            if getattr(ds, field) != getattr(ref, field):
                problems.append(
                    Problem(
                        stored.path,
                        f"task {ds.task!r}: dataset {field} {getattr(ds, field)!r} differs from "
                        f"{getattr(ref, field)!r} in {first.path}; entries of one task must be scored on one dataset",
                        (first.path,),
                    )
                )
    return problems


def _duplicate_problems(entries: Sequence[StoredEntry]) -> list[Problem]:
    problems = []
    by_key: dict[tuple[str, str, str, str, str], StoredEntry] = {}
    by_content: dict[tuple[str, str, str, str], StoredEntry] = {}
    for stored in entries:
        slug = narrator_slug(stored.entry.narrator)
        key = (model_slug(stored.model_name).casefold(), stored.revision.casefold(), stored.board, stored.subset, slug)
        other = by_key.setdefault(key, stored)
        if other is not stored:
            problems.append(
                Problem(
                    stored.path,
                    f"duplicate entry: same model {stored.model_name!r}, revision {stored.revision!r}, task "
                    f"{stored.task!r}, subset {stored.subset!r}, narrator {stored.narrator!r} (up to case) as "
                    f"{other.path}",
                    (other.path,),
                )
            )
            continue
        metrics = json.dumps([m.model_dump() for m in stored.entry.metrics], sort_keys=True)
        first = by_content.setdefault((stored.board, stored.subset, slug, metrics), stored)
        if model_slug(first.model_name).casefold() != model_slug(stored.model_name).casefold():
            problems.append(
                Problem(
                    stored.path,
                    f"suspected duplicate: metrics byte-identical to {first.path} under another model name "
                    f"({stored.model_name!r} vs {first.model_name!r})",
                    (first.path,),
                )
            )
    return problems


def skipped_covers(skipped_names: Sequence[str], metric: str) -> bool:
    """Whether a ``skipped`` entry accounts for ``metric``.

    A skipped name covers a metric when one of its ``/``-separated parts is the metric name or a family
    prefix of it: ``"retrieval/cka/knn_purity"`` covers ``retrieval_r10``, ``cka_linear`` and ``knn_purity``;
    ``"sbert"`` covers every ``sbert_*`` metric.

    Args:
        skipped_names: The ``name`` of each skipped item of an entry.
        metric: A metric name.

    Returns:
        True if some skipped item covers ``metric``.
    """
    parts = {part.strip() for name in skipped_names for part in name.split("/") if part.strip()}
    return any(metric == part or metric.startswith(part + "_") for part in parts)


def _dropped_problems(entries: Sequence[StoredEntry]) -> list[Problem]:
    """Metrics and task/subset/narrator entries present in an earlier revision of a model must not vanish later."""
    problems = []
    by_model: dict[str, list[StoredEntry]] = {}
    for stored in entries:
        by_model.setdefault(model_slug(stored.model_name).casefold(), []).append(stored)
    for model_entries in by_model.values():
        ordered = sorted(model_entries, key=lambda s: (created_at(s.entry), s.revision, s.path))
        revision_time: dict[str, object] = {}
        for stored in ordered:
            revision_time.setdefault(stored.revision, created_at(stored.entry))
        revisions = list(revision_time)
        by_revision: dict[str, dict[tuple[str, str, str], StoredEntry]] = {r: {} for r in revisions}
        for stored in ordered:
            by_revision[stored.revision][(stored.board, stored.subset, narrator_slug(stored.entry.narrator))] = stored
        for i, later in enumerate(revisions[1:], start=1):
            later_entries = by_revision[later]
            any_later = next(iter(later_entries.values()))
            for earlier in revisions[:i]:
                for key, old in by_revision[earlier].items():
                    new = later_entries.get(key)
                    if new is None:
                        problems.append(
                            Problem(
                                any_later.path,
                                f"task {key[0]!r} subset {key[1]!r}"
                                + (f" narrator {old.narrator!r}" if key[2] else "")
                                + f" of revision {earlier!r} ({old.path}) is missing from later revision "
                                f"{later!r}: dropped silently",
                                (old.path,),
                            )
                        )
                        continue
                    present = {m.name for m in new.entry.metrics}
                    skipped = [k.name for k in new.entry.skipped]
                    for metric in old.entry.metrics:
                        if metric.name not in present and not skipped_covers(skipped, metric.name):
                            problems.append(
                                Problem(
                                    new.path,
                                    f"metric {metric.name!r} present in earlier revision {earlier!r} ({old.path}) "
                                    f"is missing from revision {later!r} and not listed in 'skipped' with a reason: "
                                    "dropped silently",
                                    (old.path,),
                                )
                            )
    # one report per (file, message): several earlier revisions can name the same gap
    return list(dict.fromkeys(problems))


def _verification_problems(
    entries: Sequence[StoredEntry], dataset: DatasetHandle | None, encoder, references=None
) -> list[Problem]:
    """Verified entries: the predictions file beside the entry hashes as recorded; with ``dataset``, re-scored.

    A final-split entry is re-scored only with the sealed ``references``; without them it is reported as not
    re-scored (never silently passed).
    """
    from neurrator_bench.leaderboard.rescore import rescore_differences

    problems = []
    for stored in entries:
        verification = stored.entry.verification
        if verification is None:
            if stored.entry.dataset.split != "test":
                problems.append(
                    Problem(
                        stored.path,
                        f"field 'verification': a '{stored.entry.dataset.split}' entry must be re-scored by the "
                        "maintainer from its predictions (`leaderboard rescore --references`); self-reported scores "
                        "on the sealed final test are not accepted",
                    )
                )
            continue
        preds = stored.path.with_name(verification.predictions_file)
        if not preds.is_file():
            problems.append(
                Problem(stored.path, f"field 'verification.predictions_file': verified, but {preds} does not exist")
            )
            continue
        digest = file_sha256(preds)
        if digest != stored.entry.predictions_sha256:
            problems.append(
                Problem(
                    stored.path,
                    f"field 'predictions_sha256': {stored.entry.predictions_sha256}, but {preds.name} hashes to "
                    f"{digest} (the predictions changed after the re-score)",
                    (preds,),
                )
            )
            continue
        if dataset is None:
            continue
        if stored.task not in dataset.manifest.task_versions or (
            stored.entry.dataset.fingerprint != dataset.task_fingerprint(stored.task)
        ):
            problems.append(
                Problem(
                    stored.path,
                    f"verified entry not re-scored: it was scored on task fingerprint "
                    f"{stored.entry.dataset.fingerprint}, which {dataset.repo} does not have for task {stored.task!r}",
                )
            )
            continue
        if encoder is None:
            from neurrator_bench.text_embedding import SentenceEncoder

            encoder = SentenceEncoder()  # loaded once for every re-score
        try:
            differences = rescore_differences(
                stored.path, stored.entry, dataset, encoder=encoder, references=references
            )
        except NeurratorError as exc:
            problems.append(Problem(stored.path, f"verified entry could not be re-scored: {exc}"))
            continue
        if differences:
            shown = "; ".join(differences[:5]) + (f"; ... {len(differences) - 5} more" if len(differences) > 5 else "")
            problems.append(
                Problem(stored.path, f"verified scores do not match a re-score of {preds.name}: {shown}", (preds,))
            )
    return problems


def validate_results(
    results_dir: Path,
    *,
    expected_fingerprints: Mapping[str, str] | None = None,
    dataset: DatasetHandle | None = None,
    encoder=None,
    references=None,
) -> list[Problem]:
    """Check every entry of a results folder and the entries against each other.

    Args:
        results_dir: The results folder (``<model>/<revision>/<task><subset><narrator>.json`` below it).
        expected_fingerprints: Optional ``{task: dataset fingerprint}``; an entry of such a task with another
            fingerprint is a problem.
        dataset: Optional dataset: every verified entry scored on it (same task fingerprint) is re-scored from its
            predictions file with its recorded options, and every number that differs is a problem.
        encoder: Sentence encoder of those re-scores (default: the scorer's model, loaded once for all of them).
        references: The sealed references of ``dataset`` (:func:`open_references`), to re-score final entries.

    Returns:
        The problems found, each naming its file; an empty list means valid.

    Raises:
        FileNotFoundError: If ``results_dir`` is not a folder.
    """
    results_dir = Path(results_dir)
    problems: list[Problem] = []
    valid: list[StoredEntry] = []
    for path in find_entry_files(results_dir):
        entry, found = _read_one(path)
        if entry is not None:
            found = _entry_problems(results_dir, path, entry)
            if _has_iso_time(entry):  # cross-entry checks order revisions by created_at
                valid.append(StoredEntry(path, entry))
        problems.extend(found)
    for path in find_stray_json(results_dir):
        problems.append(Problem(path, "JSON file outside <model>/<revision>/<task>.json; expected no other JSON files"))
    problems.extend(_dataset_problems(valid, expected_fingerprints))
    problems.extend(_duplicate_problems(valid))
    problems.extend(_dropped_problems(valid))
    problems.extend(_verification_problems(valid, dataset, encoder, references))
    return problems


def raise_if_invalid(results_dir: Path, problems: Sequence[Problem], *, limit: int = 30) -> None:
    """Raise a :class:`ResultEntryError` listing ``problems`` (the first ``limit``) unless there are none.

    Raises:
        ResultEntryError: If ``problems`` is non-empty.
    """
    if not problems:
        return
    lines = [str(p) for p in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"... and {len(problems) - limit} more")
    raise ResultEntryError(
        f"results folder {results_dir}: {len(problems)} problem(s), refusing invalid entries:\n  " + "\n  ".join(lines)
    )
