"""``neurrator-bench baselines run``: train every baseline and score it through the same ``evaluate`` path."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from tqdm.auto import tqdm

from neurrator_bench.dataset_access import DatasetHandle, open_dataset
from neurrator_bench.evaluation import evaluate_model
from neurrator_bench.schemas.result_entry import ResultEntry
from neurrator_bench.scoring import ScoringOptions
from neurrator_bench.text_embedding import DEFAULT_SENTENCE_MODEL, SentenceEncoder

from .registry import BASELINES, get_trainer

logger = logging.getLogger(__name__)


def run_baselines(
    dataset: str | Path | DatasetHandle,
    task: str,
    results_dir: Path,
    *,
    models_dir: Path,
    names: Sequence[str] | None = None,
    seed: int = 0,
    options: ScoringOptions | None = None,
    encoder: SentenceEncoder | None = None,
    progress: bool = False,
) -> dict[str, ResultEntry]:
    """Train each baseline into ``models_dir/<name>`` and evaluate it into ``results_dir``.

    Args:
        dataset: Dataset folder, Hub id or handle.
        task: Task name.
        results_dir: Where entries go (``<model>/<revision>/<task>.json``).
        models_dir: Where model directories go (replaced if present).
        names: Baselines to run (default: all registered).
        seed: Training and scoring seed.
        options: Scoring options.
        encoder: Shared SBERT encoder.
        progress: Progress bar over baselines.

    Returns:
        baseline name -> its result entry.
    """
    ds = dataset if isinstance(dataset, DatasetHandle) else open_dataset(dataset)
    encoder = encoder or SentenceEncoder(DEFAULT_SENTENCE_MODEL)
    out: dict[str, ResultEntry] = {}
    for name in tqdm(list(names or BASELINES.names()), desc="baselines", disable=not progress):
        model_dir = get_trainer(name)(ds, task, Path(models_dir) / name, seed=seed, overwrite=True)
        out[name] = evaluate_model(
            model_dir, ds, task, results_dir=results_dir, seed=seed, options=options, encoder=encoder
        )
        logger.info("baseline %s scored", name)
    return out
