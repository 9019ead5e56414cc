"""Template-matching frame identification: which movie bin does a held-out response belong to?

The real-data sanity track (DESIGN "The embedded default"; paper Sec. 4.2, Fig. 4 by region and
population size) asks a deliberately simple decoder to identify the movie second from a population
response. Inputs are spike counts arranged as ``(n_repeats, n_frames, n_units)``: repeat ``r`` of
the stimulus, movie bin (frame index) ``f``, unit ``u``, in spikes per bin.

Decoder. The template of frame ``f`` is the mean over training repeats, ``T[f] = mean_r train[r, f]``
(spikes per bin, shape ``(n_frames, n_units)``). Each held-out response ``x = test[r, f]`` is assigned
to the frame whose template it matches best:

- ``metric="euclidean"`` (default): smallest Euclidean distance after z-scoring every unit with
  the mean and standard deviation of the *training* counts over all (repeat, frame) samples. A unit
  whose training counts are constant gets standard deviation 1; it adds the same amount to every
  distance and never changes a decision. On the real session 791319847 this reproduces the DESIGN
  reference (30 random VISp units: ~80 % of held-out seconds).
- ``metric="correlation"``: highest Pearson correlation across units between ``x`` and ``T[f]``.
  A constant vector (zero variance across units) has correlation 0 with everything.

Ties (equal scores, compared exactly) go to the lowest frame index. Distances and correlations are
computed per pair without algebraic shortcuts, so equal inputs give bit-equal scores. The decoder
is deterministic: no randomness is involved, hence no seed.
"""

from __future__ import annotations

import numpy as np

from neurrator_bench.scorers.metric_registry import MetricSpec, as_finite_array, register_metric

DECODER_METRICS = ("euclidean", "correlation")

register_metric(
    MetricSpec(
        name="frame_identification_accuracy",
        higher_is_better=True,
        value_range=(0.0, 1.0),
        chance="1/n_frames",
        paper_section="Sec. 4.2 (Fig. 4, real-data track)",
        description="Fraction of held-out (repeat, frame) responses that a nearest-template decoder assigns "
        "to their true movie frame (templates = mean over training repeats).",
    )
)


def _check_counts(name: str, values: object) -> np.ndarray:
    """Validate a ``(n_repeats, n_frames, n_units)`` count array; returns float64 (never modified)."""
    arr = as_finite_array(name, values, ndim=3)
    if np.any(arr < 0):
        first = tuple(int(i) for i in np.argwhere(arr < 0)[0])
        raise ValueError(f"{name}: expected non-negative spike counts, found {arr[first]} at index {first}")
    return arr


def _centred_unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` (``(..., n_units)``) centred and scaled to unit norm; constant rows become 0."""
    centred = x - x.mean(axis=-1, keepdims=True)
    norm = np.sqrt(np.sum(centred * centred, axis=-1, keepdims=True))
    return np.divide(centred, norm, out=np.zeros_like(centred), where=norm > 0)


def template_scores(train_counts: np.ndarray, test_counts: np.ndarray, *, metric: str = "euclidean") -> np.ndarray:
    """Similarity of every held-out response to every frame template (higher = better match).

    Args:
        train_counts: ``(r_train, n_frames, n_units)`` spike counts per bin of the training repeats.
        test_counts: ``(r_test, n_frames_test, n_units)`` spike counts per bin of the held-out repeats;
            ``n_frames_test`` may differ from ``n_frames`` (candidates are always the training frames).
        metric: ``"euclidean"`` (score = minus the distance on training-z-scored counts) or
            ``"correlation"`` (score = Pearson r across units). See the module docstring.

    Returns:
        ``(r_test, n_frames_test, n_frames)`` float64 scores; entry ``[r, f, g]`` compares
        ``test_counts[r, f]`` with template ``g``.

    Raises:
        ValueError: On a non-3-d, empty, non-finite or negative input, a unit-count mismatch, or an
            unknown ``metric``.
    """
    if metric not in DECODER_METRICS:
        raise ValueError(f"metric: expected one of {DECODER_METRICS}, found {metric!r}")
    train = _check_counts("train_counts", train_counts)
    test = _check_counts("test_counts", test_counts)
    if train.shape[2] != test.shape[2]:
        raise ValueError(
            f"train_counts and test_counts must have the same number of units (axis 2), "
            f"found {train.shape[2]} and {test.shape[2]}"
        )
    templates = train.mean(axis=0)  # (n_frames, n_units)
    scores = np.empty((test.shape[0], test.shape[1], templates.shape[0]), dtype=np.float64)
    if metric == "euclidean":
        flat = train.reshape(-1, train.shape[2])
        mean = flat.mean(axis=0)
        std = flat.std(axis=0)
        std = np.where(std > 0, std, 1.0)
        z_templates = (templates - mean) / std
        z_test = (test - mean) / std
        for r in range(test.shape[0]):
            diff = z_test[r][:, None, :] - z_templates[None, :, :]  # (n_frames_test, n_frames, n_units)
            scores[r] = -np.sqrt(np.sum(diff * diff, axis=-1))
    else:
        unit_templates = _centred_unit_rows(templates)
        unit_test = _centred_unit_rows(test)
        for r in range(test.shape[0]):
            prod = unit_test[r][:, None, :] * unit_templates[None, :, :]
            scores[r] = np.sum(prod, axis=-1)
    return scores


def template_decode(train_counts: np.ndarray, test_counts: np.ndarray, *, metric: str = "euclidean") -> np.ndarray:
    """Assign each held-out response to its best-matching frame template.

    Args:
        train_counts: ``(r_train, n_frames, n_units)`` spike counts per bin of the training repeats;
            templates are their mean over repeats.
        test_counts: ``(r_test, n_frames_test, n_units)`` spike counts per bin of held-out repeats.
        metric: ``"euclidean"`` (nearest template on training-z-scored counts, default) or
            ``"correlation"`` (highest Pearson r across units).

    Returns:
        ``(r_test, n_frames_test)`` int64 predicted frame indices in ``[0, n_frames)``; ties go to
        the lowest frame index.

    Raises:
        ValueError: See :func:`template_scores`.
    """
    scores = template_scores(train_counts, test_counts, metric=metric)
    return np.argmax(scores, axis=-1).astype(np.int64)  # argmax returns the first (lowest) maximum


def frame_identification_accuracy(pred: np.ndarray, true: np.ndarray) -> float:
    """Fraction of held-out responses decoded to their true frame.

    Args:
        pred: Predicted frame indices, any shape (e.g. ``(r_test, n_frames)`` from :func:`template_decode`).
        true: True frame indices, same shape as ``pred``; a ``(n_frames,)`` vector is broadcast
            over the leading axes of ``pred`` (every test repeat shows frames ``0..n_frames-1``).

    Returns:
        Accuracy in ``[0, 1]``; chance is ``1/n_frames``.

    Raises:
        ValueError: On empty or non-integer inputs, or shapes that neither match nor broadcast
            as described.
    """
    p = np.asarray(pred)
    t = np.asarray(true)
    for name, arr in (("pred", p), ("true", t)):
        if arr.size == 0:
            raise ValueError(f"{name}: expected a non-empty integer array, found shape {arr.shape}")
        if not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"{name}: expected integer frame indices, found dtype {arr.dtype}")
    if t.shape != p.shape:
        if t.ndim != 1 or p.shape[-1:] != t.shape:
            raise ValueError(
                f"true: expected shape {p.shape} (like pred) or ({p.shape[-1]},) broadcast over repeats, "
                f"found {t.shape}"
            )
        t = np.broadcast_to(t, p.shape)
    return float(np.mean(p == t))
