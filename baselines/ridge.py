"""Ridge regression from spike windows to the pooled target (paper A.6, Table A3 "ridge on raw spike windows").

Features: the time-averaged z-scored rate of each unit (``features="mean"``, default) or the flattened
window (units x bins, unit-major, ``features="flat"``). On the simulated test dataset (session
9000800803, nm1-sparse-random) "mean" has the lower cross-validated MSE (3.21e-4 vs 3.36e-4), the higher
test R@10 (0.26 vs 0.20, chance 0.11) and trains ~8x faster, hence the default. One ridge per session,
with an intercept. The penalty ``alpha`` is chosen
on the training split by grouped K-fold cross-validation over a log grid: every frame (with all its
repeats) falls in one fold drawn with ``seed``, so each validation fold holds frames its fit never saw,
as the test sets do. (Folds of contiguous frame blocks were tried: on simulated data nothing transfers
to entirely new shots, so they always pick the largest penalty, a near-constant predictor.) The closed
form needs one (d x d) ``eigh`` of the centered Gram matrix per fold for the whole grid.

Variant ``ridge-patches`` (``target="patches"``, our own addition; Table A3's ridge predicts the pooled
target only): the same features and penalty, fitted to every patch target at once (``n_patches x dim``
outputs), so a patch-reading narrator (the phrase narrator, LLaVA) can narrate it; its pooled prediction is
the mean of its patches (the dataset's definition of the pooled target), which equals the pooled ridge's
prediction up to the float16 rounding of the stored targets. Fits whose working arrays would exceed 8 GiB
(CLIP-L's 576 x 1024 targets) are refused with a clear error. The penalty is the one the pooled
cross-validation picks (the patches share its inputs; a per-patch search would cost ``n_patches`` times
more). ``X^T Y`` is accumulated per distinct training frame (targets are stored per frame), so no
per-sample patch array is ever materialised.

Member files: ``members/<session>/ridge.npz`` with ``coef`` (d, target_dim), ``intercept`` (target_dim,),
``alpha`` () and ``cv_mse`` (n_alphas,), all float32/float64 (``ridge-patches``: coef (d, n_patches * target_dim),
patch-major). ``predict`` = ``features @ coef + intercept``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from neurrator_bench.dataset_access import DatasetHandle, load_frame_targets, load_supervised
from neurrator_bench.errors import ModelDirectoryError
from neurrator_bench.model_kinds import DecoderModel, Prediction

from .common import (
    Member,
    SessionModel,
    check_feature_mode,
    member_entries,
    member_entry,
    member_relpath,
    model_config,
    read_npz,
    resolve_sessions,
    window_features,
    write_model_dir,
    write_npz,
)

logger = logging.getLogger(__name__)

KIND = "ridge"
PATCHES_KIND = "ridge-patches"
TARGETS = ("pooled", "patches")
WEIGHTS = "ridge.npz"
DEFAULT_ALPHAS = tuple(float(a) for a in np.logspace(-1, 6, 15))


def frame_folds(stimulus: np.ndarray, frame: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Fold of every sample: each (stimulus, frame) goes, with all its repeats, to one random fold.

    Args:
        stimulus: (n,) stimulus name of each sample.
        frame: (n,) int frame (or image) index of each sample.
        n_folds: Number of folds (>= 2).
        seed: Seed of the frame-to-fold assignment.

    Returns:
        (n,) int fold index in ``[0, n_folds)``; folds differ in size by at most one frame.

    Raises:
        ValueError: ``n_folds < 2`` or fewer distinct frames than folds.
    """
    if n_folds < 2:
        raise ValueError(f"cv_folds: expected >= 2, found {n_folds}")
    keys = np.char.add(np.char.add(stimulus.astype(str), "/"), frame.astype(str))
    uniq, inverse = np.unique(keys, return_inverse=True)
    if len(uniq) < n_folds:
        raise ValueError(f"cv_folds={n_folds}: expected at least as many training frames, found {len(uniq)}")
    perm = np.random.default_rng(seed).permutation(len(uniq))
    fold_of_frame = np.empty(len(uniq), dtype=np.int64)
    fold_of_frame[perm] = np.arange(len(uniq)) % n_folds
    return fold_of_frame[inverse.reshape(-1)]


