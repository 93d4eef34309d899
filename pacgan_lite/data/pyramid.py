"""The resolution pyramid: every level made directly from the full-size images, anti-aliased."""

from __future__ import annotations

import numpy as np
from skimage.transform import resize


def downsample(images: np.ndarray, size: int) -> np.ndarray:
    """Resize ``[W, H, C, N]`` images to ``[size, size, C, N]``.

    Bilinear with a Gaussian anti-aliasing pre-filter (scikit-image), as the reference pyramid; values stay
    in the input range because both steps are convex combinations, and are clipped to [-1, 1] against
    rounding.
    """
    width, height, channels, count = images.shape
    if (width, height) == (size, size):
        return images.astype(np.float32, copy=True)
    if size > width:
        raise ValueError(f"cannot downsample {width}x{height} images to a larger {size}x{size}")
    out = resize(images, (size, size, channels, count), order=1, anti_aliasing=True, preserve_range=True)
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def build_pyramid(images: np.ndarray, sizes: tuple[int, ...]) -> dict[int, np.ndarray]:
    """``{size: [size, size, C, N]}`` for each requested size, each resized from ``images`` directly."""
    return {size: downsample(images, size) for size in sorted(sizes)}
