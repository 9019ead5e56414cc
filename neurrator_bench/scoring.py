"""Score a predictions file against a dataset's test split (no model code runs here).

Steps: read the test split, align predictions to it by ``sample_id`` (missing or extra ids are errors),
then call the pure scorers of :mod:`neurrator_bench.scorers` and assemble a :class:`ResultEntry`.

Which samples feed which number:

* headline metrics (SBERT, retrieval, CKA, KNN purity) use the samples of recorded sessions; when the
  predictions cover only pseudo-mice, they use those;
* the cell-type probe (paper Sec. 5) and the cross-narration similarity matrix (Fig. 5) use the
  narrations of the ``pseudo-PV``/``pseudo-SST``/``pseudo-VIP`` samples when present;
* a test-split session with no prediction at all is recorded in ``skipped``; a session with some but not
  all of its samples predicted is an error.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from neurrator_bench import __version__
from neurrator_bench.dataset_access import DatasetHandle, load_frame_targets, load_samples, load_sessions
from neurrator_bench.errors import DatasetFormatError, PredictionsError
from neurrator_bench.provenance import environment, git_hash, utc_now
from neurrator_bench.schemas.predictions import Predictions
from neurrator_bench.schemas.result_entry import (
    DatasetRef,
    FrameScore,
    MetricResult,
    ModelMeta,
    ResultEntry,
    SimilarityMatrix,
    SkippedMetric,
    Subset,
)
from neurrator_bench.scorers.bootstrap import bootstrap_ci
from neurrator_bench.scorers.celltype_probe import celltype_classifier
from neurrator_bench.scorers.cka import linear_cka
from neurrator_bench.scorers.floor_pools import FLOOR_POOL_VERSION, OFF_TOPIC, WORD_SALAD
from neurrator_bench.scorers.intervals import enclose
from neurrator_bench.scorers.knn_purity import knn_purity
from neurrator_bench.scorers.metric_registry import get_metric
from neurrator_bench.scorers.retrieval import retrieval_ranks
from neurrator_bench.scorers.sbert import sbert_report
from neurrator_bench.scorers.similarity_matrix import cross_narration_similarity
from neurrator_bench.tasks import NM1, NM3, get_task
from neurrator_bench.text_embedding import DEFAULT_SENTENCE_MODEL, SentenceEncoder

logger = logging.getLogger(__name__)
CELL_LINES = ("PV", "SST", "VIP")
CKA_MAX_BOOT = 50
MOVIES = (NM1, NM3)


@dataclass(frozen=True)
class ScoringOptions:
    """Knobs of a scoring run (all recorded in the entry)."""

    seed: int = 0
    n_boot: int = 1000
    exclusion_frames: int = 0
    knn_k: int = 10
    celltype_permutations: int = 100


def _metric(
    name: str,
    values: np.ndarray,
    opts: ScoringOptions,
    *,
    statistic=np.mean,
    p_value=None,
    n_boot: int | None = None,
    chance: float | None = None,
) -> MetricResult:
    spec = get_metric(name)
    nb = opts.n_boot if n_boot is None else n_boot
    ci = bootstrap_ci(values, statistic, n_boot=nb, seed=opts.seed)
    return MetricResult(
        name=name,
        value=ci.value,
        ci_low=ci.low,
        ci_high=ci.high,
        n=ci.n,
        n_boot=nb,
        higher_is_better=spec.higher_is_better,
        p_value=p_value,
        chance=chance,
    )


def align(preds: Predictions, samples: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """Test samples covered by the predictions and the prediction row of each.

    Returns:
        ``(covered samples sorted by sample_id, prediction row index per sample, uncovered session ids)``.

    Raises:
        PredictionsError: Ids not in the test split, or a session only partly predicted.
    """
    row = {sid: i for i, sid in enumerate(preds.sample_ids)}
    known = set(samples["sample_id"])
    extra = sorted(set(row) - known)
    if extra:
        raise PredictionsError(f"{preds.path}: {len(extra)} sample_id(s) are not in the test split, e.g. {extra[:3]}")
    covered_sessions = sorted(set(samples.loc[samples["sample_id"].isin(row), "session_id"]))
    covered = samples[samples["session_id"].isin(covered_sessions)]
    missing = sorted(set(covered["sample_id"]) - set(row))
    if missing:
        raise PredictionsError(
            f"{preds.path}: {len(missing)} test sample_id(s) of the predicted sessions are missing, e.g. {missing[:3]}"
        )
    uncovered = sorted(set(samples["session_id"]) - set(covered_sessions))
    covered = covered.sort_values("sample_id", kind="stable").reset_index(drop=True)
    return covered, np.array([row[s] for s in covered["sample_id"]], dtype=np.int64), uncovered


def frame_ranks(
    pred: np.ndarray, targets: np.ndarray, frames: np.ndarray, *, exclusion_frames: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Rank of each query's true frame among the distinct test frames, in pooled target space.

    Candidates are the frames present in ``frames``. Frames whose targets are identical (e.g. a static
    shot) are the same point of target space: without an exclusion zone they are merged into one
    candidate, so retrieving any of them counts as retrieving the true frame. With an exclusion zone of
    +-k frames, candidates stay individual frames and every other frame within k of the true frame is
    removed (ties then count against the query, as in ``retrieval_ranks``).

    Args:
        pred: (n, d) predicted pooled targets.
        targets: (n_frames, d) pooled target of every frame of the stimulus.
        frames: (n,) true frame of each query.
        exclusion_frames: Half-width k of the temporal exclusion zone (0 = none).

    Returns:
        ``(ranks, n_candidates)``: (n,) int64 ranks (1 = best) and (n,) candidates each query competed with.
    """
    cand_frames = np.unique(frames)
    if exclusion_frames > 0:
        ranks = retrieval_ranks(
            pred,
            targets[cand_frames],
            np.searchsorted(cand_frames, frames),
            candidate_frames=cand_frames,
            exclusion_frames=exclusion_frames,
            candidate_ids=[str(f) for f in cand_frames],
        )
        near = np.abs(cand_frames[None, :] - frames[:, None]) <= exclusion_frames
        return ranks, len(cand_frames) - near.sum(axis=1) + 1
    unique, first, inverse = np.unique(targets[cand_frames], axis=0, return_index=True, return_inverse=True)
    true_index = inverse.reshape(-1)[np.searchsorted(cand_frames, frames)]
    ranks = retrieval_ranks(pred, unique, true_index, candidate_ids=[str(cand_frames[i]) for i in first])
    return ranks, np.full(len(frames), len(unique))


