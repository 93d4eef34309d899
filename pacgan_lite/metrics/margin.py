"""The margin of air around the head: heads cut by the image border, and bright specks in the corners.

A prepared slice holds the whole head with a margin of air (intensity -1) all round, so nothing bright
lies at the border of a real slice. A generator can put something there that the spectrum and the feature
distances barely register: a head too large or shifted until the frame cuts it, or, with zero-padded
convolutions, bright specks in the corners, where the padding marks the border most. Both are counted per
image as a share of the set, generated against the real reference:

* ``touching_frame``: images with a pixel brighter than :data:`TISSUE_THRESHOLD` in the outer frame,
  ``frame_pixels = max(1, side // 64)`` wide (2 pixels at 128 px);
* ``bright_corner``: images with such a pixel in one of the four corner squares of side ``corner_pixels =
  max(1, 3 * side // 64)`` (6 pixels at 128 px), which the head of a centred slice never reaches.

:data:`TISSUE_THRESHOLD` is 0, half way between air (-1) and the brightest tissue (1): the noise of the
background stays far below it, the skull and the scalp lie above it.

The real reference is every real image of the evaluation, training and held-out together
(:meth:`~.registry.EvaluationSets.real_reference`).
"""

from __future__ import annotations

import torch

from .registry import EvaluationContext, register

TISSUE_THRESHOLD = 0.0  # intensity in [-1, 1]: air is -1


def frame_width(side: int) -> int:
    """Width in pixels of the outer frame ``touching_frame`` looks at: 2 at 128 px, at least 1."""
    return max(1, side // 64)


def corner_size(side: int) -> int:
    """Side in pixels of the corner squares ``bright_corner`` looks at: 6 at 128 px, at least 1."""
    return max(1, 3 * side // 64)


def touches_frame(images: torch.Tensor, width: int) -> torch.Tensor:
    """``images [N, C, s, s]`` -> ``[N]`` bool: some pixel of the outer ``width``-pixel frame is brighter than
    :data:`TISSUE_THRESHOLD`."""
    bright = images.amax(dim=1) > TISSUE_THRESHOLD  # [N, s, s]
    inner = torch.zeros_like(bright[0])
    inner[width:-width, width:-width] = True
    return (bright & ~inner).flatten(1).any(dim=1)


def has_bright_corner(images: torch.Tensor, size: int) -> torch.Tensor:
    """``images [N, C, s, s]`` -> ``[N]`` bool: some pixel of the four ``size`` x ``size`` corner squares is
    brighter than :data:`TISSUE_THRESHOLD`."""
    bright = images.amax(dim=1) > TISSUE_THRESHOLD  # [N, s, s]
    corners = torch.zeros_like(bright[0])
    for rows in (slice(0, size), slice(-size, None)):
        for columns in (slice(0, size), slice(-size, None)):
            corners[rows, columns] = True
    return (bright & corners).flatten(1).any(dim=1)


def _shares(flags_real: torch.Tensor, labels_real: torch.Tensor, flags_fake: torch.Tensor,
            labels_fake: torch.Tensor, class_names: list[str]) -> dict:
    """Share of flagged images, real and generated, overall and per class (None for an empty class)."""
    def share(flags: torch.Tensor) -> float | None:
        return float(flags.double().mean()) if len(flags) else None

    return {"overall": {"real": share(flags_real), "fake": share(flags_fake)},
            "per_class": {name: {"real": share(flags_real[labels_real == k]),
                                 "fake": share(flags_fake[labels_fake == k])}
                          for k, name in enumerate(class_names)}}


@register("margin")
def margin(context: EvaluationContext) -> dict:
    """Shares of real and generated images with tissue in the outer frame and with a bright corner."""
    sets = context.sets
    real, real_labels, record = sets.real_reference()
    side = real.shape[-1]
    width, size = frame_width(side), corner_size(side)
    return {
        "tissue_threshold": TISSUE_THRESHOLD,
        "frame_pixels": width,
        "corner_pixels": size,
        "touching_frame": _shares(touches_frame(real, width), real_labels,
                                  touches_frame(sets.fake_images, width), sets.fake_labels, sets.class_names),
        "bright_corner": _shares(has_bright_corner(real, size), real_labels,
                                 has_bright_corner(sets.fake_images, size), sets.fake_labels, sets.class_names),
        "real_reference_images": record,
    }
