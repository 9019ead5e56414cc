"""``evaluate``: model directory -> predictions file -> scores -> result entry; and subset scaling curves.

The predictions written here are exactly what ``neurrator-bench score`` accepts, so a model scored by
``evaluate`` and the same model's predictions scored by ``score`` give the same entry.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from neurrator_bench.dataset_access import DatasetHandle, load_samples, load_sessions, load_units, open_dataset
from neurrator_bench.errors import ModelDirectoryError
from neurrator_bench.inference import (
    DEFAULT_NARRATOR,
    LlavaCaptioner,
    RetrievalCaptioner,
    make_narrator,
    predict_split,
    route_session,
)
from neurrator_bench.model_kinds import load_model
from neurrator_bench.schemas.predictions import read_predictions, write_predictions
from neurrator_bench.schemas.result_entry import (
    ModelMeta,
    ResultEntry,
    SessionMetrics,
    SkippedMetric,
    Subset,
    write_entry,
)
from neurrator_bench.scorers.frame_stats import cluster_bootstrap, frame_level_clusters
from neurrator_bench.scorers.intervals import enclose
from neurrator_bench.scoring import ScoringOptions, score_predictions
from neurrator_bench.subsets import make_subset, region_groups
from neurrator_bench.text_embedding import DEFAULT_SENTENCE_MODEL, SentenceEncoder

logger = logging.getLogger(__name__)


def model_meta(config: Mapping) -> ModelMeta:
    """Leaderboard metadata from a model directory's config.json."""
    return ModelMeta(
        name=str(config["name"]),
        revision=str(config.get("revision", "main")),
        kind=config.get("model_kind"),
        n_parameters=config.get("n_parameters"),
        training_sessions=list(config.get("training_sessions", [])),
        license=config.get("license"),
        url=config.get("url"),
        text_space=(config.get("text_model") or {}).get("model_id"),
    )


def _as_dataset(dataset: str | Path | DatasetHandle) -> DatasetHandle:
    return dataset if isinstance(dataset, DatasetHandle) else open_dataset(dataset)


def checked_model(model_dir: Path, ds: DatasetHandle, task: str):
    """Load a model directory that was trained on ``task`` of this very dataset.

    Raises:
        ModelDirectoryError: Trained on another task (its training split may hold this task's test frames) or on
            other data (the task fingerprints differ).
    """
    model = load_model(model_dir)
    trained_on = str(model.config.get("task", task))
    if trained_on != task:
        raise ModelDirectoryError(
            f"{model_dir}/config.json: trained on task {trained_on!r}, asked to predict task {task!r}; another task's "
            "training split may hold this task's test frames, so it is refused (train a model on this task)"
        )
    if model.config["dataset_fingerprint"] != ds.task_fingerprint(trained_on):
        raise ModelDirectoryError(
            f"{model_dir}/config.json: trained on task {trained_on} with fingerprint "
            f"{model.config['dataset_fingerprint']}, but task {trained_on} of {ds.repo} has "
            f"{ds.task_fingerprint(trained_on)} (samples, units or statistics differ); retrain on this dataset"
        )
    return model


def narrate(
    model_dir: Path,
    dataset: str | Path | DatasetHandle,
    task: str,
    out_file: Path,
    *,
    narrator: str | RetrievalCaptioner | LlavaCaptioner = DEFAULT_NARRATOR,
    llava: str | None = None,
    unit_filters: Mapping[str, str] | None = None,
    n_units: int | None = None,
    seed: int = 0,
    sessions: Sequence[str] | None = None,
    split: str = "test",
) -> tuple[Path, dict[str, str]]:
    """Predict and narrate a split (``sessions`` only, when given) and write the predictions parquet.

    ``split`` is ``test`` (the live test) or ``final`` (the sealed final test: its spikes are public, its
    references are not, so the file can only be scored by the maintainer: ``leaderboard submit``).

    Returns:
        ``(path, skipped sessions -> reason)``.
    """
    ds = _as_dataset(dataset)
    model = checked_model(model_dir, ds, task)
    pred = predict_split(
        model,
        ds,
        task,
        split=split,
        sessions=sessions,
        unit_filters=unit_filters,
        n_units=n_units,
        seed=seed,
        narrator=narrator,
        llava=llava,
    )
    path = write_predictions(
        out_file,
        pred.sample_ids,
        dataset_fingerprint=ds.task_fingerprint(task),
        task=task,
        embedding=pred.pooled,
        narration=pred.narration,
        narrator=pred.narrator,
        split=split,
    )
    return path, pred.skipped_sessions


