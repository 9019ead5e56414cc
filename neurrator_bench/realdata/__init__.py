"""Real Allen Brain Observatory material shipped inside the package (``allen_bo11/SOURCES.md`` cites each file).

- :data:`REAL_NM1_EXTRACT`: real Natural Movie One spike counts of BO1.1 session 791319847 in 1-s bins
  (555 units with CCF regions), the input of the real-data track (``neurrator-bench realdata``);
- :data:`SESSIONS_TABLE`: allensdk's ``get_session_table()`` of all 58 sessions;
- :data:`PROBES_TABLE`: the Allen warehouse probes table.

Shipped so that the README's commands and the tests work on a fresh clone with nothing beside it.
Recordings: Allen Institute (Siegle et al. 2021, Nature 592:86-92), Allen Institute Terms of Use.
"""

from __future__ import annotations

from pathlib import Path

REALDATA_DIR = Path(__file__).resolve().parent / "allen_bo11"
REAL_NM1_EXTRACT = REALDATA_DIR / "nm1_session791319847_1s_bins.mat"
SESSIONS_TABLE = REALDATA_DIR / "sessions.csv"
PROBES_TABLE = REALDATA_DIR / "probes.csv"
