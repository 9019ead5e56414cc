"""Real-data track: movie-second identification by region and population size on real Allen data.

Runs on a ``real-*`` config of a built dataset (the Natural Movie One extract of session 791319847 in 1-s bins,
``neurrator_bench/realdata/allen_bo11``, shipped in the package). For each decoder, region group and population
size ``n``, ``draws`` random sets of ``n`` units are drawn without replacement from the region's units; each set is
decoded by a frame-identification decoder of :mod:`neurrator_bench.realdata_decoders` (the nearest-template decoder,
and the package's ridge, PCA+KNN, CEBRA and reference encoder in their frame-identification mode), trained on the
training repeats and decoding the held-out test repeats (1 of 30 seconds, chance 1/30). Every decoder sees the same
unit sets. Sizes larger than a region's unit count, and regions with no units, are recorded as rows with a
``skipped`` reason, never dropped.

Statistics per (region, n): mean and standard deviation of the per-draw accuracies, and a 95 %
percentile bootstrap interval of that mean over draws (:func:`neurrator_bench.scorers.bootstrap.bootstrap_ci`,
1000 replicates). The interval reflects the variability due to *which units* were drawn; the test
repeats are fixed. Expected outcome (DESIGN "The embedded default"): V1 > higher visual areas >
hippocampus ~ chance.

The unit draws of (region, n) come from ``np.random.default_rng([seed, crc32(region), n])``, so a row does not
depend on which other regions, sizes or decoders were requested; a learned decoder is seeded with ``seed``.
"""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from neurrator_bench.atomic_files import write_text_atomic
from neurrator_bench.builders.regions import OTHER_GROUP, REGION_GROUPS
from neurrator_bench.dataset_access import DatasetHandle, array2d_to_numpy, load_units, open_dataset, read_table
from neurrator_bench.errors import DatasetFormatError
from neurrator_bench.realdata_decoders import FRAME_ID_DECODERS
from neurrator_bench.scorers.bootstrap import bootstrap_ci
from neurrator_bench.scorers.frame_identification import frame_identification_accuracy

logger = logging.getLogger(__name__)

DEFAULT_CONFIG = "real-nm1-791319847"
DEFAULT_DECODER = "template-euclidean"
KNOWN_REGIONS = (*REGION_GROUPS, OTHER_GROUP)
N_BOOT = 1000
TABLE_COLUMNS = (
    "region",
    "n_units",
    "n_region_units",
    "accuracy_mean",
    "accuracy_sd",
    "ci_low",
    "ci_high",
    "n_draws",
    "n_test_samples",
    "chance",
    "skipped",
    "config",
    "session_id",
    "decoder",
    "seed",
    "dataset_fingerprint",
)
CSV_NAME = "realdata_track.csv"
PNG_NAME = "realdata_track.png"
JSON_NAME = "realdata_track.json"


@dataclass(frozen=True)
class RepeatCounts:
    """One session's counts of a config, arranged by repeat and movie bin.

    Attributes:
        counts: ``(n_repeats, n_frames, n_units)`` float64 spike counts per bin.
        repeats: ``(n_repeats,)`` stimulus repeat indices, ascending.
        frames: ``(n_frames,)`` first movie frame of each bin, ascending.
        session_id: The session.
    """

    counts: np.ndarray
    repeats: np.ndarray
    frames: np.ndarray
    session_id: str


