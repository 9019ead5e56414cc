"""Configuration records of the Neurrator encoder and of its training recipe (paper Appendix A.2)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class EncoderConfig(BaseModel):
    """Architecture of the Neurrator encoder (paper Sec. 3.1, Appendix A.2 "Encoder architecture").

    Defaults are the paper's: a 20-bin window (167 ms at 120 Hz), three Conv1D branches with kernels 3/7/15
    and 128 channels each, a 2-layer transformer with d_model 384 and 8 heads, and 576 patch queries of
    dimension 1024 (the 24 x 24 CLIP ViT-L/14-336 patch grid, penultimate layer). Dropout 0.2 everywhere.

    Attributes:
        n_units: Number of input units (neurons); the channel count of the Conv1D front end.
        window_bins: Number of time bins the encoder sees per sample.
        conv_kernels: Kernel sizes (in bins) of the parallel Conv1D branches; each must be odd.
        conv_channels: Output channels of each Conv1D branch.
        d_model: Width of the transformer, the pooled context and the patch queries.
        n_heads: Attention heads of the transformer and of the patch cross-attention.
        n_layers: Transformer encoder layers.
        ff_mult: Feed-forward width of each transformer layer, as a multiple of d_model.
        n_patches: Number of output patch tokens.
        patch_dim: Dimension of each output patch token.
        dropout: Dropout probability used throughout.
        mask_rescale: How a unit mask (neuron dropout, subset training, subset queries) is applied: True zeroes
            the masked units and multiplies the kept ones by n_units / n_active (inverted dropout, the default
            and every earlier model's convention); False only zeroes them. Training and queries use the same.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_units: int = Field(gt=0)
    window_bins: int = Field(default=20, gt=0)
    conv_kernels: tuple[int, ...] = (3, 7, 15)
    conv_channels: int = Field(default=128, gt=0)
    d_model: int = Field(default=384, gt=0)
    n_heads: int = Field(default=8, gt=0)
    n_layers: int = Field(default=2, ge=0)
    ff_mult: int = Field(default=4, gt=0)
    n_patches: int = Field(default=576, gt=0)
    patch_dim: int = Field(default=1024, gt=0)
    dropout: float = Field(default=0.2, ge=0.0, lt=1.0)
    mask_rescale: bool = True

    @field_validator("conv_kernels")
    @classmethod
    def _odd_kernels(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if len(value) == 0 or any(k <= 0 or k % 2 == 0 for k in value):
            raise ValueError(
                f"EncoderConfig.conv_kernels: expected a non-empty tuple of odd positive ints, got {value}"
            )
        return value

    @model_validator(mode="after")
    def _heads_divide_width(self) -> EncoderConfig:
        if self.d_model % self.n_heads != 0:
            raise ValueError(
                f"EncoderConfig.d_model: expected a multiple of n_heads={self.n_heads}, got {self.d_model}"
            )
        return self

    @classmethod
    def tiny(cls, n_units: int = 12, **overrides: object) -> EncoderConfig:
        """A few-thousand-parameter configuration for fast tests.

        Args:
            n_units: Number of input units.
            **overrides: Any other field to override.

        Returns:
            EncoderConfig with 8 conv channels, d_model 32, 2 heads, 1 layer, 4 patches of dimension 16,
            a 10-bin window and kernels (3, 5).
        """
        base: dict[str, object] = {
            "n_units": n_units,
            "window_bins": 10,
            "conv_kernels": (3, 5),
            "conv_channels": 8,
            "d_model": 32,
            "n_heads": 2,
            "n_layers": 1,
            "ff_mult": 2,
            "n_patches": 4,
            "patch_dim": 16,
            "dropout": 0.1,
        }
        base.update(overrides)
        return cls.model_validate(base)


class TrainConfig(BaseModel):
    """Training recipe of the encoder (paper Appendix A.2 "Optimization"; augmentation per the lead's spec).

    Attributes:
        lr: Peak AdamW learning rate.
        weight_decay: AdamW decoupled weight decay.
        schedule: Learning-rate schedule over the total number of optimizer steps (only "cosine", no warm-up).
        grad_clip: Maximum global gradient L2 norm.
        batch_size: Samples per optimizer step.
        max_epochs: Upper bound on training epochs.
        patience: Early stopping: epochs without a val-loss improvement before stopping.
        jitter_bins: Temporal jitter amplitude in bins (training only); see `training.py`.
        neuron_dropout: Fraction of units zeroed per training sample (masked as `EncoderConfig.mask_rescale` says).
        subset_training: Probability that a training sample sees a random unit subset instead of neuron
            dropout: its size log-uniform between ``subset_min_units`` and all units, so the encoder is trained
            on the inputs a small subset query gives it (0: off, every earlier model).
        subset_min_units: Smallest subset size drawn by ``subset_training``.
        loss_mse_weight: Weight w of the MSE term; the cosine term gets 1 - w (paper: equal proportion).
        seed: Seed of every random draw in training.
        device: "auto" (CUDA when available, else CPU), "cpu", "cuda" or "cuda:N".
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    lr: float = Field(default=3e-4, gt=0.0)
    weight_decay: float = Field(default=1e-3, ge=0.0)
    schedule: Literal["cosine"] = "cosine"
    grad_clip: float = Field(default=1.0, gt=0.0)
    batch_size: int = Field(default=64, gt=0)
    max_epochs: int = Field(default=60, gt=0)
    patience: int = Field(default=12, gt=0)
    jitter_bins: int = Field(default=2, ge=0)
    neuron_dropout: float = Field(default=0.1, ge=0.0, lt=1.0)
    subset_training: float = Field(default=0.0, ge=0.0, le=1.0)
    subset_min_units: int = Field(default=4, gt=0)
    loss_mse_weight: float = Field(default=0.5, ge=0.0, le=1.0)
    seed: int = 0
    device: str = "auto"
