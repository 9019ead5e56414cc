"""Score a predictions file against a dataset's test split (no model code runs here).

Steps: check the file against the dataset and task, align predictions to the test split by ``sample_id``
(missing or extra ids are errors), run every registered metric group whose inputs the file has
(:data:`neurrator_bench.scorers.metric_registry.METRIC_GROUPS`, in registration order), turn each group's
per-sample values into frame-level values, intervals and tests (:mod:`neurrator_bench.scorers.frame_stats`),
and assemble a :class:`ResultEntry`.

Which samples feed which number:

* headline metrics (SBERT, retrieval, CKA, KNN purity) use the samples of recorded sessions; when the
  predictions cover only pseudo-mice, they use those;
* the cell-type probe (paper Sec. 5) and the cross-narration similarity matrix (Fig. 5) use the
  narrations of the ``pseudo-PV``/``pseudo-SST``/``pseudo-VIP`` samples when present;
* a test-split session with no prediction at all is recorded in ``skipped``; a session with some but not
  all of its samples predicted is an error.

Statistics (paper Sec. 4.1: "n = 200 frames"): the value of a per-sample metric weighs every frame the same;
intervals resample 30-frame blocks of movie frames and single scene images (optionally sessions as an
outer level); deltas over a floor carry the one-sided frame-block bootstrap p. The entry records n_samples,
n_frames, n_sessions and the cluster unit.
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
    FrameTable,
    MetricResult,
    ModelMeta,
    NarratorMeta,
    ResultEntry,
    SessionMetrics,
    SimilarityMatrix,
    SkippedMetric,
    Statistics,
    Subset,
)
from neurrator_bench.schemas.sealed_references import FINAL_SPLIT, SealedReferences
from neurrator_bench.scorers.celltype_probe import celltype_classifier
from neurrator_bench.scorers.floor_pools import FLOOR_POOL_VERSION, OFF_TOPIC, WORD_SALAD
from neurrator_bench.scorers.frame_stats import (
    DEFAULT_BLOCK_FRAMES,
    MIN_CLUSTERS,
    Clusters,
    cluster_bootstrap,
    make_clusters,
    weighted_median,
)
from neurrator_bench.scorers.metric_registry import METRIC_GROUPS, MetricValues, ScoreInputs, get_metric
from neurrator_bench.scorers.similarity_matrix import cross_narration_similarity
from neurrator_bench.tasks import NM1, NM3, get_task
from neurrator_bench.text_embedding import DEFAULT_SENTENCE_MODEL, SentenceEncoder, same_sentence_model

logger = logging.getLogger(__name__)
CELL_LINES = ("PV", "SST", "VIP")
MOVIES = (NM1, NM3)
P_TEST = "one-sided frame-block bootstrap, (1 + #{replicate mean <= 0}) / (n_boot + 1)"


@dataclass(frozen=True)
class ScoringOptions:
    """Knobs of a scoring run (all recorded in the entry).

    Attributes:
        seed: Seed of the shuffled pairing, every bootstrap and the probe's folds and permutations.
        n_boot: Bootstrap replicates of every interval and test.
        exclusion_frames: Half-width of the retrieval exclusion zone (movies; paper Sec. 6).
        knn_k: Neighbours of KNN purity (Table A2: 10).
        celltype_permutations: Label permutations of the cell-type probe.
        celltype: Score the cell-type probe and the similarity matrix at all (off: listed as skipped, with why).
        block_frames: Movie frames per resampling block (30 = 1 s at 30 Hz).
        session_level: Also resample sessions, as an outer level.
    """

    seed: int = 0
    n_boot: int = 1000
    exclusion_frames: int = 0
    knn_k: int = 10
    celltype_permutations: int = 100
    celltype: bool = True
    block_frames: int = DEFAULT_BLOCK_FRAMES
    session_level: bool = False


def align(preds: Predictions, samples: pd.DataFrame, split: str = "test") -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """Samples of ``split`` covered by the predictions and the prediction row of each.

    Returns:
        ``(covered samples sorted by sample_id, prediction row index per sample, uncovered session ids)``.

    Raises:
        PredictionsError: Ids not in the split, or a session only partly predicted.
    """
    row = {sid: i for i, sid in enumerate(preds.sample_ids)}
    known = set(samples["sample_id"])
    extra = sorted(set(row) - known)
    if extra:
        raise PredictionsError(
            f"{preds.path}: column 'sample_id': {len(extra)} id(s) are not in the {split} split, e.g. {extra[:5]}"
        )
    covered_sessions = sorted(set(samples.loc[samples["sample_id"].isin(row), "session_id"]))
    covered = samples[samples["session_id"].isin(covered_sessions)]
    missing = sorted(set(covered["sample_id"]) - set(row))
    if missing:
        raise PredictionsError(
            f"{preds.path}: column 'sample_id': {len(missing)} {split} id(s) of the predicted sessions are missing, "
            f"e.g. {missing[:5]}"
        )
    uncovered = sorted(set(samples["session_id"]) - set(covered_sessions))
    covered = covered.sort_values("sample_id", kind="stable").reset_index(drop=True)
    return covered, np.array([row[s] for s in covered["sample_id"]], dtype=np.int64), uncovered


def check_predictions(preds: Predictions, ds: DatasetHandle, task: str) -> str:
    """Check a predictions file's embedded metadata against the dataset and task given on the command line.

    A plain file (no package metadata, e.g. written by pandas) is matched by its ids only.

    Returns:
        ``"embedded"`` when the file named this task and fingerprint, ``"command-line"`` for a plain file.

    Raises:
        PredictionsError: The file names another task or fingerprint.
    """
    if not preds.has_metadata:
        return "command-line"
    if preds.task != task:
        raise PredictionsError(f"{preds.path}: metadata field 'task' is {preds.task!r}, but --task is {task!r}")
    if preds.dataset_fingerprint != ds.task_fingerprint(task):
        raise PredictionsError(
            f"{preds.path}: metadata field 'dataset_fingerprint': made for task fingerprint "
            f"{preds.dataset_fingerprint}, but task {task} of {ds.repo} has {ds.task_fingerprint(task)}"
        )
    return "embedded"


def check_split(ds: DatasetHandle, split: str, references: SealedReferences | None) -> None:
    """Refuse a split the dataset cannot score: an unknown one, or ``final`` without a seal or its references.

    Raises:
        DatasetFormatError: With what to do instead.
    """
    if split not in ("test", FINAL_SPLIT):
        raise DatasetFormatError(f"split {split!r}: scores are on 'test' (the live test) or '{FINAL_SPLIT}'")
    if split != FINAL_SPLIT:
        return
    if ds.manifest.sealed_final is None:
        raise DatasetFormatError(
            f"dataset {ds.repo} has no sealed final split (it was built without --seal-final); score split 'test'"
        )
    if references is None:
        raise DatasetFormatError(
            f"dataset {ds.repo}: the references of split '{FINAL_SPLIT}' are sealed; scoring it needs the maintainer "
            "folder written by `build --seal-final` (--references DIR)"
        )
    if references.manifest.dataset_fingerprint != ds.manifest.fingerprint:
        raise DatasetFormatError(
            f"{references.root}: sealed for dataset fingerprint {references.manifest.dataset_fingerprint[:12]}..., "
            f"but {ds.repo} has {ds.manifest.fingerprint[:12]}..."
        )


def _weights(values: MetricValues, clusters: Clusters) -> np.ndarray:
    return clusters.session_then_bin_weights() if values.weights == "session-then-bin" else clusters.frame_weights()


def _interval_name(opts: ScoringOptions) -> str:
    return "frame-blocks+sessions" if opts.session_level else "frame-blocks"


def aggregate(values: MetricValues, clusters: Clusters, n_samples: int, opts: ScoringOptions) -> MetricResult:
    """One :class:`MetricResult` from a group's values: frame-weighted value, cluster interval, test, chance."""
    spec = get_metric(values.name)
    common = {
        "name": values.name,
        "higher_is_better": spec.higher_is_better,
        "chance": values.chance,
        "ceiling": values.ceiling,
    }
    if values.per_sample is None:
        low, high = values.ci if values.ci is not None else (None, None)
        return MetricResult(
            value=float(values.value),
            ci_low=low,
            ci_high=high,
            n=n_samples,
            n_boot=values.n_boot,
            n_frames=clusters.n_frames,
            n_sessions=clusters.n_sessions,
            interval=values.interval,
            no_interval_reason=values.no_interval_reason,
            **common,
        )
    rows = np.isfinite(values.per_sample)
    sub = clusters if rows.all() else clusters.subset(rows)
    x = values.per_sample[rows]
    base = _weights(values, sub)
    zero_floor = values.floor is not None and not np.any(values.floor[rows])
    ci = cluster_bootstrap(
        x, sub, base_weights=base, statistic=spec.aggregate, n_boot=opts.n_boot, seed=opts.seed, test_greater=zero_floor
    )
    p = ci.p_greater
    if values.floor is not None and not zero_floor:
        p = cluster_bootstrap(
            x - values.floor[rows], sub, base_weights=base, n_boot=opts.n_boot, seed=opts.seed, test_greater=True
        ).p_greater
    return MetricResult(
        value=ci.value,
        ci_low=ci.low,
        ci_high=ci.high,
        n=int(rows.sum()),
        n_boot=ci.n_boot,
        p_value=p,
        p_test=P_TEST if p is not None else None,
        n_frames=sub.n_frames,
        n_sessions=sub.n_sessions,
        interval=_interval_name(opts),
        **common,
    )


