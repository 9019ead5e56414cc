"""Training-step throughput of the Neurrator encoder: our device-resident bf16 loop vs a paper-style loop.

Synthetic data shaped like one BO1.1 Natural Movie One session: 800 units, 16 training repeats of
3600 bins at 120 Hz (900 movie frames, 4 bins each), 20-bin windows starting at each frame onset
(+-2 bins jitter, 10 % neuron dropout), batch 64, the paper's encoder (EncoderConfig defaults: conv 3/7/15
x 128, d_model 384, 8 heads, 2 layers, 576 x 1024 patch targets). One epoch = 16 x 900 = 14,400 samples =
225 steps; 60 epochs = 13,500 steps (validation passes not included).

Both loops do the same math per step (same model, `training.patch_loss`, gradient clipping 1.0, AdamW
3e-4 / 1e-3); only the data path and numerics differ:

- ours: spike counts (repeats, units, bins) and per-frame targets (frames, 576, 1024) resident on the
  device; each batch's windows are gathered there by index (jitter and dropout masks drawn on the device),
  bf16 autocast, fused AdamW. This is the data path of `reference_model.training.train_encoder`
  (which also keeps data on the device and gathers windows there), with per-frame instead of per-sample
  target storage.
- paper-style: a map-style Dataset returning one (800, 20) window and one (576, 1024) float32 target per
  sample from host memory, a shuffling DataLoader (batch 64), host-to-device copies every step, fp32.
  The paper's code reference is 66.8 ms/step on one GPU.

Run on a GPU::

    python benchmarks/bench_training_gpu.py --device cuda

CPU smoke run with tiny shapes::

    python benchmarks/bench_training_gpu.py --device cpu --small
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from neurrator_bench.reference_model.config import EncoderConfig
from neurrator_bench.reference_model.encoder import NeurratorEncoder, count_parameters
from neurrator_bench.reference_model.training import patch_loss

PAPER_MS_PER_STEP = 66.8
GOAL_SECONDS = 180.0


@dataclass(frozen=True)
class Shapes:
    """Benchmark sizes."""

    n_units: int
    repeats: int
    frames: int
    bins_per_frame: int
    window: int
    jitter: int
    batch: int
    epochs: int
    encoder: EncoderConfig

    @property
    def bins(self) -> int:
        """Bins per repeat."""
        return self.frames * self.bins_per_frame

    @property
    def steps_per_epoch(self) -> int:
        """Optimizer steps per epoch."""
        return math.ceil(self.repeats * self.frames / self.batch)


def paper_shapes() -> Shapes:
    """One BO1.1 NM1 session with the paper's encoder."""
    return Shapes(800, 16, 900, 4, 20, 2, 64, 60, EncoderConfig(n_units=800))


def small_shapes() -> Shapes:
    """Tiny shapes for a CPU smoke run."""
    encoder = EncoderConfig.tiny(n_units=16, window_bins=20, n_patches=9, patch_dim=32)
    return Shapes(16, 2, 60, 4, 20, 2, 8, 60, encoder)