def combine_draws(entries: Sequence[ResultEntry], subset: Subset, *, n_boot: int = 1000, seed: int = 0) -> ResultEntry:
    """One entry from several random unit draws of a subset query.

    * value: the mean over draws; interval: the 2.5 / 97.5 % percentiles over draws (``interval="draws"``,
      ``n_boot = 0``); chance and ceiling: the mean over draws (they depend on the test set only);
    * test: for a metric tested against a floor, the one-sided frame-block bootstrap p on the
      **draw-averaged per-frame** values (the per-frame table averaged over draws), so p belongs to the mean
      that is reported, not to one draw; metrics without per-frame values (the cell-type probe) keep no p;
    * the frame table and per-session table are the averages over draws.
    """
    first = entries[0]
    tables = [e.frame_table for e in entries]
    averaged = None
    if all(t is not None for t in tables):
        keys = list(zip(tables[0].stimulus, tables[0].frame, strict=True))
        same = all(list(zip(t.stimulus, t.frame, strict=True)) == keys for t in tables)
        names = set.intersection(*(set(t.values) for t in tables)) if same else set()
        averaged = tables[0].model_copy(
            update={
                "values": {
                    n: np.round(np.mean([t.values[n] for t in tables], axis=0), 6).tolist()
                    for n in tables[0].values
                    if n in names
                }
            }
        )
    metrics = []
    for m in first.metrics:
        values = np.array([e.metric(m.name).value for e in entries])
        value = float(values.mean())
        lo, hi = (float(x) for x in np.percentile(values, [2.5, 97.5]))
        lo, hi = enclose(value, lo, hi)  # equal draws: mean and percentile differ only in summation order
        p_value, p_test = None, None
        if m.p_value is not None and averaged is not None and m.name in averaged.values:
            clusters = frame_level_clusters(averaged.stimulus, averaged.frame, averaged.block)
            p_value = cluster_bootstrap(
                np.asarray(averaged.values[m.name]), clusters, n_boot=n_boot, seed=seed, test_greater=True
            ).p_greater
            p_test = f"{m.p_test} on the per-frame values averaged over {len(entries)} draws"
        metrics.append(
            m.model_copy(
                update={
                    "value": value,
                    "ci_low": lo,
                    "ci_high": hi,
                    "n_boot": 0,
                    "interval": "draws",
                    "no_interval_reason": None,
                    "p_value": p_value,
                    "p_test": p_test,
                    "chance": None if m.chance is None else float(np.mean([e.metric(m.name).chance for e in entries])),
                    "ceiling": None
                    if m.ceiling is None
                    else float(np.mean([e.metric(m.name).ceiling for e in entries])),
                }
            )
        )
    return first.model_copy(
        update={
            "metrics": metrics,
            "subset": subset,
            "frame_table": averaged,
            "per_session": _average_sessions(entries),
            "similarity": None,
            "evaluation_time_s": round(sum(e.evaluation_time_s for e in entries), 3),
        }
    )


def _average_sessions(entries: Sequence[ResultEntry]) -> list[SessionMetrics]:
    """Per-session values averaged over the draws that cover each (session, metric)."""
    rows: dict[str, dict[str, list[float]]] = {}
    sizes: dict[str, int] = {}
    for e in entries:
        for row in e.per_session:
            sizes[row.session_id] = row.n
            for name, v in row.values.items():
                rows.setdefault(row.session_id, {}).setdefault(name, []).append(v)
    return [
        SessionMetrics(session_id=s, n=sizes[s], values={k: float(np.mean(v)) for k, v in vals.items()})
        for s, vals in sorted(rows.items())
    ]