def _frame_table(results: list[MetricValues], clusters: Clusters) -> FrameTable:
    """Per-frame mean of every mean-aggregated per-sample metric (the rows paired comparisons resample).

    Median-aggregated metrics (the median rank) are left out: a mean of per-frame differences is not a
    difference of medians. A frame a metric does not cover (KNN purity of a left-out session) leaves the
    column out.
    """
    columns = {}
    for v in results:
        if v.per_sample is None or get_metric(v.name).aggregate != "mean":
            continue
        rows = np.isfinite(v.per_sample)
        counts = np.bincount(clusters.frame[rows], minlength=clusters.n_frames)
        sums = np.bincount(clusters.frame[rows], weights=v.per_sample[rows], minlength=clusters.n_frames)
        if (counts > 0).all():
            columns[v.name] = np.round(sums / counts, 6).tolist()
    return FrameTable(
        stimulus=clusters.frame_stimulus.tolist(),
        frame=clusters.frame_index.tolist(),
        block=clusters.frame_block.tolist(),
        n=np.bincount(clusters.frame, minlength=clusters.n_frames).tolist(),
        values=columns,
    )


def _per_session(results: list[MetricValues], clusters: Clusters, session_ids: np.ndarray) -> list[SessionMetrics]:
    """Each session's frame-weighted value of every per-sample metric (no intervals)."""
    out = []
    for code, session in enumerate(np.unique(session_ids)):
        mask = clusters.session == code
        sub = clusters.subset(mask)
        values = {}
        for v in results:
            if v.per_sample is None:
                continue
            x = v.per_sample[mask]
            ok = np.isfinite(x)
            if not ok.any():
                continue
            inner = sub if ok.all() else sub.subset(ok)
            weights = _weights(v, inner)
            if get_metric(v.name).aggregate == "median":
                values[v.name] = weighted_median(x[ok], weights)
            else:
                values[v.name] = float(np.sum(weights * x[ok]) / weights.sum())
        out.append(SessionMetrics(session_id=str(session), n=int(mask.sum()), values=values))
    return out


