"""Retrieval-only encoder (paper A.6): spikes -> 512-d head -> caption-text space -> nearest training caption.

The paper replaces Neurrator's patch head with a single 512-d projection trained with a 70/30 mixture
of cosine similarity and InfoNCE against text embeddings of each frame's caption. Here, per session, a
small MLP over the window features feeds a 512-d head, projected linearly to the 384-d MiniLM space of
:class:`~neurrator_bench.text_embedding.SentenceEncoder`::

    x (units, or units*bins) -> Linear(hidden) -> GELU -> Linear(512) -> GELU -> Linear(text_dim) -> L2-normalize

Loss per sample: ``0.7 * (1 - cos(z, t)) + 0.3 * InfoNCE``, where InfoNCE is the cross-entropy of the
sample's own caption among every distinct training caption (logits ``z . bank / temperature``), so that
repeats of the same caption are never used as negatives of each other.

Features: the time-averaged rate per unit by default (``features="mean"``); ``"flat"`` feeds units x bins.
On the simulated test dataset (session 9000800803, nm1-sparse-random, 90 test frames) the exact-caption
accuracy of the narration is 0.34 with "mean" vs 0.28 with "flat" (most-frequent-caption floor 0.09).

Prediction: ``Prediction(pooled=None, narration=[nearest training caption])`` — its output lives in text
space, not in the target space, so it has no pooled prediction.

Scorer-space honesty: MiniLM is also the scorer's sentence model, so this baseline is trained in the very
space its SBERT score is measured in, and that score is partly circular; its entries carry
``scorer_space: true`` and the leaderboard marks them. The variant ``retrieval-encoder-target``
(``space="target"``) trains the same network against the pooled *target* embeddings of the training frames
instead (the bank is the distinct training-frame targets, each with its frame's caption; InfoNCE over that
bank), narrates with the caption of the nearest bank frame and also returns its target-space prediction as
``pooled``, so the two can be compared on the same scorer. Caveat: the embedded default's targets
(``embedded-minilm-patches``) are themselves MiniLM phrase embeddings, so on that dataset the target space is
close to the scorer's space too; the comparison is clean on real CLIP targets.

Files: ``caption_bank.json`` (the sorted distinct training captions) and ``caption_bank.npz``
(``embeddings`` (m, text_dim) float32, unit rows) at the model root; per session
``members/<session>/encoder.safetensors`` and ``members/<session>/encoder.json`` (layer sizes).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from neurrator_bench.dataset_access import DatasetHandle, load_frame_targets, load_samples, load_supervised
from neurrator_bench.errors import DatasetFormatError, ModelDirectoryError
from neurrator_bench.model_kinds import DecoderModel, Prediction
from neurrator_bench.text_embedding import DEFAULT_SENTENCE_MODEL, SentenceEncoder

from .common import (
    Member,
    SessionModel,
    check_feature_mode,
    l2_normalize,
    member_entries,
    member_entry,
    member_relpath,
    model_config,
    read_json,
    read_npz,
    resolve_sessions,
    torch_threads,
    window_features,
    write_json,
    write_model_dir,
    write_npz,
)

logger = logging.getLogger(__name__)

KIND = "retrieval-encoder"
TARGET_KIND = "retrieval-encoder-target"
SPACES = ("text", "target")
WEIGHTS = "encoder.safetensors"
ARCH_FILE = "encoder.json"
BANK_TEXT = "caption_bank.json"
BANK_EMB = "caption_bank.npz"
COSINE_WEIGHT = 0.7
ARCH_FIELDS = ("d_in", "hidden", "head_dim", "text_dim")


class RetrievalEncoder(nn.Module):
    """MLP from window features to unit vectors in text space.

    Args:
        d_in: Input features per window.
        hidden: Hidden width.
        head_dim: Width of the head (512 in the paper).
        text_dim: Text-embedding dimension.
    """

    def __init__(self, d_in: int, hidden: int, head_dim: int, text_dim: int) -> None:
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(d_in, hidden), nn.GELU(), nn.Linear(hidden, head_dim), nn.GELU())
        self.proj = nn.Linear(head_dim, text_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, d_in) -> (batch, text_dim) unit vectors."""
        return nn.functional.normalize(self.proj(self.trunk(x)), dim=-1)


