"""One field of view for targets and captions: every frame is padded to a square before any image model sees it.

Allen's movie frames are 2:1 (NM1 / NM3 templates 304 x 608) and the scenes 918 x 1174. CLIP's image processor
resizes the short side and centre-crops, so on a 2:1 frame it keeps only the middle half; BLIP-2's processor
resizes to a square without cropping, so it sees the whole frame squashed. Targets and reference captions would
then describe different parts of the picture. The paper does not state its crop (A.2 names the models only).

**Our choice** (``ASPECT_POLICY = "pad-square"``): each frame is centred on a square canvas of side
``max(H, W)`` filled with mid-gray (127, the luminance of the gray screen between Allen's stimuli) before it is
handed to either processor. A square input is neither cropped by CLIP nor distorted by BLIP-2, so both see the
whole frame at its own aspect ratio. The dataset card states the policy.
"""

from __future__ import annotations

import numpy as np

ASPECT_POLICY = "pad-square"
PAD_VALUE = 127


def square_pad(frame: np.ndarray, value: int = PAD_VALUE) -> np.ndarray:
    """Centre a ``(H, W)`` uint8 frame on a ``(S, S)`` canvas of ``value``, ``S = max(H, W)``.

    The extra rows (or columns) are split evenly, the odd one going to the bottom (or right).

    Raises:
        ValueError: Not a 2-D uint8 array.
    """
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 2:
        found = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
        raise ValueError(f"frame: expected a 2-D uint8 array (H, W), found {found}")
    h, w = frame.shape
    side = max(h, w)
    canvas = np.full((side, side), value, dtype=np.uint8)
    top, left = (side - h) // 2, (side - w) // 2
    canvas[top : top + h, left : left + w] = frame
    return canvas


def frame_images(frames: np.ndarray) -> list:
    """``(n, H, W)`` uint8 grayscale frames -> n square RGB PIL images (:func:`square_pad`), for any processor."""
    from PIL import Image

    return [Image.fromarray(square_pad(frame)).convert("RGB") for frame in frames]
