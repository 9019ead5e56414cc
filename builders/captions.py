"""Reference captions of stimulus frames: the text a narration is scored against.

- ``"ground-truth"``: the scene descriptions shipped with simulated stimuli (the embedded default).
- any other spec: a BLIP-2 checkpoint (Hugging Face id or local path; default
  ``Salesforce/blip2-opt-2.7b``, the paper's reference captioner), run unprompted with greedy decoding.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
from tqdm.auto import tqdm

from neurrator_bench.builders.frame_images import frame_images
from neurrator_bench.text_embedding import resolve_checkpoint_revision

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

DEFAULT_CAPTIONER = "Salesforce/blip2-opt-2.7b"
GROUND_TRUTH_CAPTIONER = "ground-truth"


@runtime_checkable
class Captioner(Protocol):
    """Turns stimulus frames into one reference caption each.

    Attributes:
        captioner_id: Spec that reloads this captioner via :func:`load_captioner`.
        revision: Hub commit of the weights, or ``None``.
    """

    captioner_id: str
    revision: str | None

    def caption(self, frames: np.ndarray, descriptions: list[str] | None) -> list[str]:
        """Captions of ``(n, H, W)`` uint8 frames: ``n`` strings."""
        ...


def _check_frames(frames: np.ndarray) -> None:
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 3:
        found = f"{frames.dtype} {frames.shape}" if isinstance(frames, np.ndarray) else type(frames).__name__
        raise ValueError(f"frames: expected uint8 array (n_frames, H, W), found {found}")


class GroundTruthCaptioner:
    """Returns the descriptions that ship with simulated stimuli, unchanged."""

    captioner_id = GROUND_TRUTH_CAPTIONER
    revision: str | None = None

    def caption(self, frames: np.ndarray, descriptions: list[str] | None) -> list[str]:
        """Return the ground-truth description of each frame.

        Args:
            frames: ``(n, H, W)`` uint8 frames (only their count is used).
            descriptions: ``n`` scene descriptions from the stimulus bundle.

        Returns:
            ``descriptions`` as a new list of ``n`` strings.

        Raises:
            ValueError: If ``descriptions`` is ``None`` (e.g. real Allen templates) or its length differs.
        """
        _check_frames(frames)
        if descriptions is None:
            raise ValueError(
                f"captioner {GROUND_TRUTH_CAPTIONER!r}: these frames have no ground-truth descriptions "
                "(descriptions is None); real Allen stimulus templates have none. Pass a BLIP-2 id or "
                f"path as the captioner instead, e.g. {DEFAULT_CAPTIONER!r}"
            )
        if len(descriptions) != len(frames):
            raise ValueError(f"descriptions: expected {len(frames)} (one per frame), found {len(descriptions)}")
        return [str(text) for text in descriptions]


class Blip2Captioner:
    """Unprompted BLIP-2 captions with greedy decoding.

    Args:
        model_id: Hugging Face id or local path of a BLIP-2 checkpoint with its processor files.
        batch_size: Frames per ``generate`` call.
        max_new_tokens: Most tokens generated per caption.
        device: Torch device; weights are float16 on CUDA, float32 elsewhere.
        progress: Show a tqdm bar over batches.
    """

    def __init__(
        self,
        model_id: str = DEFAULT_CAPTIONER,
        batch_size: int = 8,
        max_new_tokens: int = 30,
        device: str = "cpu",
        progress: bool = False,
    ) -> None:
        import torch
        from transformers import Blip2ForConditionalGeneration, Blip2Processor

        if batch_size < 1 or max_new_tokens < 1:
            raise ValueError(
                f"batch_size and max_new_tokens: expected positive ints, found {batch_size}, {max_new_tokens}"
            )
        self.captioner_id = model_id
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.device = device
        self.progress = progress
        self.dtype = torch.float16 if str(device).startswith("cuda") else torch.float32
        # backend="pil": the PIL image processor, so no torchvision is needed.
        self.processor = Blip2Processor.from_pretrained(model_id, backend="pil")
        model = Blip2ForConditionalGeneration.from_pretrained(model_id, dtype=self.dtype)
        self.model = model.to(device).eval()
        config = self.model.config
        if config.image_token_index is None or config.text_config.bos_token_id is None:
            raise ValueError(
                f"{model_id}: config fields image_token_index and text_config.bos_token_id are required, "
                f"found {config.image_token_index!r} and {config.text_config.bos_token_id!r}"
            )
        # generate() prepends [image token] * num_query_tokens + [BOS] and returns it before the caption.
        self._prompt = [config.image_token_index] * config.num_query_tokens + [config.text_config.bos_token_id]
        self.revision: str | None = resolve_checkpoint_revision(model_id, probe_file="config.json")
        logger.info("BLIP-2 captioner %s (revision %s)", model_id, self.revision)

    def _strip_prompt(self, token_ids: torch.Tensor) -> torch.Tensor:
        n_prompt = len(self._prompt)
        if token_ids.shape[1] >= n_prompt:
            head = token_ids[:, :n_prompt].tolist()
            if all(row == self._prompt for row in head):
                return token_ids[:, n_prompt:]
        return token_ids

    def caption(self, frames: np.ndarray, descriptions: list[str] | None = None) -> list[str]:
        """Caption each frame.

        Args:
            frames: ``(n, H, W)`` uint8 grayscale frames (padded to a square, converted to RGB).
            descriptions: Ignored (BLIP-2 sees the pixels).

        Returns:
            ``n`` captions, whitespace-stripped (possibly empty strings).
        """
        import torch

        _check_frames(frames)
        captions: list[str] = []
        starts = range(0, len(frames), self.batch_size)
        for start in tqdm(starts, desc=f"BLIP-2 captions {self.captioner_id}", disable=not self.progress):
            # the same square field of view as the CLIP targets (frame_images.ASPECT_POLICY)
            inputs = self.processor(images=frame_images(frames[start : start + self.batch_size]), return_tensors="pt")
            pixels = inputs["pixel_values"].to(self.device, dtype=self.dtype)
            with torch.inference_mode():
                token_ids = self.model.generate(
                    pixel_values=pixels, max_new_tokens=self.max_new_tokens, do_sample=False, num_beams=1
                )
            texts = self.processor.batch_decode(self._strip_prompt(token_ids), skip_special_tokens=True)
            captions.extend(text.strip() for text in texts)
        return captions


def load_captioner(
    spec: str, *, batch_size: int = 8, max_new_tokens: int = 30, device: str = "cpu", progress: bool = False
) -> Captioner:
    """Load a captioner from a spec string.

    Args:
        spec: ``"ground-truth"`` (simulated stimuli only) or a BLIP-2 Hugging Face id / local path
            (e.g. ``DEFAULT_CAPTIONER``).
        batch_size: Frames per ``generate`` call (BLIP-2).
        max_new_tokens: Most tokens per caption (BLIP-2).
        device: Torch device (BLIP-2).
        progress: Show a progress bar (BLIP-2).

    Returns:
        A :class:`Captioner` whose ``captioner_id`` reloads it through this function.
    """
    if spec == GROUND_TRUTH_CAPTIONER:
        return GroundTruthCaptioner()
    return Blip2Captioner(spec, batch_size=batch_size, max_new_tokens=max_new_tokens, device=device, progress=progress)
