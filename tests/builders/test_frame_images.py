from __future__ import annotations

import numpy as np
import pytest

from neurrator_bench.builders.frame_images import PAD_VALUE, frame_images, square_pad


def test_square_pad_centres_the_frame_on_mid_gray():
    frame = np.arange(6, dtype=np.uint8).reshape(2, 3) + 1
    out = square_pad(frame)
    assert out.shape == (3, 3) and PAD_VALUE == 127
    # one extra row: the odd one goes to the bottom
    np.testing.assert_array_equal(out[:2], frame)
    np.testing.assert_array_equal(out[2], [127, 127, 127])
    tall = square_pad(np.zeros((4, 1), np.uint8))
    np.testing.assert_array_equal(tall[:, 1], 0)
    np.testing.assert_array_equal(tall[:, [0, 2, 3]], 127)
    square = np.ones((2, 2), np.uint8)
    np.testing.assert_array_equal(square_pad(square), square)
    with pytest.raises(ValueError, match=r"2-D uint8 array \(H, W\), found float64 \(2, 2\)"):
        square_pad(np.zeros((2, 2)))


def test_frame_images_are_square_rgb():
    images = frame_images(np.zeros((2, 304, 608), np.uint8))
    assert [im.size for im in images] == [(608, 608), (608, 608)] and {im.mode for im in images} == {"RGB"}
