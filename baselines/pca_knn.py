"""PCA of spike windows followed by KNN retrieval (paper A.6, Table A3 "PCA followed by KNN retrieval").

Per session: PCA of the flattened training windows (units x bins; ``n_components`` = 64 by default,
capped at ``min(n_train - 1, d)``), then the prediction for a window is the mean pooled target of its
``k`` = 10 cosine-nearest training windows in PCA space (ties: lower training index first).

The KNN decoding (:class:`KnnTargetBank`) is shared with ``cebra_knn``.

Member files: ``members/<session>/pca.npz`` with ``mean`` (d,), ``components`` (c, d) and
``explained_variance`` (c,); ``members/<session>/bank.npz`` with the training ``embeddings`` (n, c),
``target_index`` (n,) and the distinct pooled ``targets`` (m, target_dim).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from neurrator_bench.dataset_access import DatasetHandle, load_supervised
from neurrator_bench.errors import ModelDirectoryError
from neurrator_bench.model_kinds import DecoderModel, Prediction

from .common import (
    Member,
    SessionModel,
    check_feature_mode,
    l2_normalize,
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

KIND = "pca-knn"
PCA_FILE = "pca.npz"
BANK_FILE = "bank.npz"


def unique_rows(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows and the row index of each input row (to store per-frame targets once).

    Args:
        values: (n, d) array.

    Returns:
        (bank (m, d) distinct rows in order of first occurrence, index (n,) int32 with
        ``bank[index] == values``). Rows are compared bytewise.
    """
    arr = np.ascontiguousarray(values)
    rows = arr.view(np.dtype((np.void, arr.dtype.itemsize * arr.shape[1]))).reshape(-1)
    _, first, inverse = np.unique(rows, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return arr[first[order]], rank[inverse.reshape(-1)].astype(np.int32)


def knn_indices(bank: np.ndarray, queries: np.ndarray, k: int, *, max_chunk_elements: int = 2**22) -> np.ndarray:
    """Indices of the ``k`` most cosine-similar bank rows of every query (ties: lower index first).

    Args:
        bank: (m, d) reference embeddings.
        queries: (n, d) query embeddings.
        k: Neighbours per query (capped at m).
        max_chunk_elements: Similarities held in memory at once (queries are processed in chunks).

    Returns:
        (n, min(k, m)) int64 indices, most similar first.

    Raises:
        ValueError: k < 1, empty bank, or mismatched dimensions.
    """
    if k < 1:
        raise ValueError(f"k: expected >= 1, found {k}")
    if bank.ndim != 2 or bank.shape[0] == 0 or queries.ndim != 2 or queries.shape[1] != bank.shape[1]:
        raise ValueError(f"knn: expected bank (m>0, d) and queries (n, d), found {bank.shape} and {queries.shape}")
    m = bank.shape[0]
    k = min(k, m)
    b = l2_normalize(bank)
    q = l2_normalize(queries)
    out = np.empty((q.shape[0], k), dtype=np.int64)
    step = max(1, max_chunk_elements // m)
    for start in range(0, q.shape[0], step):
        sims = q[start : start + step] @ b.T
        kth = np.partition(sims, m - k, axis=1)[:, m - k]
        for r in range(sims.shape[0]):
            cand = np.flatnonzero(sims[r] >= kth[r])  # every row tied with the k-th is a candidate
            out[start + r] = cand[np.lexsort((cand, -sims[r, cand]))][:k]
    return out


@dataclass(frozen=True)
class KnnTargetBank:
    """Training embeddings with the pooled target of each, decoded by averaging k neighbours.

    Attributes:
        embeddings: (n_train, e) training embeddings.
        target_index: (n_train,) int row of ``targets`` of each training sample.
        targets: (m, target_dim) distinct pooled targets.
        k: Neighbours averaged.
    """

    embeddings: np.ndarray
    target_index: np.ndarray
    targets: np.ndarray
    k: int

    def decode(self, queries: np.ndarray) -> np.ndarray:
        """Mean pooled target of the ``k`` cosine-nearest training samples; (n, e) -> (n, target_dim) float32."""
        idx = knn_indices(self.embeddings, queries, self.k)
        return self.targets[self.target_index[idx]].mean(axis=1).astype(np.float32)

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays to store in an npz file."""
        return {
            "embeddings": self.embeddings.astype(np.float32),
            "target_index": self.target_index.astype(np.int32),
            "targets": self.targets.astype(np.float32),
        }

    @classmethod
    def from_npz(cls, path: Path, k: int) -> KnnTargetBank:
        """Read a bank written with :meth:`arrays`."""
        data = read_npz(path, ("embeddings", "target_index", "targets"))
        if data["target_index"].max(initial=-1) >= len(data["targets"]) or len(data["embeddings"]) != len(
            data["target_index"]
        ):
            raise ModelDirectoryError(f"{path}: embeddings/target_index/targets do not match in length")
        return cls(data["embeddings"], data["target_index"].astype(np.int64), data["targets"], int(k))


def fit_pca(features: np.ndarray, n_components: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Principal components by eigendecomposition of the covariance matrix.

    Args:
        features: (n, d) training features.
        n_components: Components wanted (capped at ``min(n - 1, d)``).

    Returns:
        (mean (d,), components (c, d) unit rows by decreasing variance, explained variance (c,)), float32.
        Each component's sign makes its largest-magnitude loading positive (deterministic output).

    Raises:
        ValueError: ``n_components < 1`` or fewer than 2 samples.
    """
    n, d = features.shape
    if n_components < 1 or n < 2:
        raise ValueError(f"pca: expected n_components >= 1 and >= 2 samples, found {n_components} and {n}")
    c = min(n_components, n - 1, d)
    x = features.astype(np.float64)
    mean = x.mean(axis=0)
    xc = x - mean
    w, v = np.linalg.eigh(xc.T @ xc / (n - 1))
    order = np.argsort(w)[::-1][:c]
    comps = v[:, order].T
    signs = np.sign(comps[np.arange(c), np.abs(comps).argmax(axis=1)])
    comps *= np.where(signs == 0, 1.0, signs)[:, None]
    return mean.astype(np.float32), comps.astype(np.float32), np.maximum(w[order], 0.0).astype(np.float32)


def train(
    ds: DatasetHandle,
    task: str,
    out_dir: Path,
    *,
    sessions: list[str] | None = None,
    seed: int = 0,
    progress: bool = False,
    n_components: int = 64,
    k: int = 10,
    features: str = "flat",
    overwrite: bool = False,
) -> Path:
    """Fit PCA + KNN per session and write the model directory.

    Args:
        ds: Opened dataset.
        task: Task config (its "train" split is used).
        out_dir: Model directory to write.
        sessions: Training sessions (default: every session of kind "recording").
        seed: Recorded only (PCA and KNN are deterministic).
        progress: Show a progress bar over sessions.
        n_components: PCA components (capped by the data).
        k: Neighbours averaged.
        features: "flat" (units x bins, default) or "mean" (time-averaged per unit).
        overwrite: Replace an existing model directory.

    Returns:
        ``out_dir``.
    """
    check_feature_mode(features)
    if k < 1:
        raise ValueError(f"k: expected >= 1, found {k}")
    chosen = resolve_sessions(ds, sessions)

    def fill(folder: Path) -> dict[str, Any]:
        members, n_params, target_dim, stats = [], 0, 0, {}
        start = time.perf_counter()
        for sid in tqdm(chosen, desc="pca-knn", disable=not progress):
            data = load_supervised(ds, task, "train", sid)
            feats = window_features(data.x, features)
            mean, comps, var = fit_pca(feats, n_components)
            emb = (feats - mean) @ comps.T
            targets, index = unique_rows(data.pooled)
            bank = KnnTargetBank(emb, index, targets, k)
            member = folder / member_relpath(sid)
            write_npz(member / PCA_FILE, {"mean": mean, "components": comps, "explained_variance": var})
            write_npz(member / BANK_FILE, bank.arrays())
            members.append(member_entry(sid, data.windows.shape[1], data.windows.shape[2], len(data.windows)))
            n_params += mean.size + comps.size
            target_dim = data.pooled.shape[1]
            stats[sid] = {"n_components": int(comps.shape[0]), "explained_variance_sum": float(var.sum())}
        return model_config(
            kind=KIND,
            ds=ds,
            task=task,
            target_dim=target_dim,
            n_parameters=n_params,
            sessions=chosen,
            members=members,
            training={
                "seed": seed,
                "n_components": n_components,
                "per_session": stats,
                "train_seconds": round(time.perf_counter() - start, 3),
            },
            features=features,
            k=k,
        )

    return write_model_dir(Path(out_dir), fill, overwrite=overwrite)


def load(model_dir: Path, config: dict[str, Any]) -> DecoderModel:
    """Load a PCA-KNN model directory (npz, ``allow_pickle=False``).

    Raises:
        ModelDirectoryError: Missing files or arrays whose shapes do not match the member.
    """
    features = check_feature_mode(config.get("features", "flat"))
    k = int(config.get("k", 10))
    members = []
    for entry, folder in member_entries(Path(model_dir), config):
        pca = read_npz(folder / PCA_FILE, ("mean", "components"))
        bank = KnnTargetBank.from_npz(folder / BANK_FILE, k)
        n_in = entry["n_units"] * (entry["window_bins"] if features == "flat" else 1)
        mean, comps = pca["mean"], pca["components"]
        if mean.shape != (n_in,) or comps.shape[1:] != (n_in,) or bank.embeddings.shape[1] != comps.shape[0]:
            raise ModelDirectoryError(
                f"{folder / PCA_FILE}: expected mean ({n_in},) and components (c, {n_in}) matching the bank's "
                f"{bank.embeddings.shape[1]} dims, found {mean.shape} and {comps.shape}"
            )

        def decode(
            x: np.ndarray, mean: np.ndarray = mean, comps: np.ndarray = comps, bank: KnnTargetBank = bank
        ) -> Prediction:
            return Prediction(pooled=bank.decode((window_features(x, features) - mean) @ comps.T))

        members.append(Member(entry["session_id"], entry["n_units"], entry["window_bins"], decode))
    return SessionModel(config, members)
