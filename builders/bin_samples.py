"""Per-bin samples: continuous 120 Hz segments of a stimulus and the window placed around each bin.

The paper's sample is one 120 Hz bin (A.2; its code cuts ``X[c - 10 : c + 10]`` around every bin ``c`` of
the recording and pairs it with "the stimulus frame the bin's center is aligned to"; Table A2 ranks "K=10
nearest test bins"; A.8 counts "7,186 NM1 test bins"). Here:

* A **segment** is a stretch of continuous display that samples never cross: one repeat of a movie
  (NM1: 900 frames, ~3,602 bins), one presentation of a natural scene (250 ms = 30 bins). Bin ``k`` of a
  segment is ``[t0 + k * bin_s, t0 + (k + 1) * bin_s)`` with ``t0`` the onset of the segment's first
  presentation and ``floor((stop_last - t0) / bin_s + 0.05)`` bins (timing jitter of a few microseconds must
  not cost a presentation its last bin). *Own choice*: the paper concatenates the
  recording; we keep windows inside one trial so that a sample never mixes two repeats (a test-repeat
  window never holds validation-repeat spikes) nor two scene presentations' display times.
* The **frame of bin** ``k`` is the frame whose presentation ``[start_time, stop_time)`` contains the bin's
  centre ``t0 + (k + 0.5) * bin_s`` (the paper's "frame the bin's center is aligned to"); bins in no
  presentation (gaps) get no sample.
* The **window** of reference bin ``b`` has ``w = window_bins`` bins: ``[b - w // 2, b - w // 2 + w)`` when
  ``centred`` (the paper's code, ``X[c - 10 : c + 10]``, the default) or ``[b, b + w)`` when ``causal``.
  Only windows that lie entirely inside the segment are kept ("minus the edges": a centred 20-bin window
  drops the first 10 and last 9 bins of each segment; the paper, which concatenates repeats, reports 7,186
  of its 2 x 3,600 NM1 test bins; its code keeps ``10 <= c < n - 10``, one bin fewer per stretch than here).
* **Stride** ``s``: reference bins ``b`` with ``b % s == 0`` (default 1: every bin, as the paper). A stride
  of 4 places about one sample per movie frame (a 30 Hz frame lasts 4.003 bins, so over a repeat a few
  frames get two samples and a few none): close to, not the same as, one sample per frame presentation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurrator_bench.builders.presentations import PresentationIndex
from neurrator_bench.tasks import SCENES

_EPS_BINS = 0.05
"""Tolerance (in bins) of the whole-bin count of a segment: measured 250 ms scene presentations last 29.99-30.01
bins, and a strict floor would give half of them 29 bins and one sample fewer at random. A segment keeps its last
bin when it reaches 95 % of it (the last bin may then end up to 0.4 ms after the presentation's stop time)."""


@dataclass(frozen=True)
class Segment:
    """One continuous stretch of display (a movie repeat or one scene presentation).

    Attributes:
        repeat: Repeat index of the segment (scenes: the presentation's occurrence index).
        t0: Start of bin 0 (s, session clock).
        n_bins: Whole bins in the segment.
        onset: (p,) start times of the segment's presentations, sorted.
        stop: (p,) stop times.
        frame: (p,) frame (movie frame or image index) of each presentation.
    """

    repeat: int
    t0: float
    n_bins: int
    onset: np.ndarray
    stop: np.ndarray
    frame: np.ndarray


@dataclass(frozen=True)
class BinSamples:
    """The per-bin samples of one stimulus in one session, in (segment, bin) order.

    Attributes:
        segment: (n,) index into the segment list each sample comes from.
        repeat: (n,) int32 repeat of the sample.
        frame: (n,) int32 frame displayed at the reference bin.
        bin_index: (n,) int32 reference bin within its segment.
        first_bin: (n,) int64 first bin of the window within its segment.
        t_start: (n,) float64 time of the window's first bin edge (s).
        onset: (n,) float64 start time of the presentation shown at the reference bin (s).
    """

    segment: np.ndarray
    repeat: np.ndarray
    frame: np.ndarray
    bin_index: np.ndarray
    first_bin: np.ndarray
    t_start: np.ndarray
    onset: np.ndarray

    def __len__(self) -> int:
        return int(self.repeat.size)

    def take(self, keep: np.ndarray) -> BinSamples:
        """The samples selected by a boolean mask or index array."""
        return BinSamples(**{k: getattr(self, k)[keep] for k in self.__dataclass_fields__})


def segments(pres: PresentationIndex, bin_s: float) -> list[Segment]:
    """Split a stimulus's presentations into segments (movie repeats; scene presentations).

    Args:
        pres: Indexed presentations (with stop times), sorted by onset.
        bin_s: Bin width (s).
    """
    if pres.stimulus == SCENES:
        groups = [np.array([i]) for i in range(pres.frame.size)]
    else:
        groups = [np.flatnonzero(pres.repeat == r) for r in np.unique(pres.repeat)]
    out = []
    for idx in groups:
        if idx.size == 0:
            continue
        t0 = float(pres.onset[idx[0]])
        n_bins = int(np.floor((float(pres.stop[idx[-1]]) - t0) / bin_s + _EPS_BINS))
        out.append(
            Segment(
                repeat=int(pres.repeat[idx[0]]),
                t0=t0,
                n_bins=max(n_bins, 0),
                onset=pres.onset[idx],
                stop=pres.stop[idx],
                frame=pres.frame[idx],
            )
        )
    return out


def shown_at(seg: Segment, bins: np.ndarray, bin_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Which presentation of the segment is on screen at the centre of each bin.

    Returns:
        ``(presentation, shown)``: (n,) index into the segment's presentations (clipped to 0 where none) and
        whether the bin's centre ``t0 + (k + 0.5) * bin_s`` lies inside that presentation's ``[start, stop)``.
    """
    centre = seg.t0 + (np.asarray(bins) + 0.5) * bin_s
    p = np.searchsorted(seg.onset, centre, side="right") - 1
    p = np.clip(p, 0, None)
    return p, (centre >= seg.onset[p]) & (centre < seg.stop[p])


def window_offset(window_bins: int, alignment: str) -> int:
    """Bins from a window's first bin to its reference bin (``window_bins // 2`` centred, 0 causal)."""
    if alignment == "centred":
        return window_bins // 2
    if alignment == "causal":
        return 0
    raise ValueError(f"alignment: expected 'centred' or 'causal', found {alignment!r}")


def bin_samples(segs: list[Segment], bin_s: float, window_bins: int, alignment: str, stride: int) -> BinSamples:
    """Every per-bin sample of the segments: reference bin, its frame, and its window's placement.

    Raises:
        ValueError: ``stride < 1`` or an unknown alignment.
    """
    if stride < 1:
        raise ValueError(f"stride: expected an integer >= 1 (bins between samples), found {stride}")
    offset = window_offset(window_bins, alignment)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in BinSamples.__dataclass_fields__}
    for s, seg in enumerate(segs):
        ref = np.arange(offset, seg.n_bins - window_bins + offset + 1, dtype=np.int64)
        ref = ref[ref % stride == 0]
        p, shown = shown_at(seg, ref, bin_s)
        ref, p = ref[shown], p[shown]
        first = ref - offset
        parts["segment"].append(np.full(ref.size, s, dtype=np.int64))
        parts["repeat"].append(np.full(ref.size, seg.repeat, dtype=np.int32))
        parts["frame"].append(seg.frame[p].astype(np.int32))
        parts["bin_index"].append(ref.astype(np.int32))
        parts["first_bin"].append(first)
        parts["t_start"].append(seg.t0 + first * bin_s)
        parts["onset"].append(seg.onset[p].astype(np.float64))
    dtypes = {"segment": np.int64, "repeat": np.int32, "frame": np.int32, "bin_index": np.int32, "first_bin": np.int64}
    return BinSamples(
        **{k: (np.concatenate(v) if v else np.zeros(0, dtype=dtypes.get(k, np.float64))) for k, v in parts.items()}
    )


def overlaps(start: np.ndarray, stop: np.ndarray, spans: np.ndarray) -> np.ndarray:
    """Whether each half-open interval ``[start, stop)`` overlaps any closed span ``[a, b]`` of ``spans``.

    Args:
        start: (n,) interval starts.
        stop: (n,) interval stops.
        spans: (k, 2) span starts and stops (any order, may overlap each other).
    """
    start, stop = np.asarray(start, dtype=np.float64), np.asarray(stop, dtype=np.float64)
    spans = np.asarray(spans, dtype=np.float64).reshape(-1, 2)
    if spans.size == 0 or start.size == 0:
        return np.zeros(start.shape, dtype=bool)
    order = np.argsort(spans[:, 0], kind="stable")
    a = spans[order, 0]
    b = np.maximum.accumulate(spans[order, 1])  # latest stop among spans starting at or before each
    # the last span starting before `stop` overlaps iff the furthest stop of spans up to it reaches `start`
    last = np.searchsorted(a, stop, side="left") - 1
    return (last >= 0) & (b[np.clip(last, 0, None)] >= start)
