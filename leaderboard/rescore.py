"""Submissions as predictions: bundle them (``leaderboard submit``) and re-score them (``leaderboard rescore``).

A bundle (:mod:`neurrator_bench.schemas.submission_bundle`) holds prediction files, never scores. The
maintainer re-scores each file with :func:`neurrator_bench.scoring.score_predictions`, the function behind
``neurrator-bench score``, so a verified entry holds exactly the numbers a local ``score`` run with the same
options prints. The entry is written with a :class:`~neurrator_bench.schemas.result_entry.Verification` and the
predictions file is copied beside it (``<entry stem>.predictions<suffix>``), so ``leaderboard validate`` can
check the file's hash and, given the dataset, score it again (:func:`rescore_differences`).
"""

from __future__ import annotations

import dataclasses
import math
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from neurrator_bench import __version__
from neurrator_bench.atomic_files import replaced_folder, write_atomic
from neurrator_bench.dataset_access import DatasetHandle
from neurrator_bench.errors import PredictionsError, ResultEntryError
from neurrator_bench.provenance import utc_now
from neurrator_bench.schemas.predictions import read_predictions
from neurrator_bench.schemas.result_entry import (
    TIME_FIELDS,
    ModelMeta,
    NarratorMeta,
    ResultEntry,
    Subset,
    Verification,
    entry_path,
    write_entry,
)
from neurrator_bench.schemas.sealed_references import SealedReferences
from neurrator_bench.schemas.submission_bundle import (
    BUNDLE_FILE,
    PREDICTION_SUFFIXES,
    PREDICTIONS_DIR,
    BundleFile,
    SubmissionBundle,
    bundle_sha256,
    check_unique,
    read_bundle,
    write_bundle_json,
)
from neurrator_bench.scoring import ScoringOptions, resolve_narrator, score_predictions
from neurrator_bench.tasks import get_task
from neurrator_bench.text_embedding import SentenceEncoder

