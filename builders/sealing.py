"""Which frames the sealed final test holds (``build --seal-final FRACTION``).

The final split exists to stop a model from being tuned on the numbers it is ranked by (the hidden final
test of Sensorium and Algonauts). A sample's references are the caption, image and targets of its frame,
and a frame's caption is the same on every repeat, so a frame can only be sealed for the whole dataset:

* **Sealed frames are global per stimulus.** Their captions and images are null in the public ``stimuli``
  config, their ``patches`` and ``pooled`` targets are NaN in the public ``targets`` config, and their rows
  go only to the maintainer folder (:mod:`neurrator_bench.schemas.sealed_references`).
* In every task, a **test** sample whose frame is sealed goes to the ``final`` split (its spikes stay public;
  its ``caption`` is null); a **train or validation** window whose span, extended back by the guard band's
  response latency, overlaps the display of a sealed frame is dropped (counted as ``sealed:<task>`` in the
  manifest's ``dropped``), so no public training input holds the response to sealed content.
* **Clusters, not single frames**: frames are sealed in blocks of ``block_frames`` movie frames (30 = 1 s,
  the blocks the score intervals resample), scene images one by one, so most sealed frames are far from any
  public frame (adjacent movie frames carry near-identical captions); the edge frames of a block still
  resemble their public neighbours.
* **The draw**: per stimulus, a seeded permutation of its clusters; tasks are visited from the smallest
  test set to the largest (ties by name) and each takes clusters that hold its test frames, in permutation
  order, until at least ``ceil(fraction * n)`` of its ``n`` test frames are sealed. Smaller test sets are
  served first so that a large one (all 900 frames of a repeat holdout) takes its share from clusters the
  smaller ones already sealed.

Our choices, not the paper's (which has no sealed test): the global sealing (consequence: in a repeat-holdout
task the final frames are never trained on, so its final test is a frame holdout, unlike its live test), the
30-frame clusters, the smallest-first draw and the default seed. The seal prevents inadvertent
tuning on the test references, nothing more: the movie is public (Allen) and the captioner and target model are
pinned, so anyone can rebuild the references by building without the seal. Final entries are therefore written
only by the maintainer from predictions, and publish no per-frame values.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence

import numpy as np

from neurrator_bench.schemas.sealed_references import SealedFinal
from neurrator_bench.scorers.frame_stats import DEFAULT_BLOCK_FRAMES
from neurrator_bench.tasks import SCENES, TaskSpec

SEAL_SEED = 20261204
"""Default seed of the cluster draw (our choice; distinct from the holdout seed 42)."""
MAX_FRACTION = 0.5


def frame_clusters(stimulus: str, n_frames: int, block_frames: int) -> np.ndarray:
    """Cluster of each frame: ``frame // block_frames`` for movies, the image itself for natural scenes."""
    frames = np.arange(n_frames, dtype=np.int64)
    return frames if stimulus == SCENES else frames // block_frames


def sealed_frames(
    tasks: Sequence[TaskSpec],
    n_frames: Mapping[str, int],
    *,
    fraction: float,
    seed: int = SEAL_SEED,
    block_frames: int = DEFAULT_BLOCK_FRAMES,
) -> SealedFinal:
    """Draw the sealed frames of every stimulus (module doc).

    Args:
        tasks: Tasks being built.
        n_frames: stimulus -> number of frames of its stimulus set.
        fraction: Share of each task's test frames to seal, in (0, 0.5].
        seed: Seed of the cluster permutations (one stream per stimulus, keyed by its name's crc32).
        block_frames: Movie frames per cluster.

    Returns:
        The manifest record (frames per stimulus, the fraction of each task's test frames sealed).

    Raises:
        ValueError: A fraction outside (0, 0.5], or a task whose whole test set would be sealed.
    """
    if not 0 < fraction <= MAX_FRACTION:
        raise ValueError(f"--seal-final: expected a fraction in (0, {MAX_FRACTION}], found {fraction}")
    frames_out: dict[str, list[int]] = {}
    task_fraction: dict[str, float] = {}
    task_clusters: dict[str, int] = {}
    for stimulus in sorted(n_frames):
        n = int(n_frames[stimulus])
        users = [(t, tf) for t in tasks if (tf := t.test_frames(stimulus, n)) is not None and tf.size]
        if not users:
            continue
        cluster = frame_clusters(stimulus, n, block_frames)
        order = np.random.default_rng([seed, zlib.crc32(stimulus.encode())]).permutation(int(cluster.max()) + 1)
        sealed = np.zeros(n, dtype=bool)
        for _task, tf in sorted(users, key=lambda u: (u[1].size, u[0].name)):
            need = math.ceil(fraction * tf.size - 1e-9)
            touched = np.zeros(int(cluster.max()) + 1, dtype=bool)
            touched[cluster[tf]] = True
            for c in order:
                if sealed[tf].sum() >= need:
                    break
                if touched[c]:
                    sealed[cluster == c] = True
        for task, tf in users:
            share = float(sealed[tf].mean())
            if share >= 1.0:
                raise ValueError(
                    f"--seal-final {fraction}: every test frame of task {task.name} ({stimulus}) would be sealed; "
                    "give a smaller fraction"
                )
            task_fraction[task.name] = round(share, 6)
            task_clusters[task.name] = int(np.unique(cluster[tf][sealed[tf]]).size)
        frames_out[stimulus] = np.flatnonzero(sealed).astype(int).tolist()
    return SealedFinal(
        fraction=fraction,
        seed=seed,
        block_frames=block_frames,
        frames=frames_out,
        task_fraction=dict(sorted(task_fraction.items())),
        task_clusters=dict(sorted(task_clusters.items())),
    )
