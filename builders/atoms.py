"""Disjoint sample "atoms" so that every task's splits are unions of shared files (no duplicated data).

For one stimulus, the tasks that use it are ordered by name; a presentation's *atom code* has one
character per such task: ``t`` (train), ``v`` (validation), ``s`` (test), ``f`` (the sealed final test, see
:mod:`neurrator_bench.builders.sealing`) or ``x`` (unused by that task).
Samples with equal codes go to ``data/<stimulus>/<code>/<session_id>.parquet``; a task's split is the
union of the atoms whose character at the task's position is the split's letter.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from neurrator_bench.tasks import TaskSpec

SPLIT_CODES = {"train": "t", "validation": "v", "test": "s", "final": "f", None: "x"}
UNUSED = "x"


def tasks_using(stimulus: str, tasks: Sequence[TaskSpec]) -> list[TaskSpec]:
    """Tasks (sorted by name) that use ``stimulus``."""
    return sorted((t for t in tasks if stimulus in t.stimuli), key=lambda t: t.name)


def codes_from_splits(stimulus: str, tasks: Sequence[TaskSpec], splits: dict[str, np.ndarray], *, n: int) -> np.ndarray:
    """Atom code of each of ``n`` samples from every using task's split array (None = unused)."""
    using = tasks_using(stimulus, tasks)
    if not using:
        return np.full(n, "", dtype=object)
    letters = [np.vectorize(SPLIT_CODES.get, otypes=[object])(splits[t.name]) for t in using]
    return np.array(["".join(chars) for chars in zip(*letters, strict=True)], dtype=object)


def splits_from_codes(stimulus: str, tasks: Sequence[TaskSpec], codes: np.ndarray) -> dict[str, np.ndarray]:
    """Inverse of :func:`codes_from_splits`: task name -> (n,) split (None where unused)."""
    by_letter = {v: k for k, v in SPLIT_CODES.items()}
    out = {}
    for pos, task in enumerate(tasks_using(stimulus, tasks)):
        out[task.name] = np.array([by_letter[c[pos]] for c in codes.tolist()], dtype=object)
    return out


def is_used(code: str) -> bool:
    """Whether any task uses the atom."""
    return any(c != UNUSED for c in code)


def split_globs(task: TaskSpec, tasks: Sequence[TaskSpec], written: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """``data_files`` globs of each split of ``task``.

    Args:
        task: The task.
        tasks: All tasks being built (fixes each task's code position).
        written: ``(stimulus, code)`` atoms that hold at least one file.

    Returns:
        split -> sorted list of globs relative to the dataset root; splits without files are omitted.
    """
    out: dict[str, list[str]] = {}
    written = sorted(set(written))
    for split, letter in SPLIT_CODES.items():
        if split is None:
            continue
        globs = []
        for stimulus, code in written:
            using = [t.name for t in tasks_using(stimulus, tasks)]
            if task.name in using and code[using.index(task.name)] == letter:
                globs.append(f"data/{stimulus}/{code}/*.parquet")
        if globs:
            out[split] = globs
    return out
