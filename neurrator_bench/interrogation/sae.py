"""Sparse autoencoder (SAE) over patch tokens: the feature dictionary of paper Sec. 5.

Paper Sec. 5: "We use the Prisma-Multimodal SAE pretrained on the CLIP B/32 layer-11 residual stream (access to
49,152 features) and pass each cell-type's Neurrator patches predictions through it." Neurrator's patches are
CLIP-L/14-336 penultimate-layer tokens (1024-d); a CLIP-B/32 SAE reads 768-d inputs, so it cannot take them
as-is, and the paper does not say how the two were bridged. **This package never bridges spaces silently**: an
SAE's ``input_dim`` must equal the dataset's target dimension, checked when it is loaded for a dataset. On a
real build, train one on the dataset's own CLIP-L patch targets (``neurrator-bench sae train``) or bring one
trained on CLIP-L/14-336 tokens of the same layer; on the embedded default, the SAE is trained on the simulated
384-d patch targets.

An SAE directory holds ``sae.safetensors`` (``W_enc`` (d, m), ``b_enc`` (m,), ``W_dec`` (m, d), ``b_dec`` (d,),
float32) and ``sae.json`` (:class:`SAEConfig` plus where its training inputs were taken). Nothing else is read;
a directory holding a pickle-like file is refused before anything is loaded.

Encoding: ``f = act((x - b_dec) W_enc + b_enc)``, ``act`` = ReLU then keep the ``k`` largest (``topk``) or
ReLU (``relu``, trained with an L1 penalty weighted by decoder row norms); decoding ``x_hat = f W_dec + b_dec``.
Training (our own recipe; the paper uses a pretrained SAE): Adam on the MSE of every patch token of the chosen
stimuli's frames, decoder rows renormalised to unit length after every step, seeded per-epoch shuffles, a
checkpoint after every epoch (resuming gives the same weights as an uninterrupted run).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from tqdm.auto import tqdm

from neurrator_bench.atomic_files import write_atomic, write_text_atomic
from neurrator_bench.errors import ModelDirectoryError
from neurrator_bench.model_kinds import check_no_pickles

logger = logging.getLogger(__name__)
WEIGHTS_NAME = "sae.safetensors"
CONFIG_NAME = "sae.json"
CHECKPOINT_NAME = "checkpoint.safetensors"
SAE_FORMAT_VERSION = 1
WEIGHT_KEYS = ("W_enc", "b_enc", "W_dec", "b_dec")


@dataclass(frozen=True)
class SAEConfig:
    """What an SAE is and how it was trained.

    Attributes:
        input_dim: Dimension of one input token; must equal the dataset's target dimension.
        n_features: Dictionary size ``m``.
        activation: ``topk`` (keep the ``k`` largest ReLU pre-activations) or ``relu`` (L1-penalised).
        k: Active features per token for ``topk``.
        l1: L1 weight for ``relu``.
        epochs / batch_size / lr / seed: Training recipe.
        inputs: Where the training tokens were taken (dataset, fingerprint, stimuli, frames, token count), or
            free text for an SAE trained elsewhere.
    """

    input_dim: int
    n_features: int = 1024
    activation: Literal["topk", "relu"] = "topk"
    k: int = 16
    l1: float = 1e-3
    epochs: int = 20
    batch_size: int = 512
    lr: float = 1e-3
    seed: int = 0
    inputs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.activation not in ("topk", "relu"):
            raise ValueError(f"activation: expected 'topk' or 'relu', found {self.activation!r}")
        if self.input_dim < 1 or self.n_features < 1:
            raise ValueError(f"input_dim and n_features must be >= 1, found {self.input_dim}, {self.n_features}")
        if self.activation == "topk" and not 1 <= self.k <= self.n_features:
            raise ValueError(f"k: expected 1..n_features={self.n_features}, found {self.k}")


class SparseAutoencoder(torch.nn.Module):
    """The SAE of :class:`SAEConfig` (module docstring for the equations)."""

    def __init__(self, config: SAEConfig) -> None:
        super().__init__()
        self.config = config
        g = torch.Generator().manual_seed(config.seed)
        w = torch.randn(config.n_features, config.input_dim, generator=g)
        w = w / w.norm(dim=1, keepdim=True)
        self.W_dec = torch.nn.Parameter(w)
        self.W_enc = torch.nn.Parameter(w.t().clone())
        self.b_enc = torch.nn.Parameter(torch.zeros(config.n_features))
        self.b_dec = torch.nn.Parameter(torch.zeros(config.input_dim))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Feature activations (..., n_features) of tokens (..., input_dim)."""
        pre = torch.relu((x - self.b_dec) @ self.W_enc + self.b_enc)
        if self.config.activation == "relu":
            return pre
        top = torch.topk(pre, self.config.k, dim=-1)
        return torch.zeros_like(pre).scatter_(-1, top.indices, top.values)

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        """Reconstructed tokens of feature activations."""
        return f @ self.W_dec + self.b_dec

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(reconstruction, activations)``."""
        f = self.encode(x)
        return self.decode(f), f

    @torch.no_grad()
    def normalize_decoder(self) -> None:
        """Rescale every decoder row to unit length."""
        self.W_dec.div_(self.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-8))

    @torch.no_grad()
    def mean_activation(self, patches: np.ndarray, chunk: int = 4096) -> np.ndarray:
        """Per sample, the mean over its patches of every feature's activation.

        Args:
            patches: (n, n_patches, input_dim) tokens.
            chunk: Tokens encoded per call (whole samples, at least one).

        Returns:
            (n, n_features) float32.

        Raises:
            ValueError: The token dimension is not ``input_dim``.
        """
        arr = np.asarray(patches)
        if arr.ndim != 3 or arr.shape[2] != self.config.input_dim:
            raise ValueError(
                f"patches: expected (n, n_patches, {self.config.input_dim}) for this SAE, found shape {arr.shape}"
            )
        n, p, _ = arr.shape
        out = np.zeros((n, self.config.n_features), dtype=np.float32)
        rows = max(1, chunk // max(p, 1))  # whole samples per call: only (rows * p, n_features) is ever held
        for lo in range(0, n, rows):
            x = torch.from_numpy(np.ascontiguousarray(arr[lo : lo + rows], dtype=np.float32))
            out[lo : lo + rows] = self.encode(x).mean(dim=1).numpy()
        return out


def _loss(sae: SparseAutoencoder, x: torch.Tensor) -> torch.Tensor:
    x_hat, f = sae(x)
    loss = torch.mean((x_hat - x) ** 2)
    if sae.config.activation == "relu":
        loss = loss + sae.config.l1 * torch.mean(torch.sum(f * sae.W_dec.norm(dim=1), dim=-1))
    return loss


def _weights(sae: SparseAutoencoder) -> dict[str, torch.Tensor]:
    return {k: getattr(sae, k).detach().contiguous().clone() for k in WEIGHT_KEYS}


def _save_checkpoint(folder: Path, sae: SparseAutoencoder, optimizer: torch.optim.Optimizer, epoch: int) -> None:
    tensors = {f"sae.{k}": v for k, v in _weights(sae).items()}
    for index, state in optimizer.state_dict()["state"].items():
        for key, value in state.items():
            tensors[f"optim.{index}.{key}"] = torch.as_tensor(value).detach().contiguous().clone()
    meta = {"epoch": str(epoch), "config": json.dumps(asdict(sae.config), sort_keys=True)}
    write_atomic(folder / CHECKPOINT_NAME, lambda tmp: save_file(tensors, tmp, metadata=meta))


def _restore(folder: Path, sae: SparseAutoencoder, optimizer: torch.optim.Optimizer) -> int:
    """Load the checkpoint of the same config into ``sae`` and ``optimizer``; return the epochs done (0 if none)."""
    path = folder / CHECKPOINT_NAME
    if not path.is_file():
        return 0
    with safe_open(str(path), framework="pt") as handle:
        meta = handle.metadata() or {}
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    if json.loads(meta.get("config", "null")) != json.loads(json.dumps(asdict(sae.config), sort_keys=True)):
        raise ValueError(
            f"{path}: checkpoint of another SAE config or training corpus; remove it or pass the same options"
        )
    with torch.no_grad():
        for k in WEIGHT_KEYS:
            getattr(sae, k).copy_(tensors[f"sae.{k}"])
    state = optimizer.state_dict()
    for index in range(len(WEIGHT_KEYS)):
        keys = [k for k in tensors if k.startswith(f"optim.{index}.")]
        if keys:
            state["state"][index] = {k.split(".", 2)[2]: tensors[k] for k in keys}
    optimizer.load_state_dict(state)
    return int(meta["epoch"])


def train_sae(
    tokens: np.ndarray, config: SAEConfig, out_dir: Path, *, progress: bool = False, stop_after: int | None = None
) -> SparseAutoencoder:
    """Train an SAE on ``tokens`` (n, input_dim) and write it to ``out_dir`` (resumes from its checkpoint).

    Args:
        tokens: Training tokens.
        config: Architecture and recipe (``inputs`` records where ``tokens`` came from).
        out_dir: SAE directory to write.
        progress: A progress bar over epochs.
        stop_after: Stop after this many epochs in all (tests of resuming), leaving only the checkpoint.

    Raises:
        ValueError: Tokens of another dimension, non-finite tokens, or a checkpoint of another config.
    """
    x = np.asarray(tokens, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != config.input_dim:
        raise ValueError(f"tokens: expected (n, {config.input_dim}), found shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("tokens: non-finite values")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sae = SparseAutoencoder(config)
    with torch.no_grad():
        sae.b_dec.copy_(torch.from_numpy(x.mean(axis=0)))
    optimizer = torch.optim.Adam(sae.parameters(), lr=config.lr)
    start = _restore(out_dir, sae, optimizer)
    data = torch.from_numpy(x)
    end = config.epochs if stop_after is None else min(stop_after, config.epochs)
    for epoch in tqdm(range(start, end), desc="sae", disable=not progress, initial=start, total=config.epochs):
        order = torch.randperm(len(data), generator=torch.Generator().manual_seed(config.seed * 100_003 + epoch))
        for lo in range(0, len(data), config.batch_size):
            optimizer.zero_grad()
            _loss(sae, data[order[lo : lo + config.batch_size]]).backward()
            optimizer.step()
            sae.normalize_decoder()
        _save_checkpoint(out_dir, sae, optimizer, epoch + 1)
    if end < config.epochs:
        return sae
    save_sae(sae, out_dir)
    (out_dir / CHECKPOINT_NAME).unlink(missing_ok=True)
    return sae


def save_sae(sae: SparseAutoencoder, out_dir: Path) -> Path:
    """Write ``sae.safetensors`` and ``sae.json`` (weights first: a config never stands without its weights)."""
    out_dir = Path(out_dir)
    write_atomic(out_dir / WEIGHTS_NAME, lambda tmp: save_file(_weights(sae), tmp))
    config = {"format_version": SAE_FORMAT_VERSION, **asdict(sae.config)}
    write_text_atomic(out_dir / CONFIG_NAME, json.dumps(config, indent=2, sort_keys=True) + "\n")
    return out_dir


def load_sae(sae_dir: Path, *, target_dim: int | None = None) -> SparseAutoencoder:
    """Load an SAE directory; with ``target_dim``, refuse an SAE whose input dimension differs.

    Raises:
        ModelDirectoryError: Missing files, a pickle-like file, bad config fields, weights of the wrong shape,
            or ``input_dim != target_dim`` (naming both and what to do).
    """
    sae_dir = Path(sae_dir)
    if not sae_dir.is_dir():
        raise ModelDirectoryError(f"{sae_dir}: not an SAE directory (expected {WEIGHTS_NAME} and {CONFIG_NAME})")
    check_no_pickles(sae_dir)
    cfg_path, w_path = sae_dir / CONFIG_NAME, sae_dir / WEIGHTS_NAME
    for path in (cfg_path, w_path):
        if not path.is_file():
            raise ModelDirectoryError(f"{path}: missing (an SAE directory holds {WEIGHTS_NAME} and {CONFIG_NAME})")
    try:
        raw = json.loads(cfg_path.read_text(encoding="utf-8"))
        raw.pop("format_version", None)
        config = SAEConfig(**raw)
    except (ValueError, TypeError) as exc:
        raise ModelDirectoryError(f"{cfg_path}: invalid SAE config ({exc})") from exc
    if target_dim is not None and config.input_dim != target_dim:
        raise ModelDirectoryError(
            f"{cfg_path}: input_dim {config.input_dim} but the dataset's targets are {target_dim}-d. An SAE reads "
            "tokens of the space it was trained on (the paper's CLIP-B/32 SAE cannot take CLIP-L/14 patches as-is); "
            "train one on this dataset's targets with `neurrator-bench sae train`"
        )
    sae = SparseAutoencoder(config)
    with safe_open(str(w_path), framework="pt") as handle:
        keys = set(handle.keys())
        if keys != set(WEIGHT_KEYS):
            raise ModelDirectoryError(f"{w_path}: expected tensors {list(WEIGHT_KEYS)}, found {sorted(keys)}")
        with torch.no_grad():
            for k in WEIGHT_KEYS:
                t = handle.get_tensor(k)
                if tuple(t.shape) != tuple(getattr(sae, k).shape):
                    raise ModelDirectoryError(
                        f"{w_path}: {k} has shape {tuple(t.shape)}, config says {tuple(getattr(sae, k).shape)}"
                    )
                getattr(sae, k).copy_(t.float())
    sae.eval()
    return sae


def stimulus_names(ds) -> list[str]:
    """The stimuli of the dataset's ``stimuli`` config, sorted."""
    from neurrator_bench.dataset_access import read_table

    return sorted(set(read_table(ds, "stimuli", columns=["stimulus"]).column("stimulus").to_pylist()))


