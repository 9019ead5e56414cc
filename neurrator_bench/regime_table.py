"""The regime table: can a model narrate what it never saw? (paper Sec. 4.1, on the embedded default).

For each task (default: the hard regimes contiguous-middle, front-only and the identity holdout, plus sparse
random for the paper's ordering) it trains the reference model on the task's training split and reports, each
scored by the same code as every leaderboard entry (:func:`neurrator_bench.evaluation.evaluate_model`):

- the reference model with the **phrase** narrator (the offline generative narrator) and with the
  **retrieval** narrator (nearest training caption, a memorizer by construction), and their paired
  per-frame difference in SBERT matched (block bootstrap over frames, :func:`leaderboard.compare.paired_compare`);
- the same two rows and difference for each baseline in ``baselines`` (default ``ridge-patches``, a linear
  decoder of the patch targets, :mod:`neurrator_bench.baselines.ridge`);
- the narrator's **ceiling** and **floor** on the same test samples (:mod:`neurrator_bench.narrator_bounds`);
- a **hippocampus-only subset query** of the same model (the simulator's hippocampus is untuned): it should
  stay at the shuffled floor. This is a subset query of the all-unit model, not a model trained on
  hippocampal units alone;
- the fraction of narrations that are **novel**: sentences equal to no caption of the task's training frames
  (the issue's measure; the phrase narrator's grammar differs from the captions', so this alone says little);
- for the phrase narrator, the fraction that name a **new combination**: their place, lighting and objects
  (:func:`~neurrator_bench.reference_model.phrase_narrator.content_key`, positions dropped) equal those the
  same narrator says of no training frame's *true* patches, i.e. content the training set never showed together.

Columns: SBERT matched and its 95 % interval, the shuffled-caption floor (A.5's pairing, same narrations), the
gain over it with its interval, R@10 against its chance on the full stimulus gallery, and the novel fraction.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from neurrator_bench.dataset_access import DatasetHandle, load_frame_targets, split_frames
from neurrator_bench.schemas.predictions import read_predictions
from neurrator_bench.schemas.result_entry import ResultEntry
from neurrator_bench.scoring import ScoringOptions
from neurrator_bench.text_embedding import SentenceEncoder

HARD_REGIMES = ("nm1-contiguous-middle", "nm1-front-only", "scenes-identity-holdout")
REGIME_TASKS = ("nm1-sparse-random", *HARD_REGIMES)
# a linear decoder of the patch targets: on the embedded default it extrapolates to new combinations of
# the vocabulary better than the reference encoder does (README, "The embedded default")
REGIME_BASELINES = ("ridge-patches",)
COLUMNS = (
    "task",
    "model",
    "narrator",
    "sbert",
    "sbert_low",
    "sbert_high",
    "shuffled_floor",
    "gain",
    "gain_low",
    "gain_high",
    "r10",
    "r10_chance",
    "novel",
    "new_combination",
)


@dataclass
class RegimeResult:
    """The table, the paired phrase-minus-retrieval differences and every entry behind them."""

    table: pd.DataFrame
    paired: pd.DataFrame
    entries: list[ResultEntry]


def _metric(entry: ResultEntry, name: str) -> tuple[float, float | None, float | None, float | None]:
    for m in entry.metrics:
        if m.name == name:
            return m.value, m.ci_low, m.ci_high, m.chance
    return float("nan"), None, None, None


def training_captions(ds: DatasetHandle, frames: dict[str, np.ndarray]) -> set[str]:
    """Captions of the given frames (:func:`~neurrator_bench.dataset_access.split_frames` of the training split)."""
    out: set[str] = set()
    for stimulus, shown in frames.items():
        out |= set(load_frame_targets(ds, stimulus).captions[shown].tolist())
    return out


def training_combinations(ds: DatasetHandle, frames: dict[str, np.ndarray], narrate: Callable) -> set[str]:
    """Content keys of the phrase narrator's sentences on the true patches of the given (training) frames."""
    from neurrator_bench.model_kinds import Prediction
    from neurrator_bench.reference_model.phrase_narrator import content_key

    out: set[str] = set()
    for stimulus, shown in frames.items():
        patches = load_frame_targets(ds, stimulus, patches=True).patches[shown].astype(np.float32)
        out |= {content_key(t) for t in narrate(Prediction(pooled=patches.mean(axis=1), patches=patches))}
    return out


