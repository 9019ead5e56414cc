"""The Neurrator encoder: z-scored spike-count windows -> CLIP-shaped patch embeddings (paper Appendix A.2).

Parameter count of the full paper configuration (`EncoderConfig(n_units=800)`, all other fields default),
counted with `sum(p.numel() for p in model.parameters())`:

    conv front end (3 branches, 800 -> 128, kernels 3/7/15)   2,560,384
    projection 384 -> 384 + positional embedding (20 x 384)     155,520
    transformer (2 pre-LN layers, ff 1536) + final LayerNorm   3,549,696
    attention pooling score                                         385
    patch head (576 queries x 384, cross-attention, FF,
      LayerNorms, output projection 384 -> 1024)                2,390,656
    total                                                      8,656,641  (8.66 M)

The paper states 12.8 M parameters for n_units ~ 800; the architecture as described in Appendix A.2 gives
8.66 M here. The conv front end scales with n_units (3,200 parameters per unit), so the paper's count would
correspond to n_units ~ 2,100 with this head, or to a larger head/feed-forward than the appendix specifies.
The architecture is not altered to match the number.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from neurrator_bench.errors import ModelDirectoryError

from .config import EncoderConfig

logger = logging.getLogger(__name__)

SAFETENSORS_NAME = "model.safetensors"


def _encode_config(config: EncoderConfig) -> dict[str, Any]:
    return config.model_dump(mode="json")


def _decode_config(value: dict[str, Any]) -> EncoderConfig:
    return EncoderConfig.model_validate(value)


def apply_unit_mask(x: torch.Tensor, unit_mask: torch.Tensor | None, *, rescale: bool = True) -> torch.Tensor:
    """Restrict an input window to a subset of units (the subset-query mechanism, paper Sec. 4.2 and 5).

    Masked units are set to 0 (their z-scored mean) and the remaining units are multiplied by
    n_units / n_active, so the summed drive into the first (linear) conv layer keeps the scale it had with
    every unit present, as in inverted dropout. Training uses the same operation for neuron dropout, so the
    model sees subset inputs with this exact scaling during training.

    Args:
        x: (batch, n_units, window_bins) z-scored spike counts.
        unit_mask: (batch, n_units) or (1, n_units) or (n_units,), bool or float in {0, 1}; True / 1 keeps
            a unit. None keeps every unit and returns x unchanged.
        rescale: Multiply the kept units by n_units / n_active (default); False only zeroes the masked ones
            (`EncoderConfig.mask_rescale`).

    Returns:
        (batch, n_units, window_bins) masked and rescaled input.

    Raises:
        ValueError: The mask has the wrong shape or a row selects no unit.
    """
    if unit_mask is None:
        return x
    n_units = x.shape[1]
    mask = unit_mask.to(device=x.device, dtype=x.dtype)
    if mask.dim() == 1:
        mask = mask.unsqueeze(0)
    if mask.dim() != 2 or mask.shape[1] != n_units or mask.shape[0] not in (1, x.shape[0]):
        raise ValueError(
            f"unit_mask: expected shape (batch={x.shape[0]} or 1, n_units={n_units}), got {tuple(unit_mask.shape)}"
        )
    n_active = mask.sum(dim=1, keepdim=True)
    if bool((n_active == 0).any()):
        raise ValueError("unit_mask: expected at least one active unit per row, found a row with none")
    scale = mask * (n_units / n_active) if rescale else mask
    return x * scale.unsqueeze(-1)


class NeurratorEncoder(
    nn.Module,
    PyTorchModelHubMixin,
    coders={EncoderConfig: (_encode_config, _decode_config)},
    library_name="neurrator-bench",
    tags=["neuroscience", "neuropixels", "neurrator"],
):
    """Spike-count window -> (n_patches, patch_dim) patch embeddings (paper Sec. 3.1, Appendix A.2).

    Stages, for an input (batch, n_units, window_bins) of z-scored counts:

    1. Optional unit mask (`apply_unit_mask`): masked units zeroed, the rest rescaled by n_units/n_active
       (unless `EncoderConfig.mask_rescale` is False).
    2. Multi-scale Conv1D front end over time, units as input channels: one branch per kernel size
       (3, 7, 15 by default; 'same' zero padding), `conv_channels` each, GELU; branches concatenated to
       (batch, T, n_branches * conv_channels).
    3. Linear projection to d_model, plus a learned positional embedding per time bin, dropout.
    4. Transformer encoder (pre-LayerNorm, GELU, dropout, batch_first) and a final LayerNorm: the temporal
       sequence H of shape (batch, T, d_model).
    5. Attention-weighted temporal pooling: softmax over T of a learned linear score, c = sum_t a_t H_t.
    6. Patch head: `n_patches` learned queries (d_model each) cross-attend (nn.MultiheadAttention, n_heads)
       to the memory M = [c; H_1 .. H_T] of shape (batch, T + 1, d_model), i.e. to the pooled context
       vector AND every time step of the transformer output. Attending only to c (as the paper's wording
       "cross-attend to the pooled representation" literally reads) would give a softmax over one key, so
       every query would receive the same vector; with T + 1 keys each patch mixes its own temporal
       evidence. Then z = q + attn, z = z + FF(LN(z)), and a LayerNorm + Linear maps each token to
       patch_dim.

    Output: (batch, n_patches, patch_dim), float32 (or the autocast dtype).
    """

    def __init__(self, config: EncoderConfig | dict[str, Any]) -> None:
        super().__init__()
        if isinstance(config, EncoderConfig):
            self.config = config
        else:
            self.config = EncoderConfig.model_validate(config)
        cfg = self.config
        self.branches = nn.ModuleList(
            [
                nn.Sequential(nn.Conv1d(cfg.n_units, cfg.conv_channels, k, padding=k // 2), nn.GELU())
                for k in cfg.conv_kernels
            ]
        )
        conv_width = cfg.conv_channels * len(cfg.conv_kernels)
        self.input_proj = nn.Linear(conv_width, cfg.d_model)
        self.pos_embedding = nn.Parameter(torch.zeros(cfg.window_bins, cfg.d_model))
        self.input_dropout = nn.Dropout(cfg.dropout)
        layer = nn.TransformerEncoderLayer(
            d_model=cfg.d_model,
            nhead=cfg.n_heads,
            dim_feedforward=cfg.d_model * cfg.ff_mult,
            dropout=cfg.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.transformer = nn.TransformerEncoder(layer, cfg.n_layers, enable_nested_tensor=False)
        self.sequence_norm = nn.LayerNorm(cfg.d_model)
        self.pool_score = nn.Linear(cfg.d_model, 1)
        self.patch_queries = nn.Parameter(torch.zeros(cfg.n_patches, cfg.d_model))
        self.query_norm = nn.LayerNorm(cfg.d_model)
        self.cross_attention = nn.MultiheadAttention(cfg.d_model, cfg.n_heads, dropout=cfg.dropout, batch_first=True)
        self.attn_dropout = nn.Dropout(cfg.dropout)
        self.ff_norm = nn.LayerNorm(cfg.d_model)
        self.patch_ff = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.d_model * cfg.ff_mult),
            nn.GELU(),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.d_model * cfg.ff_mult, cfg.d_model),
            nn.Dropout(cfg.dropout),
        )
        self.out_norm = nn.LayerNorm(cfg.d_model)
        self.out_proj = nn.Linear(cfg.d_model, cfg.patch_dim)
        nn.init.normal_(self.pos_embedding, std=0.02)
        nn.init.normal_(self.patch_queries, std=0.02)

    def forward(self, x: torch.Tensor, unit_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Predict patch embeddings.

        Args:
            x: (batch, n_units, window_bins) z-scored spike counts.
            unit_mask: Optional (batch or 1, n_units) bool/float mask of the units to keep (see
                `apply_unit_mask`).

        Returns:
            (batch, n_patches, patch_dim) predicted patch embeddings.

        Raises:
            ValueError: x or unit_mask has the wrong shape, or a mask row keeps no unit.
        """
        cfg = self.config
        if x.dim() != 3 or x.shape[1] != cfg.n_units or x.shape[2] != cfg.window_bins:
            raise ValueError(
                f"NeurratorEncoder input x: expected shape (batch, n_units={cfg.n_units}, "
                f"window_bins={cfg.window_bins}), got {tuple(x.shape)}"
            )
        x = apply_unit_mask(x, unit_mask, rescale=cfg.mask_rescale)
        features = torch.cat([branch(x) for branch in self.branches], dim=1)  # (B, C_total, T)
        seq = self.input_proj(features.transpose(1, 2)) + self.pos_embedding  # (B, T, d)
        seq = self.sequence_norm(self.transformer(self.input_dropout(seq)))
        weights = torch.softmax(self.pool_score(seq), dim=1)  # (B, T, 1)
        pooled = (weights * seq).sum(dim=1, keepdim=True)  # (B, 1, d)
        memory = torch.cat([pooled, seq], dim=1)  # (B, T + 1, d)
        queries = self.patch_queries.unsqueeze(0).expand(x.shape[0], -1, -1)
        attended, _ = self.cross_attention(self.query_norm(queries), memory, memory, need_weights=False)
        tokens = queries + self.attn_dropout(attended)
        tokens = tokens + self.patch_ff(self.ff_norm(tokens))
        return self.out_proj(self.out_norm(tokens))

    @classmethod
    def _from_pretrained(
        cls,
        *,
        model_id: str,
        revision: str | None,
        cache_dir: str | Path | None,
        force_download: bool,
        local_files_only: bool,
        token: str | bool | None,
        map_location: str = "cpu",
        strict: bool = True,
        **model_kwargs: Any,
    ) -> NeurratorEncoder:
        """Hub-mixin loader: safetensors only, strict by default; never falls back to a pickle file.

        Accepts both the mixin's own config.json (flat encoder fields) and a `save_model_dir` config.json
        (with "model_kind" and an "encoder" block).
        """
        from .model_dir import encoder_config_from_json, load_weights_into, refuse_pickle_files

        raw_config = model_kwargs.pop("config", None)
        if raw_config is None:
            raise ModelDirectoryError(f"{model_id}/config.json: expected the encoder configuration, found none")
        config = encoder_config_from_json(raw_config, source=f"{model_id}/config.json")
        if Path(model_id).is_dir():
            folder = Path(model_id)
            refuse_pickle_files(folder)
            weights = folder / SAFETENSORS_NAME
        else:
            from huggingface_hub import hf_hub_download

            weights = Path(
                hf_hub_download(
                    repo_id=model_id,
                    filename=SAFETENSORS_NAME,
                    revision=revision,
                    cache_dir=cache_dir,
                    force_download=force_download,
                    token=token,
                    local_files_only=local_files_only,
                )
            )
        model = cls(config, **model_kwargs)
        load_weights_into(model, weights, device=map_location, strict=strict)
        return model


def count_parameters(model: nn.Module) -> int:
    """Number of parameters of a module.

    Args:
        model: Any torch module.

    Returns:
        Total element count of `model.parameters()`.
    """
    return sum(p.numel() for p in model.parameters())
