"""Narrators: predicted patches -> sentences (frozen LLaVA via PatchInjector), or nearest-caption retrieval.

`LlavaNarrator` follows the paper's inference configuration (Appendix A.2): llava-1.5-7b, greedy decoding,
at most 60 new tokens, the fixed prompt `PROMPT`. `RetrievalNarrator` is the offline default: it returns the
caption of the nearest training frame in a pooled embedding space.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from tqdm.auto import tqdm

from .patch_injector import PatchInjector

if TYPE_CHECKING:
    from transformers import LlavaForConditionalGeneration

logger = logging.getLogger(__name__)

PROMPT = "USER: <image>\n Describe this scene in one sentence.\n ASSISTANT:"
DEFAULT_LLAVA = "llava-hf/llava-1.5-7b-hf"


def _resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class LlavaNarrator:
    """Greedy LLaVA narration of patch tensors through `PatchInjector`.

    The prompt is tokenized once; its single image token is expanded to n_patches image tokens in id space
    (what `LlavaProcessor` does in text space). Every row of a batch has the same prompt, so rows have equal
    length and need no padding (a tokenizer is still set to left padding, as decoder-only generation needs).

    Args:
        model_id_or_path: Hub id or local folder holding a LlavaForConditionalGeneration and its tokenizer.
        max_new_tokens: Generation budget per narration.
        batch_size: Narrations per `generate` call.
        device: "auto" (CUDA if available), "cpu", "cuda" or "cuda:N".
        dtype: Model dtype; None picks float16 on CUDA and float32 on CPU.
        local_files_only: Never reach the Hub (load from the local cache or path only).
    """

    def __init__(
        self,
        model_id_or_path: str = DEFAULT_LLAVA,
        *,
        max_new_tokens: int = 60,
        batch_size: int = 16,
        device: str = "auto",
        dtype: torch.dtype | None = None,
        local_files_only: bool = False,
    ) -> None:
        from transformers import AutoTokenizer, LlavaForConditionalGeneration

        torch_device = _resolve_device(device)
        if dtype is None:
            dtype = torch.float16 if torch_device.type == "cuda" else torch.float32
        model = LlavaForConditionalGeneration.from_pretrained(
            model_id_or_path, dtype=dtype, local_files_only=local_files_only
        )
        tokenizer = AutoTokenizer.from_pretrained(model_id_or_path, local_files_only=local_files_only)
        self._setup(model.to(torch_device), tokenizer, max_new_tokens, batch_size)

    @classmethod
    def from_loaded(
        cls,
        model: LlavaForConditionalGeneration,
        processor_or_tokenizer: Any,
        *,
        max_new_tokens: int = 60,
        batch_size: int = 16,
    ) -> LlavaNarrator:
        """Build a narrator around an already-loaded LLaVA and its processor (or bare tokenizer).

        Args:
            model: A LlavaForConditionalGeneration (left on its device and dtype).
            processor_or_tokenizer: A LlavaProcessor (its `.tokenizer` is used) or a tokenizer.
            max_new_tokens: Generation budget per narration.
            batch_size: Narrations per `generate` call.

        Returns:
            The narrator.
        """
        narrator = cls.__new__(cls)
        tokenizer = getattr(processor_or_tokenizer, "tokenizer", processor_or_tokenizer)
        narrator._setup(model, tokenizer, max_new_tokens, batch_size)
        return narrator

    def _setup(self, model: Any, tokenizer: Any, max_new_tokens: int, batch_size: int) -> None:
        if max_new_tokens < 1 or batch_size < 1:
            raise ValueError(
                f"LlavaNarrator: max_new_tokens and batch_size expected >= 1, got {max_new_tokens}, {batch_size}"
            )
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.tokenizer.padding_side = "left"
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.injector = PatchInjector(model)
        image_token_id = model.config.image_token_id
        ids = list(tokenizer(PROMPT)["input_ids"])
        if ids.count(image_token_id) != 1:
            raise ValueError(
                f"LlavaNarrator: the tokenized PROMPT should hold the image token id {image_token_id} "
                f"(config.image_token_id) exactly once, found {ids.count(image_token_id)} in {ids}"
            )
        at = ids.index(image_token_id)
        expanded = ids[:at] + [image_token_id] * self.injector.n_patches + ids[at + 1 :]
        self.prompt_ids = torch.tensor(expanded, dtype=torch.long)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.pad_token_id = pad

    def prompt_inputs(self, batch: int) -> dict[str, torch.Tensor]:
        """Tokenized, image-expanded prompt for a batch.

        Args:
            batch: Number of rows.

        Returns:
            {"input_ids", "attention_mask"}: (batch, prompt_len) long tensors on the model's device.
        """
        device = self.model.get_input_embeddings().weight.device
        ids = self.prompt_ids.to(device).unsqueeze(0).expand(batch, -1).contiguous()
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}

    def narrate(self, patches: np.ndarray | torch.Tensor, *, progress: bool = False) -> list[str]:
        """Narrate patch tensors, one sentence each, greedy decoding.

        Args:
            patches: (n, n_patches, hidden) predicted patches (576 x 1024 for llava-1.5).
            progress: Show a tqdm bar over batches.

        Returns:
            n narrations (decoded new tokens, special tokens skipped, whitespace stripped).

        Raises:
            ValueError: patches have the wrong shape.
        """
        tensor = torch.as_tensor(patches)
        self.injector.set_patches(tensor[:1])  # validates the shape
        texts: list[str] = []
        starts = range(0, tensor.shape[0], self.batch_size)
        with torch.no_grad():
            for start in tqdm(starts, disable=not progress, desc="narrating"):
                chunk = tensor[start : start + self.batch_size]
                self.injector.set_patches(chunk)
                inputs = self.prompt_inputs(chunk.shape[0])
                with self.injector:
                    out = self.model.generate(
                        **inputs,
                        pixel_values=self.injector.pixel_values(),
                        max_new_tokens=self.max_new_tokens,
                        do_sample=False,
                        num_beams=1,
                        pad_token_id=self.pad_token_id,
                    )
                new_tokens = out[:, inputs["input_ids"].shape[1] :]
                decoded = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
                texts.extend(text.strip() for text in decoded)
        return texts


class RetrievalNarrator:
    """Caption of the nearest training frame by cosine similarity in a pooled embedding space.

    Args:
        train_pooled: (m, d) pooled embeddings of the training frames.
        train_captions: m captions, aligned with the rows of train_pooled.

    Raises:
        ValueError: Shapes or lengths disagree, or the training set is empty.
    """

    def __init__(self, train_pooled: np.ndarray, train_captions: Sequence[str]) -> None:
        pooled = np.asarray(train_pooled, dtype=np.float64)
        if pooled.ndim != 2 or pooled.shape[0] == 0:
            raise ValueError(f"train_pooled: expected a non-empty (m, d) array, got shape {pooled.shape}")
        if len(train_captions) != pooled.shape[0]:
            raise ValueError(
                f"train_captions: expected {pooled.shape[0]} captions (rows of train_pooled), got {len(train_captions)}"
            )
        self._unit = _unit_rows(pooled)
        self.captions = list(train_captions)

    def nearest(self, pred_pooled: np.ndarray, chunk: int = 1024) -> np.ndarray:
        """Index of the nearest training frame for each query (ties -> lowest index).

        Args:
            pred_pooled: (n, d) pooled predictions.
            chunk: Queries per similarity block.

        Returns:
            (n,) int64 training-row indices. Zero vectors have cosine 0 to everything.

        Raises:
            ValueError: Dimension mismatch.
        """
        query = np.asarray(pred_pooled, dtype=np.float64)
        if query.ndim != 2 or query.shape[1] != self._unit.shape[1]:
            raise ValueError(f"pred_pooled: expected shape (n, {self._unit.shape[1]}), got {query.shape}")
        unit = _unit_rows(query)
        result = np.empty(query.shape[0], dtype=np.int64)
        for start in range(0, query.shape[0], chunk):
            sims = unit[start : start + chunk] @ self._unit.T
            best = sims.max(axis=1, keepdims=True)
            # first index within float rounding of the maximum: ties resolve to the lowest index
            result[start : start + chunk] = np.argmax(sims >= best - 1e-12, axis=1)
        return result

    def narrate_pooled(self, pred_pooled: np.ndarray) -> list[str]:
        """Captions of the nearest training frames.

        Args:
            pred_pooled: (n, d) pooled predictions.

        Returns:
            n captions.
        """
        return [self.captions[i] for i in self.nearest(pred_pooled)]


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


TINY_VOCAB = (
    "<pad> <unk> <s> </s> <image> USER ASSISTANT : . Describe this scene in one sentence "
    "a the mouse cat dog tree street car person grass sky water sits on runs near under"
).split()


def tiny_random_llava(
    *, grid: int = 2, vision_hidden: int = 16, text_hidden: int = 32, seed: int = 0
) -> tuple[LlavaForConditionalGeneration, Any]:
    """A random-weight LLaVA (tiny CLIP tower + tiny Llama) and word-level tokenizer, built offline.

    For tests and offline smoke runs of the narration path; its sentences are random word strings. It uses
    the llava-1.5 conventions (vision_feature_layer -2, "default" strategy, image token "<image>").

    Args:
        grid: Patch grid side; the tower sees (14 * grid)^2-pixel images and yields grid^2 patches.
        vision_hidden: Hidden size of the tower (the patch dimension to inject).
        text_hidden: Hidden size of the language model.
        seed: Seed of the random weights.

    Returns:
        (model in eval mode, tokenizer) where the tokenizer is a transformers fast tokenizer.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        PreTrainedTokenizerFast,
    )

    vocab = {word: index for index, word in enumerate(TINY_VOCAB)}
    special = {"pad_token": "<pad>", "unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>"}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=special["unk_token"]))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, additional_special_tokens=["<image>"], **special)
    vision = CLIPVisionConfig(
        image_size=14 * grid,
        patch_size=14,
        hidden_size=vision_hidden,
        intermediate_size=2 * vision_hidden,
        num_hidden_layers=3,
        num_attention_heads=2,
        projection_dim=vision_hidden,
    )
    text = LlamaConfig(
        vocab_size=len(TINY_VOCAB),
        hidden_size=text_hidden,
        intermediate_size=2 * text_hidden,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
        pad_token_id=vocab["<pad>"],
        bos_token_id=vocab["<s>"],
        eos_token_id=vocab["</s>"],
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=vocab["<image>"],
        image_seq_length=grid * grid,
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlavaForConditionalGeneration(config)
    model.generation_config.pad_token_id = vocab["<pad>"]
    model.generation_config.eos_token_id = vocab["</s>"]
    return model.eval(), tokenizer