def make_data(shapes: Shapes, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Z-scored Poisson counts (repeats, units, jitter + bins + window + jitter) and targets (frames, P, D)."""
    rng = np.random.default_rng(seed)
    total = shapes.jitter + shapes.bins + shapes.window + shapes.jitter
    counts = rng.poisson(0.06, size=(shapes.repeats, shapes.n_units, total)).astype(np.float32)
    counts = (counts - counts.mean()) / counts.std()
    cfg = shapes.encoder
    targets = rng.standard_normal((shapes.frames, cfg.n_patches, cfg.patch_dim), dtype=np.float32)
    return counts, targets


def _step(model: NeurratorEncoder, optimizer: torch.optim.Optimizer, xb, mask, yb, *, autocast: bool) -> torch.Tensor:
    with torch.autocast(xb.device.type, dtype=torch.bfloat16, enabled=autocast):
        pred = model(xb, mask)
    loss = patch_loss(pred, yb, 0.5)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return loss.detach()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_ours(
    shapes: Shapes, counts: np.ndarray, targets: np.ndarray, *, device: torch.device, steps: int, warmup: int
):
    """ms/step of the device-resident loop (bf16 autocast on CUDA, fused AdamW on CUDA)."""
    torch.manual_seed(0)
    model = NeurratorEncoder(shapes.encoder).to(device).train()
    fused = device.type == "cuda"
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=1e-3, fused=fused)
    x = torch.as_tensor(counts, device=device)
    y = torch.as_tensor(targets, device=device, dtype=torch.float16)
    n = shapes.repeats * shapes.frames
    gen = torch.Generator(device=device).manual_seed(0)
    order = torch.randperm(n, device=device, generator=gen)
    arange = torch.arange(shapes.window, device=device)
    units = torch.arange(shapes.n_units, device=device)

    def run(i: int) -> torch.Tensor:
        start = (i * shapes.batch) % n
        index = order[start : start + shapes.batch]
        rep, frame = index // shapes.frames, index % shapes.frames
        jitter = torch.randint(-shapes.jitter, shapes.jitter + 1, index.shape, device=device, generator=gen)
        first = shapes.jitter + frame * shapes.bins_per_frame + jitter
        bins = first[:, None, None] + arange[None, None, :]
        xb = x[rep[:, None, None], units[None, :, None], bins]  # (B, U, window) gathered on the device
        mask = torch.rand(index.shape[0], shapes.n_units, device=device, generator=gen) >= 0.1
        return _step(model, optimizer, xb, mask, y[frame], autocast=device.type == "cuda")

    return _time(run, device, steps, warmup)


class PerSampleDataset(torch.utils.data.Dataset):
    """Paper-style map-style dataset: one float32 window and one float32 (P, D) target per item."""

    def __init__(self, shapes: Shapes, counts: np.ndarray, targets: np.ndarray, seed: int) -> None:
        self.shapes, self.counts, self.targets = shapes, counts, targets
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.shapes.repeats * self.shapes.frames

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.shapes
        rep, frame = divmod(index, s.frames)
        first = s.jitter + frame * s.bins_per_frame + int(self.rng.integers(-s.jitter, s.jitter + 1))
        window = torch.from_numpy(self.counts[rep, :, first : first + s.window].copy())
        return window, torch.from_numpy(self.targets[frame].copy())


def bench_paper_style(
    shapes: Shapes,
    counts: np.ndarray,
    targets: np.ndarray,
    *,
    device: torch.device,
    steps: int,
    warmup: int,
    workers: int,
):
    """ms/step of the per-sample DataLoader fp32 loop."""
    torch.manual_seed(0)
    model = NeurratorEncoder(shapes.encoder).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=1e-3)
    loader = torch.utils.data.DataLoader(
        PerSampleDataset(shapes, counts, targets, seed=0),
        batch_size=shapes.batch,
        shuffle=True,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        drop_last=True,
    )
    batches = iter(loader)

    def run(_: int) -> torch.Tensor:
        nonlocal batches
        try:
            xb, yb = next(batches)
        except StopIteration:
            batches = iter(loader)
            xb, yb = next(batches)
        xb, yb = xb.to(device), yb.to(device)
        mask = torch.rand(xb.shape[0], shapes.n_units, device=device) >= 0.1
        return _step(model, optimizer, xb, mask, yb, autocast=False)

    return _time(run, device, steps, warmup)


def _time(run, device: torch.device, steps: int, warmup: int) -> tuple[float, float]:
    """(ms per step, last loss) over `steps` steps after `warmup` untimed ones."""
    for i in range(warmup):
        run(i)
    _sync(device)
    start = time.perf_counter()
    loss = torch.zeros(())
    for i in range(warmup, warmup + steps):
        loss = run(i)
    _sync(device)
    return 1000.0 * (time.perf_counter() - start) / steps, float(loss)


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Run both loops and print ms/step, the speed-up and the projected 60-epoch time."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--small", action="store_true", help="tiny shapes for a CPU smoke run")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per loop (default 50, small 5)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps (default 10, small 2)")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers of the paper-style loop")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    shapes = small_shapes() if args.small else paper_shapes()
    steps = args.steps or (5 if args.small else 50)
    warmup = args.warmup or (2 if args.small else 10)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    counts, targets = make_data(shapes, seed=0)
    n_params = count_parameters(NeurratorEncoder(shapes.encoder))
    total_steps = shapes.epochs * shapes.steps_per_epoch
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(
        f"device {name}; {'small' if args.small else 'paper'} shapes: {shapes.n_units} units, "
        f"{shapes.repeats} repeats x {shapes.bins} bins, window {shapes.window}, batch {shapes.batch}, "
        f"targets {shapes.encoder.n_patches} x {shapes.encoder.patch_dim}, {n_params:,} parameters"
    )
    print(
        f"{shapes.steps_per_epoch} steps/epoch, {total_steps} steps for {shapes.epochs} epochs; "
        f"{steps} timed steps after {warmup} warm-up steps"
    )
    ours_ms, ours_loss = bench_ours(shapes, counts, targets, device=device, steps=steps, warmup=warmup)
    numerics = "bf16 autocast" if device.type == "cuda" else "fp32 (autocast is CUDA-only)"
    print(f"ours (device-resident, on-device gather, {numerics}): {ours_ms:8.2f} ms/step  (loss {ours_loss:.4f})")
    paper_ms, paper_loss = bench_paper_style(
        shapes, counts, targets, device=device, steps=steps, warmup=warmup, workers=args.workers
    )
    print(f"paper-style (per-sample DataLoader, fp32): {paper_ms:8.2f} ms/step  (loss {paper_loss:.4f})")
    result = {
        "ours_ms_per_step": ours_ms,
        "paper_style_ms_per_step": paper_ms,
        "speedup": paper_ms / ours_ms,
        "ours_projected_s": ours_ms * total_steps / 1000.0,
        "paper_style_projected_s": paper_ms * total_steps / 1000.0,
        "paper_code_reference_projected_s": PAPER_MS_PER_STEP * total_steps / 1000.0,
    }
    print(f"speed-up ours vs paper-style: {result['speedup']:.2f}x")
    print(
        f"projected {shapes.epochs} epochs: ours {result['ours_projected_s']:.0f} s, paper-style "
        f"{result['paper_style_projected_s']:.0f} s, paper code ({PAPER_MS_PER_STEP} ms/step) "
        f"{result['paper_code_reference_projected_s']:.0f} s"
    )
    if not args.small:
        verdict = "met" if result["ours_projected_s"] < GOAL_SECONDS else "NOT met"
        print(f"goal: ours < {GOAL_SECONDS:.0f} s for {shapes.epochs} epochs on one H100: {verdict}")
    if args.json is not None:
        args.json.write_text(json.dumps({**result, "device": name, "small": args.small}, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