PREDICTIONS_INFIX = ".predictions"
RESCORE_TOL = 2e-6
"""Relative and absolute tolerance of a re-score: across BLAS builds, thread counts and batch compositions sentence
embeddings differ by about 1e-7, and the frame table is rounded to 6 decimals, so a value next to a rounding edge can
move by one unit (1e-6, which in binary floating point is a hair above 1e-6): two units are allowed."""


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in sorted(PREDICTION_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    raise PredictionsError(f"{path}: expected a predictions file ending in {', '.join(PREDICTION_SUFFIXES)}")


def make_bundle(
    predictions: Sequence[Path],
    out: Path,
    *,
    model: ModelMeta,
    tasks: Sequence[str] = (),
    narrator: NarratorMeta | None = None,
    subset: Subset | None = None,
    overwrite: bool = False,
    split: str = "test",
) -> SubmissionBundle:
    """Copy prediction files into a new bundle folder with their ``bundle.json``.

    Every file is read and validated first (:func:`read_predictions`). Its task comes from its own metadata;
    a plain file (no metadata) needs one ``tasks`` item, given in file order (``--task`` once per plain file).

    Args:
        predictions: Prediction files (the package's parquet, or plain parquet / CSV).
        out: The bundle folder to create.
        model: Model metadata of every entry the bundle will give.
        tasks: Tasks of the plain files, in order.
        narrator: Narrator of every file whose metadata does not name one.
        subset: The units the model was restricted to (default: all).
        overwrite: Replace an existing bundle folder.
        split: Split of every plain file (a package file names its own: ``narrate --split final``).

    Raises:
        FileExistsError: ``out`` exists and ``overwrite`` is False.
        PredictionsError: An unreadable file, a plain file without a task, a file whose metadata names another
            task than given, or more tasks given than plain files.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"submission bundle {out}: already exists; pass overwrite=True (--overwrite)")
    plain_tasks = list(tasks)
    items: list[tuple[Path, BundleFile]] = []
    for path in map(Path, predictions):
        preds = read_predictions(path)
        if preds.task is not None:
            task = preds.task
        elif plain_tasks:
            task = plain_tasks.pop(0)
        else:
            raise PredictionsError(
                f"{path}: a plain predictions file names no task; give --task for it (once per plain file, in order)"
            )
        get_task(task)  # a misspelt --task fails here, naming the registered tasks
        name = f"{len(items):02d}-{task}{_suffix(path)}"
        file_narrator = resolve_narrator(preds, None if preds.narrator else narrator)
        items.append(
            (
                path,
                BundleFile(
                    path=f"{PREDICTIONS_DIR}/{name}",
                    task=task,
                    split=preds.split or split,
                    sha256=preds.sha256,
                    narrator=file_narrator,
                    subset=subset or Subset(),
                ),
            )
        )
    if plain_tasks:
        raise PredictionsError(f"--task given {len(tasks)} time(s), for fewer plain predictions files: {plain_tasks}")
    check_unique([item for _, item in items], "leaderboard submit")
    bundle = SubmissionBundle(
        model=model, package_version=__version__, created_at=utc_now(), files=[item for _, item in items]
    )
    with replaced_folder(out) as staging:
        (staging / PREDICTIONS_DIR).mkdir()
        for source, item in items:
            shutil.copyfile(source, staging / item.path)
        write_bundle_json(staging, bundle)
        read_bundle(staging)  # the copies hash as listed
    return bundle


@dataclass(frozen=True)
class RescoredEntry:
    """One entry written by :func:`rescore_bundle`: its path and content."""

    path: Path
    entry: ResultEntry


def predictions_copy_path(entry_file: Path, suffix: str) -> Path:
    """Where a verified entry's predictions file lives: ``<entry stem>.predictions<suffix>`` beside it."""
    return entry_file.with_name(entry_file.stem + PREDICTIONS_INFIX + suffix)


def rescore_bundle(
    bundle_dir: Path,
    ds: DatasetHandle,
    results_dir: Path,
    *,
    options: ScoringOptions | None = None,
    encoder: SentenceEncoder | None = None,
    references: SealedReferences | None = None,
    overwrite: bool = False,
) -> list[RescoredEntry]:
    """Score every file of a bundle against ``ds`` and write verified entries into ``results_dir``.

    A file for the ``final`` split is scored against the sealed ``references`` (the maintainer folder of
    ``build --seal-final``); without them it is refused before anything is written.

    Each file goes through :func:`score_predictions` exactly as ``neurrator-bench score`` runs it (same
    alignment checks: a file for another task, another dataset fingerprint, unknown or missing ids is
    refused, naming the bundle file).

    Every file is scored before anything is written, and an entry already in ``results_dir`` is replaced only
    with ``overwrite`` (a re-score never silently discards an earlier entry).

    Raises:
        ResultEntryError: The bundle is unreadable, lists a missing file, a file changed since bundling, or an
            entry it would write exists (without ``overwrite``).
        PredictionsError: A file does not fit its task or the dataset.
    """
    bundle_dir = Path(bundle_dir)
    bundle = read_bundle(bundle_dir)
    opts = options or ScoringOptions()
    digest = bundle_sha256(bundle_dir)
    scored: list[tuple[BundleFile, ResultEntry]] = []
    for item in bundle.files:
        preds = read_predictions(bundle_dir / item.path)
        if preds.task is not None and preds.task != item.task:
            raise PredictionsError(
                f"{bundle_dir / item.path}: metadata field 'task' is {preds.task!r}, but {BUNDLE_FILE} lists it for "
                f"task {item.task!r}"
            )
        entry = score_predictions(
            preds,
            ds,
            item.task,
            model=bundle.model,
            subset=item.subset,
            encoder=encoder,
            options=opts,
            narrator=item.narrator,
            split=item.split,
            references=references,
        )
        scored.append((item, entry))  # every file scores before anything is written
    existing = [str(p) for _, e in scored if (p := entry_path(results_dir, e)).exists()]
    if existing and not overwrite:
        raise ResultEntryError(
            f"{bundle_dir}: re-scoring would replace {len(existing)} existing entry file(s) "
            f"({', '.join(existing[:3])}); pass overwrite=True (--overwrite) to replace them"
        )
    out: list[RescoredEntry] = []
    for item, scored_entry in scored:
        path = entry_path(results_dir, scored_entry)
        copy = predictions_copy_path(path, _suffix(Path(item.path)))
        source = bundle_dir / item.path
        write_atomic(copy, lambda tmp, source=source: shutil.copyfile(source, tmp))
        entry = scored_entry.model_copy(
            update={
                "verification": Verification(
                    predictions_file=copy.name,
                    bundle_sha256=digest,
                    scoring=dataclasses.asdict(opts),
                    rescored_at=utc_now(),
                    rescored_with=__version__,
                )
            }
        )
        out.append(RescoredEntry(write_entry(results_dir, entry), entry))
    return out


def _numbers(entry: ResultEntry) -> dict:
    """Everything a re-score must reproduce: the entry less times, environment, verification and paths."""
    data = entry.model_dump(exclude={*TIME_FIELDS, "environment", "verification", "git_hash", "package_version"})
    data["dataset"].pop("repo", None)
    return data


def _differences(a: object, b: object, where: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            out += _differences(a.get(key), b.get(key), f"{where}.{key}" if where else str(key))
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{where}: {len(a)} items, re-score has {len(b)}"]
        out = []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            label = x.get("name") if isinstance(x, dict) and "name" in x else i
            out += _differences(x, y, f"{where}[{label}]")
        return out
    if isinstance(a, float) or isinstance(b, float):
        if (
            isinstance(a, int | float)
            and isinstance(b, int | float)
            and math.isclose(a, b, rel_tol=RESCORE_TOL, abs_tol=RESCORE_TOL)
        ):
            return []
    return [] if a == b else [f"{where}: {a!r}, re-score gives {b!r}"]


def rescore_differences(
    entry_file: Path,
    entry: ResultEntry,
    ds: DatasetHandle,
    *,
    encoder: SentenceEncoder | None = None,
    references: SealedReferences | None = None,
) -> list[str]:
    """Score a verified entry's predictions file again and list every number that differs from the entry.

    Raises:
        ResultEntryError: The entry is not verified or its predictions file is missing.
    """
    if entry.verification is None:
        raise ResultEntryError(f"{entry_file}: field 'verification': the entry is self-reported, nothing to re-score")
    preds_file = Path(entry_file).with_name(entry.verification.predictions_file)
    if not preds_file.is_file():
        raise ResultEntryError(f"{entry_file}: field 'verification.predictions_file': {preds_file} does not exist")
    try:
        opts = ScoringOptions(**entry.verification.scoring)
    except TypeError as exc:
        raise ResultEntryError(f"{entry_file}: field 'verification.scoring': not ScoringOptions ({exc})") from None
    again = score_predictions(
        read_predictions(preds_file),
        ds,
        entry.dataset.task,
        model=entry.model,
        subset=entry.subset,
        encoder=encoder,
        options=opts,
        narrator=entry.narrator,
        split=entry.dataset.split,
        references=references,
    )
    return _differences(_numbers(entry), _numbers(again), "")
