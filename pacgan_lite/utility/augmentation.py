"""The classifier's training augmentation: :func:`pacgan_lite.augment.jitter` on the chosen images.

For each image of a batch, one rotation (up to ``augment_rotation_degrees``), one isotropic scale change
(up to ``augment_scale``) and one shift along each axis (up to ``augment_translation`` of the side) are drawn
and applied together by bilinear resampling; the uncovered border takes the background value -1 (air).
Then brightness and contrast change. No flip: a brain is not symmetric, and the hemispheres would swap.

Why not MONAI's ``RandAffine``: it transforms one image at a time, which on 2 CPU cores at 64 px cost as
much as the training step itself (about 2.5 ms per image against 0.1 ms for the whole batch here). The
draws come from one seeded ``torch.Generator``, so a classifier's training is a function of its seed.
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
