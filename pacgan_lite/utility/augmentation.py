"""The classifier's training augmentation: a small random affine and an intensity change per image.

For each image of a batch, one rotation (up to ``augment_rotation_degrees``), one isotropic scale change
(up to ``augment_scale``) and one shift along each axis (up to ``augment_translation`` of the side) are drawn
and applied together by bilinear resampling; the uncovered border takes the background value -1 (air).
Then the kit's own intensity transforms (:func:`pacgan_lite.augment.shift_brightness` and
:func:`~pacgan_lite.augment.scale_contrast`) change brightness and contrast. No flip: a brain is not
symmetric, and the hemispheres would swap.

Why not MONAI's ``RandAffine``: it transforms one image at a time, which on 2 CPU cores at 64 px cost as
much as the training step itself (about 2.5 ms per image against 0.1 ms for the whole batch here). The
draws come from one seeded ``torch.Generator``, so a classifier's training is a function of its seed.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..augment import BACKGROUND, scale_contrast, shift_brightness
from ..config import ClassifierOptions


def _uniform(n: int, half_width: float, generator: torch.Generator) -> torch.Tensor:
    """``[n]`` draws from U(-half_width, half_width)."""
    return (torch.rand(n, generator=generator) * 2 - 1) * half_width


def random_affine(images: torch.Tensor, options: ClassifierOptions, generator: torch.Generator) -> torch.Tensor:
    """``images [N, C, s, s]`` each rotated, scaled and shifted by its own small draw (background -1)."""
    n = len(images)
    angle = _uniform(n, math.radians(options.augment_rotation_degrees), generator)
    scale = 1 + _uniform(n, options.augment_scale, generator)
    shift = _uniform(2 * n, 2 * options.augment_translation, generator).view(n, 2)  # grid units: the side is 2
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = torch.cos(angle) / scale, -torch.sin(angle) / scale
    theta[:, 1, 0], theta[:, 1, 1] = torch.sin(angle) / scale, torch.cos(angle) / scale
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    # grid_sample pads with zeros: shift the background to 0 first, so the border is air.
    return F.grid_sample(images - BACKGROUND, grid, mode="bilinear", padding_mode="zeros",
                         align_corners=False) + BACKGROUND


def augment_batch(images: torch.Tensor, chosen: torch.Tensor, options: ClassifierOptions,
                  generator: torch.Generator) -> torch.Tensor:
    """``images [N, C, s, s]`` with the rows where ``chosen [N]`` (bool) is true augmented; the others as they
    are. Draws are made for every row, so an image's augmentation does not depend on which others are chosen."""
    n = len(images)
    moved = random_affine(images, options, generator)
    moved = shift_brightness(moved, _uniform(n, options.augment_brightness, generator))
    moved = scale_contrast(moved, 1 + _uniform(n, options.augment_contrast, generator))
    return torch.where(chosen.view(n, 1, 1, 1), moved, images)