def _embedding_metrics(
    ds: DatasetHandle,
    samples: pd.DataFrame,
    emb: np.ndarray,
    opts: ScoringOptions,
    *,
    path: str,
    skipped: list[SkippedMetric],
) -> list[MetricResult]:
    """Retrieval, CKA and KNN purity; metrics that cannot be defined are appended to ``skipped``."""
    dim = ds.manifest.target_dim
    if emb.shape[1] != dim:
        raise PredictionsError(f"{path}: column 'embedding' has width {emb.shape[1]}; the dataset's targets have {dim}")
    true = np.zeros_like(emb)
    ranks = np.zeros(len(samples), dtype=np.int64)
    n_cand = np.zeros(len(samples), dtype=np.int64)
    for stimulus in sorted(set(samples["stimulus"])):
        sel = np.flatnonzero((samples["stimulus"] == stimulus).to_numpy())
        frames = samples["frame"].to_numpy()[sel]
        targets = load_frame_targets(ds, stimulus).pooled
        true[sel] = targets[frames]
        ranks[sel], n_cand[sel] = frame_ranks(
            emb[sel], targets, frames, exclusion_frames=opts.exclusion_frames if stimulus in MOVIES else 0
        )
    out = [
        _metric(
            f"retrieval_r{k}", (ranks <= k).astype(float), opts, chance=float(np.mean(np.minimum(k, n_cand) / n_cand))
        )
        for k in (1, 5, 10)
    ]
    out.append(
        _metric(
            "retrieval_median_rank",
            ranks.astype(float),
            opts,
            statistic=np.median,
            chance=float(np.median((n_cand + 1) / 2)),
        )
    )
    if np.ptp(emb, axis=0).max() == 0:
        skipped.append(SkippedMetric(name="cka_linear", reason="predictions are identical for every sample"))
    else:
        # Resampling duplicates rows, which biases linear CKA upward; the percentile interval of the
        # replicates is therefore re-centred on the estimate (its width is kept, its bias removed).
        nb = min(opts.n_boot, CKA_MAX_BOOT)
        ci = bootstrap_ci((emb, true), linear_cka, n_boot=nb, seed=opts.seed, vectorized=False)
        shift = ci.value - (ci.low + ci.high) / 2
        low, high = enclose(ci.value, max(0.0, ci.low + shift), min(1.0, ci.high + shift))
        out.append(
            MetricResult(
                name="cka_linear",
                value=ci.value,
                ci_low=low,
                ci_high=high,
                n=ci.n,
                n_boot=nb,
                higher_is_better=True,
            )
        )
    labels = (samples["stimulus"] + ":" + samples["frame"].astype(str)).to_numpy()
    value = knn_purity(emb, labels, k=opts.knn_k, sample_ids=samples["sample_id"].tolist())
    out.append(MetricResult(name="knn_purity", value=value, n=len(samples), higher_is_better=True))
    return out