def _score_inputs(
    ds: DatasetHandle,
    head: pd.DataFrame,
    clusters: Clusters,
    *,
    embedding: np.ndarray | None,
    narrations: list[str] | None,
    encoder: SentenceEncoder | None,
    opts: ScoringOptions,
    references: SealedReferences | None = None,
) -> ScoreInputs:
    galleries, available = {}, {}
    sealed = ds.manifest.sealed_final
    if embedding is not None:
        for stimulus in sorted(set(head["stimulus"])):
            pooled = load_frame_targets(ds, stimulus).pooled
            withheld = np.zeros(len(pooled), dtype=bool)
            if sealed is not None:
                withheld[np.asarray(sealed.frames.get(stimulus, []), dtype=np.int64)] = True
            if references is not None:  # the final split ranks among every frame, the sealed ones put back
                pooled = references.fill_gallery(stimulus, pooled)
                withheld[:] = False
            bad = np.flatnonzero(~withheld & ~np.isfinite(pooled).all(axis=1))
            if bad.size:
                where = "the sealed references" if references is not None else f"dataset {ds.repo}"
                raise DatasetFormatError(
                    f"{where}: targets of {stimulus} frames {bad[:5].tolist()} are not finite (a frame "
                    "that is not sealed, or a sealed frame the references lack)"
                )
            galleries[stimulus] = pooled
            if withheld.any():  # the live test of a sealed dataset: the sealed frames are no candidates
                available[stimulus] = ~withheld
    text = {}
    if narrations is not None:
        text = {
            "narration_emb": encoder.encode(narrations),
            "reference_emb": encoder.encode(head["caption"].tolist()),
            "floor_pools": {
                "word_salad": encoder.encode(list(WORD_SALAD)),
                "off_topic": encoder.encode(list(OFF_TOPIC)),
            },
            "narrations": narrations,
            "captions": head["caption"].tolist(),
        }
    return ScoreInputs(
        sample_ids=head["sample_id"].to_numpy().astype(str),
        stimulus=head["stimulus"].to_numpy().astype(str),
        frame=head["frame"].to_numpy().astype(np.int64),
        session=head["session_id"].to_numpy().astype(str),
        clusters=clusters,
        movie_stimuli=MOVIES,
        embedding=embedding,
        galleries=galleries,
        gallery_available=available,
        exclusion_frames=opts.exclusion_frames,
        knn_k=opts.knn_k,
        seed=opts.seed,
        n_boot=opts.n_boot,
        **text,
    )


