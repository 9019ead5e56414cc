"""Per-frame patch targets: what a spike decoder learns to predict for each stimulus frame.

Two kinds of target space, chosen by a spec string (see :func:`load_target_extractor`):

- a **CLIP vision tower** (any Hugging Face id or local path; default ``openai/clip-vit-large-patch14-336``):
  the targets are ``vision_model(pixels, output_hidden_states=True).hidden_states[-2][:, 1:]`` (the
  penultimate layer with the CLS token dropped), exactly the tokens LLaVA-1.5 feeds to its projector.
  For ViT-L/14-336 that is ``(576, 1024)`` per frame;
- the **embedded default** ``"embedded-minilm-patches"``: each patch's target is the offline MiniLM
  sentence embedding of what that patch shows: the unit-normalized, area-weighted sum of the embeddings
  of the phrases painted in it (``patch_mixtures`` of a simulated stimulus; a bundle without mixtures
  gives the dominant phrase's embedding), ``(gh * gw, 384)`` per frame. Semantically meaningful,
  continuous as objects move and the camera pans, small and CPU-friendly.

Targets are stored as float16. The pooled (frame-level) vector is always :func:`pooled_targets`,
the mean of the patch tokens, so any patch predictor also yields a pooled prediction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
from tqdm.auto import tqdm

from neurrator_bench.builders.frame_images import frame_images
from neurrator_bench.registry import Registry
from neurrator_bench.text_embedding import (
    DEFAULT_SENTENCE_MODEL,
    SentenceEncoder,
    resolve_checkpoint_revision,
)

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

DEFAULT_CLIP_ID = "openai/clip-vit-large-patch14-336"
EMBEDDED_TARGET_SPEC = "embedded-minilm-patches"
CLIP_KIND = "clip"
CLIP_HIDDEN_STATE_LAYER = -2


@runtime_checkable
class TargetExtractor(Protocol):
    """Maps stimulus frames to per-patch target embeddings.

    Attributes:
        model_id: Spec that reloads this extractor via :func:`load_target_extractor`.
        revision: Hub commit / package version of the weights, or ``None``.
        n_patches: Patch tokens per frame.
        dim: Dimension of each patch token.
    """

    model_id: str
    revision: str | None
    n_patches: int
    dim: int

    def extract(self, frames: np.ndarray, patch_descriptions: list[list[str]] | None) -> np.ndarray:
        """Targets of each frame: ``(n, H, W)`` uint8 -> ``(n, n_patches, dim)`` float16."""
        ...


def pooled_targets(patches: np.ndarray) -> np.ndarray:
    """THE pooled target vector of each frame: the mean of its patch tokens.

    Defined from the patch tokens only (not CLIP's CLS/pooler output), so any model that predicts
    patches also yields a pooled prediction, comparable with this one by the same function.

    Args:
        patches: ``(n_frames, n_patches, dim)`` patch targets (any float dtype).

    Returns:
        ``(n_frames, dim)`` float32, the mean over the patch axis (computed in float32).

    Raises:
        ValueError: If ``patches`` is not 3-D or has no patches.
    """
    patches = np.asarray(patches)
    if patches.ndim != 3 or patches.shape[1] == 0:
        raise ValueError(f"patches: expected shape (n_frames, n_patches>0, dim), found {patches.shape}")
    return patches.astype(np.float32).mean(axis=1)


TARGET_MODELS: Registry[Callable[..., TargetExtractor]] = Registry("target model kind")


def _check_frames(frames: np.ndarray) -> None:
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 3:
        found = f"{frames.dtype} {frames.shape}" if isinstance(frames, np.ndarray) else type(frames).__name__
        raise ValueError(f"frames: expected uint8 array (n_frames, H, W), found {found}")


class EmbeddedPatchTargets:
    """The embedded default: per-patch MiniLM embeddings of the patch phrases.

    Args:
        encoder: Sentence encoder (default: the offline MiniLM).
        n_patches: Expected patches per frame (``gh * gw``); ``None`` takes it from the first call.
    """

    def __init__(self, encoder: SentenceEncoder, n_patches: int | None = None) -> None:
        self.encoder = encoder
        self.model_id = EMBEDDED_TARGET_SPEC
        self.revision: str | None = encoder.revision
        self.dim: int = encoder.dim
        self._n_patches = n_patches

    @property
    def n_patches(self) -> int:
        """Patches per frame; fixed by the constructor or the first :meth:`extract` call.

        Raises:
            AttributeError: While still unknown (so ``hasattr``/protocol checks see it as absent).
        """
        if self._n_patches is None:
            raise AttributeError(
                f"target space {EMBEDDED_TARGET_SPEC!r}: n_patches is unknown until extract() sees "
                "patch_descriptions (or pass stimulus_patches=gh*gw to load_target_extractor)"
            )
        return self._n_patches

    def extract(self, frames: np.ndarray, patch_descriptions: list[list[str]] | None) -> np.ndarray:
        """Embed what each patch shows.

        Args:
            frames: ``(n, H, W)`` uint8 frames (only their count is used).
            patch_descriptions: ``n`` lists of ``gh * gw`` patch contents (row-major patch grid): each a
                phrase, or a ``{phrase: weight}`` mixture of what the patch shows (weights = visible area).

        Returns:
            ``(n, gh * gw, 384)`` float16 unit vectors: the phrase's embedding, or the unit-normalized
            weighted sum of the mixture's phrase embeddings; identical contents give identical vectors.

        Raises:
            ValueError: If ``patch_descriptions`` is missing or its shape disagrees with the frames.
        """
        _check_frames(frames)
        if patch_descriptions is None:
            raise ValueError(
                f"target space {EMBEDDED_TARGET_SPEC!r} needs per-patch descriptions (patch_descriptions), "
                "found None: it only works on simulated stimuli; use a CLIP id/path "
                f"(e.g. {DEFAULT_CLIP_ID!r}) for real Allen templates"
            )
        if len(patch_descriptions) != len(frames):
            raise ValueError(
                f"patch_descriptions: expected {len(frames)} rows (one per frame), found {len(patch_descriptions)}"
            )
        if not patch_descriptions:
            return np.zeros((0, self._n_patches or 0, self.dim), dtype=np.float16)
        expected = self._n_patches if self._n_patches is not None else len(patch_descriptions[0])
        for row, phrases in enumerate(patch_descriptions):
            if len(phrases) != expected or expected == 0:
                raise ValueError(
                    f"patch_descriptions row {row}: expected {expected} phrases (gh*gw), found {len(phrases)}"
                )
        self._n_patches = expected
        flat = [phrase for phrases in patch_descriptions for phrase in phrases]
        if all(isinstance(item, str) for item in flat):
            vectors = self.encoder.encode(flat)
            return vectors.reshape(len(frames), expected, self.dim).astype(np.float16)
        return self._mixtures(flat).reshape(len(frames), expected, self.dim).astype(np.float16)

    def _mixtures(self, flat: list) -> np.ndarray:
        """Unit-normalized weighted sums of phrase embeddings, one per patch mixture."""
        mixes = [{item: 1.0} if isinstance(item, str) else dict(item) for item in flat]
        vocab = sorted({phrase for mix in mixes for phrase in mix})
        index = {phrase: i for i, phrase in enumerate(vocab)}
        emb = self.encoder.encode(vocab).astype(np.float64)
        weights = np.zeros((len(mixes), len(vocab)))
        for row, mix in enumerate(mixes):
            for phrase, weight in mix.items():
                if not weight >= 0:
                    raise ValueError(f"patch mixture {row}: weight of {phrase!r} must be >= 0, found {weight}")
                weights[row, index[phrase]] = weight
        out = weights @ emb
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        if np.any(norms == 0):
            raise ValueError(f"patch mixture {int(np.argmax(norms[:, 0] == 0))}: all weights are 0")
        return out / norms


class ClipPatchTargets:
    """CLIP vision-tower patch tokens ``hidden_states[-2][:, 1:]`` (what LLaVA consumes).

    Args:
        model_id: Hugging Face id or local path of a ``CLIPModel`` or ``CLIPVisionModel`` checkpoint
            with its image processor config.
        batch_size: Frames per forward pass.
        device: Torch device; weights and pixels are float16 on CUDA, float32 elsewhere.
        progress: Show a tqdm bar over batches.
    """

    def __init__(self, model_id: str, batch_size: int = 16, device: str = "cpu", progress: bool = False) -> None:
        import torch
        from transformers import CLIPImageProcessorPil, CLIPVisionModel

        if batch_size < 1:
            raise ValueError(f"batch_size: expected a positive int, found {batch_size}")
        self.model_id = model_id
        self.batch_size = batch_size
        self.device = device
        self.progress = progress
        self.processor = CLIPImageProcessorPil.from_pretrained(model_id)
        self.dtype = torch.float16 if str(device).startswith("cuda") else torch.float32
        self.model = CLIPVisionModel.from_pretrained(model_id, dtype=self.dtype).to(device).eval()
        config = self.model.config
        self.n_patches: int = (config.image_size // config.patch_size) ** 2
        self.dim: int = int(config.hidden_size)
        self.revision: str | None = resolve_checkpoint_revision(model_id, probe_file="config.json")
        logger.info(
            "CLIP targets %s (revision %s): %d patches x %d",
            model_id,
            self.revision,
            self.n_patches,
            self.dim,
        )

    def pixel_values(self, frames: np.ndarray) -> torch.Tensor:
        """Grayscale frames -> square RGB images (:mod:`~neurrator_bench.builders.frame_images`) -> the processor.

        Args:
            frames: ``(n, H, W)`` uint8.

        Returns:
            ``(n, 3, S, S)`` float32 tensor of normalized pixels (``S`` = the processor's crop size).
        """
        _check_frames(frames)
        # the same square field of view as the BLIP-2 captions (frame_images.ASPECT_POLICY)
        return self.processor(images=frame_images(frames), return_tensors="pt")["pixel_values"]

    def extract(self, frames: np.ndarray, patch_descriptions: list[list[str]] | None = None) -> np.ndarray:
        """Run the vision tower on the frames.

        Args:
            frames: ``(n, H, W)`` uint8 grayscale frames.
            patch_descriptions: Ignored (CLIP sees the pixels).

        Returns:
            ``(n, n_patches, dim)`` float16: ``hidden_states[-2][:, 1:]`` (576 x 1024 for ViT-L/14-336).

        Raises:
            ValueError: If the frames are not ``(n, H, W)`` uint8, or the tower returns an unexpected
                number of patch tokens (processor crop size disagrees with the model's image size).
        """
        import torch

        _check_frames(frames)
        out = np.empty((len(frames), self.n_patches, self.dim), dtype=np.float16)
        starts = range(0, len(frames), self.batch_size)
        for start in tqdm(starts, desc=f"CLIP targets {self.model_id}", disable=not self.progress):
            batch = frames[start : start + self.batch_size]
            pixels = self.pixel_values(batch).to(self.device, dtype=self.dtype)
            with torch.inference_mode():
                hidden = self.model(pixel_values=pixels, output_hidden_states=True).hidden_states
            patches = hidden[CLIP_HIDDEN_STATE_LAYER][:, 1:]
            if patches.shape[1:] != (self.n_patches, self.dim):
                raise ValueError(
                    f"{self.model_id}: expected {self.n_patches} patch tokens of dim {self.dim}, found "
                    f"{tuple(patches.shape[1:])}; does the image processor crop size match the model's "
                    f"image_size {self.model.config.image_size}?"
                )
            out[start : start + len(batch)] = patches.float().cpu().numpy().astype(np.float16)
        return out


@TARGET_MODELS.register(EMBEDDED_TARGET_SPEC)
def _load_embedded(
    spec: str, *, batch_size: int, device: str, stimulus_patches: int | None, progress: bool
) -> TargetExtractor:
    del spec, batch_size, progress
    encoder = SentenceEncoder(DEFAULT_SENTENCE_MODEL, device=device)
    return EmbeddedPatchTargets(encoder, n_patches=stimulus_patches)


@TARGET_MODELS.register(CLIP_KIND)
def _load_clip(
    spec: str, *, batch_size: int, device: str, stimulus_patches: int | None, progress: bool
) -> TargetExtractor:
    del stimulus_patches  # CLIP's patch count is the model's, whatever grid the stimuli are annotated on
    return ClipPatchTargets(spec, batch_size=batch_size, device=device, progress=progress)


def load_target_extractor(
    spec: str,
    *,
    batch_size: int = 16,
    device: str = "cpu",
    stimulus_patches: int | None = None,
    progress: bool = False,
) -> TargetExtractor:
    """Load a target extractor from a spec string.

    Args:
        spec: ``"embedded-minilm-patches"`` (the embedded default; needs ``patch_descriptions``), or a
            Hugging Face id / local path of a CLIP checkpoint (e.g. ``DEFAULT_CLIP_ID``).
        batch_size: Frames per forward pass (CLIP).
        device: Torch device.
        stimulus_patches: Patches per frame of the stimuli's ``patch_descriptions`` (``gh * gw`` of the
            bundle's ``patch_grid``). It fixes ``n_patches`` of the embedded target space up front
            (otherwise ``n_patches`` is known only after the first ``extract``); CLIP ignores it,
            its patch count comes from the model config.
        progress: Show a progress bar (CLIP).

    Returns:
        A :class:`TargetExtractor` whose ``model_id`` reloads it through this function.
    """
    kind = spec if spec in TARGET_MODELS and spec != CLIP_KIND else CLIP_KIND
    factory = TARGET_MODELS.get(kind)
    return factory(spec, batch_size=batch_size, device=device, stimulus_patches=stimulus_patches, progress=progress)
