"""Training recipe of the Neurrator encoder on in-memory arrays (paper Sec. 3.1, Appendix A.2 "Optimization").

Loss: w * MSE + (1 - w) * (1 - mean per-patch cosine), w = `TrainConfig.loss_mse_weight` (0.5).
AdamW, cosine learning rate over the total step count (max_epochs * steps per epoch, no warm-up), global
gradient-norm clipping, early stopping on the validation loss; the returned model holds the best epoch's
weights.

Augmentation (training only):
- Temporal jitter of +-jitter_bins. Windows longer than `window_bins` by an even margin are cropped at a
  random offset around their centre (pass windows with jitter_bins extra bins on each side to jitter on real
  data). Windows of exactly `window_bins` are shifted instead, with the vacated bins filled with 0 (the
  z-scored mean), never wrapped around (a roll would invent activity). Validation and `predict` take the
  centre crop.
- Neuron dropout: each sample keeps each unit with probability 1 - neuron_dropout, through the same
  mask as subset queries (`encoder.apply_unit_mask`, rescaled or not as `EncoderConfig.mask_rescale` says).
- Subset training (`TrainConfig.subset_training`, off by default): a fraction of the samples keep a random
  subset of log-uniform size instead (`training_masks`), the inputs a small subset query gives the encoder.

Memory: windows may come as raw counts (`dataset_access.ZScoredWindows`: uint8, z-scored per batch on the
device with the same float32 arithmetic) and targets as a per-frame table with a per-sample index
(`dataset_access.FrameIndexedTargets`); batches are gathered from them, so neither a float32 copy of the
windows nor a per-sample copy of the targets is ever made. Plain arrays are accepted and give identical
weights. A checkpoint records which kind of windows it was trained from (their data signature differs), so a
resume must pass the same kind; a checkpoint folder from before this change is refused by name, not resumed.

Reproducibility: every draw of the loop (batch order, jitter, neuron dropout) comes from a CPU
`torch.Generator` seeded with `seed`; weight init and module dropout use torch's global RNG, seeded inside
`torch.random.fork_rng` so the caller's global RNG state is left untouched. Resumable checkpoints in
`checkpoint_dir`: `last.safetensors` (model, best-epoch model, optimizer tensors; its metadata carries the
full loop state) and `state.json` (the same state, readable), both written atomically after every epoch.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save_file
from tqdm.auto import tqdm

from neurrator_bench.atomic_files import write_atomic
from neurrator_bench.dataset_access import FrameIndexedTargets, ZScoredWindows

from .config import EncoderConfig, TrainConfig
from .encoder import NeurratorEncoder

logger = logging.getLogger(__name__)

LAST_NAME = "last.safetensors"
STATE_NAME = "state.json"


@dataclass(frozen=True)
class EpochRecord:
    """Losses of one epoch (sample-weighted means); lr is the learning rate of the epoch's last step."""

    epoch: int
    train_loss: float
    val_loss: float
    lr: float


@dataclass
class TrainResult:
    """Outcome of `train_encoder`.

    Attributes:
        model: The encoder with the best epoch's weights, in eval mode.
        history: One record per completed epoch.
        best_epoch: 1-based epoch with the lowest validation loss.
        best_val_loss: Its validation loss.
        stopped_early: True when patience ran out before max_epochs.
        finished: False only when `stop_after_epoch` paused training before it ended.
    """

    model: NeurratorEncoder
    history: list[EpochRecord]
    best_epoch: int
    best_val_loss: float
    stopped_early: bool
    finished: bool


