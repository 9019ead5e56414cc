"""Fabricated, valid result entries for the leaderboard tests (models, revisions, tasks, subsets, narrators)."""

from __future__ import annotations

from pathlib import Path

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
    write_entry,
)

EVIL = "<img src=x onerror=alert(1)>"
TASKS = ("nm1-contiguous-middle", "scenes-identity-holdout")
FINGERPRINTS = {task: f"fp-{task}-0001" for task in TASKS}
SBERT_METRICS = (
    "sbert_matched",
    "sbert_word_salad_floor",
    "sbert_off_topic_floor",
    "sbert_shuffled_floor",
    "sbert_delta_word_salad",
)
RETRIEVAL_METRICS = ("retrieval_r1", "retrieval_r10", "retrieval_median_rank", "cka_linear")
GALLERY = 900  # retrieval candidates of the fabricated test set
RETRIEVAL_NARRATOR = NarratorMeta(kind="retrieval", decoding="nearest training caption")
LLAVA_NARRATOR = NarratorMeta(
    kind="llava",
    model_id="llava-hf/llava-1.5-7b-hf",
    revision="a272c74",
    prompt="USER: <image>\nDescribe the image in one sentence. ASSISTANT:",
    max_new_tokens=32,
    decoding="greedy",
)
LLAVA_LABEL = "llava (llava-hf/llava-1.5-7b-hf@a272c74)"
PREDICTIONS_SHA256 = "5f" * 32
CHANCE = {"retrieval_r1": 1 / GALLERY, "retrieval_r10": 10 / GALLERY, "retrieval_median_rank": (GALLERY + 1) / 2}
# (name, kind, parameters, revisions with created_at, headline score)
MODELS = (
    (
        "neurrator/reference",
        "reference",
        12_300_000,
        (("v1", "2026-01-05T10:00:00+00:00"), ("v2", "2026-02-05T10:00:00+00:00")),
        0.62,
    ),
    ("ridge", "baseline", 480_000, (("main", "2026-01-10T10:00:00+00:00"),), 0.41),
    ("pca-knn", "baseline", None, (("main", "2026-01-11T10:00:00+00:00"),), 0.33),
)


def metric(name: str, value: float, *, n: int = 200, half: float | None = 0.02, p: float | None = None) -> MetricResult:
    """A metric with a symmetric CI of half-width ``half`` (None: no CI); direction from the registry."""
    lower_better = name.endswith("_floor") or name == "retrieval_median_rank"
    ci = (None, None) if half is None else (value - half, value + half)
    return MetricResult(
        name=name,
        value=value,
        ci_low=ci[0],
        ci_high=ci[1],
        n=n,
        n_boot=0 if half is None else 1000,
        higher_is_better=not lower_better,
        p_value=p,
        p_test=None if p is None else "one-sided block bootstrap vs floor",
        chance=CHANCE.get(name),
        n_frames=200,
        n_sessions=1,
        interval=None if half is None else "frame-blocks",
        no_interval_reason="one fit on the whole test set" if half is None else None,
    )


def full_metrics(score: float) -> list[MetricResult]:
    """Every headline metric, scaled by ``score`` (the sbert_matched value)."""
    return [
        metric("sbert_matched", score),
        metric("sbert_word_salad_floor", 0.12),
        metric("sbert_off_topic_floor", 0.08),
        metric("sbert_shuffled_floor", 0.21),
        metric("sbert_delta_word_salad", score - 0.12, p=1e-6),
        metric("retrieval_r1", score / 4),
        metric("retrieval_r10", score / 2),
        metric("retrieval_median_rank", round(40 - 30 * score, 3), half=2.0),
        metric("cka_linear", score / 3, half=None),
    ]