def run_metric_groups(inputs: ScoreInputs, available: set[str]) -> tuple[list[MetricValues], list[SkippedMetric]]:
    """Run every registered group whose needs are in ``available``; groups that cannot run are recorded."""
    results, skipped = [], []
    for name in METRIC_GROUPS.in_order():
        group = METRIC_GROUPS.get(name)
        missing = sorted(group.needs - available)
        if missing:
            column = " and ".join(repr(m) for m in missing)
            skipped.append(SkippedMetric(name="/".join(group.metrics), reason=f"predictions have no {column} column"))
            continue
        try:
            values = group.compute(inputs)
        except ValueError as exc:
            skipped.append(SkippedMetric(name="/".join(group.metrics), reason=str(exc)))
            continue
        for v in values:
            if v.per_sample is None and v.value is None:
                skipped.append(SkippedMetric(name=v.name, reason=v.note or "not defined on this test set"))
                continue
            if v.note:
                skipped.append(SkippedMetric(name=v.name, reason=v.note))
            results.append(v)
    return results, skipped


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
    # the interval resamples frame clusters of the out-of-fold correctness (folds never split a frame); the
    # value is the pooled accuracy, so every sample weighs the same (ones), as in the paper's 76 %
    clusters = make_clusters(
        sub["stimulus"],
        sub["frame"],
        np.zeros(len(sub), dtype=int),
        movie_stimuli=MOVIES,
        block_frames=opts.block_frames,
    )
    ci = cluster_bootstrap(res.correct, clusters, base_weights=np.ones(len(sub)), n_boot=opts.n_boot, seed=opts.seed)
    metric = MetricResult(
        name="celltype_accuracy",
        value=res.accuracy,
        ci_low=ci.low,
        ci_high=ci.high,
        n=len(sub),
        n_boot=ci.n_boot,
        higher_is_better=True,
        p_value=res.p_value,
        p_test=f"label permutation within frames ({res.n_permutations} permutations)" if res.p_value else None,
        chance=res.chance,
        n_frames=clusters.n_frames,
        n_sessions=len(pops),
        interval="frame-blocks (out-of-fold correctness)",
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


def resolve_narrator(preds: Predictions, narrator: NarratorMeta | None) -> NarratorMeta | None:
    """The narrator an entry of ``preds`` records: None without narrations, else ``narrator``, else the file's."""
    if preds.narration is None:
        return None
    if narrator is not None:
        return narrator
    if preds.narrator:
        try:
            return NarratorMeta.model_validate(preds.narrator)
        except ValueError as exc:
            raise PredictionsError(f"{preds.path}: metadata field 'narrator' is not valid ({exc})") from None
    return NarratorMeta(kind="unspecified")


def score_predictions(
    preds: Predictions,
    ds: DatasetHandle,
    task: str,
    *,
    model: ModelMeta,
    subset: Subset | None = None,
    encoder: SentenceEncoder | None = None,
    options: ScoringOptions | None = None,
    narrator: NarratorMeta | None = None,
    split: str = "test",
    references: SealedReferences | None = None,
) -> ResultEntry:
    """Score aligned predictions and build the result entry.

    Args:
        preds: A validated predictions file (package-written or plain).
        ds: The dataset it was made for.
        task: Task name.
        model: Model metadata for the entry.
        subset: Units the model was restricted to (recorded).
        encoder: SBERT encoder (default all-MiniLM-L6-v2, offline), created only when narrations exist.
        options: Seeds, bootstrap size, exclusion zone, KNN k, permutations, clusters.
        narrator: How the narrations were made (default: the file's metadata, else ``unspecified``).
        split: ``test`` (the public live test) or ``final`` (the sealed final test of a dataset built with
            ``--seal-final``; needs ``references``).
        references: The maintainer's sealed references (:func:`open_references`), for ``split="final"``.

    Raises:
        DatasetFormatError: The dataset lacks the task, or a final split is asked of a dataset without one or
            without its references.
        PredictionsError: Fingerprint/task mismatch, bad ids, wrong embedding width.
    """
    opts = options or ScoringOptions()
    start = time.perf_counter()
    spec = get_task(task)
    if task not in ds.manifest.task_versions:
        raise DatasetFormatError(f"dataset {ds.repo} has no task {task!r}; tasks: {', '.join(ds.tasks())}")
    check_split(ds, split, references)
    source = check_predictions(preds, ds, task)
    if preds.split is not None and preds.split != split:
        raise PredictionsError(
            f"{preds.path}: metadata field 'split' is {preds.split!r}, but split {split!r} is scored"
        )
    samples, rows, uncovered = align(preds, load_samples(ds, task, split), split)
    if split == FINAL_SPLIT:
        samples["caption"] = [
            references.caption_of(st, f, source=f"{task}/{FINAL_SPLIT}")
            for st, f in zip(samples["stimulus"], samples["frame"], strict=True)
        ]
    sessions = load_sessions(ds).set_index("session_id")
    kinds = sessions["kind"].to_dict()
    lines = sessions.loc[sessions["kind"] == "pseudo-mouse", "cell_line"].to_dict()
    skipped = [SkippedMetric(name=f"session:{s}", reason="no predictions for this session") for s in uncovered]
    headline = ~samples["session_id"].map(kinds).eq("pseudo-mouse").to_numpy()
    if not headline.any():
        headline[:] = True
    head = samples[headline].reset_index(drop=True)
    embedding = None
    if preds.embedding is not None:
        embedding = preds.embedding[rows][headline]
        if embedding.shape[1] != ds.manifest.target_dim:
            raise PredictionsError(
                f"{preds.path}: column 'embedding' has width {embedding.shape[1]}; the dataset's targets have "
                f"{ds.manifest.target_dim}"
            )
    narr_all = [preds.narration[i] for i in rows] if preds.narration is not None else None
    narrations = None
    if narr_all is not None:
        if head["caption"].isna().any():
            skipped.append(SkippedMetric(name="sbert", reason="the test split has no reference captions"))
        else:
            narrations = [n for n, h in zip(narr_all, headline, strict=True) if h]
            encoder = encoder or SentenceEncoder(DEFAULT_SENTENCE_MODEL)
    clusters = make_clusters(
        head["stimulus"],
        head["frame"],
        head["session_id"],
        movie_stimuli=MOVIES,
        block_frames=opts.block_frames,
        session_level=opts.session_level,
    )
    inputs = _score_inputs(
        ds,
        head,
        clusters,
        embedding=embedding,
        narrations=narrations,
        encoder=encoder,
        opts=opts,
        references=references if split == FINAL_SPLIT else None,
    )
    available = {name for name, x in (("embedding", embedding), ("narration", narrations)) if x is not None}
    results, group_skipped = run_metric_groups(inputs, available)
    skipped += group_skipped
    metrics = [aggregate(v, clusters, len(head), opts) for v in results]
    similarity = None
    if narr_all is not None and encoder is not None and not opts.celltype:
        skipped.append(
            SkippedMetric(name="celltype_accuracy", reason="the cell-type probe was switched off for this run")
        )
    elif narr_all is not None and encoder is not None:
        ct_metrics, similarity, ct_skipped = _celltype(samples, narr_all, lines, encoder, opts)
        metrics += ct_metrics
        skipped += ct_skipped
    manifest = ds.manifest
    return ResultEntry(
        package_version=__version__,
        git_hash=git_hash(),
        dataset=DatasetRef(
            repo=ds.repo,
            revision=ds.revision,
            fingerprint=ds.task_fingerprint(task),
            task=task,
            task_version=spec.version,
            split=split,
            data_origin=ds.data_origin(task),
            fingerprint_source=source,
            target_model=manifest.target_model + (f"@{manifest.target_revision}" if manifest.target_revision else ""),
            reference_captioner=manifest.captioner
            + (f"@{manifest.captioner_revision}" if manifest.captioner_revision else ""),
        ),
        model=model,
        narrator=resolve_narrator(preds, narrator),
        predictions_sha256=preds.sha256,
        gallery={
            s: int(np.unique(g[inputs.gallery_available.get(s, slice(None))], axis=0).shape[0])
            for s, g in inputs.galleries.items()
        },
        gallery_frames={
            s: int(inputs.gallery_available[s].sum()) if s in inputs.gallery_available else int(g.shape[0])
            for s, g in inputs.galleries.items()
        },
        scorer_model=encoder.model_id if encoder is not None else None,
        scorer_revision=encoder.revision if encoder is not None else None,
        scorer_space=encoder is not None and same_sentence_model(model.text_space, encoder.model_id),
        floor_pool_version=FLOOR_POOL_VERSION,
        seeds={"scoring": opts.seed, "bootstrap": opts.seed, "derangement": opts.seed},
        subset=subset or Subset(),
        sessions=sorted(set(samples["session_id"])),
        metrics=metrics,
        skipped=skipped,
        statistics=Statistics(
            n_samples=len(head),
            n_frames=clusters.n_frames,
            n_sessions=clusters.n_sessions,
            n_clusters=clusters.n_blocks,
            cluster_unit=clusters.describe(),
            block_frames=opts.block_frames,
            session_level=opts.session_level,
            warning=None
            if clusters.n_blocks >= MIN_CLUSTERS
            else f"only {clusters.n_blocks} resampling clusters (< {MIN_CLUSTERS}): percentile intervals and "
            "bootstrap p-values from so few clusters under-cover; read them as approximate",
        ),
        # the final test publishes no per-frame values: per-frame similarity to a sealed caption is the feedback a
        # hidden test withholds (its rows are therefore not paired on the leaderboard)
        frame_table=None if split == FINAL_SPLIT else _frame_table(results, clusters),
        per_session=_per_session(results, clusters, inputs.session),
        similarity=similarity,
        evaluation_time_s=round(time.perf_counter() - start, 3),
        created_at=utc_now(),
        environment=environment(),
    )