def _narration_measures(predictions: Path, seen: set[str], combos: set[str] | None) -> tuple[float, float]:
    """``(novel, new_combination)`` fractions of a predictions file's narrations (NaN when not defined)."""
    from neurrator_bench.reference_model.phrase_narrator import content_key

    narration = read_predictions(predictions).narration or []
    if not narration:
        return float("nan"), float("nan")
    novel = float(np.mean([text not in seen for text in narration]))
    if combos is None:
        return novel, float("nan")
    return novel, float(np.mean([content_key(text) not in combos for text in narration]))


def _row(
    entry: ResultEntry, task: str, model: str, narrator: str, novel: float, *, new_combination: float = float("nan")
) -> dict:
    sbert, lo, hi, _ = _metric(entry, "sbert_matched")
    floor = _metric(entry, "sbert_shuffled_floor")[0]
    gain, glo, ghi, _ = _metric(entry, "sbert_delta_shuffled")
    r10, _, _, chance = _metric(entry, "retrieval_r10")
    values = (task, model, narrator, sbert, lo, hi, floor, gain, glo, ghi, r10, chance, novel, new_combination)
    return dict(zip(COLUMNS, values, strict=True))


def _novel(predictions: Path, seen: set[str]) -> float:
    narration = read_predictions(predictions).narration or []
    return float(np.mean([text not in seen for text in narration])) if narration else float("nan")


