"""The classifier's training augmentation: :func:`pacgan_lite.augment.jitter` (a small random affine, then
brightness and contrast, no flip) on the chosen images. The draws come from one seeded ``torch.Generator``,
so a classifier's training is a function of its seed.
"""

from __future__ import annotations

import torch

from ..augment import jitter
from ..config import ClassifierOptions


def augment_batch(images: torch.Tensor, chosen: torch.Tensor, options: ClassifierOptions,
                  generator: torch.Generator) -> torch.Tensor:
    """``images [N, C, s, s]`` with the rows where ``chosen [N]`` (bool) is true augmented; the others as they
    are. Draws are made for every row, so an image's augmentation does not depend on which others are chosen."""
    return torch.where(chosen.view(len(images), 1, 1, 1), jitter(images, options, generator), images)
