"""Named lists of Allen sessions (``--sessions paper-16``, ``bo11-all``), checked against Allen's session table.

The table is allensdk's ``EcephysProjectCache.get_session_table()`` of all 58 Visual Coding Neuropixels
sessions (shipped in the package, ``neurrator_bench/realdata/allen_bo11/sessions.csv``; or a cache's own
``sessions.csv``). Columns used: ``id``, ``session_type``, ``full_genotype``.

- ``bo11-all``: every ``brain_observatory_1.1`` session (32 in the release). BO1.1 is "the only stimulus
  protocol in the release that includes naturalistic stimuli" (paper A.3).
- ``paper-16``: the paper's cohort. A.3: "Across the 16 sessions this yields 73 parvalbumin (PV) cells from 5
  Pvalb-IRES-Cre mice, 49 somatostatin (SST) cells from 6 Sst-IRES-Cre mice, and 33 vasoactive-intestinal-peptide
  (VIP) cells from 5 Vip-IRES-Cre mice." The paper lists no session ids. **Our inference**: the BO1.1 release
  holds exactly 5 Pvalb, 6 Sst and 5 Vip Cre-line sessions (one mouse each), the paper's counts, so
  ``paper-16`` is those 16 sessions; :func:`resolve_session_set` checks the counts and refuses a table that
  does not give them.

Functional-connectivity sessions never showed the natural movies or scenes, so every task of this package
refuses them (:func:`check_natural_stimulus_sessions`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from neurrator_bench.builders.sources import BO11_SESSION_TYPE as BO11
from neurrator_bench.realdata import SESSIONS_TABLE

PAPER_LINES = {"Pvalb": 5, "Sst": 6, "Vip": 5}
SESSION_SETS = {
    "paper-16": "the 16 BO1.1 Cre-line sessions: 5 Pvalb, 6 Sst, 5 Vip (paper A.3's cohort; our inference)",
    "bo11-all": "every brain_observatory_1.1 session (32 in the release)",
}


def read_session_table(path: Path | None = None) -> pd.DataFrame:
    """Allen's session table (default: the one shipped in the package), ``id`` as int.

    ``get_session_table()`` names the genotype ``full_genotype``; the raw ``sessions.csv`` that allensdk's
    cache stores is assumed to call it ``genotype`` (allensdk renames it on read), so both are accepted.

    Raises:
        ValueError: The file lacks a column this module needs (names the file and the columns).
    """
    path = Path(path) if path is not None else SESSIONS_TABLE
    table = pd.read_csv(path)
    if "full_genotype" not in table.columns and "genotype" in table.columns:
        table = table.rename(columns={"genotype": "full_genotype"})
    missing = [c for c in ("id", "session_type", "full_genotype") if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: session table lacks column(s) {missing}; found {list(table.columns)}")
    table["id"] = table["id"].astype("int64")
    return table


def cre_line(genotype: str) -> str | None:
    """``"Pvalb"``, ``"Sst"``, ``"Vip"`` for a ``<line>-IRES-Cre/...`` genotype, else None (wild type)."""
    head = str(genotype).split("-IRES-Cre", 1)
    return head[0] if len(head) == 2 and head[0] in PAPER_LINES else None


def resolve_session_set(name: str, table: pd.DataFrame | None = None) -> list[int]:
    """The session ids of a named set (sorted).

    Raises:
        KeyError: Unknown set name (the message lists the known ones).
        ValueError: The table does not give the set's documented composition.
    """
    if name not in SESSION_SETS:
        raise KeyError(f"unknown session set {name!r}; known: {', '.join(SESSION_SETS)}")
    table = read_session_table() if table is None else table
    bo11 = table[table["session_type"] == BO11]
    if name == "bo11-all":
        return sorted(bo11["id"].tolist())
    lines = bo11["full_genotype"].map(cre_line)
    counts = lines.value_counts().to_dict()
    if counts != PAPER_LINES:
        raise ValueError(
            f"session set paper-16: expected BO1.1 Cre-line sessions {PAPER_LINES} (paper A.3), "
            f"the session table gives {counts}"
        )
    return sorted(bo11.loc[lines.notna(), "id"].tolist())


def check_natural_stimulus_sessions(session_ids: Sequence[int], types: Mapping[int, str], *, where: str) -> None:
    """Refuse sessions that are not BO1.1 (or not in the table): they never showed NM1, NM3 or the scenes.

    Args:
        session_ids: Requested sessions.
        types: Session id -> ``session_type`` (:func:`~neurrator_bench.builders.sources.read_session_types`).
        where: Where ``types`` came from (named in the error).

    Raises:
        ValueError: Names each refused session, its session type and ``where`` the table came from.
    """
    unknown = [int(s) for s in session_ids if int(s) not in types]
    if unknown:
        raise ValueError(f"session(s) {unknown}: not in the session table {where}")
    wrong = {int(s): types[int(s)] for s in session_ids if types[int(s)] != BO11}
    if wrong:
        listed = ", ".join(f"{sid} ({kind})" for sid, kind in wrong.items())
        raise ValueError(
            f"session(s) {listed}: not {BO11} sessions (session table {where}). Only Brain Observatory 1.1 "
            "showed natural movie one, natural movie three and the natural scenes, which every task of this "
            "package decodes; functional_connectivity sessions cannot be built. Pick BO1.1 ids "
            "(`--sessions bo11-all` lists them)."
        )
