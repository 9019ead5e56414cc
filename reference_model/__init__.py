"""The Neurrator reference model (paper Sec. 3.1, Appendix A.2), at the array level.

- `config`: EncoderConfig, TrainConfig.
- `encoder`: NeurratorEncoder (spike windows -> CLIP-shaped patches), subset-query unit masks.
- `training`: train_encoder (resumable, seeded), predict, patch_loss.
- `model_dir`: config.json + model.safetensors model directories, pickles refused.
- subset queries: units are chosen by `neurrator_bench.subsets.unit_mask`; the encoder applies the mask.
- `model_kind` / `train_on_dataset`: the "neurrator-encoder" model kind and `train_reference`.
- `patch_injector`: PatchInjector for transformers 5.x LLaVA.
- `narrators`: LlavaNarrator (frozen LLaVA, greedy), RetrievalNarrator (nearest training caption).

transformers is imported only when a LLaVA narrator is built.
"""

from __future__ import annotations

from .config import EncoderConfig, TrainConfig
from .encoder import NeurratorEncoder, apply_unit_mask, count_parameters
from .model_dir import load_model_dir, save_model_dir
from .narrators import PROMPT, LlavaNarrator, RetrievalNarrator, tiny_random_llava
from .patch_injector import PatchInjector
from .training import EpochRecord, TrainResult, patch_loss, predict, train_encoder

__all__ = [
    "PROMPT",
    "EncoderConfig",
    "EpochRecord",
    "LlavaNarrator",
    "NeurratorEncoder",
    "PatchInjector",
    "RetrievalNarrator",
    "TrainConfig",
    "TrainResult",
    "apply_unit_mask",
    "count_parameters",
    "load_model_dir",
    "patch_loss",
    "predict",
    "save_model_dir",
    "tiny_random_llava",
    "train_encoder",
]
