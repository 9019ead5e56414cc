"""Where a session's numbers come from: ``allen``, ``simulated``, ``unknown`` or ``prebinned-extract``.

The simulator marks every file it writes: ``/general/institution`` names the simulator (never the Allen
Institute) and session ids start at :data:`SIMULATED_SESSION_ID_MIN`, above every Allen ecephys session id
(all nine digits, 715,093,703 to 847,657,808 in the 58-session table). Either mark makes a file ``simulated``.
A file is ``allen`` only on positive evidence: its session id is one of the 58 sessions of Allen's session
table shipped with the package (``neurrator_bench/realdata/allen_bo11/sessions.csv``) and it carries no
simulator mark. Anything else is ``unknown``: never labelled as Allen data, and refused by ``--push-to-hub``
like simulated data.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from functools import cache

import h5py

from neurrator_bench.builders.remote_nwb import NWBLocation, open_nwb
from neurrator_bench.errors import NWBFormatError
from neurrator_bench.realdata import SESSIONS_TABLE

SIMULATOR_INSTITUTION = "neurrator-bench simulator (simulated data, not an Allen Institute recording)"
SIMULATED_SESSION_ID_MIN = 9_000_000_000


@cache
def allen_session_ids() -> frozenset[str]:
    """The 58 ecephys session ids of Allen's session table (shipped with the package)."""
    with SESSIONS_TABLE.open(encoding="utf-8") as fh:
        return frozenset(row["id"] for row in csv.DictReader(fh))


def _scalar_text(f: h5py.File, name: str) -> str:
    node = f.get(name)
    if node is None:
        return ""
    raw = node[()]
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def nwb_data_origin(path: NWBLocation) -> str:
    """``simulated`` (simulator marks), ``allen`` (a session of Allen's table, no mark) or ``unknown``.

    A `RemoteNWB` (a DANDI asset) is judged by the same marks, read over HTTP: where a file is served from is
    no evidence of what it holds.

    Raises:
        NWBFormatError: The file is not readable HDF5 (names the file).
    """
    with open_nwb(path) as f:
        try:
            institution, text = (_scalar_text(f, name) for name in ("general/institution", "general/session_id"))
        except OSError as err:
            raise NWBFormatError(
                f"{path}: not a readable HDF5/NWB file (possibly a truncated or interrupted download): {err}"
            ) from err
    if institution == SIMULATOR_INSTITUTION or (text.isdigit() and int(text) >= SIMULATED_SESSION_ID_MIN):
        return "simulated"
    return "allen" if text in allen_session_ids() else "unknown"


def combined_origin(origins: Iterable[str]) -> str:
    """One label for data pooled from several sessions: the common origin, else ``mixed:<sorted origins>``."""
    found = sorted(set(origins))
    if not found:
        raise ValueError("origins: expected at least one origin, found none")
    return found[0] if len(found) == 1 else "mixed:" + "+".join(found)