def frames_outside(ds, stimuli: Sequence[str], exclude: dict[str, np.ndarray] | None):
    """Per stimulus: ``(name, FrameTargets with patches, sorted public frames not in exclude[name])``.

    Sealed frames (``build --seal-final``: NaN targets) are never used.
    """
    from neurrator_bench.dataset_access import load_frame_targets

    for stimulus in stimuli:
        targets = load_frame_targets(ds, stimulus, patches=True)
        keep = np.setdiff1d(np.flatnonzero(targets.public), (exclude or {}).get(stimulus, []))
        yield stimulus, targets, keep


def dataset_tokens(
    ds, stimuli: Sequence[str], *, exclude: dict[str, np.ndarray] | None = None
) -> tuple[np.ndarray, dict]:
    """Every patch token of the given stimuli's frames (less ``exclude``'s frames), and where they came from.

    Args:
        ds: An open dataset.
        stimuli: Stimuli whose frames are read.
        exclude: stimulus -> frames left out (e.g. a task's test frames).

    Returns:
        ``(tokens (n_frames * n_patches, dim) float32, inputs record for SAEConfig.inputs)``.
    """
    parts, used = [], {}
    for stimulus, targets, keep in frames_outside(ds, stimuli, exclude):
        patches = targets.patches
        parts.append(patches[keep].reshape(-1, patches.shape[2]).astype(np.float32))
        used[stimulus] = int(keep.size)
    tokens = np.concatenate(parts)
    inputs = {
        "source": "target patch tokens of the dataset's frames",
        "dataset": str(ds.repo),
        "dataset_fingerprint": ds.fingerprint,
        "frames": used,
        "excluded_frames": {k: int(len(v)) for k, v in (exclude or {}).items()},
        "n_tokens": int(len(tokens)),
    }
    return tokens, inputs


def train_on_dataset(
    ds,
    out_dir: Path,
    *,
    exclude_task: str | None = None,
    n_features: int = 512,
    activation: Literal["topk", "relu"] = "topk",
    k: int = 8,
    l1: float = 1e-3,
    epochs: int = 10,
    seed: int = 0,
    progress: bool = False,
) -> SparseAutoencoder:
    """Train an SAE on every patch token of the dataset's frames (less ``exclude_task``'s test frames).

    Defaults (our choice, sized for the embedded default's 16 x 384 targets: about 10 s on 2 cores): 512
    features, TopK with k = 8, 10 epochs.
    """
    from neurrator_bench.dataset_access import split_frames

    exclude = split_frames(ds, exclude_task, "test") if exclude_task else None
    tokens, inputs = dataset_tokens(ds, stimulus_names(ds), exclude=exclude)
    inputs["excluded_task"] = exclude_task
    config = SAEConfig(
        input_dim=int(tokens.shape[1]),
        n_features=n_features,
        activation=activation,
        k=k,
        l1=l1,
        epochs=epochs,
        seed=seed,
        inputs=inputs,
    )
    return train_sae(tokens, config, Path(out_dir), progress=progress)