def retrieval_loss(
    z: torch.Tensor, bank: torch.Tensor, index: torch.Tensor, temperature: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``0.7 * (1 - cos) + 0.3 * InfoNCE`` over the caption bank.

    Args:
        z: (batch, text_dim) unit predictions.
        bank: (m, text_dim) unit caption embeddings.
        index: (batch,) bank row of each sample's caption.
        temperature: InfoNCE temperature.

    Returns:
        (total loss, mean 1 - cosine, mean InfoNCE), scalars.
    """
    logits = z @ bank.T
    cos = 1.0 - logits.gather(1, index[:, None]).squeeze(1).mean()
    nce = nn.functional.cross_entropy(logits / temperature, index)
    return COSINE_WEIGHT * cos + (1.0 - COSINE_WEIGHT) * nce, cos, nce


def fit_encoder(
    features: np.ndarray,
    caption_index: np.ndarray,
    bank: np.ndarray,
    *,
    seed: int,
    hidden: int,
    head_dim: int,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    weight_decay: float,
    temperature: float,
    num_threads: int = 1,
) -> tuple[RetrievalEncoder, dict[str, float]]:
    """Train one session's encoder (seeded init and shuffling, no global RNG left changed).

    Args:
        features: (n, d_in) window features.
        caption_index: (n,) bank row of each sample's caption.
        bank: (m, text_dim) unit caption embeddings.
        seed: Seed of init and batch order.
        hidden: Hidden width.
        head_dim: Head width.
        epochs: Passes over the data.
        batch_size: Samples per step.
        learning_rate: AdamW learning rate.
        weight_decay: AdamW weight decay.
        temperature: InfoNCE temperature.
        num_threads: Torch threads while training (restored afterwards).

    Returns:
        (encoder in eval mode, final-epoch mean losses {"loss", "cosine", "infonce"}).
    """
    x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
    idx = torch.from_numpy(caption_index.astype(np.int64))
    bank_t = torch.from_numpy(np.ascontiguousarray(bank, dtype=np.float32))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = RetrievalEncoder(x.shape[1], hidden, head_dim, bank.shape[1])
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    stats = {"loss": float("nan"), "cosine": float("nan"), "infonce": float("nan")}
    model.train()
    with torch_threads(num_threads):
        for _ in range(epochs):
            order = torch.randperm(len(x), generator=gen)
            sums = np.zeros(3)
            for start in range(0, len(x), batch_size):
                b = order[start : start + batch_size]
                loss, cos, nce = retrieval_loss(model(x[b]), bank_t, idx[b], temperature)
                opt.zero_grad()
                loss.backward()
                opt.step()
                sums += np.array([loss.item(), cos.item(), nce.item()]) * len(b)
            stats = dict(zip(("loss", "cosine", "infonce"), (sums / len(x)).tolist(), strict=True))
    return model.eval(), stats


def nearest_captions(z: np.ndarray, bank: np.ndarray, captions: list[str]) -> list[str]:
    """Caption of the most cosine-similar bank row (ties: lower row); (n, d) -> n strings."""
    best = np.argmax(l2_normalize(z) @ l2_normalize(bank).T, axis=1)
    return [captions[i] for i in best]


def train(
    ds: DatasetHandle,
    task: str,
    out_dir: Path,
    *,
    sessions: list[str] | None = None,
    seed: int = 0,
    progress: bool = False,
    features: str = "mean",
    hidden: int = 256,
    head_dim: int = 512,
    epochs: int = 10,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    weight_decay: float = 1e-4,
    temperature: float = 0.1,
    text_model: str = DEFAULT_SENTENCE_MODEL,
    text_encoder: SentenceEncoder | None = None,
    num_threads: int = 1,
    overwrite: bool = False,
    space: str = "text",
) -> Path:
    """Train the retrieval-only encoder per session and write the model directory.

    Args:
        ds: Opened dataset.
        task: Task config (its "train" split is used).
        out_dir: Model directory to write.
        sessions: Training sessions (default: every session of kind "recording").
        seed: Seed of init and batch order.
        progress: Show a progress bar over sessions.
        features: "mean" (time-averaged per unit, default) or "flat" (units x bins).
        hidden: Hidden width.
        head_dim: Head width (512 as in the paper).
        epochs: Passes over the training windows.
        batch_size: Samples per step.
        learning_rate: AdamW learning rate.
        weight_decay: AdamW weight decay.
        temperature: InfoNCE temperature.
        text_model: Sentence model of the caption embeddings (MiniLM offline by default).
        text_encoder: An already-loaded SentenceEncoder to reuse (overrides ``text_model``).
        num_threads: Torch threads while training.
        overwrite: Replace an existing model directory.
        space: ``"text"`` (caption embeddings of ``text_model``, the paper's A.6 baseline) or ``"target"``
            (pooled target embeddings of the training frames; see the module doc).

    Returns:
        ``out_dir``.
    """
    check_feature_mode(features)
    if space not in SPACES:
        raise ValueError(f"space: expected one of {SPACES}, found {space!r}")
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs, batch_size: expected >= 1, found {epochs}, {batch_size}")
    chosen = resolve_sessions(ds, sessions)
    encoder = None
    if space == "text":
        encoder = text_encoder if text_encoder is not None else SentenceEncoder(text_model)
    hyper = {
        "hidden": hidden,
        "head_dim": head_dim,
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "weight_decay": weight_decay,
        "temperature": temperature,
    }

    def fill(folder: Path) -> dict[str, Any]:
        start = time.perf_counter()
        train_rows = load_samples(ds, task, "train", sessions=chosen)
        if space == "text":
            captions = sorted({str(c) for c in train_rows["caption"]})
            with torch_threads(num_threads):
                bank = encoder.encode(captions)
            row = {c: i for i, c in enumerate(captions)}
        else:
            captions, bank, frame_row = target_bank(ds, train_rows)
        write_json(folder / BANK_TEXT, captions)
        write_npz(folder / BANK_EMB, {"embeddings": bank})
        members, n_params, stats, target_dim = [], 0, {}, 0
        for sid in tqdm(chosen, desc="retrieval-encoder", disable=not progress):
            d = load_supervised(ds, task, "train", sid)
            feats = window_features(d.x, features)
            if space == "text":
                unknown = sorted({str(c) for c in d.captions} - set(row))
                if unknown:
                    raise DatasetFormatError(
                        f"{ds.root}: {task}/train captions of session {sid} expected in the samples' caption "
                        f"column, found {len(unknown)} others, e.g. {unknown[0]!r}"
                    )
                cap_idx = np.array([row[str(c)] for c in d.captions], dtype=np.int64)
            else:
                keys = zip(d.meta["stimulus"], d.meta["frame"].astype(int), strict=True)
                cap_idx = np.array([frame_row[k] for k in keys], dtype=np.int64)
            target_dim = d.pooled.shape[1]
            model, losses = fit_encoder(feats, cap_idx, bank, seed=seed, num_threads=num_threads, **hyper)
            member = folder / member_relpath(sid)
            member.mkdir(parents=True, exist_ok=True)
            state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
            save_file(state, str(member / f".{WEIGHTS}.tmp"))
            (member / f".{WEIGHTS}.tmp").replace(member / WEIGHTS)
            arch = {"d_in": feats.shape[1], "hidden": hidden, "head_dim": head_dim, "text_dim": bank.shape[1]}
            write_json(member / ARCH_FILE, arch)
            members.append(member_entry(sid, d.windows.shape[1], d.windows.shape[2], len(d.windows)))
            n_params += sum(int(v.numel()) for v in state.values())
            stats[sid] = {k: round(v, 6) for k, v in losses.items()}
        return model_config(
            kind=KIND if space == "text" else TARGET_KIND,
            ds=ds,
            task=task,
            target_dim=target_dim,
            n_parameters=n_params,
            sessions=chosen,
            members=members,
            training={
                "seed": seed,
                **hyper,
                "loss": f"{COSINE_WEIGHT} * (1 - cosine) + {1 - COSINE_WEIGHT:.1f} * InfoNCE over the caption bank",
                "final_epoch_losses": stats,
                "train_seconds": round(time.perf_counter() - start, 3),
            },
            features=features,
            space=space,
            **(
                {"text_model": {"model_id": encoder.model_id, "revision": encoder.revision, "dim": int(bank.shape[1])}}
                if space == "text"
                else {}
            ),
            n_captions=len(captions),
        )

    return write_model_dir(Path(out_dir), fill, overwrite=overwrite)


def target_bank(ds: DatasetHandle, train_rows) -> tuple[list[str], np.ndarray, dict[tuple[str, int], int]]:
    """The target-space bank: distinct pooled targets of the training frames, each with a caption.

    Frames with bit-identical targets (a static shot) are one bank row, so they are never each other's
    InfoNCE negatives; a row's caption is the most frequent caption of its frames (ties: the first in sort
    order).

    Returns:
        ``(captions (m,), unit bank (m, target_dim) float32, (stimulus, frame) -> bank row)``.
    """
    frames = train_rows[["stimulus", "frame", "caption"]].drop_duplicates(["stimulus", "frame"])
    frames = frames.sort_values(["stimulus", "frame"], kind="stable")
    pooled = {str(st): load_frame_targets(ds, str(st)).pooled for st in set(frames["stimulus"])}
    vectors = np.stack([pooled[str(st)][int(f)] for st, f in zip(frames["stimulus"], frames["frame"], strict=True)])
    unique, inverse = np.unique(vectors, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    captions = []
    for r in range(unique.shape[0]):
        names = sorted(frames["caption"].to_numpy()[inverse == r].astype(str))
        values, counts = np.unique(names, return_counts=True)
        captions.append(str(values[int(np.argmax(counts))]))
    frame_row = {
        (str(st), int(f)): int(r) for st, f, r in zip(frames["stimulus"], frames["frame"], inverse, strict=True)
    }
    return captions, l2_normalize(unique.astype(np.float32)), frame_row


def train_target_space(ds: DatasetHandle, task: str, out_dir: Path, **options: Any) -> Path:
    """:func:`train` with ``space="target"``: the retrieval encoder trained outside the scorer's text space."""
    return train(ds, task, out_dir, space="target", **options)


def load_caption_bank(model_dir: Path) -> tuple[list[str], np.ndarray]:
    """The distinct training captions and their (m, text_dim) embeddings.

    Raises:
        ModelDirectoryError: Missing files, or captions and embeddings of different lengths.
    """
    captions = read_json(model_dir / BANK_TEXT)
    bank = read_npz(model_dir / BANK_EMB, ("embeddings",))["embeddings"]
    if not isinstance(captions, list) or not all(isinstance(c, str) for c in captions) or len(captions) != len(bank):
        raise ModelDirectoryError(
            f"{model_dir / BANK_TEXT}: expected a list of {len(bank)} strings matching {BANK_EMB}, "
            f"found {type(captions).__name__} of length {len(captions)}"
        )
    return captions, bank


def load_encoder(folder: Path) -> RetrievalEncoder:
    """Rebuild one member's encoder from ``encoder.json`` + ``encoder.safetensors``.

    Raises:
        ModelDirectoryError: Missing files/fields or weights that do not fit.
    """
    arch = read_json(folder / ARCH_FILE)
    missing = [f for f in ARCH_FIELDS if f not in arch]
    if missing:
        raise ModelDirectoryError(f"{folder / ARCH_FILE}: missing field(s) {missing}")
    model = RetrievalEncoder(*(int(arch[f]) for f in ARCH_FIELDS))
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise ModelDirectoryError(f"{weights}: expected the encoder weights, found none")
    try:
        model.load_state_dict(load_file(str(weights)), strict=True)
    except RuntimeError as exc:
        raise ModelDirectoryError(f"{weights}: weights do not match {arch}: {exc}") from exc
    return model.eval()


def encode_windows(model: RetrievalEncoder, features: np.ndarray) -> np.ndarray:
    """Text-space predictions; (n, d_in) -> (n, text_dim) float32 unit rows."""
    with torch.no_grad(), torch_threads(1):
        return model(torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))).numpy()


