"""The result store: find and read the entries of a results folder, group them, and pick headline scores.

A results folder holds one JSON file per (model, revision, task, subset, narrator) at
``<results>/<model name, / as __>/<revision>/<task><subset slug><narrator slug>.json`` (see
:func:`neurrator_bench.schemas.result_entry.entry_path`). A leaderboard row is (model, revision, narrator):
two narrators of one model are two rows, never one. The headline ("main") score of an entry is
``sbert_matched`` when present, else ``retrieval_r10``; floors are the metrics named ``sbert_*_floor``.
Metrics are listed in the metric registry's order (:func:`metric_order`). Adjacent rows of a ranked table
are compared by a paired block bootstrap over their frame tables (:func:`pair_adjacent_rows`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import neurrator_bench.scorers  # noqa: F401  (registers every metric in METRICS)
from neurrator_bench.schemas.dataset import is_pseudo_mouse
from neurrator_bench.schemas.result_entry import (
    FrameTable,
    MetricResult,
    NarratorMeta,
    ResultEntry,
    narrator_slug,
    read_entry,
    split_slug,
    subset_slug,
)
from neurrator_bench.scorers.frame_stats import PairedDifference, paired_frame_difference
from neurrator_bench.scorers.metric_registry import METRICS

MAIN_METRICS = ("sbert_matched", "retrieval_r10")
R10_METRIC = "retrieval_r10"
CKA_METRIC = "cka_linear"
FLOOR_PATTERN = re.compile(r"^sbert_[a-z0-9_]+_floor$")
BUNDLE_MARKER = "UPLOAD.md"
REFERENCE_KINDS = frozenset({"reference", "neurrator-encoder"})  # model kinds shown as the reference model
NO_NARRATOR_LABEL = "-"  # narrator label of an entry whose predictions hold no narrations
PAIR_N_BOOT = 1000  # replicates of the paired bootstrap between adjacent ranked rows
PAIR_SEED = 0
NOT_SIGNIFICANT_MARK = "\u2248"  # "≈"
NOT_PAIRED_MARK = "not paired"
NOT_SIGNIFICANT_LEGEND = "not significantly different from the row above (paired block bootstrap over frames, 95 %)"
NOT_PAIRED_LEGEND = (
    "this row and the row above cannot be paired (a frame table without the main metric, other frames, or "
    "another main metric)"
)


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
    def board(self) -> str:
        """The table the entry ranks in: its task (live test), or ``"<task> (final)"`` (sealed final test).

        Live and final scores are never ranked together.
        """
        ds = self.entry.dataset
        return ds.task if ds.split == "test" else f"{ds.task} ({ds.split})"

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

    @property
    def narrator(self) -> str:
        """The narrator label (:func:`narrator_label`): ``"llava (llava-hf/llava-1.5-7b-hf)"``, or ``"-"``."""
        return narrator_label(self.entry.narrator)


def narrator_label(narrator: NarratorMeta | None) -> str:
    """How tables name a narrator: ``NarratorMeta.label()``, or ``"-"`` when the entry has no narrations."""
    return NO_NARRATOR_LABEL if narrator is None else narrator.label()


def row_key(stored: StoredEntry) -> tuple[str, str, str]:
    """The identity of a leaderboard row: (model slug, revision, narrator label)."""
    return (model_slug(stored.model_name), stored.revision, stored.narrator)


def entry_label(stored: StoredEntry) -> str:
    """Task, subset and narrator slug of an entry (its file stem): ``"nm1-contiguous-middle~llava"``."""
    return f"{stored.task}{split_slug(stored.entry.dataset.split)}{stored.subset}{narrator_slug(stored.entry.narrator)}"


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
    """Group entries by board (:attr:`StoredEntry.board`: the task, its final test apart), sorted, in input order."""
    groups: dict[str, list[StoredEntry]] = {}
    for stored in entries:
        groups.setdefault(stored.board, []).append(stored)
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


def metric_order(names: Iterable[str], *, headline_first: bool = False) -> list[str]:
    """``names`` in display order: registered metrics in the registry's order, then unregistered ones sorted.

    The order is the metric registry's registration order (``METRICS.in_order()``), so a newly registered
    metric appears in every table without a change here.

    Args:
        names: Metric names (repeats are dropped).
        headline_first: Put the headline metrics (:data:`MAIN_METRICS`, in that order) first.

    Returns:
        The names, each once.
    """
    present = set(names)
    first = [name for name in MAIN_METRICS if name in present] if headline_first else []
    registered = [name for name in METRICS.in_order() if name in present and name not in first]
    return first + registered + sorted(present - set(first) - set(registered))


def floor_names(entries: Iterable[ResultEntry]) -> list[str]:
    """Names of the floor metrics (``sbert_*_floor``) present in any of ``entries``, in :func:`metric_order`."""
    return metric_order(m.name for e in entries for m in e.metrics if FLOOR_PATTERN.match(m.name))


SECONDARY_METRIC = {"sbert_matched": R10_METRIC, R10_METRIC: "sbert_matched"}
"""The tie-break of each main metric: equal main scores are ordered by this metric (higher first)."""
TIE_BREAK_LEGEND = (
    "equal main scores are ordered by R@10 (rows ranked by SBERT) or by SBERT matched (rows ranked by R@10)"
)


def ranked_full_population(entries: Iterable[StoredEntry]) -> list[StoredEntry]:
    """Full-population entries (empty subset slug) sorted by main score, best first.

    Scores of different metrics are never ranked against each other: entries with ``sbert_matched`` come
    first, then those ranked by ``retrieval_r10``, then those with neither. Each (model, revision,
    narrator) is a row of its own. Equal main scores are ordered by :data:`SECONDARY_METRIC` (higher first; an
    entry without it after those with it), then by model name, revision and narrator label, so the order never
    depends on input order.
    """

    def key(stored: StoredEntry) -> tuple[int, float, int, float, str, str, str]:
        main = find_main_metric(stored.entry)
        names = (stored.model_name, stored.revision, stored.narrator)
        if main is None:
            return (len(MAIN_METRICS), 0.0, 1, 0.0, *names)
        value = main.value if main.higher_is_better else -main.value
        second = find_metric(stored.entry, SECONDARY_METRIC[main.name])
        tie = (0, -second.value) if second is not None else (1, 0.0)
        return (MAIN_METRICS.index(main.name), -value, *tie, *names)

    return sorted((s for s in entries if s.subset == ""), key=key)


def session_coverage(stored: StoredEntry) -> tuple[int, int]:
    """``(recorded sessions scored, recorded test sessions of the task)``.

    The second adds the sessions listed as skipped (``session:<id>``, "no predictions for this session").
    Pseudo-mice (``pseudo-*``: tagged units pooled across the recorded sessions) are not counted: the headline
    scores leave them out (:func:`neurrator_bench.scoring.score_predictions`), and a decoder that knows no tagged
    unit cannot predict them.
    """
    scored = [s for s in stored.entry.sessions if not is_pseudo_mouse(s)]
    skipped = (s.name.removeprefix("session:") for s in stored.entry.skipped if s.name.startswith("session:"))
    missing = [s for s in skipped if not is_pseudo_mouse(s)]
    return len(scored), len(scored) + len(missing)


def covers_every_session(stored: StoredEntry) -> bool:
    """Whether the entry scored every test session of its task (:func:`session_coverage`)."""
    scored, total = session_coverage(stored)
    return scored == total


def coverage_label(stored: StoredEntry) -> str:
    """``"scored/total"`` test sessions, as the tables show coverage."""
    return "{}/{}".format(*session_coverage(stored))


def is_verified(stored: StoredEntry) -> bool:
    """Whether a maintainer re-scored the entry from its predictions (``leaderboard rescore``)."""
    return stored.entry.verification is not None


def status_label(stored: StoredEntry) -> str:
    """``"verified"`` or ``"self-reported"``: the tables' status column."""
    return "verified" if is_verified(stored) else "self-reported"