def evaluate_model(
    model_dir: Path,
    dataset: str | Path | DatasetHandle,
    task: str,
    *,
    results_dir: Path | None = None,
    narrator: str | RetrievalCaptioner | LlavaCaptioner = DEFAULT_NARRATOR,
    llava: str | None = None,
    unit_filters: Mapping[str, str] | None = None,
    n_units: int | None = None,
    draws: int = 1,
    seed: int = 0,
    options: ScoringOptions | None = None,
    encoder: SentenceEncoder | None = None,
    predictions_out: Path | None = None,
    sessions: Sequence[str] | None = None,
) -> ResultEntry:
    """Predict, narrate and score a model directory on a task's test split.

    Args:
        model_dir: Model directory (config.json + safetensors/npz/json; never pickle).
        dataset: Dataset folder, Hub id or opened handle.
        task: Task name.
        results_dir: Where to write the entry (``<model>/<revision>/<task>[@subset].json``); None: don't write.
        narrator: "auto", "phrase", "retrieval" or "llava", or a narrator instance made once
            (:func:`inference.make_narrator`).
        llava: LLaVA id/path for the llava narrator.
        unit_filters: Subset query filters (e.g. {"region_group": "V1"}).
        n_units: Subset query size (random units after filters).
        draws: Random unit draws when ``n_units`` is set (seeds ``seed .. seed + draws - 1``).
        seed: Scoring and draw seed.
        options: Scoring options (bootstrap size, exclusion zone, ...).
        encoder: SBERT encoder to reuse across calls.
        predictions_out: Keep the (first draw's) predictions file here.
        sessions: Predict only these sessions of the test split (default: every one the model decodes).

    Returns:
        The result entry (also written when ``results_dir`` is given).
    """
    ds = _as_dataset(dataset)
    opts = options or ScoringOptions(seed=seed)
    encoder = encoder or SentenceEncoder(DEFAULT_SENTENCE_MODEL)
    model = load_model(model_dir)
    meta = model_meta(model.config)
    subset = make_subset(unit_filters, n_units, draws=draws, seed=seed)
    filters = dict(unit_filters or {})
    entries = []
    with tempfile.TemporaryDirectory() as tmp:
        for d in range(draws):
            out = predictions_out if (predictions_out is not None and d == 0) else Path(tmp) / f"draw{d}.parquet"
            path, skipped = narrate(
                model_dir,
                ds,
                task,
                out,
                narrator=narrator,
                llava=llava,
                unit_filters=filters,
                n_units=n_units,
                seed=seed + d,
                sessions=sessions,
            )
            entry = score_predictions(
                read_predictions(path), ds, task, model=meta, subset=subset, encoder=encoder, options=opts
            )
            extra = [SkippedMetric(name=f"session:{s}", reason=r) for s, r in sorted(skipped.items())]
            entry = entry.model_copy(
                update={"skipped": [*[s for s in entry.skipped if s.name not in {x.name for x in extra}], *extra]}
            )
            entries.append(entry)
    entry = entries[0] if len(entries) == 1 else combine_draws(entries, subset, n_boot=opts.n_boot, seed=opts.seed)
    if results_dir is not None:
        write_entry(results_dir, entry)
    return entry


def decoded_recordings(model_dir: Path, ds: DatasetHandle, task: str) -> tuple[pd.DataFrame, list[str]]:
    """The ``units`` config and the test split's recorded sessions the model decodes (pseudo-mice left out).

    Pseudo-mice are left out of scaling curves: their units are the recorded sessions' tagged units again,
    pooled across animals.
    """
    model = load_model(model_dir)
    units = load_units(ds)
    sessions = load_sessions(ds)
    recorded = set(sessions.loc[sessions["kind"] == "recording", "session_id"])
    in_split = sorted(set(load_samples(ds, task, "test")["session_id"]) & recorded)
    return units, [s for s in in_split if route_session(model, units, s)]


def curve_sessions(
    units: pd.DataFrame, candidates: Sequence[str], region: str, sizes: Sequence[int]
) -> tuple[list[str], int | None, dict[str, int]]:
    """The one session set of a scaling curve: the sessions with enough ``region`` units for every scored size.

    Of the ``candidates`` (:func:`decoded_recordings`), each has some number of ``region`` units (``region`` as
    a subset query reads it: ``|`` alternatives and named unions such as ``visual_cortex``). The curve scores
    the sizes up to ``top`` (the largest requested size at least one session reaches) and uses, at every size,
    the sessions with at least ``top`` units, so its points differ in population size only, not in which
    animals remain. Our rule: the paper's Fig. 4 "plots held-out SBERT similarity between decoded narrations and
    ground-truth captions against input population size, broken down by anatomical pool" and does not say how
    it handles sessions with too few units of a pool.
    The rule can leave a curve with one animal when one session has far more units than the others; the
    ``excluded`` counts show it.

    Returns:
        ``(sessions, top or None when no session reaches the smallest size, {session: region unit count}``
        for every candidate, the excluded ones included).
    """
    in_region = units[units["region_group"].isin(region_groups(region))].groupby("session_id").size()
    counts = {s: int(in_region.get(s, 0)) for s in candidates}
    reachable = [int(n) for n in sizes if any(c >= n for c in counts.values())]
    top = max(reachable, default=None)
    chosen = sorted(s for s, c in counts.items() if top is not None and c >= top)
    return chosen, top, counts


