"""Kill a build in the middle: the second session raises, as a KeyboardInterrupt would."""

from __future__ import annotations

from neurrator_bench.builders import build as build_mod


def die_on_second_session(monkeypatch) -> None:
    """Make the build's second ``build_session`` call raise ``KeyboardInterrupt``; ``monkeypatch.undo()`` heals it."""
    real = build_mod.build_session
    calls = {"n": 0}

    def dying(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed mid-build")
        return real(*args, **kwargs)

    monkeypatch.setattr(build_mod, "build_session", dying)