def _narration_metrics(
    samples: pd.DataFrame, narr: list[str], encoder: SentenceEncoder, opts: ScoringOptions
) -> tuple[list[MetricResult], list[FrameScore]]:
    narr_emb = encoder.encode(narr)
    ref_emb = encoder.encode(samples["caption"].tolist())
    report = sbert_report(
        narr_emb,
        ref_emb,
        encoder.encode(list(WORD_SALAD)),
        encoder.encode(list(OFF_TOPIC)),
        sample_ids=samples["sample_id"].tolist(),
        narrations=narr,
        seed=opts.seed,
    )
    p = {"word_salad": report.p_word_salad, "off_topic": report.p_off_topic, "shuffled": report.p_shuffled}
    out = []
    for name, values in report.per_sample().items():
        floor = next((k for k in p if name.endswith(f"_{k}") or name.endswith(f"_{k}_floor")), None)
        out.append(_metric(name, values, opts, p_value=p[floor] if floor and name.startswith("sbert_delta") else None))
    out.append(
        MetricResult(
            name="distinct_narration_ratio", value=report.distinct_narration_ratio, n=len(narr), higher_is_better=True
        )
    )
    frame_df = pd.DataFrame({"stimulus": samples["stimulus"], "frame": samples["frame"], "v": report.matched})
    per_frame = [
        FrameScore(stimulus=s, frame=int(f), metric="sbert_matched", value=float(g["v"].mean()), n=len(g))
        for (s, f), g in frame_df.groupby(["stimulus", "frame"], sort=True)
    ]
    return out, per_frame


def _celltype(
    samples: pd.DataFrame, narr: list[str], lines: dict[str, str], encoder: SentenceEncoder, opts: ScoringOptions
) -> tuple[list[MetricResult], SimilarityMatrix | None, list[SkippedMetric]]:
    pops = {s: c for s, c in lines.items() if c in CELL_LINES and s in set(samples["session_id"])}
    if len(set(pops.values())) < 2:
        reason = "needs narrations of at least two of pseudo-PV, pseudo-SST, pseudo-VIP in the predictions"
        return [], None, [SkippedMetric(name="celltype_accuracy", reason=reason)]
    sel = samples["session_id"].isin(pops).to_numpy()
    sub = samples[sel].reset_index(drop=True)
    emb = encoder.encode([narr[i] for i in np.flatnonzero(sel)])
    labels = sub["session_id"].map(pops).to_numpy()
    groups = (sub["stimulus"] + ":" + sub["frame"].astype(str)).to_numpy()
    with threadpool_limits(1):  # many small fits: one BLAS thread each is ~10x faster on few cores
        res = celltype_classifier(emb, labels, groups=groups, n_permutations=opts.celltype_permutations, seed=opts.seed)
    metric = MetricResult(
        name="celltype_accuracy",
        value=res.accuracy,
        n=len(sub),
        higher_is_better=True,
        p_value=res.p_value,
        chance=res.chance,
    )
    key = sub["stimulus"] + "/" + sub["repeat"].astype(str) + "/" + sub["frame"].astype(str)
    by_pop = {}
    for session, line in sorted(pops.items(), key=lambda kv: kv[1]):
        m = (sub["session_id"] == session).to_numpy()
        by_pop[line] = pd.Series(list(emb[m]), index=key[m].to_numpy())
    common = sorted(set.intersection(*(set(s.index) for s in by_pop.values())))
    if len(common) < 2:
        return [metric], None, []
    names, matrix = cross_narration_similarity({k: np.stack(v.loc[common].to_list()) for k, v in by_pop.items()})
    return [metric], SimilarityMatrix(names=list(names), values=np.round(matrix, 6).tolist()), []