def resolve_device(name: str) -> torch.device:
    """Map "auto" to CUDA when available, else CPU; other names are passed to torch.device.

    Args:
        name: "auto", "cpu", "cuda" or "cuda:N".

    Returns:
        The torch device.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def patch_loss(pred: torch.Tensor, target: torch.Tensor, mse_weight: float = 0.5) -> torch.Tensor:
    """Dual patch loss: mse_weight * MSE + (1 - mse_weight) * (1 - mean per-patch cosine).

    Args:
        pred: (batch, n_patches, patch_dim) predicted patches.
        target: (batch, n_patches, patch_dim) true patches.
        mse_weight: Weight of the MSE term.

    Returns:
        Scalar float32 loss.
    """
    pred = pred.float()
    target = target.float()
    mse = F.mse_loss(pred, target)
    cosine = F.cosine_similarity(pred, target, dim=-1, eps=1e-8).mean()
    return mse_weight * mse + (1.0 - mse_weight) * (1.0 - cosine)


def _check_windows(x: np.ndarray, config: EncoderConfig, name: str) -> int:
    """Validate a (n, n_units, bins) array and return its even margin bins - window_bins."""
    if x.ndim != 3 or x.shape[1] != config.n_units:
        raise ValueError(f"{name}: expected shape (n, n_units={config.n_units}, bins), got {x.shape}")
    extra = x.shape[2] - config.window_bins
    if extra < 0 or extra % 2 != 0:
        raise ValueError(
            f"{name}: expected bins = window_bins ({config.window_bins}) + an even margin, got {x.shape[2]}"
        )
    return extra


def _check_targets(y: np.ndarray, n: int, config: EncoderConfig, name: str) -> None:
    expected = (n, config.n_patches, config.patch_dim)
    if y.shape != expected:
        raise ValueError(f"{name}: expected shape {expected} (n, n_patches, patch_dim), got {y.shape}")


def _crop(x: torch.Tensor, offsets: torch.Tensor, window: int) -> torch.Tensor:
    """Per-sample crop: x (B, U, L), offsets (B,) -> (B, U, window) starting at offsets."""
    index = offsets.unsqueeze(1) + torch.arange(window, device=x.device)
    return x.gather(2, index.unsqueeze(1).expand(-1, x.shape[1], -1))


def _center(x: torch.Tensor, window: int) -> torch.Tensor:
    start = (x.shape[2] - window) // 2
    return x[:, :, start : start + window]


def predict(
    model: NeurratorEncoder,
    x: np.ndarray,
    unit_mask: np.ndarray | None = None,
    batch_size: int = 256,
) -> np.ndarray:
    """Predict patches for windows of z-scored counts (centre crop when windows are longer).

    Args:
        model: Trained encoder (its device is used; bf16 autocast on CUDA).
        x: (n, n_units, bins) z-scored counts, bins = window_bins + an even margin.
        unit_mask: Optional (n_units,) or (n, n_units) bool mask of units to keep (subset query).
        batch_size: Samples per forward pass.

    Returns:
        (n, n_patches, patch_dim) float32 predictions.

    Raises:
        ValueError: Shapes do not match the model.
    """
    config = model.config
    _check_windows(x, config, "predict x")
    device = next(model.parameters()).device
    mask_t = None if unit_mask is None else torch.as_tensor(np.asarray(unit_mask, dtype=bool))
    if mask_t is not None and mask_t.dim() == 2 and mask_t.shape[0] not in (1, x.shape[0]):
        raise ValueError(f"predict unit_mask: expected (n_units,) or (n={x.shape[0]}, n_units), got {mask_t.shape}")
    out = np.empty((x.shape[0], config.n_patches, config.patch_dim), dtype=np.float32)
    was_training = model.training
    model.eval()
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
        for start in range(0, x.shape[0], batch_size):
            xb = torch.as_tensor(np.asarray(x[start : start + batch_size], dtype=np.float32), device=device)
            mb = mask_t
            if mb is not None and mb.dim() == 2 and mb.shape[0] > 1:
                mb = mb[start : start + batch_size]
            pred = model(_center(xb, config.window_bins), None if mb is None else mb.to(device))
            out[start : start + xb.shape[0]] = pred.float().cpu().numpy()
    model.train(was_training)
    return out


class _DeviceWindows:
    """Spike windows on the training device; ``[index]`` gives float32 z-scored windows of those samples."""

    def __init__(self, x: np.ndarray | ZScoredWindows, device: torch.device) -> None:
        self.device = device
        if isinstance(x, ZScoredWindows):
            self.data = torch.as_tensor(x.counts, device=device)
            self.mean = torch.as_tensor(x.mean, device=device)[None, :, None]
            self.scale = torch.as_tensor(x.scale, device=device)[None, :, None]
        else:
            self.data = torch.as_tensor(np.asarray(x, dtype=np.float32), device=device)
            self.mean = self.scale = None
        self.n = int(self.data.shape[0])

    def __getitem__(self, index: torch.Tensor | slice) -> torch.Tensor:
        xb = self.data[index]
        if self.mean is not None:
            xb = (xb.to(torch.float32) - self.mean) / self.scale
        return xb


class _DeviceTargets:
    """Targets on the training device; ``[index]`` gathers the rows of those samples."""

    def __init__(self, y: np.ndarray | FrameIndexedTargets, device: torch.device) -> None:
        if isinstance(y, FrameIndexedTargets):
            self.table = torch.as_tensor(y.table, device=device)
            self.index = torch.as_tensor(y.index, device=device)
        else:
            self.table = torch.as_tensor(y, device=device)
            self.index = None

    def __getitem__(self, index: torch.Tensor | slice) -> torch.Tensor:
        return self.table[index] if self.index is None else self.table[self.index[index]]


def training_masks(batch: int, n_units: int, tc: TrainConfig, generator: torch.Generator) -> torch.Tensor | None:
    """Per-sample unit masks of one training batch: neuron dropout, and subset training when it is on.

    Each sample keeps each unit with probability ``1 - neuron_dropout`` (at least one unit). With probability
    ``subset_training`` a sample instead keeps a uniformly random subset of ``k`` units, ``k`` log-uniform in
    ``[subset_min_units, n_units]`` and rounded. The paper's encoder "maps spike trains from arbitrary subsets
    of simultaneously-recorded neurons" (abstract) but does not say how it was trained for small subsets; the
    log-uniform draw is our choice (it gives the few-unit end of a scaling curve as many samples as the
    many-unit end). With both off: None. With subset training off the draws are
    exactly those of neuron dropout alone, so earlier recipes give the same weights.

    Returns:
        (batch, n_units) bool on the CPU, or None.
    """
    if tc.neuron_dropout == 0 and tc.subset_training == 0:
        return None
    if tc.neuron_dropout > 0:
        mask = torch.rand(batch, n_units, generator=generator) >= tc.neuron_dropout
        mask[~mask.any(dim=1)] = True
    else:
        mask = torch.ones(batch, n_units, dtype=torch.bool)
    if tc.subset_training > 0:
        chosen = torch.rand(batch, generator=generator) < tc.subset_training
        lo, hi = math.log(min(tc.subset_min_units, n_units)), math.log(n_units)
        size = torch.exp(lo + (hi - lo) * torch.rand(batch, generator=generator)).round().long().clamp(1, n_units)
        ranks = torch.rand(batch, n_units, generator=generator).argsort(dim=1).argsort(dim=1)
        mask = torch.where(chosen[:, None], ranks < size[:, None], mask)
    return mask


def _evaluate(model: NeurratorEncoder, x: _DeviceWindows, y: _DeviceTargets, mse_weight: float, batch: int) -> float:
    model.eval()
    total = torch.zeros((), device=x.device)
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=x.device.type == "cuda"):
        for start in range(0, x.n, batch):
            xb = _center(x[start : start + batch], model.config.window_bins)
            pred = model(xb)
            total += patch_loss(pred, y[start : start + batch], mse_weight) * xb.shape[0]
    return float(total) / x.n


def _save_checkpoint(
    folder: Path,
    model: NeurratorEncoder,
    best_state: dict[str, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    state: dict[str, Any],
) -> None:
    tensors: dict[str, torch.Tensor] = {}
    for key, value in model.state_dict().items():
        tensors[f"model.{key}"] = value.detach().contiguous()
    for key, value in best_state.items():
        tensors[f"best.{key}"] = value.contiguous()
    optim = optimizer.state_dict()
    for index, param_state in optim["state"].items():
        for key, value in param_state.items():
            tensors[f"optim.{index}.{key}"] = torch.as_tensor(value).detach().contiguous()
    state = {**state, "param_groups": optim["param_groups"]}
    text = json.dumps(state, sort_keys=True)
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / LAST_NAME, lambda tmp: save_file(tensors, tmp, metadata={"state": text}))
    write_atomic(folder / STATE_NAME, lambda tmp: Path(tmp).write_text(text + "\n", encoding="utf-8"))


def _load_checkpoint(folder: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Read last.safetensors: its metadata is the authoritative loop state (state.json is a readable copy)."""
    path = folder / LAST_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint weights missing although {STATE_NAME} exists")
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    if "state" not in metadata:
        raise ValueError(f"{path}: metadata field 'state' expected, found keys {sorted(metadata)}")
    return json.loads(metadata["state"]), tensors