def regime_table(
    ds: DatasetHandle,
    models_dir: Path,
    *,
    tasks: Sequence[str] = REGIME_TASKS,
    baselines: Sequence[str] = REGIME_BASELINES,
    baseline_tasks: Sequence[str] | None = None,
    seed: int = 0,
    options: ScoringOptions | None = None,
    encoder: SentenceEncoder | None = None,
    results_dir: Path | None = None,
    echo: Callable[[str], None] = lambda _msg: None,
) -> RegimeResult:
    """Train the reference model per task and fill the regime table (module doc).

    Args:
        ds: A dataset in the embedded target space (the phrase narrator needs it).
        models_dir: Where the per-task reference models go (``<models_dir>/neurrator-reference-<task>``);
            an existing model directory is reused.
        tasks: Tasks (rows), each trained and scored.
        baselines: Registered baselines that predict patches, trained per task into
            ``<models_dir>/<baseline>-<task>`` and narrated by both narrators beside the reference model.
        baseline_tasks: The tasks that get the baseline rows (default: every task).
        seed: Training, scoring and shuffle seed.
        options: Scoring options. The cell-type probe (not this table's question) runs without its permutation
            test, and on the reference model's phrase-narrator entry only; every other row lists it as skipped.
        encoder: SBERT encoder to reuse.
        results_dir: Also write every entry there.
        echo: Receives one line per finished step.

    Returns:
        The table, the paired differences and the entries.
    """
    from neurrator_bench.baselines.registry import BASELINES, get_trainer
    from neurrator_bench.evaluation import evaluate_model
    from neurrator_bench.inference import make_narrator
    from neurrator_bench.leaderboard.compare import paired_compare
    from neurrator_bench.narrator_bounds import narrator_bounds
    from neurrator_bench.reference_model.train_on_dataset import train_reference

    for name in baselines:
        BASELINES.get(name)  # an unknown name fails here, before any model is trained (KeyError lists the known)
    stray = sorted(set(baseline_tasks or ()) - set(tasks))
    if stray:
        raise ValueError(f"baseline_tasks: {stray} are not among the tasks {list(tasks)}")
    # the cell-type probe answers another question (Sec. 5) and costs about a quarter of each row's scoring: it is
    # scored (without its permutation test) on the reference model's default-narrator entry only
    probe = dataclasses.replace(options or ScoringOptions(seed=seed), celltype_permutations=0, celltype=True)
    opts = dataclasses.replace(probe, celltype=False)
    encoder = encoder or SentenceEncoder()
    rows: list[dict] = []
    paired: list[dict] = []
    entries: list[ResultEntry] = []
    with tempfile.TemporaryDirectory() as tmp:
        for task in tasks:
            train_frames = split_frames(ds, task, "train")
            seen = training_captions(ds, train_frames)
            model_dir = Path(models_dir) / f"neurrator-reference-{task}"
            if not (model_dir / "config.json").is_file():
                train_reference(ds, task, model_dir, name="neurrator-reference", seed=seed)
            echo(f"[regimes] {task}: reference model trained")
            narrators = {kind: make_narrator(kind, ds, task) for kind in ("phrase", "retrieval")}
            combos = training_combinations(ds, train_frames, narrators["phrase"])
            decoders = {"neurrator-reference": model_dir}
            for name in baselines if baseline_tasks is None or task in baseline_tasks else ():
                baseline_dir = decoders[f"baseline-{name}"] = Path(models_dir) / f"{name}-{task}"
                if not (baseline_dir / "config.json").is_file():
                    get_trainer(name)(ds, task, baseline_dir, seed=seed)
            for label, decoder_dir in decoders.items():
                by_narrator: dict[str, ResultEntry] = {}
                for kind, narrate in narrators.items():
                    kept = Path(tmp) / f"{task}-{label}-{kind}.parquet"
                    entry = evaluate_model(
                        decoder_dir,
                        ds,
                        task,
                        narrator=narrate,
                        seed=seed,
                        options=probe if (label, kind) == ("neurrator-reference", "phrase") else opts,
                        encoder=encoder,
                        results_dir=results_dir,
                        predictions_out=kept,
                    )
                    by_narrator[kind] = entry
                    entries.append(entry)
                    novel, new = _narration_measures(kept, seen, combos if kind == "phrase" else None)
                    rows.append(_row(entry, task, label, kind, novel, new_combination=new))
                for diff in paired_compare(
                    by_narrator["phrase"], by_narrator["retrieval"], ["sbert_matched"], n_boot=opts.n_boot, seed=seed
                ):
                    paired.append(
                        {
                            "task": task,
                            "model": label,
                            "metric": diff.metric,
                            "phrase_minus_retrieval": diff.difference,
                            "low": diff.low,
                            "high": diff.high,
                            "p_two_sided": diff.p_two_sided,
                            "n_frames": diff.n_frames,
                        }
                    )
            hippo_out = Path(tmp) / f"{task}-hippocampus.parquet"
            hippo = evaluate_model(
                model_dir,
                ds,
                task,
                narrator=narrators["phrase"],
                unit_filters={"region_group": "hippocampus"},
                seed=seed,
                options=opts,
                encoder=encoder,
                results_dir=results_dir,
                predictions_out=hippo_out,
            )
            entries.append(hippo)
            novel, new = _narration_measures(hippo_out, seen, combos)
            rows.append(
                _row(
                    hippo,
                    task,
                    "neurrator-reference @hippocampus (subset query)",
                    "phrase",
                    novel,
                    new_combination=new,
                )
            )
            for bound, entry in narrator_bounds(
                ds,
                task,
                narrator=narrators["phrase"],
                encoder=encoder,
                options=opts,
                seed=seed,
                results_dir=results_dir,
            ).items():
                entries.append(entry)
                rows.append(_row(entry, task, f"(no decoder: {bound} patches)", "phrase", float("nan")))
            echo(f"[regimes] {task}: scored")
    return RegimeResult(table=pd.DataFrame(rows, columns=list(COLUMNS)), paired=pd.DataFrame(paired), entries=entries)


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def render_regime_table(result: RegimeResult) -> str:
    """The table as GitHub markdown (what README's regime table is pasted from)."""
    lines = [
        "| task | model | narrator | SBERT matched [95% CI] | shuffled floor | gain [95% CI] | R@10 (chance) | novel "
        "| new combination |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result.table.itertuples(index=False):
        lines.append(
            f"| {r.task} | {r.model} | {r.narrator} | {_fmt(r.sbert)} [{_fmt(r.sbert_low)}, {_fmt(r.sbert_high)}] | "
            f"{_fmt(r.shuffled_floor)} | {_fmt(r.gain)} [{_fmt(r.gain_low)}, {_fmt(r.gain_high)}] | "
            f"{_fmt(r.r10)} ({_fmt(r.r10_chance, 4)}) | {_fmt(r.novel, 2)} | {_fmt(r.new_combination, 2)} |"
        )
    lines += [
        "",
        "`@hippocampus (subset query)`: the all-unit model with every non-hippocampal unit masked (a subset query, "
        "not a model trained on hippocampal units). `(no decoder: ...)`: the phrase narrator on each test sample's "
        "true patch targets (its ceiling on this test set) or on another test frame's true patches (its floor).",
    ]
    if len(result.paired):
        lines += [
            "",
            "| task | model | phrase - retrieval SBERT (paired over frames) [95% CI] | p (two-sided) | frames |",
        ]
        lines.append("|---|---|---|---|---|")
        for r in result.paired.itertuples(index=False):
            lines.append(
                f"| {r.task} | {r.model} | {_fmt(r.phrase_minus_retrieval)} [{_fmt(r.low)}, {_fmt(r.high)}] | "
                f"{_fmt(r.p_two_sided, 4)} | {r.n_frames} |"
            )
    return "\n".join(lines) + "\n"
