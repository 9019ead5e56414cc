"""sha256 of large source files, hashed once: a cache keyed on (absolute path, size, mtime).

A real Allen session NWB is 2-3 GB; hashing it on every build start or resume costs tens of seconds per
session. The cache (JSON, written atomically) lives at ``$NEURRATOR_BENCH_HASH_CACHE`` or
``$XDG_CACHE_HOME/neurrator-bench/sha256.json`` (default ``~/.cache/...``). A file whose size or
modification time changed is hashed again; an unreadable or malformed cache is ignored (and rewritten).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from neurrator_bench.atomic_files import write_text_atomic
from neurrator_bench.builders.shards import file_sha256


def default_cache_file() -> Path:
    """Where the hash cache lives (see the module docstring)."""
    explicit = os.environ.get("NEURRATOR_BENCH_HASH_CACHE")
    if explicit:
        return Path(explicit)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "neurrator-bench" / "sha256.json"


def _load(cache_file: Path) -> dict[str, dict]:
    try:
        data = json.loads(cache_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def cached_sha256(path: Path, cache_file: Path | None = None) -> str:
    """Hex sha256 of ``path``, from the cache when its size and mtime are unchanged, else hashed and cached."""
    path = Path(path).resolve()
    cache_file = cache_file or default_cache_file()
    stat = path.stat()
    key = str(path)
    entries = _load(cache_file)
    hit = entries.get(key)
    if isinstance(hit, dict) and hit.get("size") == stat.st_size and hit.get("mtime_ns") == stat.st_mtime_ns:
        return str(hit["sha256"])
    digest = file_sha256(path)
    entries[key] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest}
    try:
        write_text_atomic(cache_file, json.dumps(entries, indent=1, sort_keys=True))
    except OSError:
        pass  # a read-only cache location only costs the next hash
    return digest
