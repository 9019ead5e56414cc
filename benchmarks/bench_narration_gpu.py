"""Narration throughput of `LlavaNarrator`: batched generation vs one frame at a time, LLaVA-1.5-7B shapes.

The model is a LlavaForConditionalGeneration with RANDOM weights built from a config (no download): the
CLIP ViT-L/14-336 vision config (24 layers, hidden 1024, 576 patches) and the Llama-2-7B text config
(32 layers, hidden 4096, 32 heads, intermediate 11008, vocabulary 32064 as in llava-1.5), fp16 on CUDA.
Random weights do not change the cost of a forward pass; generation is forced to exactly 60 new tokens
(min_new_tokens = max_new_tokens = 60, greedy), the paper's budget, so an early end-of-sequence cannot
flatter the figures. Patches are injected through `PatchInjector` exactly as in evaluation; the prompt is
tokenized by a small word-level tokenizer (12 text tokens + 576 image tokens; the real llava tokenizer
gives ~20 text tokens, a negligible difference next to the 576 image tokens).

Prints s/frame for batch 64 and for batch 1, the speed-up and the projected time for the 7,186 frames
of the paper's evaluation (goal < 3 min on one H100).

Run on a GPU::

    python benchmarks/bench_narration_gpu.py --device cuda

CPU smoke run with tiny shapes::

    python benchmarks/bench_narration_gpu.py --device cpu --small
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from neurrator_bench.reference_model.narrators import LlavaNarrator, tiny_random_llava

N_FRAMES_PAPER = 7186
NEW_TOKENS = 60
GOAL_SECONDS = 180.0


def llava_config(small: bool, image_token_index: int, pad: int, bos: int, eos: int):
    """LlavaConfig with CLIP-L-336 + Llama-2-7B shapes (or tiny shapes when `small`)."""
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig

    if small:
        vision = CLIPVisionConfig(
            image_size=56,
            patch_size=14,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=3,
            num_attention_heads=2,
            projection_dim=32,
        )
        text = LlamaConfig(
            vocab_size=512,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=2,
            max_position_embeddings=512,
            pad_token_id=pad,
            bos_token_id=bos,
            eos_token_id=eos,
        )
    else:
        vision = CLIPVisionConfig(
            image_size=336,
            patch_size=14,
            hidden_size=1024,
            intermediate_size=4096,
            num_hidden_layers=24,
            num_attention_heads=16,
            projection_dim=768,
            hidden_act="quick_gelu",
            layer_norm_eps=1e-5,
        )
        text = LlamaConfig(
            vocab_size=32064,
            hidden_size=4096,
            intermediate_size=11008,
            num_hidden_layers=32,
            num_attention_heads=32,
            num_key_value_heads=32,
            max_position_embeddings=4096,
            rms_norm_eps=1e-5,
            pad_token_id=pad,
            bos_token_id=bos,
            eos_token_id=eos,
        )
    n_patches = (vision.image_size // vision.patch_size) ** 2
    return LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=image_token_index,
        image_seq_length=n_patches,
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
        projector_hidden_act="gelu",
    )


def build_model(small: bool, device: torch.device, dtype: torch.dtype):
    """(random-weight LLaVA on `device` in `dtype`, word-level tokenizer), built directly on the device."""
    from transformers import LlavaForConditionalGeneration

    _, tokenizer = tiny_random_llava()  # only its tokenizer ("<image>" and the prompt words)
    config = llava_config(
        small,
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        pad=tokenizer.pad_token_id,
        bos=tokenizer.bos_token_id,
        eos=tokenizer.eos_token_id,
    )
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), torch.device(device):
        torch.manual_seed(0)
        model = LlavaForConditionalGeneration(config)
    model = model.to(dtype).eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.min_new_tokens = NEW_TOKENS
    model.generation_config.max_new_tokens = NEW_TOKENS
    return model, tokenizer


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_narration(narrator: LlavaNarrator, patches: np.ndarray, device: torch.device) -> tuple[float, list[str]]:
    """Seconds per frame to narrate `patches` (after the caller's warm-up)."""
    _sync(device)
    start = time.perf_counter()
    texts = narrator.narrate(patches)
    _sync(device)
    return (time.perf_counter() - start) / len(patches), texts


def count_new_tokens(narrator: LlavaNarrator, patches: np.ndarray) -> int:
    """New tokens generated per row for `patches`, through the narrator's own prompt and injector."""
    narrator.injector.set_patches(torch.as_tensor(patches))
    inputs = narrator.prompt_inputs(len(patches))
    with torch.no_grad(), narrator.injector:
        out = narrator.model.generate(
            **inputs,
            pixel_values=narrator.injector.pixel_values(),
            do_sample=False,
            num_beams=1,
            max_new_tokens=narrator.max_new_tokens,
            pad_token_id=narrator.pad_token_id,
        )
    return int(out.shape[1] - inputs["input_ids"].shape[1])


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Time batched and one-at-a-time narration; print s/frame and projections."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--small", action="store_true", help="tiny shapes for a CPU smoke run")
    parser.add_argument("--batch", type=int, default=None, help="batched run's batch size (default 64, small 4)")
    parser.add_argument("--batched-frames", type=int, default=None, help="frames timed batched (default 2 batches)")
    parser.add_argument("--single-frames", type=int, default=None, help="frames timed one at a time (default 4)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    batch = args.batch or (4 if args.small else 64)
    n_batched = args.batched_frames or 2 * batch
    n_single = args.single_frames or (2 if args.small else 4)
    start = time.perf_counter()
    model, tokenizer = build_model(args.small, device, dtype)
    built_s = time.perf_counter() - start
    vision = model.config.vision_config
    n_patches = (vision.image_size // vision.patch_size) ** 2
    n_params = sum(p.numel() for p in model.parameters())
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(
        f"device {name}; {'small' if args.small else 'llava-1.5-7b'} shapes, random weights, {dtype}: "
        f"{n_params / 1e6:,.1f} M parameters, {n_patches} x {vision.hidden_size} patches; built in {built_s:.1f} s"
    )
    rng = np.random.default_rng(0)
    patches = rng.standard_normal((max(n_batched, n_single), n_patches, vision.hidden_size)).astype(np.float32)
    batched = LlavaNarrator.from_loaded(model, tokenizer, max_new_tokens=NEW_TOKENS, batch_size=batch)
    single = LlavaNarrator.from_loaded(model, tokenizer, max_new_tokens=NEW_TOKENS, batch_size=1)
    batched.narrate(patches[:batch])  # warm-up (kernels, allocator)
    batched_s, texts = time_narration(batched, patches[:n_batched], device)
    new_tokens = count_new_tokens(batched, patches[:2])
    print(
        f"batched (batch {batch}): {batched_s:.4f} s/frame over {n_batched} frames "
        f"({len(texts)} narrations; check: generate returns {new_tokens} new tokens per row)"
    )
    single.narrate(patches[:1])
    single_s, _ = time_narration(single, patches[:n_single], device)
    print(f"one frame at a time:     {single_s:.4f} s/frame over {n_single} frames")
    result = {
        "batched_s_per_frame": batched_s,
        "single_s_per_frame": single_s,
        "speedup": single_s / batched_s,
        "batched_projected_s": batched_s * N_FRAMES_PAPER,
        "single_projected_s": single_s * N_FRAMES_PAPER,
    }
    print(f"speed-up batched vs single: {result['speedup']:.1f}x")
    print(
        f"projected {N_FRAMES_PAPER} frames: batched {result['batched_projected_s']:.0f} s, "
        f"one at a time {result['single_projected_s']:.0f} s"
    )
    if not args.small:
        verdict = "met" if result["batched_projected_s"] < GOAL_SECONDS else "NOT met"
        print(f"goal: batched < {GOAL_SECONDS:.0f} s for {N_FRAMES_PAPER} frames on one H100: {verdict}")
    if device.type == "cuda":
        print(f"peak GPU memory {torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB")
    if args.json is not None:
        args.json.write_text(json.dumps({**result, "device": name, "small": args.small}, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