def _centered_eig(gram: np.ndarray, xy: np.ndarray, x_sum: np.ndarray, y_sum: np.ndarray, n: int) -> tuple:
    """Means, eigen-decomposition of the centered Gram matrix and ``V^T Xc^T Yc`` from raw sums (float64)."""
    x_mean, y_mean = x_sum / n, y_sum / n
    w, v = np.linalg.eigh(gram - n * np.outer(x_mean, x_mean))
    proj = v.T @ (xy - n * np.outer(x_mean, y_mean))
    return x_mean, y_mean, np.maximum(w, 0.0), v, proj


def _sums(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X^T X, X^T Y, sum X, sum Y) in float64."""
    return x.T @ x, x.T @ y, x.sum(axis=0), y.sum(axis=0)


def ridge_cv(
    features: np.ndarray, targets: np.ndarray, folds: np.ndarray, alphas: tuple[float, ...]
) -> tuple[float, np.ndarray]:
    """Pick the ridge penalty with the lowest held-out mean squared error.

    Args:
        features: (n, d) inputs.
        targets: (n, t) pooled targets.
        folds: (n,) fold index of each sample.
        alphas: Candidate penalties (> 0).

    Returns:
        (best alpha, (n_alphas,) mean held-out MSE per alpha averaged over folds).
    """
    x = features.astype(np.float64)
    y = targets.astype(np.float64)
    total = _sums(x, y)
    mse = np.zeros(len(alphas))
    fold_ids = np.unique(folds)
    for f in fold_ids:
        val = folds == f
        part = _sums(x[val], y[val])
        train_sums = (t - p for t, p in zip(total, part, strict=True))
        x_mean, y_mean, w, v, proj = _centered_eig(*train_sums, int((~val).sum()))
        pv = ((x[val] - x_mean) @ v).astype(np.float32)
        y_val = (y[val] - y_mean).astype(np.float32)
        for i, a in enumerate(alphas):
            pred = pv @ (proj / (w + a)[:, None]).astype(np.float32)
            mse[i] += float(np.mean((pred - y_val) ** 2))
    mse /= len(fold_ids)
    best = int(np.argmin(mse))
    if best in (0, len(alphas) - 1):
        logger.warning("ridge: best alpha %.3g is at the edge of the grid %s", alphas[best], alphas)
    return float(alphas[best]), mse


def fit_ridge(
    features: np.ndarray, targets: np.ndarray, alpha: float, *, rows: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form ridge with intercept.

    Args:
        features: (n, d) inputs.
        targets: (n, t) targets, or with ``rows`` (m, t) distinct targets (one per frame).
        alpha: Penalty (> 0).
        rows: (n,) row of ``targets`` of each sample; ``X^T Y`` is then summed per target row, so
            ``targets`` is never repeated per sample.

    Returns:
        (coef (d, t) float32, intercept (t,) float32) with ``pred = features @ coef + intercept``.
    """
    x = features.astype(np.float64)
    if rows is None:
        sums = _sums(x, targets.astype(np.float64))
    else:
        per_row = np.zeros((len(targets), x.shape[1]))
        np.add.at(per_row, rows, x)
        counts = np.bincount(rows, minlength=len(targets)).astype(np.float64)
        y = targets.astype(np.float64)
        sums = (x.T @ x, per_row.T @ y, x.sum(axis=0), counts @ y)
    x_mean, y_mean, w, v, proj = _centered_eig(*sums, len(x))
    coef = v @ (proj / (w + alpha)[:, None])
    intercept = y_mean - x_mean @ coef
    return coef.astype(np.float32), intercept.astype(np.float32)