VERIFIED_GROUP = "Verified (re-scored by the maintainer from the submitted predictions)"
SELF_REPORTED_GROUP = "Self-reported (ranked apart from verified rows)"
INCOMPLETE_GROUP = "Not ranked (these entries leave out a test session of the task)"
"""Headings of the row groups of a task table (site and markdown)."""


@dataclass(frozen=True)
class RankedGroups:
    """The rows of one task's table, by the ranking rules.

    Attributes:
        verified: Re-scored by the maintainer and covering every test session, ranked (best first).
        self_reported: Self-reported entries covering every test session, ranked apart (best first).
        incomplete: Entries that leave out a test session: listed with their coverage, never ranked.
    """

    verified: list[StoredEntry]
    self_reported: list[StoredEntry]
    incomplete: list[StoredEntry]


RANKING_RULES = (
    "a row ranks only if it covers every test session of the task (others are listed with their coverage); "
    "verified rows (re-scored by the maintainer from the submitted predictions) and self-reported rows are "
    "ranked apart; each model, revision and narrator is a row of its own; " + TIE_BREAK_LEGEND
)


def rank_groups(ranked: Sequence[StoredEntry]) -> RankedGroups:
    """Split rows already in rank order (:func:`ranked_full_population`) by the ranking rules (order kept)."""
    complete = {id(s): covers_every_session(s) for s in ranked}
    return RankedGroups(
        verified=[s for s in ranked if complete[id(s)] and is_verified(s)],
        self_reported=[s for s in ranked if complete[id(s)] and not is_verified(s)],
        incomplete=[s for s in ranked if not complete[id(s)]],
    )


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


