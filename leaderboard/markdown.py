"""The leaderboard as markdown: one table per task, for READMEs and model cards.

Every string taken from an entry is escaped: HTML special characters become entities, and the markdown
characters that would start a table cell, code span, emphasis or link are backslash-escaped.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from pathlib import Path

from neurrator_bench.leaderboard.store import (
    CKA_METRIC,
    R10_METRIC,
    StoredEntry,
    find_main_metric,
    find_metric,
    floor_names,
    format_parameters,
    format_score,
    group_by_task,
    ranked_full_population,
)
from neurrator_bench.schemas.result_entry import ResultEntry, entry_path

_MARKDOWN_SPECIAL = "\\`*_[]|#!~"


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


def render_markdown(entries: Iterable[ResultEntry], *, title: str = "neurrator-bench leaderboard") -> str:
    """Render full-population entries as one markdown table per task, best main score first.

    Columns: rank, model, revision, main metric, main score with 95 % CI, each floor, R@10, CKA,
    parameter count, n (samples behind the main score). Subset entries are left out (they feed the
    scaling plots).

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
        ranked = ranked_full_population(task_entries)
        if not ranked:
            continue
        floors = floor_names(s.entry for s in ranked)
        ds = ranked[0].entry.dataset
        lines += [
            f"## {escape_markdown(task)}",
            "",
            f"Dataset {escape_markdown(ds.repo)} (revision {escape_markdown(ds.revision or '-')}, fingerprint "
            f"{escape_markdown(ds.fingerprint)}, task version {ds.task_version}); scores with 95 % CI.",
            "",
        ]
        header = ["#", "model", "revision", "main metric", "main score", *floors, "R@10", "CKA", "parameters", "n"]
        lines.append(_row(escape_markdown(h) for h in header))
        lines.append(
            _row(["---:", "---", "---", "---", "---:", *["---:"] * len(floors), "---:", "---:", "---:", "---:"])
        )
        for rank, s in enumerate(ranked, start=1):
            main = find_main_metric(s.entry)
            cells = [
                str(rank),
                escape_markdown(s.model_name),
                escape_markdown(s.revision),
                escape_markdown(main.name) if main else "-",
                format_score(main),
                *(format_score(find_metric(s.entry, f)) for f in floors),
                format_score(find_metric(s.entry, R10_METRIC)),
                format_score(find_metric(s.entry, CKA_METRIC)),
                format_parameters(s.entry.model.n_parameters),
                str(main.n) if main else "-",
            ]
            lines.append(_row(cells))
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"
