"""Every table of the leaderboard as data: the rows the page shows, in its order, for its CSV and JSON downloads.

One layout serves the page and the downloads (:func:`board_layout`), so a downloaded table holds exactly the rows,
ranks and pairing marks the page shows. Each entry also has a stable permalink (:func:`entry_anchor`): it is
derived from what identifies the entry (model, revision, task, split, subset, narrator), never from a build's
order, so the link stays the same across rebuilds.

CSV cells that a spreadsheet would run as a formula (first character ``= + - @``, tab or carriage return) are
written with a leading apostrophe (OWASP's advice against CSV injection); numbers are written as numbers. JSON
holds the plain values.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from neurrator_bench.atomic_files import write_text_atomic
from neurrator_bench.leaderboard.markdown import split_reference_levels
from neurrator_bench.leaderboard.page_parts import safe_stem
from neurrator_bench.leaderboard.store import (
    CKA_METRIC,
    INCOMPLETE_GROUP,
    R10_METRIC,
    SELF_REPORTED_GROUP,
    VERIFIED_GROUP,
    RowPairing,
    StoredEntry,
    entry_label,
    find_main_metric,
    find_metric,
    floor_names,
    model_slug,
    pair_adjacent_rows,
    rank_groups,
    ranked_full_population,
    session_coverage,
    status_label,
)
from neurrator_bench.schemas.result_entry import MetricResult

REFERENCE_LEVEL = "reference level"
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
TABLES_DIR = "tables"
ENTRIES_DIR = "entries"


@dataclass(frozen=True)
class BoardRow:
    """One row of a task table.

    Attributes:
        group: Heading of its row group (verified, self-reported, not ranked, reference level).
        rank: Its rank within the group (None for rows that are not ranked).
        stored: The entry.
        pairing: How it compares with the row above (None when not ranked).
    """

    group: str
    rank: int | None
    stored: StoredEntry
    pairing: RowPairing | None


@dataclass(frozen=True)
class Board:
    """The table of one board (a task's live test, or its final test): rows in page order and its floors."""

    name: str
    rows: list[BoardRow]
    floors: list[str]


def board_layout(name: str, entries: Sequence[StoredEntry]) -> Board | None:
    """The rows of one board's table in page order (None when the board has no full-population entry).

    Order: the first ranked group (verified rows when there are any, else self-reported ones), the self-reported
    rows ranked apart, the entries that leave out a test session (not ranked), then the floor models (reference
    levels, not ranked). Each ranked group has its own ranks and pairings.
    """
    full = ranked_full_population(entries)
    if not full:
        return None
    models, levels = split_reference_levels(full)
    groups = rank_groups(models)
    if groups.verified:
        ranked = [(VERIFIED_GROUP, groups.verified), (SELF_REPORTED_GROUP, groups.self_reported)]
    else:
        ranked = [(SELF_REPORTED_GROUP, groups.self_reported)]
    rows: list[BoardRow] = []
    for heading, group in ranked:
        for rank, (stored, pairing) in enumerate(zip(group, pair_adjacent_rows(group), strict=True), start=1):
            rows.append(BoardRow(heading, rank, stored, pairing))
    rows += [BoardRow(INCOMPLETE_GROUP, None, s, None) for s in groups.incomplete]
    rows += [BoardRow(REFERENCE_LEVEL, None, s, None) for s in levels]
    return Board(name=name, rows=rows, floors=floor_names(s.entry for s in full))


def entry_anchor(stored: StoredEntry) -> str:
    """The element id of an entry's section on its model page (stable: from revision and entry label)."""
    return "entry-" + safe_stem(f"{stored.revision}--{entry_label(stored)}")


def model_page_path(model_name: str) -> str:
    """Site-relative path of a model's page: ``models/<model slug>.html``."""
    return f"models/{model_slug(model_name)}.html"


def entry_permalink(stored: StoredEntry) -> str:
    """Site-relative URL of an entry's section: ``models/<model>.html#<anchor>``."""
    return f"{model_page_path(stored.model_name)}#{entry_anchor(stored)}"


def entry_json_path(stored: StoredEntry) -> str:
    """Site-relative path of the entry's JSON (a verbatim copy of the validated file)."""
    return f"{ENTRIES_DIR}/{model_slug(stored.model_name)}/{stored.revision}/{stored.path.name}"


def subset_text(stored: StoredEntry) -> str:
    """The units an entry decodes, as tables show them: ``all units``, or ``region_group=V1,n_units=32``."""
    return stored.subset.removeprefix("@") or "all units"


def _metric_fields(prefix: str, metric: MetricResult | None) -> dict[str, float | None]:
    if metric is None:
        return {prefix: None, f"{prefix}_ci_low": None, f"{prefix}_ci_high": None}
    return {prefix: metric.value, f"{prefix}_ci_low": metric.ci_low, f"{prefix}_ci_high": metric.ci_high}


def entry_record(stored: StoredEntry) -> dict[str, object]:
    """What identifies an entry and its headline numbers (a row of every download)."""
    e = stored.entry
    main = find_main_metric(e)
    scored, total = session_coverage(stored)
    return {
        "model": stored.model_name,
        "revision": stored.revision,
        "task": e.dataset.task,
        "split": e.dataset.split,
        "subset": subset_text(stored),
        "narrator": stored.narrator,
        "status": status_label(stored),
        "data_origin": e.dataset.data_origin,
        "sessions_scored": scored,
        "sessions_total": total,
        "kind": e.model.kind,
        "main_metric": main.name if main else None,
        **_metric_fields("main", main),
        **_metric_fields(R10_METRIC, find_metric(e, R10_METRIC)),
        **_metric_fields(CKA_METRIC, find_metric(e, CKA_METRIC)),
        "n_parameters": e.model.n_parameters,
        "n": main.n if main else None,
        "dataset_fingerprint": e.dataset.fingerprint,
        "permalink": entry_permalink(stored),
        "entry_json": entry_json_path(stored),
    }


def board_records(board: Board) -> list[dict[str, object]]:
    """The rows of a board's download, in page order."""
    out = []
    for row in board.rows:
        floors: dict[str, object] = {}
        for name in board.floors:
            floors.update(_metric_fields(name, find_metric(row.stored.entry, name)))
        out.append(
            {
                "group": row.group,
                "rank": row.rank,
                "vs_above": row.pairing.mark if row.pairing is not None else "",
                **entry_record(row.stored),
                **floors,
            }
        )
    return out


def csv_value(value: object) -> object:
    """A cell for a CSV file: numbers as they are, text that a spreadsheet would evaluate prefixed with ``'``.

    A lone ``-`` (no narrator) and text that reads as a plain number (``-0.5``) are not formulas and stay as they are.
    """
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str):
        return value
    if value == "-" or not value.startswith(FORMULA_PREFIXES):
        return value
    try:
        float(value)
    except ValueError:
        return "'" + value
    return value


