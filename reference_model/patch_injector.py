"""PatchInjector: feed predicted CLIP patches to a frozen transformers-5.x LLaVA in place of its vision tower.

How transformers 5.x LLaVA reads the tower (models/llava/modeling_llava.py, `LlavaModel.get_image_features`):

    image_outputs = self.vision_tower(pixel_values, return_dict=True, output_hidden_states=<layer>)
    selected = image_outputs.hidden_states[vision_feature_layer]      # default -2 (penultimate layer)
    if vision_feature_select_strategy == "default": selected = selected[:, 1:]   # drop CLS
    image_features = self.multi_modal_projector(selected)

(`select_hidden_states` asks the CLIP tower only for the selected layer, so `hidden_states` is a tuple of
num_hidden_layers + 1 entries, None except at that index.) The injector registers a forward hook on
`model.model.vision_tower` that puts `[zeros CLS row; patches]`, shape (batch, 1 + n_patches, hidden), at
index `vision_feature_layer` of the tower output's `hidden_states`; LLaVA's own `[:, 1:]` then drops the
dummy CLS row and the projector receives exactly the injected patches. Everything downstream (projector,
language model, generation) is untouched (paper Sec. 3.1 and Appendix A.2 "Inference configuration").

LLaVA only takes its image path when `pixel_values` is given, so callers pass zeros of the tower's input
shape (`PatchInjector.pixel_values`); the tower still runs on them (its output is discarded). Only an int
`vision_feature_layer` and the "default" strategy are supported (those of llava-1.5).
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from transformers import LlavaForConditionalGeneration

logger = logging.getLogger(__name__)


class PatchInjector:
    """Context manager replacing the LLaVA vision tower's selected hidden state by given patches.

    Example::

        with PatchInjector(llava, patches) as injector:
            out = llava.generate(input_ids=ids, attention_mask=mask,
                                 pixel_values=injector.pixel_values(), max_new_tokens=60, do_sample=False)

    Args:
        model: A transformers 5.x `LlavaForConditionalGeneration` (tower at `model.model.vision_tower`).
        patches: Optional (batch, n_patches, hidden) patches; settable later with `set_patches`.

    Raises:
        ValueError: The model has no `model.vision_tower`, a list `vision_feature_layer`, or a
            strategy other than "default".
    """

    def __init__(self, model: LlavaForConditionalGeneration, patches: torch.Tensor | np.ndarray | None = None):
        inner = getattr(model, "model", None)
        tower = getattr(inner, "vision_tower", None)
        if tower is None:
            raise ValueError(
                f"PatchInjector model: expected a transformers 5.x LlavaForConditionalGeneration with "
                f"attribute model.vision_tower, got {type(model).__name__} without it"
            )
        config = model.config
        if not isinstance(config.vision_feature_layer, int):
            raise ValueError(
                f"PatchInjector: config.vision_feature_layer expected an int, got {config.vision_feature_layer!r}"
            )
        if config.vision_feature_select_strategy != "default":
            raise ValueError(
                "PatchInjector: config.vision_feature_select_strategy expected 'default', "
                f"got {config.vision_feature_select_strategy!r}"
            )
        vision = config.vision_config
        self.model = model
        self.tower = tower
        self.layer: int = config.vision_feature_layer
        self.n_layers: int = vision.num_hidden_layers
        self.image_size: int = vision.image_size
        self.num_channels: int = getattr(vision, "num_channels", 3)
        self.n_patches: int = (vision.image_size // vision.patch_size) ** 2
        self.hidden_size: int = vision.hidden_size
        self._patches: torch.Tensor | None = None
        self._handle: Any = None
        self.calls = 0
        if patches is not None:
            self.set_patches(patches)

    def set_patches(self, patches: torch.Tensor | np.ndarray) -> None:
        """Set the patches injected by the next tower calls.

        Args:
            patches: (batch, n_patches, hidden) with n_patches = (image_size // patch_size)^2 and hidden the
                tower's hidden size (576 x 1024 for llava-1.5).

        Raises:
            ValueError: Wrong shape.
        """
        tensor = torch.as_tensor(patches)
        expected = (self.n_patches, self.hidden_size)
        if tensor.dim() != 3 or tuple(tensor.shape[1:]) != expected:
            raise ValueError(
                f"PatchInjector patches: expected shape (batch, {expected[0]}, {expected[1]}), "
                f"got {tuple(tensor.shape)}"
            )
        self._patches = tensor

    def pixel_values(self, batch_size: int | None = None) -> torch.Tensor:
        """Zero images of the tower's input shape, to make LLaVA take its image path.

        Args:
            batch_size: Rows; defaults to the batch of the current patches.

        Returns:
            (batch, num_channels, image_size, image_size) zeros on the tower's device and dtype.

        Raises:
            ValueError: No batch size given and no patches set.
        """
        if batch_size is None:
            if self._patches is None:
                raise ValueError("PatchInjector.pixel_values: pass batch_size or set patches first")
            batch_size = self._patches.shape[0]
        parameter = next(self.tower.parameters())
        shape = (batch_size, self.num_channels, self.image_size, self.image_size)
        return torch.zeros(shape, device=parameter.device, dtype=parameter.dtype)

    def _hook(self, module: torch.nn.Module, args: tuple[Any, ...], output: Any) -> Any:
        if self._patches is None:
            raise ValueError("PatchInjector: the vision tower ran but no patches were set (call set_patches)")
        reference = output.last_hidden_state
        if reference.shape[0] != self._patches.shape[0]:
            raise ValueError(
                f"PatchInjector: the vision tower ran on {reference.shape[0]} images, but "
                f"{self._patches.shape[0]} patch sets are set"
            )
        patches = self._patches.to(device=reference.device, dtype=reference.dtype)
        cls_row = torch.zeros_like(patches[:, :1])
        injected = torch.cat([cls_row, patches], dim=1)
        states = output.hidden_states
        n_states = self.n_layers + 1 if states is None else len(states)
        if not -n_states <= self.layer < n_states:
            raise ValueError(
                f"PatchInjector: vision_feature_layer {self.layer} out of range for {n_states} hidden states"
            )
        new_states = [None] * n_states if states is None else list(states)
        new_states[self.layer % n_states] = injected
        output.hidden_states = tuple(new_states)
        self.calls += 1
        return output

    def __enter__(self) -> PatchInjector:
        if self._handle is not None:
            raise ValueError("PatchInjector: already active; a context manager cannot be entered twice")
        self._handle = self.tower.register_forward_hook(self._hook)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