def _data_signature(arrays: dict[str, np.ndarray | ZScoredWindows]) -> dict[str, Any]:
    """Shape and sum of each input (for counts: the sum of the counts and of the statistics)."""
    out: dict[str, Any] = {}
    for name, a in arrays.items():
        if isinstance(a, ZScoredWindows):
            total = float(np.sum(a.counts, dtype=np.float64))
            stats = float(np.sum(a.mean, dtype=np.float64) + np.sum(a.scale, dtype=np.float64))
            out[name] = {"shape": list(a.shape), "counts_sum": total, "stats_sum": stats}
        else:
            out[name] = {"shape": list(a.shape), "sum": float(np.sum(a, dtype=np.float64))}
    return out


def _all_finite(x: np.ndarray | ZScoredWindows) -> bool:
    if isinstance(x, ZScoredWindows):
        return bool(np.isfinite(x.mean).all() and np.isfinite(x.scale).all())
    return bool(np.isfinite(x).all())


def _restore(
    folder: Path,
    *,
    expected: dict[str, Any],
    model: NeurratorEncoder,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    device: torch.device,
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    state, tensors = _load_checkpoint(folder)
    for key, value in expected.items():
        if state.get(key) != value:
            raise ValueError(
                f"{folder / STATE_NAME}: field {key!r} of the checkpoint does not match this call "
                f"(checkpoint {state.get(key)!r}, now {value!r}); use a fresh checkpoint_dir"
            )
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, strict=True)
    best_state = {k[5:]: v.to(device) for k, v in tensors.items() if k.startswith("best.")}
    per_param: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            per_param.setdefault(int(index), {})[name] = value
    groups = state["param_groups"]
    for group in groups:
        if "betas" in group:
            group["betas"] = tuple(group["betas"])
    optimizer.load_state_dict({"state": per_param, "param_groups": groups})
    generator.set_state(torch.tensor(state["generator_state"], dtype=torch.uint8))
    torch.set_rng_state(torch.tensor(state["torch_rng_state"], dtype=torch.uint8))
    if device.type == "cuda" and state.get("cuda_rng_state") is not None:
        torch.cuda.set_rng_state(torch.tensor(state["cuda_rng_state"], dtype=torch.uint8), device)
    return state, best_state