def to_csv(records: Sequence[dict[str, object]]) -> str:
    """CSV text of records (columns in the order of the first record's keys, then any new ones)."""
    columns: list[str] = []
    for record in records:
        columns += [k for k in record if k not in columns]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for record in records:
        writer.writerow([csv_value(record.get(c)) for c in columns])
    return buffer.getvalue()


@dataclass(frozen=True)
class Download:
    """Site-relative paths of a table's CSV and JSON files."""

    csv: str
    json: str


def write_downloads(site: Path, stem: str, title: str, records: Sequence[dict[str, object]]) -> Download:
    """Write ``tables/<stem>.csv`` and ``tables/<stem>.json`` under ``site``.

    The JSON is ``{"table": title, "rows": [...]}``; the CSV has one header line and one line per row.
    """
    paths = Download(csv=f"{TABLES_DIR}/{stem}.csv", json=f"{TABLES_DIR}/{stem}.json")
    write_text_atomic(site / paths.csv, to_csv(records))
    write_text_atomic(site / paths.json, json.dumps({"table": title, "rows": list(records)}, indent=1) + "\n")
    return paths


def board_stem(name: str) -> str:
    """File stem of a board's downloads."""
    return "board-" + safe_stem(name)


def copy_entry_json(site: Path, stored: StoredEntry) -> str:
    """Copy the entry's validated JSON file into the site; its site-relative path."""
    rel = entry_json_path(stored)
    write_text_atomic(site / rel, stored.path.read_text(encoding="utf-8"))
    return rel


def entry_order(entries: Sequence[StoredEntry]) -> list[StoredEntry]:
    """Every entry (every task, split, subset and narrator), sorted by board, model, revision, subset, narrator."""
    return sorted(entries, key=lambda s: (s.board, s.model_name, s.revision, s.subset, s.narrator))
