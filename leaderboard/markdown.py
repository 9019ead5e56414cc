"""The leaderboard as markdown: one table per task, for READMEs and model cards.

A row is (model, revision, narrator): the narrator column names how the narrations were made
(``NarratorMeta.label()``, ``-`` for an entry without narrations), and two narrators of one model are two
rows. The "vs above" column marks a row whose main score is not significantly different from the row above
(``≈``, paired block bootstrap over the two entries' frame tables, 95 %), or says "not paired" when the
two entries cannot be paired (:func:`neurrator_bench.leaderboard.store.pair_adjacent_rows`).

Every string taken from an entry is escaped: HTML special characters become entities, and the markdown
characters that would start a table cell, code span, emphasis or link are backslash-escaped.

Floor models (model kind ``floor`` or ``floor-*``, written by ``baselines/floors.py``) are reference
levels, not competitors: they are listed after the ranked models, without a rank, under "reference
level". The dataset is named by its Hub repo id, or by its folder name when the entry records a local
path (never the absolute path of the machine that scored it).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from pathlib import Path, PureWindowsPath

from neurrator_bench.leaderboard.store import (
    CKA_METRIC,
    INCOMPLETE_GROUP,
    NOT_PAIRED_LEGEND,
    NOT_PAIRED_MARK,
    NOT_SIGNIFICANT_LEGEND,
    NOT_SIGNIFICANT_MARK,
    R10_METRIC,
    RANKING_RULES,
    SCORER_SPACE_LEGEND,
    SCORER_SPACE_MARK,
    SELF_REPORTED_GROUP,
    VERIFIED_GROUP,
    StoredEntry,
    coverage_label,
    find_main_metric,
    find_metric,
    floor_names,
    format_parameters,
    format_score,
    group_by_task,
    model_label,
    pair_adjacent_rows,
    rank_groups,
    ranked_full_population,
    status_label,
)
from neurrator_bench.provenance import origin_badge_text
from neurrator_bench.schemas.result_entry import ResultEntry, entry_path

_MARKDOWN_SPECIAL = "\\`*_[]|#!~"
FLOOR_KIND = "floor"
REFERENCE_LEVEL_LABEL = "reference level"
_HUB_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")


NARRATOR_BOUND_KIND = "narrator-bound"


def is_reference_level(entry: ResultEntry) -> bool:
    """Whether the entry is a reference level, never ranked.

    Floor models (kind ``floor`` or ``floor-...``) and narrator bounds (kind ``narrator-bound``: the narrator on
    true or shuffled patches, no decoder) are reference levels.
    """
    kind = entry.model.kind or ""
    return kind in (FLOOR_KIND, NARRATOR_BOUND_KIND) or kind.startswith(f"{FLOOR_KIND}-")


def split_reference_levels(ranked: Sequence[StoredEntry]) -> tuple[list[StoredEntry], list[StoredEntry]]:
    """``(models, reference_levels)`` of a ranked list, each in the input order."""
    return (
        [s for s in ranked if not is_reference_level(s.entry)],
        [s for s in ranked if is_reference_level(s.entry)],
    )


def dataset_label(repo: str) -> str:
    """How a page names an entry's dataset: a Hub repo id as is, a local path by its folder name only.

    Args:
        repo: ``DatasetRef.repo``: a Hub id (``"org/name"``) or the path of a local dataset folder.

    Returns:
        ``"org/name"``, or ``"<folder name> (local folder)"`` for anything that is not a Hub repo id.
    """
    if _HUB_REPO_ID.fullmatch(repo):
        return repo
    return f"{PureWindowsPath(repo).name or repo} (local folder)"  # splits on / and on \\


def escape_markdown(text: str) -> str:
    r"""Make entry text literal inside a markdown table cell.

    ``&``, ``<``, ``>`` become HTML entities; ``\ ` * _ [ ] | # ! ~`` are backslash-escaped; line breaks
    become spaces.

    Args:
        text: Any string from an entry.

    Returns:
        The escaped string.
    """
    text = html.escape(" ".join(str(text).split()), quote=False)
    return "".join("\\" + ch if ch in _MARKDOWN_SPECIAL else ch for ch in text)


def _row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _cells(s: StoredEntry, floors: Sequence[str]) -> list[str]:
    """Model, revision, narrator, main metric, main score, floors, R@10, CKA, parameters, n, status, sessions."""
    main = find_main_metric(s.entry)
    return [
        escape_markdown(model_label(s)),
        escape_markdown(s.revision),
        escape_markdown(s.narrator),
        escape_markdown(main.name) if main else "-",
        format_score(main),
        *(format_score(find_metric(s.entry, f)) for f in floors),
        format_score(find_metric(s.entry, R10_METRIC)),
        format_score(find_metric(s.entry, CKA_METRIC)),
        format_parameters(s.entry.model.n_parameters),
        str(main.n) if main else "-",
        status_label(s),
        coverage_label(s),
    ]


def render_markdown(entries: Iterable[ResultEntry], *, title: str = "neurrator-bench leaderboard") -> str:
    """Render full-population entries as one markdown table per task, best main score first.

    Columns: rank, vs above (``≈``: not significantly different from the row above; "not paired": no
    paired comparison possible), model, revision, narrator, main metric, main score with 95 % CI, each
    floor, R@10, CKA, parameter count, n (samples behind the main score). Floor models follow in a second,
    unranked table headed "reference level". Subset entries are left out (they feed the scaling plots).

    Args:
        entries: Validated entries.
        title: The top heading (escaped like entry text).

    Returns:
        The markdown document, ending with a newline.
    """
    stored = [StoredEntry(entry_path(Path(), e), e) for e in entries]
    lines = [f"# {escape_markdown(title)}", ""]
    groups = group_by_task(stored)
    if not groups:
        lines += ["No result entries.", ""]
    for task, task_entries in groups.items():
        full = ranked_full_population(task_entries)
        if not full:
            continue
        models, levels = split_reference_levels(full)
        floors = floor_names(s.entry for s in full)
        ds = full[0].entry.dataset
        lines += [
            f"## {escape_markdown(task)}"
            + (f" ({badge.upper()})" if (badge := origin_badge_text(ds.data_origin)) else ""),
            "",
            f"Dataset {escape_markdown(dataset_label(ds.repo))} (revision {escape_markdown(ds.revision or '-')}, "
            f"fingerprint {escape_markdown(ds.fingerprint)}, task version {ds.task_version}, data origin "
            f"{escape_markdown(ds.data_origin)}); scores with 95 % CI.",
            "",
        ]
        columns = ["revision", "narrator", "main metric", "main score", *floors, "R@10", "CKA", "parameters", "n"]
        columns += ["status", "sessions"]
        align = ["---", "---", "---", "---:", *["---:"] * len(floors), "---:", "---:", "---:", "---:", "---", "---:"]
        groups = rank_groups(models)
        ranked_groups = [
            (heading, group)
            for heading, group in (
                (f"{VERIFIED_GROUP}:", groups.verified),
                (f"{SELF_REPORTED_GROUP}:", groups.self_reported),
            )
            if group
        ]
        for heading, group in ranked_groups:
            if len(ranked_groups) > 1 or group is groups.verified:
                lines += [heading, ""]
            lines.append(_row(escape_markdown(h) for h in ["#", "vs above", "model", *columns]))
            lines.append(_row(["---:", ":---:", "---", *align]))
            lines += [
                _row([str(rank), escape_markdown(pairing.mark), *_cells(s, floors)])
                for rank, (s, pairing) in enumerate(zip(group, pair_adjacent_rows(group), strict=True), start=1)
            ]
            lines.append("")
        if groups.incomplete:
            lines += [
                f"{INCOMPLETE_GROUP}:",
                "",
                _row(escape_markdown(h) for h in ["model", *columns]),
                _row(["---", *align]),
                *(_row(_cells(s, floors)) for s in groups.incomplete),
                "",
            ]
        if models:
            lines += [f"Ranking rules: {escape_markdown(RANKING_RULES)}."]
            if len(models) > 1:
                lines += [
                    "",
                    f"{escape_markdown(NOT_SIGNIFICANT_MARK)}: {escape_markdown(NOT_SIGNIFICANT_LEGEND)}; "
                    f"{escape_markdown(NOT_PAIRED_MARK)}: {escape_markdown(NOT_PAIRED_LEGEND)}.",
                ]
            if any(s.entry.scorer_space for s in models):
                lines += ["", f"{SCORER_SPACE_MARK}: {escape_markdown(SCORER_SPACE_LEGEND)}."]
        else:
            lines.append("No ranked model entries.")
        if levels:
            lines += [
                "",
                "Reference levels (floor models: what content-free predictions score; for comparison, not ranked):",
                "",
                _row(escape_markdown(h) for h in [REFERENCE_LEVEL_LABEL, *columns]),
                _row(["---", *align]),
                *(_row(_cells(s, floors)) for s in levels),
            ]
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"