def load_repeat_counts(ds: DatasetHandle, config: str, splits: Sequence[str]) -> RepeatCounts:
    """Counts of the given splits of a pre-binned (one-bin-per-sample) config, by repeat and bin.

    Args:
        ds: Opened dataset.
        config: A ``real-*`` config whose ``spikes`` are ``(n_units, 1)`` counts per sample.
        splits: Splits to concatenate (e.g. ``("train", "validation")``).

    Returns:
        :class:`RepeatCounts`.

    Raises:
        ValueError: ``splits`` is empty.
        KeyError: Unknown config or split.
        DatasetFormatError: More than one session, windows longer than one bin, or a (repeat, frame)
            grid with missing or duplicated samples.
    """
    if not splits:
        raise ValueError(f"splits: expected at least one split of config {config!r}, found none")
    parts = [read_table(ds, config, s, columns=["session_id", "repeat", "frame", "spikes"]) for s in splits]
    sessions = sorted({sid for t in parts for sid in t.column("session_id").to_pylist()})
    if len(sessions) != 1:
        raise DatasetFormatError(f"{ds.root}: config {config!r} must hold exactly one session, found {sessions}")
    repeat = np.concatenate([t.column("repeat").to_numpy() for t in parts]).astype(np.int64)
    frame = np.concatenate([t.column("frame").to_numpy() for t in parts]).astype(np.int64)
    spikes = np.concatenate([array2d_to_numpy(t.column("spikes"), np.float64) for t in parts])
    if spikes.ndim != 3 or spikes.shape[2] != 1:
        raise DatasetFormatError(
            f"{ds.root}: config {config!r} column 'spikes' must be (n_units, 1) per sample, "
            f"found (n_units, {spikes.shape[2] if spikes.ndim == 3 else '?'})"
        )
    repeats, r_idx = np.unique(repeat, return_inverse=True)
    frames, f_idx = np.unique(frame, return_inverse=True)
    n_cells = np.zeros((repeats.size, frames.size), dtype=np.int64)
    np.add.at(n_cells, (r_idx, f_idx), 1)
    if np.any(n_cells != 1):
        r, f = (int(i) for i in np.argwhere(n_cells != 1)[0])
        raise DatasetFormatError(
            f"{ds.root}: config {config!r} splits {list(splits)}: expected one sample per (repeat, frame), "
            f"found {n_cells[r, f]} for repeat {repeats[r]}, frame {frames[f]}"
        )
    counts = np.zeros((repeats.size, frames.size, spikes.shape[1]), dtype=np.float64)
    counts[r_idx, f_idx] = spikes[:, :, 0]
    return RepeatCounts(counts=counts, repeats=repeats, frames=frames, session_id=sessions[0])


def _skip_row(region: str, n: int, n_region: int, reason: str) -> dict[str, object]:
    """A table row recording why (region, n) was not scored."""
    return {"region": region, "n_units": n, "n_region_units": n_region, "n_draws": 0, "skipped": reason}