def make_entry(
    model: str,
    revision: str,
    task: str,
    *,
    score: float = 0.5,
    kind: str | None = "baseline",
    n_parameters: int | None = 1000,
    created_at: str = "2026-01-01T00:00:00+00:00",
    subset: Subset | None = None,
    metrics: list[MetricResult] | None = None,
    skipped: list[SkippedMetric] | None = None,
    frame_table: FrameTable | None = None,
    similarity: SimilarityMatrix | None = None,
    fingerprint: str | None = None,
    license: str | None = "MIT",  # noqa: A002
    url: str | None = None,
    narrator: NarratorMeta | None = RETRIEVAL_NARRATOR,
) -> ResultEntry:
    """One valid entry with every field filled (statistics count the frame table's rows when given)."""
    n_frames = 200 if frame_table is None else len(frame_table.frame)
    return ResultEntry(
        package_version="0.1.0",
        git_hash="0123abc",
        dataset=DatasetRef(
            repo="neurrator/bo11-spike-to-text",
            revision="r1",
            fingerprint=fingerprint or FINGERPRINTS.get(task, f"fp-{task}"),
            task=task,
            task_version=1,
            target_model="openai/clip-vit-large-patch14-336",
            reference_captioner="Salesforce/blip2-opt-2.7b",
        ),
        model=ModelMeta(
            name=model,
            revision=revision,
            kind=kind,
            n_parameters=n_parameters,
            training_sessions=["791319847"],
            license=license,
            url=url,
        ),
        scorer_model="sentence-transformers/all-MiniLM-L6-v2",
        floor_pool_version=1,
        seeds={"bootstrap": 0, "floors": 1},
        subset=subset or Subset(),
        sessions=["791319847"],
        metrics=full_metrics(score) if metrics is None else metrics,
        skipped=skipped or [],
        narrator=None if narrator is None else narrator.model_copy(deep=True),
        predictions_sha256=PREDICTIONS_SHA256,
        gallery={"natural_movie_one": GALLERY},
        statistics=Statistics(
            n_samples=10 * n_frames,
            n_frames=n_frames,
            n_sessions=1,
            n_clusters=-(-n_frames // 30),
            cluster_unit="30-frame blocks (movies), single images (scenes)",
            block_frames=30,
        ),
        frame_table=frame_table,
        per_session=[SessionMetrics(session_id="791319847", n=10 * n_frames, values={"sbert_matched": score})],
        similarity=similarity,
        evaluation_time_s=12.5,
        created_at=created_at,
        environment={"python": "3.11", "platform": "linux"},
    )


def frame_curve(
    n_frames: int = 30, stimulus: str = "natural_movie_one", *, offset: float = 0.0, first_frame: int = 0
) -> FrameTable:
    """A frame table: per-frame ``sbert_matched`` ``0.4 + 0.02 * (f % 10) + offset``, blocks of 5 frames.

    ``retrieval_r10`` is half of it. ``first_frame`` shifts the frame indices (another frame set).
    """
    frames = list(range(first_frame, first_frame + n_frames))
    matched = [0.4 + 0.02 * (f % 10) + offset for f in frames]
    return FrameTable(
        stimulus=[stimulus] * n_frames,
        frame=frames,
        block=[f // 5 for f in frames],
        n=[10] * n_frames,
        values={"sbert_matched": matched, "retrieval_r10": [v / 2 for v in matched]},
    )


def similarity_matrix(names: tuple[str, ...] = ("VISp", "VISl", "VISal")) -> SimilarityMatrix:
    """A symmetric similarity matrix with 1 on the diagonal."""
    k = len(names)
    return SimilarityMatrix(
        names=list(names), values=[[1.0 if i == j else 0.5 + 0.1 * abs(i - j) for j in range(k)] for i in range(k)]
    )


def valid_entries() -> list[ResultEntry]:
    """The fabricated valid set: 3 models (one with 2 revisions) x 2 tasks, a retrieval-only model, subsets."""
    entries = []
    for name, kind, params, revisions, score in MODELS:
        for r, (revision, when) in enumerate(revisions):
            for t, task in enumerate(TASKS):
                s = round(score + 0.03 * r - 0.05 * t, 3)
                entries.append(
                    make_entry(
                        name,
                        revision,
                        task,
                        score=s,
                        kind=kind,
                        n_parameters=params,
                        created_at=when,
                        frame_table=frame_curve(offset=s - 0.5) if kind == "reference" and t == 0 else None,
                        similarity=similarity_matrix() if kind == "reference" and t == 0 else None,
                        url="https://example.org/neurrator" if kind == "reference" else None,
                    )
                )
    for region, gain in (("V1", 0.1), ("LM", 0.0)):
        for n_units in (8, 32, 128):
            entries.append(
                make_entry(
                    "neurrator/reference",
                    "v2",
                    TASKS[0],
                    score=round(0.2 + gain + 0.05 * n_units.bit_length(), 3),
                    kind="reference",
                    n_parameters=12_300_000,
                    created_at="2026-02-05T11:00:00+00:00",
                    subset=Subset(region_group=region, n_units=n_units, draws=5, seed=0),
                )
            )
    retrieval_only = [m for m in full_metrics(0.5) if m.name in RETRIEVAL_METRICS]
    entries.append(
        make_entry(
            "retrieval-only",
            "main",
            TASKS[0],
            kind="baseline",
            metrics=retrieval_only,
            skipped=[SkippedMetric(name="sbert", reason="model produces embeddings, not narrations")],
            created_at="2026-01-12T10:00:00+00:00",
            narrator=None,
        )
    )
    return entries


def evil_entry() -> ResultEntry:
    """A valid entry whose free-text fields carry an HTML injection attempt."""
    entry = make_entry(
        "evil-model",
        "main",
        TASKS[0],
        score=0.5,
        kind=EVIL,
        license=EVIL,
        url="javascript:alert(1)",
        created_at="2026-01-13T10:00:00+00:00",
        frame_table=frame_curve(5, stimulus=EVIL),
        similarity=similarity_matrix((EVIL, "VISl")),
        skipped=[SkippedMetric(name="celltype", reason=EVIL)],
        subset=None,
        narrator=NarratorMeta(kind="llava", model_id=EVIL, prompt=EVIL, decoding=EVIL),
    )
    entry.dataset.target_model = EVIL
    entry.dataset.reference_captioner = EVIL
    entry.statistics.cluster_unit = EVIL
    entry.per_session[0].session_id = EVIL
    entry.metrics[0].p_test = EVIL
    return entry


def write_entries(results_dir: Path, entries: list[ResultEntry]) -> list[Path]:
    """Write entries with the package writer; return their paths."""
    return [write_entry(results_dir, e) for e in entries]


def write_valid_set(results_dir: Path, *, evil: bool = False) -> list[Path]:
    """Write :func:`valid_entries` (plus :func:`evil_entry` if ``evil``) under ``results_dir``."""
    return write_entries(results_dir, valid_entries() + ([evil_entry()] if evil else []))