def load(model_dir: Path, config: dict[str, Any]) -> DecoderModel:
    """Load a retrieval-encoder model directory (safetensors + json + npz; never unpickles).

    Raises:
        ModelDirectoryError: Missing files or shapes that do not match.
    """
    model_dir = Path(model_dir)
    features = check_feature_mode(config.get("features", "mean"))
    space = config.get("space", "text")
    if space not in SPACES:
        raise ModelDirectoryError(f"{model_dir}/config.json: field 'space' expected one of {SPACES}, found {space!r}")
    captions, bank = load_caption_bank(model_dir)
    members = []
    for entry, folder in member_entries(model_dir, config):
        model = load_encoder(folder)
        n_in = entry["n_units"] * (entry["window_bins"] if features == "flat" else 1)
        if model.trunk[0].in_features != n_in or model.proj.out_features != bank.shape[1]:
            raise ModelDirectoryError(
                f"{folder / ARCH_FILE}: expected d_in {n_in} and text_dim {bank.shape[1]}, found "
                f"{model.trunk[0].in_features} and {model.proj.out_features}"
            )

        def decode(x: np.ndarray, model: RetrievalEncoder = model) -> Prediction:
            z = encode_windows(model, window_features(x, features))
            pooled = z if space == "target" else None  # only a target-space prediction is a pooled target
            return Prediction(pooled=pooled, narration=nearest_captions(z, bank, captions))

        members.append(Member(entry["session_id"], entry["n_units"], entry["window_bins"], decode))
    return SessionModel(config, members)