def score_region_sizes(
    train_counts: np.ndarray,
    test_counts: np.ndarray,
    region_units: dict[str, np.ndarray],
    *,
    sizes: Sequence[int],
    draws: int,
    seed: int,
    decoder: str = DEFAULT_DECODER,
    progress: bool = False,
) -> pd.DataFrame:
    """Decoding accuracy of random unit subsets per region and size, for one decoder (pure; no I/O).

    Args:
        train_counts: ``(r_train, n_frames, n_units)`` spike counts per bin (training repeats).
        test_counts: ``(r_test, n_frames, n_units)`` spike counts per bin (held-out repeats); frame
            ``f`` of both arrays is the same movie bin.
        region_units: Region name -> ``(k,)`` unit indices (axis 2) belonging to it.
        sizes: Population sizes to score.
        draws: Random unit subsets per (region, size), ``>= 1``.
        seed: Base seed (see the module docstring).
        decoder: A :data:`~neurrator_bench.realdata_decoders.FRAME_ID_DECODERS` name.
        progress: Show a progress bar.

    Returns:
        One row per (region, size), in request order, with columns ``region, n_units, n_region_units,
        accuracy_mean, accuracy_sd, ci_low, ci_high, n_draws, n_test_samples, chance, skipped``
        (``skipped`` is ``""`` for scored rows and the reason otherwise; statistics are NaN there).

    Raises:
        KeyError: Unknown decoder.
        ValueError: On a bad size or draw count, or mismatched frame/unit axes.
    """
    fit_predict = FRAME_ID_DECODERS.get(decoder).fit_predict
    if isinstance(draws, bool) or not isinstance(draws, (int, np.integer)) or draws < 1:
        raise ValueError(f"draws: expected an int >= 1, found {draws!r}")
    for n in sizes:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"sizes: expected ints >= 1, found {n!r}")
    if train_counts.shape[1:] != test_counts.shape[1:]:
        raise ValueError(
            f"train_counts and test_counts must share (n_frames, n_units), "
            f"found {train_counts.shape[1:]} and {test_counts.shape[1:]}"
        )
    n_frames = test_counts.shape[1]
    true = np.arange(n_frames)
    rows: list[dict[str, object]] = []
    jobs = [(region, int(n)) for region in region_units for n in sizes]
    for region, n in tqdm(jobs, desc=f"realdata track {decoder}", disable=not progress):
        units = np.asarray(region_units[region], dtype=np.int64)
        if units.size == 0:
            rows.append(_skip_row(region, n, 0, f"region {region!r} has no units in this session"))
            continue
        if n > units.size:
            rows.append(_skip_row(region, n, units.size, f"region {region!r} has only {units.size} units (< {n})"))
            continue
        rng = np.random.default_rng([seed, zlib.crc32(region.encode("utf-8")), n])
        acc = np.empty(draws, dtype=np.float64)
        for d in range(draws):
            chosen = np.sort(rng.choice(units, size=n, replace=False))
            pred = fit_predict(train_counts[:, :, chosen], test_counts[:, :, chosen], seed)
            acc[d] = frame_identification_accuracy(pred, true)
        ci = bootstrap_ci(acc, n_boot=N_BOOT, seed=seed)
        rows.append(
            {
                "region": region,
                "n_units": n,
                "n_region_units": int(units.size),
                "accuracy_mean": ci.value,  # the bootstrap's own value: its interval contains it exactly
                "accuracy_sd": float(acc.std(ddof=1)) if draws > 1 else 0.0,
                "ci_low": ci.low,
                "ci_high": ci.high,
                "n_draws": draws,
                "n_test_samples": int(test_counts.shape[0] * n_frames),
                "chance": 1.0 / n_frames,
                "skipped": "",
            }
        )
        logger.info("%s %s n=%d: accuracy %.3f over %d draws", decoder, region, n, acc.mean(), draws)
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS[:11]))
    table["chance"] = 1.0 / n_frames
    table["n_test_samples"] = int(test_counts.shape[0] * n_frames)
    return table.astype({"n_units": "int64", "n_region_units": "int64", "n_draws": "int64"})