def train(
    ds: DatasetHandle,
    task: str,
    out_dir: Path,
    *,
    sessions: list[str] | None = None,
    seed: int = 0,
    progress: bool = False,
    features: str = "mean",
    alphas: tuple[float, ...] = DEFAULT_ALPHAS,
    cv_folds: int = 5,
    target: str = "pooled",
    overwrite: bool = False,
) -> Path:
    """Fit one cross-validated ridge per session and write the model directory.

    Args:
        ds: Opened dataset.
        task: Task config (its "train" split is used).
        out_dir: Model directory to write.
        sessions: Training sessions (default: every session of kind "recording").
        seed: Seed of the frame-to-fold assignment of the cross-validation.
        progress: Show a progress bar over sessions.
        features: "mean" (time-averaged per unit) or "flat" (units x bins).
        alphas: Penalty grid.
        cv_folds: Frame folds for choosing alpha.
        target: ``"pooled"`` (Table A3's ridge) or ``"patches"`` (kind ``ridge-patches``, module doc).
        overwrite: Replace an existing model directory.

    Returns:
        ``out_dir``.
    """
    check_feature_mode(features)
    if target not in TARGETS:
        raise ValueError(f"target: expected one of {TARGETS}, found {target!r}")
    if not alphas or min(alphas) <= 0:
        raise ValueError(f"alphas: expected a non-empty grid of positive values, found {alphas}")
    chosen = resolve_sessions(ds, sessions)

    def fill(folder: Path) -> dict[str, Any]:
        members, stats, n_params, target_dim, n_patches = [], {}, 0, 0, 0
        stimulus_patches: dict[str, np.ndarray] = {}  # each stimulus's patch targets, read once for all sessions
        start = time.perf_counter()
        for sid in tqdm(chosen, desc="ridge", disable=not progress):
            data = load_supervised(ds, task, "train", sid)
            feats = window_features(data.x, features)
            folds = frame_folds(data.meta["stimulus"].to_numpy(), data.meta["frame"].to_numpy(np.int64), cv_folds, seed)
            alpha, mse = ridge_cv(feats, data.pooled, folds, tuple(alphas))
            if target == "pooled":
                coef, intercept = fit_ridge(feats, data.pooled, alpha)
            else:
                rows, frame_patches = _frame_patch_targets(ds, data.meta, stimulus_patches)
                n_patches = frame_patches.shape[1]
                _check_patch_fit_size(feats.shape[1], frame_patches, sid)
                coef, intercept = fit_ridge(feats, frame_patches.reshape(len(frame_patches), -1), alpha, rows=rows)
            write_npz(
                folder / member_relpath(sid) / WEIGHTS,
                {"coef": coef, "intercept": intercept, "alpha": np.float64(alpha), "cv_mse": mse},
            )
            members.append(member_entry(sid, data.windows.shape[1], data.windows.shape[2], len(data.windows)))
            stats[sid] = {"alpha": alpha, "cv_mse_best": float(mse.min())}
            n_params += coef.size + intercept.size
            target_dim = data.pooled.shape[1]
            logger.info("ridge %s: alpha %.3g (cv mse %.4g)", sid, alpha, mse.min())
        extra = {"n_patches": n_patches} if target == "patches" else {}
        return model_config(
            kind=KIND if target == "pooled" else PATCHES_KIND,
            ds=ds,
            task=task,
            target_dim=target_dim,
            n_parameters=n_params,
            sessions=chosen,
            members=members,
            training={
                "seed": seed,
                "features": features,
                "alphas": list(alphas),
                "cv_folds": cv_folds,
                "per_session": stats,
                "train_seconds": round(time.perf_counter() - start, 3),
            },
            features=features,
            target=target,
            **extra,
        )

    return write_model_dir(Path(out_dir), fill, overwrite=overwrite)


def train_patches(ds: DatasetHandle, task: str, out_dir: Path, **options: Any) -> Path:
    """:func:`train` with ``target="patches"`` (the ``ridge-patches`` baseline)."""
    return train(ds, task, out_dir, target="patches", **options)


PATCH_FIT_BUDGET_BYTES = 8 << 30