def frame_values(table: FrameTable, metric: str) -> dict[tuple[str, int], tuple[float, int]]:
    """One metric of a frame table as ``(stimulus, frame) -> (per-frame mean, block)``.

    Args:
        table: An entry's frame table.
        metric: A key of ``table.values``.

    Returns:
        The mapping :func:`neurrator_bench.scorers.frame_stats.paired_frame_difference` takes.

    Raises:
        KeyError: If ``metric`` is not a column of the table; lists the columns present.
        ValueError: If the columns differ in length or a (stimulus, frame) appears twice.
    """
    if metric not in table.values:
        raise KeyError(f"frame_table.values: no column {metric!r}; present: {metric_order(table.values)}")
    values = table.values[metric]
    lengths = {len(table.stimulus), len(table.frame), len(table.block), len(values)}
    if len(lengths) != 1:
        raise ValueError(
            f"frame_table: expected stimulus, frame, block and values[{metric!r}] of one length, found "
            f"{len(table.stimulus)}, {len(table.frame)}, {len(table.block)} and {len(values)}"
        )
    out: dict[tuple[str, int], tuple[float, int]] = {}
    for stimulus, frame, block, value in zip(table.stimulus, table.frame, table.block, values, strict=True):
        if (stimulus, frame) in out:
            raise ValueError(f"frame_table: expected one row per (stimulus, frame), found {(stimulus, frame)} twice")
        out[(stimulus, frame)] = (value, block)
    return out


@dataclass(frozen=True)
class RowPairing:
    """How a ranked row compares with the row above it in the main metric.

    Attributes:
        status: ``"first"`` (no row above), ``"significant"`` (the 95 % paired interval excludes 0),
            ``"not significant"`` (it includes 0) or ``"not paired"``.
        difference: The paired difference, row above minus this row (None unless paired).
        reason: Why the rows could not be paired (``""`` otherwise).
    """

    status: Literal["first", "significant", "not significant", "not paired"]
    difference: PairedDifference | None = None
    reason: str = ""

    @property
    def mark(self) -> str:
        """The table mark: ``"≈"`` (not significant), ``"not paired"``, or ``""``."""
        if self.status == "not significant":
            return NOT_SIGNIFICANT_MARK
        return NOT_PAIRED_MARK if self.status == "not paired" else ""

    def describe(self) -> str:
        """One line for a tooltip: the difference with its interval and p, or why there is none."""
        d = self.difference
        if d is not None:
            return (
                f"{d.metric}: row above minus this row {d.difference:.4g} [{d.low:.4g}, {d.high:.4g}], "
                f"two-sided p={d.p_two_sided:.3g}, {d.n_frames} frames, {d.n_boot} block-bootstrap replicates"
            )
        return self.reason


def pair_rows(
    upper: StoredEntry, lower: StoredEntry, *, n_boot: int = PAIR_N_BOOT, seed: int = PAIR_SEED
) -> RowPairing:
    """Paired block bootstrap of the main metric of two ranked rows (``upper`` is the row above).

    Args:
        upper: The better-ranked entry.
        lower: The entry ranked right below it.
        n_boot: Bootstrap replicates.
        seed: Base seed of the replicates.

    Returns:
        A :class:`RowPairing`; ``"not paired"`` (with the reason) when the rows rank by different main
        metrics, an entry has no frame table or lacks the metric in it, or their frame sets differ.
    """
    main_upper, main_lower = find_main_metric(upper.entry), find_main_metric(lower.entry)
    if main_upper is None or main_lower is None or main_upper.name != main_lower.name:
        names = [m.name if m else None for m in (main_upper, main_lower)]
        return RowPairing("not paired", reason=f"the rows rank by different main metrics {names}")
    metric = main_upper.name
    tables = [(s, s.entry.frame_table) for s in (upper, lower)]
    for stored, table in tables:
        if table is None:
            return RowPairing("not paired", reason=f"{stored.model_name} ({stored.narrator}): no frame table")
        if metric not in table.values:
            return RowPairing(
                "not paired", reason=f"{stored.model_name} ({stored.narrator}): frame table has no {metric!r} column"
            )
    try:
        a, b = (frame_values(table, metric) for _, table in tables)
        difference = paired_frame_difference(metric, a, b, n_boot=n_boot, seed=seed)
    except ValueError as exc:
        return RowPairing("not paired", reason=str(exc))
    return RowPairing("significant" if difference.significant else "not significant", difference)


def pair_adjacent_rows(
    ranked: Sequence[StoredEntry], *, n_boot: int = PAIR_N_BOOT, seed: int = PAIR_SEED
) -> list[RowPairing]:
    """Compare each row of a ranked table with the row above it (:func:`pair_rows`); the first is ``"first"``.

    Args:
        ranked: Ranked rows, best first (the ranked models of one task).
        n_boot: Bootstrap replicates per pair.
        seed: Base seed of the replicates.

    Returns:
        One :class:`RowPairing` per row, in order.
    """
    pairings = [RowPairing("first")] if ranked else []
    pairings += [
        pair_rows(upper, lower, n_boot=n_boot, seed=seed) for upper, lower in zip(ranked, ranked[1:], strict=False)
    ]
    return pairings


SCORER_SPACE_MARK = "†"
SCORER_SPACE_LEGEND = (
    "trained against the scorer's own sentence-embedding space: its SBERT scores are partly circular "
    "(compare it with a variant trained in another space)"
)


def model_label(stored: StoredEntry) -> str:
    """The model name as a table shows it: with :data:`SCORER_SPACE_MARK` when trained in the scorer's space."""
    return stored.model_name + (f" {SCORER_SPACE_MARK}" if stored.entry.scorer_space else "")