def run_realdata_track(
    dataset: DatasetHandle | str | Path,
    *,
    config: str = DEFAULT_CONFIG,
    regions: Sequence[str] = ("V1", "higher_visual", "hippocampus"),
    sizes: Sequence[int] = (5, 10, 20, 30, 50),
    draws: int = 20,
    seed: int = 0,
    train_splits: Sequence[str] = ("train", "validation"),
    test_split: str = "test",
    decoders: Sequence[str] = (DEFAULT_DECODER,),
    progress: bool = False,
) -> pd.DataFrame:
    """Score frame-identification decoders on a real config by region group and population size.

    Args:
        dataset: An opened dataset, or a dataset folder / Hub repo id for :func:`open_dataset`.
        config: The ``real-*`` config (one session, one 1-s bin per sample).
        regions: Region groups of the ``units`` config (``V1``, ``higher_visual``, ``LGd``,
            ``hippocampus``, ``other``).
        sizes: Numbers of units per random draw.
        draws: Random draws per (region, size).
        seed: Base seed of the unit draws and the bootstrap.
        train_splits: Splits whose repeats build the templates.
        test_split: Split whose repeats are decoded; must share no repeat with ``train_splits``.
        decoders: :data:`~neurrator_bench.realdata_decoders.FRAME_ID_DECODERS` names (default: the z-scored
            nearest-template decoder), scored on the same unit draws.
        progress: Show a progress bar.

    Returns:
        The :func:`score_region_sizes` tables of every decoder, one after another, plus provenance columns
        ``config, session_id, decoder, seed, dataset_fingerprint`` (all columns in :data:`TABLE_COLUMNS`).

    Raises:
        KeyError: Unknown region group, decoder, config or split.
        ValueError: Train and test splits share repeats, or bad sizes/draws.
        DatasetFormatError: See :func:`load_repeat_counts`; the units table does not match the spikes.
    """
    ds = dataset if isinstance(dataset, DatasetHandle) else open_dataset(dataset)
    unknown = [r for r in regions if r not in KNOWN_REGIONS]
    if unknown:
        raise KeyError(f"regions: unknown region group(s) {unknown}; known groups: {list(KNOWN_REGIONS)}")
    if not decoders:
        raise ValueError("decoders: expected at least one decoder name, found none")
    for name in decoders:
        FRAME_ID_DECODERS.get(name)
    if test_split in train_splits:
        raise ValueError(f"test_split {test_split!r} is also in train_splits {list(train_splits)}")
    train = load_repeat_counts(ds, config, train_splits)
    test = load_repeat_counts(ds, config, [test_split])
    shared = sorted(set(train.repeats.tolist()) & set(test.repeats.tolist()))
    if shared:
        raise ValueError(f"config {config!r}: repeats {shared} are in both {list(train_splits)} and {test_split!r}")
    if not np.array_equal(train.frames, test.frames) or train.session_id != test.session_id:
        raise DatasetFormatError(
            f"{ds.root}: config {config!r}: train and test splits must cover the same frames of one session, "
            f"found {train.frames.size} vs {test.frames.size} frames"
        )
    units = load_units(ds, train.session_id)
    n_units = train.counts.shape[2]
    if len(units) != n_units or not np.array_equal(units["unit_index"].to_numpy(), np.arange(n_units)):
        raise DatasetFormatError(
            f"{ds.root}: units config for session {train.session_id}: expected unit_index 0..{n_units - 1} "
            f"matching the {n_units} spike rows of {config!r}, found {len(units)} rows"
        )
    groups = units["region_group"].to_numpy(dtype=object)
    region_units = {r: np.flatnonzero(groups == r) for r in regions}
    tables = []
    for name in dict.fromkeys(decoders):
        part = score_region_sizes(
            train.counts,
            test.counts,
            region_units,
            sizes=sizes,
            draws=draws,
            seed=seed,
            decoder=name,
            progress=progress,
        )
        tables.append(part.assign(decoder=name))
    table = pd.concat(tables, ignore_index=True)
    table["config"] = config
    table["session_id"] = train.session_id
    table["seed"] = int(seed)
    table["dataset_fingerprint"] = ds.fingerprint
    return table[list(TABLE_COLUMNS)]