def _check_patch_fit_size(n_features: int, frame_patches: np.ndarray, session_id: str) -> None:
    """Refuse a patch fit whose float64 working arrays (targets, X^T Y, its projection, coef) exceed 8 GiB.

    The embedded default (16 x 384 outputs) needs a few MB; CLIP-L's 576 x 1024 outputs with ~800 units need
    tens of GB, which this closed form does not attempt.
    """
    n_out = int(np.prod(frame_patches.shape[1:]))
    need = 8 * n_out * (len(frame_patches) + 3 * n_features)
    if need > PATCH_FIT_BUDGET_BYTES:
        raise ValueError(
            f"ridge-patches, session {session_id}: {frame_patches.shape[1]} x {frame_patches.shape[2]} patch "
            f"targets from {n_features} features need about {need / 2**30:.1f} GiB of float64 working memory "
            f"(budget {PATCH_FIT_BUDGET_BYTES / 2**30:.0f} GiB); use the pooled `ridge` baseline for targets this large"
        )


def _frame_patch_targets(ds: DatasetHandle, meta: Any, loaded: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, patches)``: the distinct (stimulus, frame) patch targets of some samples, and each sample's row.

    ``patches`` is (m, n_patches, dim) float32 over the m distinct frames the samples show. ``loaded`` keeps
    each stimulus's float16 patch targets, so sessions that share a stimulus read it once.
    """
    rows = np.empty(len(meta), dtype=np.int64)
    blocks, offset = [], 0
    stimuli = meta["stimulus"].to_numpy()
    frames = meta["frame"].to_numpy(np.int64)
    for stimulus in sorted(set(stimuli)):
        sel = stimuli == stimulus
        shown, inverse = np.unique(frames[sel], return_inverse=True)
        if stimulus not in loaded:
            loaded[stimulus] = load_frame_targets(ds, stimulus, patches=True).patches
        blocks.append(loaded[stimulus][shown].astype(np.float32))
        rows[sel] = offset + inverse.reshape(-1)
        offset += len(shown)
    return rows, np.concatenate(blocks)


def load(model_dir: Path, config: dict[str, Any]) -> DecoderModel:
    """Load a ridge model directory (npz weights, ``allow_pickle=False``).

    Raises:
        ModelDirectoryError: Missing weights or weights that do not match the member's shape.
    """
    features = check_feature_mode(config.get("features", "mean"))
    n_patches = 0
    if config.get("model_kind") == PATCHES_KIND:
        n_patches = config.get("n_patches")
        if not isinstance(n_patches, int) or n_patches < 1:
            raise ModelDirectoryError(
                f"{Path(model_dir) / 'config.json'}: field n_patches expected a positive int for a "
                f"{PATCHES_KIND} model, found {n_patches!r}"
            )
    if not isinstance(config.get("target_dim"), int):
        raise ModelDirectoryError(f"{Path(model_dir) / 'config.json'}: field target_dim expected an int")
    n_out = (n_patches or 1) * config["target_dim"]
    members = []
    for entry, folder in member_entries(Path(model_dir), config):
        weights = read_npz(folder / WEIGHTS, ("coef", "intercept"))
        n_in = entry["n_units"] * (entry["window_bins"] if features == "flat" else 1)
        coef, intercept = weights["coef"], weights["intercept"]
        if coef.shape != (n_in, n_out) or intercept.shape != (n_out,):
            raise ModelDirectoryError(
                f"{folder / WEIGHTS}: coef expected shape ({n_in}, {n_out}) and intercept ({n_out},) "
                f"(n_patches {n_patches or 'none'}, target_dim {config['target_dim']}), "
                f"found {coef.shape} and {intercept.shape}"
            )

        def decode(x: np.ndarray, coef: np.ndarray = coef, intercept: np.ndarray = intercept) -> Prediction:
            out = (window_features(x, features) @ coef + intercept).astype(np.float32)
            if not n_patches:
                return Prediction(pooled=out)
            patches = out.reshape(len(out), n_patches, -1)
            return Prediction(pooled=patches.mean(axis=1, dtype=np.float32), patches=patches)

        members.append(Member(entry["session_id"], entry["n_units"], entry["window_bins"], decode))
    return SessionModel(config, members)
