"""What a result entry records about where it was made: package version, git hash, environment, time."""

from __future__ import annotations

import datetime as dt
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from neurrator_bench import __version__

ENV_PACKAGES = ("numpy", "scipy", "scikit-learn", "torch", "transformers", "sentence-transformers", "datasets")


def git_hash() -> str | None:
    """Commit of the neurrator-bench checkout this code runs from, or None (e.g. an installed wheel)."""
    here = Path(__file__).resolve().parent.parent
    if not (here / ".git").exists():
        return None
    try:
        out = subprocess.run(  # noqa: S603 - fixed argv, no user input
            ["git", "-C", str(here), "rev-parse", "HEAD"],  # noqa: S607
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def environment() -> dict[str, str]:
    """Python, platform and versions of the numerical packages that can change scores."""
    env = {
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "neurrator-bench": __version__,
    }
    for name in ENV_PACKAGES:
        try:
            env[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            env[name] = "not installed"
    return env


def utc_now() -> str:
    """Current UTC time, ISO 8601 with seconds."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


DATA_ORIGINS = ("allen", "simulated", "unknown", "prebinned-extract")
"""Origins a config or entry can carry (``mixed:<a>+<b>`` when sessions of several origins are pooled)."""


def is_real_origin(origin: str) -> bool:
    """Whether an origin label says real Allen data: ``allen`` NWB sessions or the real ``prebinned-extract``."""
    return origin in ("allen", "prebinned-extract")


def origin_badge_text(origin: str) -> str | None:
    """The warning a page shows beside numbers of this origin (None for real data)."""
    if is_real_origin(origin):
        return None
    return "simulated data" if "simulated" in origin else "origin not verified"