def train_encoder(  # noqa: PLR0917 - positional arrays and configs, as the lead's spec fixes
    x_train: np.ndarray | ZScoredWindows,
    y_train: np.ndarray | FrameIndexedTargets,
    x_val: np.ndarray | ZScoredWindows,
    y_val: np.ndarray | FrameIndexedTargets,
    config: EncoderConfig,
    train_config: TrainConfig,
    *,
    checkpoint_dir: Path | None = None,
    progress: bool = False,
    stop_after_epoch: int | None = None,
) -> TrainResult:
    """Train a Neurrator encoder on in-memory arrays (resumes from `checkpoint_dir` when it holds a state).

    Args:
        x_train: (n_train, n_units, bins) float32 z-scored counts, or raw counts with their statistics
            (`ZScoredWindows`, z-scored per batch); bins = window_bins, or window_bins plus an even margin
            (random crops around the centre give the temporal jitter).
        y_train: (n_train, n_patches, patch_dim) float16/float32 target patches, or a per-frame table with a
            per-sample index (`FrameIndexedTargets`).
        x_val: (n_val, n_units, bins_val) z-scored counts (centre-cropped, no augmentation), or counts.
        y_val: (n_val, n_patches, patch_dim) targets, or a per-frame table.
        config: Encoder architecture.
        train_config: Optimization recipe.
        checkpoint_dir: Folder for last.safetensors + state.json, rewritten after each epoch; an existing
            state is resumed (it must come from the same configs and data) and the final weights equal those
            of an uninterrupted run.
        progress: Show a tqdm bar over epochs.
        stop_after_epoch: Return after this (1-based, absolute) epoch even if training would continue, with
            `finished=False`; a later call with the same checkpoint_dir resumes.

    Returns:
        TrainResult with the best-epoch model in eval mode.

    Raises:
        ValueError: Bad shapes, empty splits, or a checkpoint from other configs/data.
    """
    extra_train = _check_windows(x_train, config, "x_train")
    _check_windows(x_val, config, "x_val")
    _check_targets(y_train, x_train.shape[0], config, "y_train")
    _check_targets(y_val, x_val.shape[0], config, "y_val")
    if x_train.shape[0] == 0 or x_val.shape[0] == 0:
        raise ValueError(f"x_train/x_val: expected non-empty splits, got {x_train.shape[0]} and {x_val.shape[0]}")
    if not _all_finite(x_train) or not _all_finite(x_val):
        raise ValueError("x_train/x_val: expected finite z-scored counts, found NaN or inf")
    if stop_after_epoch is not None and stop_after_epoch < 1:
        raise ValueError(f"stop_after_epoch: expected a 1-based epoch >= 1 or None, got {stop_after_epoch}")
    tc = train_config
    device = resolve_device(tc.device)
    jitter = tc.jitter_bins
    pad = max(0, jitter - extra_train // 2)
    centre = extra_train // 2 + pad
    expected = {
        "encoder_config": config.model_dump(mode="json"),
        "train_config": tc.model_dump(mode="json", exclude={"device"}),
        "data": _data_signature({"x_train": x_train, "x_val": x_val}),
    }
    folder = None if checkpoint_dir is None else Path(checkpoint_dir)
    resume = folder is not None and (folder / STATE_NAME).is_file()
    fork_devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices, device_type=device.type):
        torch.manual_seed(tc.seed)
        model = NeurratorEncoder(config).to(device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
        generator = torch.Generator().manual_seed(tc.seed)
        history: list[EpochRecord] = []
        best_val, best_epoch, bad_epochs, step = math.inf, 0, 0, 0
        stopped_early, finished = False, False
        best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if resume and folder is not None:
            state, best_state = _restore(
                folder,
                expected=expected,
                model=model,
                optimizer=optimizer,
                generator=generator,
                device=device,
            )
            history = [EpochRecord(**record) for record in state["history"]]
            best_val, best_epoch = state["best_val_loss"], state["best_epoch"]
            bad_epochs, step = state["bad_epochs"], state["step"]
            stopped_early, finished = state["stopped_early"], state["finished"]
            logger.info("resuming from %s after epoch %d", folder, len(history))
        xt = _DeviceWindows(x_train, device)
        yt = _DeviceTargets(y_train, device)
        xv = _DeviceWindows(x_val, device)
        yv = _DeviceTargets(y_val, device)
        n_train = xt.n
        steps_per_epoch = math.ceil(n_train / tc.batch_size)
        total_steps = tc.max_epochs * steps_per_epoch
        last_epoch = tc.max_epochs if stop_after_epoch is None else min(tc.max_epochs, stop_after_epoch)
        epochs = range(len(history) + 1, last_epoch + 1) if not finished else range(0)
        for epoch in tqdm(epochs, disable=not progress, desc="epochs"):
            model.train()
            order = torch.randperm(n_train, generator=generator)
            running = torch.zeros((), device=device)
            lr = tc.lr
            for batch in range(steps_per_epoch):
                index = order[batch * tc.batch_size : (batch + 1) * tc.batch_size]
                offsets = centre + torch.randint(-jitter, jitter + 1, (index.shape[0],), generator=generator)
                mask = training_masks(index.shape[0], config.n_units, tc, generator)
                mask = None if mask is None else mask.to(device)
                index = index.to(device)
                xb = xt[index]
                if pad > 0:  # zero-pad per batch (the z-scored mean), never a padded copy of every window
                    xb = F.pad(xb, (pad, pad))
                xb = _crop(xb, offsets.to(device), config.window_bins)
                lr = 0.5 * tc.lr * (1.0 + math.cos(math.pi * step / total_steps))
                for group in optimizer.param_groups:
                    group["lr"] = lr
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
                    pred = model(xb, mask)
                loss = patch_loss(pred, yt[index], tc.loss_mse_weight)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
                optimizer.step()
                step += 1
                running += loss.detach() * index.shape[0]
            val_loss = _evaluate(model, xv, yv, tc.loss_mse_weight, max(tc.batch_size, 256))
            record = EpochRecord(epoch, float(running) / n_train, val_loss, lr)
            history.append(record)
            logger.info("epoch %d: train %.5f val %.5f lr %.2e", epoch, record.train_loss, val_loss, lr)
            if val_loss < best_val:
                best_val, best_epoch, bad_epochs = val_loss, epoch, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                bad_epochs += 1
            stopped_early = bad_epochs >= tc.patience and epoch < tc.max_epochs
            finished = stopped_early or epoch == tc.max_epochs
            if folder is not None:
                loop_state = {
                    **expected,
                    "history": [asdict(r) for r in history],
                    "best_val_loss": best_val,
                    "best_epoch": best_epoch,
                    "bad_epochs": bad_epochs,
                    "step": step,
                    "stopped_early": stopped_early,
                    "finished": finished,
                    "generator_state": generator.get_state().tolist(),
                    "torch_rng_state": torch.get_rng_state().tolist(),
                    "cuda_rng_state": torch.cuda.get_rng_state(device).tolist() if device.type == "cuda" else None,
                }
                _save_checkpoint(folder, model, best_state, optimizer, loop_state)
            if finished:
                break
        model.load_state_dict(best_state)
        model.eval()
    return TrainResult(model, history, best_epoch, best_val, stopped_early, finished)
