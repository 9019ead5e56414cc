"""The result store: find and read the entries of a results folder, group them, and pick headline scores.

A results folder holds one JSON file per (model, revision, task, subset) at
``<results>/<model name, / as __>/<revision>/<task><subset slug>.json`` (see
:func:`neurrator_bench.schemas.result_entry.entry_path`). The headline ("main") score of an entry is
``sbert_matched`` when present, else ``retrieval_r10``; floors are the metrics named ``sbert_*_floor``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from neurrator_bench.schemas.result_entry import MetricResult, ResultEntry, read_entry, subset_slug

MAIN_METRICS = ("sbert_matched", "retrieval_r10")
R10_METRIC = "retrieval_r10"
CKA_METRIC = "cka_linear"
FLOOR_PATTERN = re.compile(r"^sbert_[a-z0-9_]+_floor$")
BUNDLE_MARKER = "UPLOAD.md"
REFERENCE_KINDS = frozenset({"reference", "neurrator-encoder"})  # model kinds shown as the reference model


@dataclass(frozen=True)
class StoredEntry:
    """One validated entry and the file it was read from.

    Attributes:
        path: The entry's JSON file.
        entry: Its parsed content.
    """

    path: Path
    entry: ResultEntry

    @property
    def task(self) -> str:
        """The task name (``entry.dataset.task``)."""
        return self.entry.dataset.task

    @property
    def model_name(self) -> str:
        """The model name as written in the entry (may contain ``/``)."""
        return self.entry.model.name

    @property
    def revision(self) -> str:
        """The model revision."""
        return self.entry.model.revision

    @property
    def subset(self) -> str:
        """The subset slug: ``""`` for the full population, else ``"@region_group=V1,n_units=32"``."""
        return subset_slug(self.entry.subset)


def model_slug(name: str) -> str:
    """Folder and page name of a model: its name with ``/`` replaced by ``__``."""
    return name.replace("/", "__")


def find_entry_files(results_dir: Path) -> list[Path]:
    """List the entry files of a results folder, sorted.

    Only ``<model>/<revision>/<file>.json`` (depth 3) counts; hidden files (temporary writes) are left out.

    Args:
        results_dir: The results folder.

    Returns:
        Sorted paths of the candidate entry files.

    Raises:
        FileNotFoundError: If ``results_dir`` is not a folder.
    """
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise FileNotFoundError(f"results folder {results_dir}: expected a folder, found none")
    return sorted(
        p
        for p in results_dir.glob("*/*/*.json")
        if p.is_file() and not any(part.startswith(".") for part in p.parts[-3:])
    )


def find_stray_json(results_dir: Path) -> list[Path]:
    """JSON files under ``results_dir`` that are not at ``<model>/<revision>/<file>.json``.

    Submission bundles (folders holding an ``UPLOAD.md``, written by ``submit_results`` offline) and
    hidden files are left out.

    Args:
        results_dir: The results folder.

    Returns:
        Sorted paths of misplaced JSON files.
    """
    results_dir = Path(results_dir)
    bundles = [p.parent for p in results_dir.rglob(BUNDLE_MARKER)]
    stray = []
    for path in results_dir.rglob("*.json"):
        rel = path.relative_to(results_dir)
        if len(rel.parts) == 3 or any(part.startswith(".") for part in rel.parts):
            continue
        if any(b in path.parents for b in bundles):
            continue
        stray.append(path)
    return sorted(stray)


def load_entries(results_dir: Path) -> list[StoredEntry]:
    """Read every entry file of a results folder (no cross-entry checks; see ``validate_results``).

    Args:
        results_dir: The results folder.

    Returns:
        The entries, in sorted path order.

    Raises:
        FileNotFoundError: If ``results_dir`` is not a folder.
        ResultEntryError: If a file is not a valid entry (names the file and field).
    """
    return [StoredEntry(path, read_entry(path)) for path in find_entry_files(results_dir)]


def group_by_task(entries: Iterable[StoredEntry]) -> dict[str, list[StoredEntry]]:
    """Group entries by task name, tasks sorted, entries in input order."""
    groups: dict[str, list[StoredEntry]] = {}
    for stored in entries:
        groups.setdefault(stored.task, []).append(stored)
    return dict(sorted(groups.items()))


def group_by_model(entries: Iterable[StoredEntry]) -> dict[str, list[StoredEntry]]:
    """Group entries by model name, names sorted, entries in input order."""
    groups: dict[str, list[StoredEntry]] = {}
    for stored in entries:
        groups.setdefault(stored.model_name, []).append(stored)
    return dict(sorted(groups.items()))


def group_by_revision(entries: Iterable[StoredEntry]) -> dict[str, list[StoredEntry]]:
    """Group the entries of one model by revision, oldest revision (by ``created_at``) first."""
    groups: dict[str, list[StoredEntry]] = {}
    for stored in entries:
        groups.setdefault(stored.revision, []).append(stored)

    def first_time(item: tuple[str, list[StoredEntry]]) -> tuple[datetime, str]:
        return (min(created_at(s.entry) for s in item[1]), item[0])

    return dict(sorted(groups.items(), key=first_time))


def created_at(entry: ResultEntry) -> datetime:
    """The entry's ``created_at`` as an aware datetime (a naive time is read as UTC).

    Raises:
        ValueError: If ``created_at`` is not ISO 8601; names the field and the value found.
    """
    try:
        when = datetime.fromisoformat(entry.created_at)
    except ValueError:
        raise ValueError(f"field 'created_at': expected an ISO 8601 time, found {entry.created_at!r}") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def find_metric(entry: ResultEntry, name: str) -> MetricResult | None:
    """The metric named ``name``, or None when the entry lacks it."""
    return next((m for m in entry.metrics if m.name == name), None)


def find_main_metric(entry: ResultEntry) -> MetricResult | None:
    """The headline metric: ``sbert_matched`` if present, else ``retrieval_r10``, else None."""
    for name in MAIN_METRICS:
        found = find_metric(entry, name)
        if found is not None:
            return found
    return None


def floor_names(entries: Iterable[ResultEntry]) -> list[str]:
    """Sorted names of the floor metrics (``sbert_*_floor``) present in any of ``entries``."""
    return sorted({m.name for e in entries for m in e.metrics if FLOOR_PATTERN.match(m.name)})


def ranked_full_population(entries: Iterable[StoredEntry]) -> list[StoredEntry]:
    """Full-population entries (empty subset slug) sorted by main score, best first.

    Scores of different metrics are never ranked against each other: entries with ``sbert_matched`` come
    first, then those ranked by ``retrieval_r10``, then those with neither. Ties are broken by model
    name, then revision, so the order never depends on input order.
    """

    def key(stored: StoredEntry) -> tuple[int, float, str, str]:
        main = find_main_metric(stored.entry)
        if main is None:
            return (len(MAIN_METRICS), 0.0, stored.model_name, stored.revision)
        value = main.value if main.higher_is_better else -main.value
        return (MAIN_METRICS.index(main.name), -value, stored.model_name, stored.revision)

    return sorted((s for s in entries if s.subset == ""), key=key)


def format_value(value: float | None, digits: int = 3) -> str:
    """``0.41234 -> "0.412"``; None -> ``"-"``."""
    return "-" if value is None else f"{value:.{digits}f}"


def format_score(metric: MetricResult | None, digits: int = 3) -> str:
    """A value with its CI, ``"0.412 [0.398, 0.427]"``; no CI -> value only; None -> ``"-"``."""
    if metric is None:
        return "-"
    text = format_value(metric.value, digits)
    if metric.ci_low is not None and metric.ci_high is not None:
        text += f" [{format_value(metric.ci_low, digits)}, {format_value(metric.ci_high, digits)}]"
    return text


def format_parameters(n_parameters: int | None) -> str:
    """A parameter count for people: ``12_300_000 -> "12.3M"``, ``950 -> "950"``, None -> ``"-"``."""
    if n_parameters is None:
        return "-"
    for factor, suffix in ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "k")):
        if n_parameters >= factor:
            return f"{n_parameters / factor:.1f}{suffix}"
    return str(n_parameters)
