"""Where a session's numbers come from: ``allen`` (a real Allen NWB file), ``simulated`` or ``prebinned-extract``.

The simulator marks every file it writes: ``/general/institution`` names the simulator (never the Allen
Institute) and session ids start at :data:`SIMULATED_SESSION_ID_MIN`, above every Allen ecephys session id
(all nine digits, 715,093,703 to 847,657,808 in the 58-session table). Either mark makes a file simulated.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import h5py

SIMULATOR_INSTITUTION = "neurrator-bench simulator (simulated data, not an Allen Institute recording)"
SIMULATED_SESSION_ID_MIN = 9_000_000_000
ORIGINS = ("allen", "simulated", "prebinned-extract")


def _scalar_text(f: h5py.File, name: str) -> str:
    node = f.get(name)
    if node is None:
        return ""
    raw = node[()]
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def nwb_data_origin(path: Path) -> str:
    """``simulated`` when the NWB file carries the simulator's marks, else ``allen``."""
    with h5py.File(path, "r") as f:
        inst = f.get("general/institution")
        institution = (
            inst[()].decode()
            if inst is not None and isinstance(inst[()], bytes)
            else str(inst[()] if inst is not None else "")
        )
        sid = f.get("general/session_id")
        raw = sid[()] if sid is not None else b""
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
    simulated_id = text.isdigit() and int(text) >= SIMULATED_SESSION_ID_MIN
    return "simulated" if institution == SIMULATOR_INSTITUTION or simulated_id else "allen"


def combined_origin(origins: Iterable[str]) -> str:
    """One label for data pooled from several sessions: the common origin, else ``mixed:<sorted origins>``."""
    found = sorted(set(origins))
    if not found:
        raise ValueError("origins: expected at least one origin, found none")
    return found[0] if len(found) == 1 else "mixed:" + "+".join(found)
