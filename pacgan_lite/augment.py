"""Differentiable augmentation (DiffAugment) of every image the critic sees, real and generated; and the
small affine and intensity jitter of the real images a classifier learns from.

DiffAugment (Zhao et al., NeurIPS 2020) applies random transforms to the real and the generated images, in
the critic step and in the generator step, and lets the generator's gradients flow through them: the
critic cannot memorise a small training set, and since generated images are transformed too, the
generator is not pushed to make transformed images. ``train.augment`` names the transforms (none by
default, as the paper); each draws its own parameters per image and per call, and they are applied in
this order, whatever the order of the list (``AUGMENT_TRANSFORMS`` in :mod:`pacgan_lite.config`):

* ``flip``: mirror left-right (the last axis, W) each image with probability 1/2. Only when asked: it
  swaps the hemispheres, and a brain is not symmetric.
* ``translation``: move each image by whole pixels, up to ``round(augment_translation * side)`` along
  each axis (every shift in that range equally likely, drawn per axis).
* ``cutout``: set a square of side ``round(augment_cutout * side)``, centred on a pixel drawn uniformly,
  to the background (the part of it inside the image).
* ``brightness``: add one ``b ~ U(-augment_brightness, augment_brightness)`` per image.
* ``contrast``: scale each image's deviations from its mean intensity by one
  ``f ~ U(1 - augment_contrast, 1 + augment_contrast)`` per image.

Choices for MR slices in [-1, 1], whose background (air) is -1:

* the border a shift uncovers and the cut-out square take the background value -1: DiffAugment's zero
  padding would be mid-grey here, a frame no scan has, and copying the edge pixels would smear any tissue
  that touches the border into stripes;
* the geometric transforms come first, so the brightness and contrast change moves the background they
  inserted together with the image's own background;
* nothing is clipped: from images in [-1, 1], brightness gives values in [-1 - b, 1 + b], and contrast
  keeps each image's mean and changes its range by the factor f. Clipping would stop the generator's
  gradient where it saturates, and real and generated images share the transforms, so the critic learns
  nothing from the range.

A short module rather than kornia (a maintained library of differentiable augmentations): kornia draws
its random parameters from torch's global generator, which anything else may also draw from. Here every
draw comes from the :class:`torch.Generator` given, one the checkpoint saves, so a resumed run continues
exactly and each DDP rank keeps its own stream; the transforms are a few lines of indexing and arithmetic
that autograd differentiates, and the kit needs no new dependency.

:func:`jitter` is the other augmentation: one small rotation, scale change and shift per image, by bilinear
resampling, then a brightness and contrast change (the strengths of
:class:`~pacgan_lite.config.ClassifierOptions`). The plain classifier of the utility study learns from
jittered images, and with ``train.class_augment`` so does the critic's class head: it classifies real images
jittered in a second forward pass, while the adversarial head and the gradient penalty see them as they
are, so the generator is never asked to draw a jittered slice. No flip: the hemispheres would swap. Why not
MONAI's ``RandAffine``: it transforms one image at a time, which at 64 px costs as much as the utility
classifier's whole training step; :func:`random_affine` moves a batch in one resampling.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial

import torch
import torch.nn.functional as F

from .config import AUGMENT_TRANSFORMS, ClassifierOptions, TrainOptions
from .errors import ConfigError

BACKGROUND = -1.0  # intensity of air in the kit's images


def flip(images: torch.Tensor, mirrored: torch.Tensor) -> torch.Tensor:
    """``images [B, C, s, s]`` with those where ``mirrored [B]`` (bool) is true mirrored along W."""
    return torch.where(mirrored.to(images.device)[:, None, None, None], images.flip(-1), images)


def translate(images: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """``images [B, C, s, s]`` moved by ``shifts [B, 2]`` whole pixels (rows, columns): pixel (i, j) of the
    result is pixel (i - shift_row, j - shift_column) of the input, or the background where that is outside."""
    batch, channels, side, _ = images.shape
    index = torch.arange(side, device=images.device)
    shifts = shifts.to(images.device)
    rows, columns = index - shifts[:, :1], index - shifts[:, 1:]  # [B, s]: source row / column of each output
    inside = (((rows >= 0) & (rows < side))[:, None, :, None]
              & ((columns >= 0) & (columns < side))[:, None, None, :])
    rows, columns = rows.clamp(0, side - 1), columns.clamp(0, side - 1)
    moved = images.gather(2, rows[:, None, :, None].expand(batch, channels, side, side))
    moved = moved.gather(3, columns[:, None, None, :].expand(batch, channels, side, side))
    return moved.masked_fill(~inside, BACKGROUND)


def cut_out(images: torch.Tensor, centres: torch.Tensor, size: int) -> torch.Tensor:
    """``images [B, C, s, s]`` with a ``size``-pixel square around ``centres [B, 2]`` (row, column; its
    top-left corner ``size // 2`` before the centre) set to the background, where it lies inside the image."""
    index = torch.arange(images.shape[-1], device=images.device)
    start = centres.to(images.device) - size // 2  # [B, 2]
    covered = (index >= start[:, :, None]) & (index < start[:, :, None] + size)  # [B, 2, s]
    return images.masked_fill(covered[:, None, 0, :, None] & covered[:, None, 1, None, :], BACKGROUND)


def shift_brightness(images: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """``images [B, C, s, s]`` plus ``shifts [B]``, one per image."""
    return images + shifts.to(images)[:, None, None, None]


def scale_contrast(images: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """``images [B, C, s, s]`` with their deviations from each image's mean scaled by ``factors [B]``."""
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return (images - mean) * factors.to(images)[:, None, None, None] + mean


def _uniform(n: int, half_width: float, generator: torch.Generator) -> torch.Tensor:
    """``[n]`` draws from U(-half_width, half_width), on the generator's device."""
    return (torch.rand(n, generator=generator, device=generator.device) * 2 - 1) * half_width


def random_affine(images: torch.Tensor, rotation_degrees: float, scale: float, translation: float,
                  generator: torch.Generator) -> torch.Tensor:
    """``images [N, C, s, s]`` each rotated (up to ``rotation_degrees``), scaled (by up to ``scale``, relative)
    and shifted (up to ``translation`` of the side along each axis) by its own draw; background -1."""
    n = len(images)
    angle = _uniform(n, math.radians(rotation_degrees), generator)
    factor = 1 + _uniform(n, scale, generator)
    shift = _uniform(2 * n, 2 * translation, generator).view(n, 2)  # grid units: the side is 2
    theta = torch.zeros(n, 2, 3, device=angle.device)
    theta[:, 0, 0], theta[:, 0, 1] = torch.cos(angle) / factor, -torch.sin(angle) / factor
    theta[:, 1, 0], theta[:, 1, 1] = torch.sin(angle) / factor, torch.cos(angle) / factor
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta.to(images.device, images.dtype), list(images.shape), align_corners=False)
    # grid_sample pads with zeros: shift the background to 0 first, so the border is air.
    return F.grid_sample(images - BACKGROUND, grid, mode="bilinear", padding_mode="zeros",
                         align_corners=False) + BACKGROUND


def jitter(images: torch.Tensor, options: ClassifierOptions, generator: torch.Generator) -> torch.Tensor:
    """``images [N, C, s, s]`` each moved by a small random affine, then shifted in brightness and scaled in
    contrast, with the strengths ``options.augment_*``; the draws come from ``generator`` in that order."""
    n = len(images)
    moved = random_affine(images, options.augment_rotation_degrees, options.augment_scale,
                          options.augment_translation, generator)
    moved = shift_brightness(moved, _uniform(n, options.augment_brightness, generator))
    return scale_contrast(moved, 1 + _uniform(n, options.augment_contrast, generator))


def pixels(fraction: float, side: int) -> int:
    """``fraction`` of ``side`` in whole pixels, halves rounded up (1 px of translation at 4 px)."""
    return math.floor(fraction * side + 0.5)


class DiffAugment:
    """Random differentiable transforms of ``images [B, C, s, s] -> [B, C, s, s]`` (see the module docstring).

    Args:
        policy: names of the transforms to apply (any of ``AUGMENT_TRANSFORMS``); empty: the identity.
        generator: every random draw comes from it (on its device); its state decides the result.
        translation, cutout, brightness, contrast: the strengths (``train.augment_*``).
    """

    def __init__(self, policy: Sequence[str], generator: torch.Generator, *, translation: float, cutout: float,
                 brightness: float, contrast: float):
        unknown = [name for name in policy if name not in AUGMENT_TRANSFORMS]
        if unknown:
            raise ConfigError("DiffAugment()", "policy", f"unknown transform(s) {unknown}",
                              f"use any of {', '.join(AUGMENT_TRANSFORMS)}")
        self.policy = tuple(name for name in AUGMENT_TRANSFORMS if name in policy)
        self.generator = generator
        self.translation, self.cutout, self.brightness, self.contrast = translation, cutout, brightness, contrast

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if not self.policy:
            return images
        return self.apply(images, self.draw(images.shape[0], images.shape[-1]))

    def draw(self, batch: int, side: int) -> dict[str, torch.Tensor]:
        """One call's random parameters, per image, keyed by transform, drawn in the order of application:
        ``flip`` [B] bool, ``translation`` [B, 2] and ``cutout`` [B, 2] int64 (pixels), ``brightness`` and
        ``contrast`` [B] float32."""
        generator, device = self.generator, self.generator.device
        draws = {}
        if "flip" in self.policy:
            draws["flip"] = torch.rand(batch, generator=generator, device=device) < 0.5
        if "translation" in self.policy:
            reach = pixels(self.translation, side)
            draws["translation"] = torch.randint(-reach, reach + 1, (batch, 2), generator=generator, device=device)
        if "cutout" in self.policy:
            draws["cutout"] = torch.randint(0, side, (batch, 2), generator=generator, device=device)
        if "brightness" in self.policy:
            draws["brightness"] = _uniform(batch, self.brightness, generator)
        if "contrast" in self.policy:
            draws["contrast"] = 1 + _uniform(batch, self.contrast, generator)
        return draws

    def apply(self, images: torch.Tensor, draws: dict[str, torch.Tensor]) -> torch.Tensor:
        """``images [B, C, s, s]`` transformed with the parameters ``draws`` (from :meth:`draw`)."""
        if "flip" in draws:
            images = flip(images, draws["flip"])
        if "translation" in draws:
            images = translate(images, draws["translation"])
        if "cutout" in draws:
            images = cut_out(images, draws["cutout"], pixels(self.cutout, images.shape[-1]))
        if "brightness" in draws:
            images = shift_brightness(images, draws["brightness"])
        if "contrast" in draws:
            images = scale_contrast(images, draws["contrast"])
        return images


def make_augment(options: TrainOptions, generator: torch.Generator) -> DiffAugment | None:
    """The augmentation ``options.augment`` asks for, drawing from ``generator``; None when it is empty."""
    if not options.augment:
        return None
    return DiffAugment(options.augment, generator, translation=options.augment_translation,
                       cutout=options.augment_cutout, brightness=options.augment_brightness,
                       contrast=options.augment_contrast)


def make_class_augment(options: TrainOptions, generator: torch.Generator
                       ) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The jitter of the real images the critic's class head learns from (``options.class_augment``, with the
    plain classifier's default strengths), drawing from ``generator``; None when it is off."""
    if not options.class_augment:
        return None
    return partial(jitter, options=ClassifierOptions(), generator=generator)
