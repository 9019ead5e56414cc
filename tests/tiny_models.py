"""Tiny random-weight vision / vision-language checkpoints for offline tests.

Every builder here makes a model from a config (no hub access), seeds its random init without
touching the global torch RNG, and ``save_pretrained``s it together with a processor into a
directory, so the code under test loads it by path exactly as it would load a real checkpoint.

Reusable pieces for later tiny models (e.g. a tiny LLaVA): :func:`build_word_tokenizer`,
:func:`tiny_clip_vision_config`, :func:`tiny_opt_config`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import (
    Blip2Config,
    Blip2ForConditionalGeneration,
    Blip2Processor,
    Blip2QFormerConfig,
    Blip2VisionConfig,
    BlipImageProcessorPil,
    CLIPConfig,
    CLIPImageProcessorPil,
    CLIPModel,
    CLIPTextConfig,
    CLIPVisionConfig,
    CLIPVisionModel,
    OPTConfig,
    PreTrainedTokenizerFast,
)

TINY_IMAGE_SIZE = 28
TINY_PATCH_SIZE = 14
TINY_HIDDEN = 32
TINY_CLIP_LAYERS = 3
TINY_N_PATCHES = (TINY_IMAGE_SIZE // TINY_PATCH_SIZE) ** 2

PAD, EOS, UNK, IMAGE = "<pad>", "</s>", "<unk>", "<image>"
SPECIAL_TOKENS = (PAD, EOS, UNK, IMAGE)
TINY_WORDS = (
    "a", "the", "car", "tree", "street", "sky", "dog", "cat", "road", "house", "grass", "water",
    "bird", "on", "in", "with", "near", "under", "big", "small", "dark", "bright", "left", "right",
    "red", "blue", "green", "man", "woman", "field", "forest", "city",
)  # fmt: skip


def build_word_tokenizer(
    words: Sequence[str] = TINY_WORDS, special_tokens: Sequence[str] = SPECIAL_TOKENS
) -> PreTrainedTokenizerFast:
    """A whitespace word-level fast tokenizer built offline with the ``tokenizers`` library.

    Ids: the special tokens first (``<pad>`` 0, ``</s>`` 1, ``<unk>`` 2, ``<image>`` 3), then ``words``.
    ``</s>`` serves as BOS and EOS (as in OPT).
    """
    vocab = {tok: i for i, tok in enumerate([*special_tokens, *words])}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.decoder = decoders.WordPiece(prefix="##")  # joins word tokens with single spaces
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token=EOS, eos_token=EOS, pad_token=PAD, unk_token=UNK
    )
    tokenizer.add_special_tokens({"additional_special_tokens": [IMAGE]})
    return tokenizer


def tiny_clip_vision_config(**overrides: object) -> CLIPVisionConfig:
    """CLIP vision config: 28x28 images, 14-px patches (4 patches), hidden 32, 3 layers."""
    params: dict[str, object] = {
        "hidden_size": TINY_HIDDEN,
        "intermediate_size": 37,
        "num_hidden_layers": TINY_CLIP_LAYERS,
        "num_attention_heads": 4,
        "image_size": TINY_IMAGE_SIZE,
        "patch_size": TINY_PATCH_SIZE,
        "projection_dim": 16,
    }
    params.update(overrides)
    return CLIPVisionConfig(**params)


def tiny_clip_image_processor() -> CLIPImageProcessorPil:
    """A CLIP PIL image processor that resizes/crops to the tiny 28x28 input."""
    return CLIPImageProcessorPil(
        size={"shortest_edge": TINY_IMAGE_SIZE},
        crop_size={"height": TINY_IMAGE_SIZE, "width": TINY_IMAGE_SIZE},
    )


def save_tiny_clip(path: Path, *, full_clip: bool = False, seed: int = 0) -> Path:
    """Save a tiny random CLIP (vision-only ``CLIPVisionModel`` or full ``CLIPModel``) + image processor.

    Args:
        path: Output directory (created).
        full_clip: Save a full ``CLIPModel`` (text + vision) instead of a vision-only model.
        seed: Seed of the random init.

    Returns:
        ``path``.
    """
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        if full_clip:
            text = CLIPTextConfig(
                vocab_size=64,
                hidden_size=TINY_HIDDEN,
                intermediate_size=37,
                num_hidden_layers=2,
                num_attention_heads=4,
                max_position_embeddings=16,
                projection_dim=16,
            )
            config = CLIPConfig(
                text_config=text.to_dict(),
                vision_config=tiny_clip_vision_config().to_dict(),
                projection_dim=16,
            )
            model: torch.nn.Module = CLIPModel(config)
        else:
            model = CLIPVisionModel(tiny_clip_vision_config())
    model.eval()
    model.save_pretrained(path)
    tiny_clip_image_processor().save_pretrained(path)
    return path


def tiny_opt_config(vocab_size: int, **overrides: object) -> OPTConfig:
    """A 2-layer, 32-wide OPT decoder config with ``<pad>`` 0 and ``</s>`` 1 as BOS/EOS."""
    params: dict[str, object] = {
        "vocab_size": vocab_size,
        "hidden_size": TINY_HIDDEN,
        "num_hidden_layers": 2,
        "ffn_dim": 37,
        "num_attention_heads": 4,
        "max_position_embeddings": 64,
        "word_embed_proj_dim": TINY_HIDDEN,
        "pad_token_id": 0,
        "bos_token_id": 1,
        "eos_token_id": 1,
        # untied: with tied input/output embeddings a random decoder echoes its last input token (</s>)
        "tie_word_embeddings": False,
    }
    params.update(overrides)
    return OPTConfig(**params)


def save_tiny_blip2(path: Path, *, seed: int = 0, num_query_tokens: int = 4) -> Path:
    """Save a tiny random BLIP-2 (vision + Q-Former + OPT) with a full ``Blip2Processor``.

    Args:
        path: Output directory (created).
        seed: Seed of the random init.
        num_query_tokens: Q-Former query tokens (= image tokens fed to the language model).

    Returns:
        ``path``.
    """
    tokenizer = build_word_tokenizer()
    image_token_id = tokenizer.convert_tokens_to_ids(IMAGE)
    vision = Blip2VisionConfig(
        hidden_size=TINY_HIDDEN,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=TINY_IMAGE_SIZE,
        patch_size=TINY_PATCH_SIZE,
    )
    qformer = Blip2QFormerConfig(
        vocab_size=len(tokenizer),
        hidden_size=TINY_HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        encoder_hidden_size=TINY_HIDDEN,
        max_position_embeddings=32,
    )
    config = Blip2Config(
        vision_config=vision.to_dict(),
        qformer_config=qformer.to_dict(),
        text_config=tiny_opt_config(len(tokenizer)).to_dict(),
        num_query_tokens=num_query_tokens,
        image_token_index=image_token_id,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = Blip2ForConditionalGeneration(config)
    model.eval()
    model.save_pretrained(path)
    image_processor = BlipImageProcessorPil(size={"height": TINY_IMAGE_SIZE, "width": TINY_IMAGE_SIZE})
    processor = Blip2Processor(image_processor=image_processor, tokenizer=tokenizer, num_query_tokens=num_query_tokens)
    processor.save_pretrained(path)
    return path