def scaling_curve(
    model_dir: Path,
    dataset: str | Path | DatasetHandle,
    task: str,
    *,
    regions: Sequence[str] = ("V1", "higher_visual", "LGd", "hippocampus"),
    sizes: Sequence[int] = (8, 16, 32, 64, 128),
    draws: int = 3,
    seed: int = 0,
    results_dir: Path | None = None,
    options: ScoringOptions | None = None,
    metric: str = "sbert_matched",
    narrator: str = DEFAULT_NARRATOR,
    llava: str | None = None,
) -> pd.DataFrame:
    """Score vs population size per region (paper Fig. 4) from subset queries of one model.

    The narrator (and LLaVA) is loaded once for the whole sweep. Each region's curve uses one fixed session set
    (:func:`curve_sessions`); a size no session reaches is kept as a row with ``skipped`` set.

    Returns:
        Columns region, n_units, value, ci_low, ci_high (over draws), draws, shuffled_floor (the point's
        ``sbert_shuffled_narration_floor``: narrations against other frames' captions, NaN without
        narrations), narrator, sessions (the curve's session set, ``;``-joined), excluded (the sessions left out,
        as ``session:units``), skipped.
    """
    ds = _as_dataset(dataset)
    encoder = SentenceEncoder(DEFAULT_SENTENCE_MODEL)
    captioner = make_narrator(narrator, ds, task, llava=llava)
    units, candidates = decoded_recordings(model_dir, ds, task)
    rows = []
    for region in regions:
        chosen, top, counts = curve_sessions(units, candidates, region, sizes)
        common = {
            "draws": draws,
            "narrator": narrator,
            "sessions": ";".join(chosen),
            "excluded": ";".join(f"{s}:{c}" for s, c in sorted(counts.items()) if s not in chosen),
        }
        for size in sizes:
            blank = {"region": region, "n_units": size, "value": np.nan, "ci_low": np.nan, "ci_high": np.nan}
            if top is None or size > top:
                most = max(counts.values(), default=0)
                reason = f"no decoded session has {size} {region} units (the most is {most})"
                rows.append({**blank, **common, "shuffled_floor": np.nan, "skipped": reason})
                continue
            try:
                entry = evaluate_model(
                    model_dir,
                    ds,
                    task,
                    results_dir=results_dir,
                    unit_filters={"region_group": region},
                    n_units=size,
                    draws=draws,
                    seed=seed,
                    options=options,
                    encoder=encoder,
                    narrator=captioner,
                    sessions=chosen,
                )
            except ModelDirectoryError as exc:
                rows.append({**blank, **common, "shuffled_floor": np.nan, "skipped": str(exc)})
                continue
            m = entry.metric(metric)
            floor = next((x.value for x in entry.metrics if x.name == "sbert_shuffled_narration_floor"), np.nan)
            rows.append(
                {
                    **blank,
                    **common,
                    "value": m.value,
                    "ci_low": m.ci_low,
                    "ci_high": m.ci_high,
                    "shuffled_floor": floor,
                    "narrator": entry.narrator.kind if entry.narrator is not None else narrator,
                    "skipped": "",
                }
            )
    columns = ["region", "n_units", "value", "ci_low", "ci_high", "draws", "shuffled_floor", "narrator"]
    table = pd.DataFrame(rows, columns=[*columns, "sessions", "excluded", "skipped"])
    used = set(table.loc[table["skipped"] == "", "narrator"])
    if len(used) == 1:  # skipped rows name the narrator the scored ones used ("auto" resolves to one kind)
        table["narrator"] = used.pop()
    return table


def write_scaling_report(table: pd.DataFrame, out_dir: Path) -> dict[str, Path]:
    """``scaling.csv`` and ``scaling.png`` (value vs population size, one line per region, log x).

    The plot draws the mean shuffled-caption floor of the points as a dashed line (paper Fig. 4's random-caption
    line is the analogous level).
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv = out_dir / "scaling.csv"
    table.to_csv(csv, index=False)
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for region, rows in table[table["skipped"] == ""].groupby("region", sort=True):
        group = rows.sort_values("n_units")
        ax.plot(group["n_units"], group["value"], marker="o", label=str(region))
        if group["ci_low"].notna().all():
            ax.fill_between(group["n_units"], group["ci_low"], group["ci_high"], alpha=0.2)
    floors = table.loc[table["skipped"] == "", "shuffled_floor"].dropna() if "shuffled_floor" in table else []
    if len(floors):
        level = float(np.mean(floors))
        ax.axhline(level, color="grey", linestyle="--", linewidth=1, label=f"shuffled-caption floor ({level:.3f})")
    ax.set_xscale("log")
    ax.set_xlabel("units in the query")
    ax.set_ylabel("score")
    ax.legend()
    png = out_dir / "scaling.png"
    fig.savefig(png, dpi=100, bbox_inches="tight")
    return {"csv": csv, "png": png}
