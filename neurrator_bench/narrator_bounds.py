"""Where a narrator's scores can lie on a task: the narrator applied to the true and to shuffled patches.

Every model's SBERT score mixes two things: how well its patches match the truth and how well the narrator
turns patches into sentences. These two entries separate them, on exactly the test samples of a task:

- **narrator ceiling** (``<narrator>-on-true-patches``): each test sample's *true* patch targets are narrated:
  what this narrator says given perfect patches (a decoder is not guaranteed to stay below it, but a decoder
  far below it is losing content the narrator could use);
- **narrator floor** (``<narrator>-on-shuffled-patches``): each sample gets the true patches of another test
  sample showing a different frame (a seeded draw), the narrator's analogue of A.5's shuffled pairing: the
  score of a decoder whose patches are right about the movie but not about the moment.

The regime table (:mod:`neurrator_bench.regime_table`) adds a third, decoder-side floor: a hippocampus-only
*subset query* of the all-unit model (the simulator's hippocampus is untuned; this masks the other units, it is
not a model trained on hippocampal units alone). Entries here are scored by the same
:func:`neurrator_bench.scoring.score_predictions` as every model and carry kind ``narrator-bound``, which the
leaderboard shows as a reference level, never ranked.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from neurrator_bench.dataset_access import DatasetHandle, load_frame_targets, load_samples
from neurrator_bench.inference import PhraseCaptioner, make_narrator
from neurrator_bench.model_kinds import Prediction
from neurrator_bench.schemas.predictions import read_predictions, write_predictions
from neurrator_bench.schemas.result_entry import ModelMeta, ResultEntry, write_entry
from neurrator_bench.scoring import ScoringOptions, score_predictions
from neurrator_bench.text_embedding import SentenceEncoder

BOUNDS = ("true", "shuffled")


def other_frame_partner(frames: np.ndarray, seed: int) -> np.ndarray:
    """For each row, a row showing a different frame (a seeded permutation, repaired where it hits the same frame).

    Args:
        frames: ``(n,)`` frame key of each row (e.g. ``stimulus:frame``).
        seed: Seed of the draw.

    Returns:
        ``(n,)`` int64 partner rows with ``frames[partner] != frames``.

    Raises:
        ValueError: If every row shows the same frame.
    """
    frames = np.asarray(frames)
    if len(np.unique(frames)) < 2:
        raise ValueError("shuffled patches: every test sample shows the same frame; no partner exists")
    rng = np.random.default_rng(seed)
    partner = rng.permutation(len(frames))
    for _ in range(100):
        bad = np.flatnonzero(frames[partner] == frames)
        if bad.size == 0:
            return partner.astype(np.int64)
        partner[bad] = rng.integers(0, len(frames), bad.size)
    raise ValueError("shuffled patches: no partner with a different frame found after 100 passes")


def narrator_bounds(
    ds: DatasetHandle,
    task: str,
    *,
    narrator: str | PhraseCaptioner = "phrase",
    encoder: SentenceEncoder | None = None,
    options: ScoringOptions | None = None,
    seed: int = 0,
    results_dir: Path | None = None,
) -> dict[str, ResultEntry]:
    """Score the narrator on the task's true and shuffled test patches.

    Args:
        ds: The dataset.
        task: Task name.
        narrator: Narrator kind or instance (needs patches, e.g. ``"phrase"`` or ``"llava"``).
        encoder: SBERT encoder to reuse.
        options: Scoring options.
        seed: Seed of the shuffled pairing.
        results_dir: Also write the entries there (``<narrator>-on-<bound>-patches/...``).

    Returns:
        ``{"true": entry, "shuffled": entry}``.
    """
    narrate = make_narrator(narrator, ds, task) if isinstance(narrator, str) else narrator
    kind = narrate.provenance.get("kind", "narrator")
    samples = load_samples(ds, task, "test")
    stimuli = sorted(set(samples["stimulus"]))
    targets = {s: load_frame_targets(ds, s, patches=True) for s in stimuli}
    patches = np.stack(
        [targets[s].patches[f] for s, f in zip(samples["stimulus"], samples["frame"], strict=True)]
    ).astype(np.float32)
    keys = (samples["stimulus"].astype(str) + ":" + samples["frame"].astype(str)).to_numpy()
    orders = {"true": np.arange(len(samples)), "shuffled": other_frame_partner(keys, seed)}
    out: dict[str, ResultEntry] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for bound, order in orders.items():
            chosen = patches[order]
            pred = Prediction(pooled=chosen.mean(axis=1), patches=chosen)
            path = write_predictions(
                Path(tmp) / f"{bound}.parquet",
                samples["sample_id"].tolist(),
                dataset_fingerprint=ds.task_fingerprint(task),
                task=task,
                embedding=pred.pooled,
                narration=narrate(pred),
                narrator=narrate.provenance,
            )
            meta = ModelMeta(name=f"{kind}-on-{bound}-patches", kind="narrator-bound")
            entry = score_predictions(
                read_predictions(path),
                ds,
                task,
                model=meta,
                encoder=encoder or SentenceEncoder(),
                options=options or ScoringOptions(seed=seed),
            )
            if results_dir is not None:
                write_entry(results_dir, entry)
            out[bound] = entry
    return out