def score_predictions(
    preds: Predictions,
    ds: DatasetHandle,
    task: str,
    *,
    model: ModelMeta,
    subset: Subset | None = None,
    encoder: SentenceEncoder | None = None,
    options: ScoringOptions | None = None,
) -> ResultEntry:
    """Score aligned predictions and build the result entry.

    Args:
        preds: A validated predictions file.
        ds: The dataset it was made for.
        task: Task name.
        model: Model metadata for the entry.
        subset: Units the model was restricted to (recorded).
        encoder: SBERT encoder (default all-MiniLM-L6-v2, offline), created only when narrations exist.
        options: Seeds, bootstrap size, exclusion zone, KNN k, permutations.

    Raises:
        DatasetFormatError: The dataset lacks the task.
        PredictionsError: Fingerprint/task mismatch, bad ids, wrong embedding width.
    """
    opts = options or ScoringOptions()
    start = time.perf_counter()
    spec = get_task(task)
    if task not in ds.manifest.task_versions:
        raise DatasetFormatError(f"dataset {ds.repo} has no task {task!r}; tasks: {', '.join(ds.tasks())}")
    if preds.dataset_fingerprint != ds.task_fingerprint(task):
        raise PredictionsError(
            f"{preds.path}: made for task fingerprint {preds.dataset_fingerprint}, "
            f"but task {task} of {ds.repo} has {ds.task_fingerprint(task)}"
        )
    if preds.task != task:
        raise PredictionsError(f"{preds.path}: made for task {preds.task!r}, not {task!r}")
    samples, rows, uncovered = align(preds, load_samples(ds, task, "test"))
    sessions = load_sessions(ds).set_index("session_id")
    kinds = sessions["kind"].to_dict()
    lines = sessions.loc[sessions["kind"] == "pseudo-mouse", "cell_line"].to_dict()
    skipped = [SkippedMetric(name=f"session:{s}", reason="no predictions for this session") for s in uncovered]
    headline = ~samples["session_id"].map(kinds).eq("pseudo-mouse").to_numpy()
    if not headline.any():
        headline[:] = True
    head = samples[headline].reset_index(drop=True)
    metrics: list[MetricResult] = []
    per_frame: list[FrameScore] = []
    similarity = None
    if preds.embedding is not None:
        metrics += _embedding_metrics(
            ds, head, preds.embedding[rows][headline], opts, path=str(preds.path), skipped=skipped
        )
    else:
        skipped.append(SkippedMetric(name="retrieval/cka/knn_purity", reason="predictions have no 'embedding' column"))
    narr_all = [preds.narration[i] for i in rows] if preds.narration is not None else None
    if narr_all is None:
        skipped.append(SkippedMetric(name="sbert/celltype_accuracy", reason="predictions have no 'narration' column"))
    elif head["caption"].isna().any():
        skipped.append(SkippedMetric(name="sbert", reason="the test split has no reference captions"))
    else:
        encoder = encoder or SentenceEncoder(DEFAULT_SENTENCE_MODEL)
        m, per_frame = _narration_metrics(
            head, [n for n, h in zip(narr_all, headline, strict=True) if h], encoder, opts
        )
        metrics += m
        ct_metrics, similarity, ct_skipped = _celltype(samples, narr_all, lines, encoder, opts)
        metrics += ct_metrics
        skipped += ct_skipped
    return ResultEntry(
        package_version=__version__,
        git_hash=git_hash(),
        dataset=DatasetRef(
            repo=ds.repo,
            revision=ds.revision,
            fingerprint=ds.task_fingerprint(task),
            task=task,
            task_version=spec.version,
            data_origin=ds.data_origin(task),
        ),
        model=model,
        scorer_model=encoder.model_id if encoder is not None else None,
        scorer_revision=encoder.revision if encoder is not None else None,
        floor_pool_version=FLOOR_POOL_VERSION,
        seeds={"scoring": opts.seed, "bootstrap": opts.seed, "derangement": opts.seed},
        subset=subset or Subset(),
        sessions=sorted(set(samples["session_id"])),
        metrics=metrics,
        skipped=skipped,
        per_frame=per_frame,
        similarity=similarity,
        evaluation_time_s=round(time.perf_counter() - start, 3),
        created_at=utc_now(),
        environment=environment(),
    )
