"""The resolution pyramid: sizes, range, anti-aliasing."""

from __future__ import annotations

import numpy as np
import pytest

from pacgan_lite.data import build_pyramid, downsample
from pacgan_lite.data.layout import pyramid_sizes


@pytest.mark.parametrize(
    ("top", "expected"),
    [(4, (4,)), (8, (4, 8)), (64, (4, 8, 16, 32, 64)), (256, (4, 8, 16, 32, 64, 128, 256))],
)
def test_pyramid_sizes(top, expected):
    assert pyramid_sizes(top) == expected


@pytest.mark.parametrize("bad", [3, 12, 512])
def test_pyramid_sizes_rejects_other_sizes(bad):
    with pytest.raises(ValueError, match="size must be one of"):
        pyramid_sizes(bad)


@pytest.mark.parametrize(("size", "shape"), [(4, (4, 4, 2, 5)), (16, (16, 16, 2, 5)), (32, (32, 32, 2, 5))])
def test_downsample_shapes_and_range(size, shape):
    images = np.random.default_rng(0).uniform(-1, 1, (32, 32, 2, 5)).astype(np.float32)
    out = downsample(images, size)
    assert out.shape == shape and out.dtype == np.float32
    assert out.min() >= -1 and out.max() <= 1


def test_constant_images_stay_constant():
    images = np.full((64, 64, 1, 3), 0.25, np.float32)
    for level in build_pyramid(images, (4, 16, 64)).values():
        np.testing.assert_allclose(level, 0.25, atol=1e-6)


def test_anti_aliasing_removes_a_checkerboard():
    # A one-pixel checkerboard has no content below its Nyquist frequency: plain subsampling keeps it as
    # a solid +1 or -1 image, an anti-aliased resize must bring it to about 0.
    a, b = np.indices((64, 64))
    board = np.where((a + b) % 2 == 0, 1.0, -1.0).astype(np.float32)[:, :, None, None]
    assert abs(board[::8, ::8].mean()) == 1.0
    assert np.abs(downsample(board, 8)).max() < 0.1


def test_cannot_upsample():
    with pytest.raises(ValueError, match="larger"):
        downsample(np.zeros((8, 8, 1, 1), np.float32), 16)