def realdata_summary(table: pd.DataFrame) -> dict[str, object]:
    """JSON-ready summary: scored rows, skips, and the region ordering at every scored size.

    Args:
        table: Output of :func:`run_realdata_track`.

    Returns:
        Dict with ``config, session_id, seed, dataset_fingerprint, chance, ci``, ``decoders`` (in table
        order), ``ordering`` (per decoder and scored size: ``{"decoder", "n_units", "regions_by_accuracy",
        "v1_gt_higher_gt_hippocampus"}``, the last None unless all three regions were scored at that size),
        ``skipped`` (list of ``{region, n_units, reason}``, the same for every decoder) and ``rows`` (the scored
        rows, with their decoder).

    Raises:
        KeyError: A column of :data:`TABLE_COLUMNS` is missing.
    """
    missing = [c for c in TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise KeyError(f"realdata table: missing columns {missing}; expected {list(TABLE_COLUMNS)}")
    scored = table[table["skipped"] == ""]
    decoders = list(dict.fromkeys(table["decoder"]))
    ordering = []
    for decoder in decoders:
        mine = scored[scored["decoder"] == decoder]
        for n in sorted(set(mine["n_units"].tolist())):
            acc = mine[mine["n_units"] == n].set_index("region")["accuracy_mean"].to_dict()
            check = None
            if {"V1", "higher_visual", "hippocampus"} <= set(acc):
                check = bool(acc["V1"] > acc["higher_visual"] > acc["hippocampus"])
            ordering.append(
                {
                    "decoder": decoder,
                    "n_units": int(n),
                    "regions_by_accuracy": sorted(acc, key=lambda r: -acc[r]),
                    "v1_gt_higher_gt_hippocampus": check,
                }
            )
    provenance = {
        col: (None if table.empty else json.loads(table[[col]].iloc[:1].to_json(orient="records"))[0][col])
        for col in ("config", "session_id", "seed", "dataset_fingerprint", "chance")
    }
    kept = [c for c in TABLE_COLUMNS[:11] if c != "skipped"] + ["decoder"]
    rows = json.loads(scored[kept].to_json(orient="records"))
    skipped = table[table["skipped"] != ""][["region", "n_units", "skipped"]].drop_duplicates()
    return {
        **provenance,
        "decoders": decoders,
        "ci": f"95% percentile bootstrap of the mean over unit draws ({N_BOOT} replicates)",
        "ordering": ordering,
        "skipped": [{"region": r, "n_units": int(n), "reason": s} for r, n, s in skipped.itertuples(index=False)],
        "rows": rows,
    }


def plot_realdata_track(table: pd.DataFrame, path: Path) -> Path:
    """Accuracy vs number of units (log x), one panel per decoder: a line with CI band per region, dashed chance.

    Args:
        table: Output of :func:`run_realdata_track` (skipped rows are not drawn).
        path: PNG file to write (atomically).

    Returns:
        ``path``.

    Raises:
        ValueError: The table has no scored row.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    scored = table[table["skipped"] == ""]
    if scored.empty:
        raise ValueError(f"{path}: the realdata table has no scored row to plot (all {len(table)} skipped)")
    decoders = list(dict.fromkeys(scored["decoder"])) if "decoder" in scored.columns else [None]
    cols = min(3, len(decoders))
    rows = -(-len(decoders) // cols)
    fig = Figure(figsize=(5.5 * cols, 4.0 * rows), dpi=120)
    FigureCanvasAgg(fig)
    chance = float(scored["chance"].iloc[0])
    for i, decoder in enumerate(decoders):  # one panel per decoder, same axes
        ax = fig.add_subplot(rows, cols, i + 1)
        mine = scored if decoder is None else scored[scored["decoder"] == decoder]
        for region in dict.fromkeys(mine["region"]):
            part = mine[mine["region"] == region].sort_values("n_units")
            ax.plot(part["n_units"], part["accuracy_mean"], marker="o", label=region)
            ax.fill_between(part["n_units"], part["ci_low"], part["ci_high"], alpha=0.2)
        ax.axhline(chance, color="grey", linestyle="--", label=f"chance (1/{round(1 / chance)})")
        ax.set_xscale("log")
        ax.set_xticks(sorted(set(mine["n_units"].tolist())))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("number of units (random draws)")
        ax.set_ylabel("frame identification accuracy")
        ax.set_ylim(0.0, 1.0)
        config = f"{scored['config'].iloc[0]}: " if "config" in scored.columns else ""
        ax.set_title(f"{config}held-out movie second" + (f"\n{decoder}" if decoder else ""), fontsize="medium")
        ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png")
    tmp.replace(path)
    return path


def write_realdata_report(table: pd.DataFrame, out_dir: Path) -> dict[str, Path]:
    """Write the table (CSV), the plot (PNG) and a JSON summary into ``out_dir``, each atomically.

    Args:
        table: Output of :func:`run_realdata_track`.
        out_dir: Folder to write into (created if missing); existing report files are replaced.

    Returns:
        ``{"csv": ..., "png": ..., "json": ...}`` paths.

    Raises:
        KeyError: A column is missing (see :func:`realdata_summary`).
        ValueError: No row was scored (see :func:`plot_realdata_track`).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = realdata_summary(table)
    paths = {"csv": out_dir / CSV_NAME, "png": out_dir / PNG_NAME, "json": out_dir / JSON_NAME}
    write_text_atomic(paths["csv"], table.to_csv(index=False))
    plot_realdata_track(table, paths["png"])
    write_text_atomic(paths["json"], json.dumps(summary, indent=2) + "\n")
    return paths
