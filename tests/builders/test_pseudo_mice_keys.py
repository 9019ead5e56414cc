"""Pseudo-mice align sessions by (repeat, frame, k-th bin of the frame), robust to frame-rate drift."""

from __future__ import annotations

import numpy as np

from neurrator_bench.builders.bin_samples import bin_samples, segments
from neurrator_bench.builders.presentations import index_presentations
from neurrator_bench.builders.pseudo_mice import _frame_bin_index
from tests.builders.test_bin_samples import BIN, FRAME_S, movie_table


def keys_of(frame_s: float) -> tuple[dict, np.ndarray]:
    table = movie_table(900, 2)
    table["start_time"] = 10.0 + np.arange(len(table)) * frame_s
    table["stop_time"] = table["start_time"] + frame_s
    s = bin_samples(segments(index_presentations(table, "natural_movie_one"), BIN), BIN, 20, "centred", 1)
    return _frame_bin_index(s.repeat, s.frame), s


def test_a_slightly_slower_session_still_matches_almost_every_bin() -> None:
    fast, a = keys_of(FRAME_S)
    slow, b = keys_of(FRAME_S * 1.0005)  # 0.05 % slower display: ~1.8 bins of drift over a repeat
    matched = set(fast) & set(slow)
    assert len(matched) >= 0.97 * min(len(fast), len(slow))
    # the old key (repeat, frame, bin index) loses far more
    old = {(r, f, x) for r, f, x in zip(a.repeat, a.frame, a.bin_index, strict=True)} & {
        (r, f, x) for r, f, x in zip(b.repeat, b.frame, b.bin_index, strict=True)
    }
    assert len(old) < 0.85 * len(matched)
    # every matched key is the same frame of the same repeat in both sessions
    for key in list(matched)[:200]:
        assert a.frame[fast[key]] == b.frame[slow[key]] == key[1]
