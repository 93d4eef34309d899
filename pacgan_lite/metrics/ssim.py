"""Structural similarity with the reference's protocol, and multi-scale SSIM among generated images.

SSIM (``skimage.metrics.structural_similarity``, data range 2 for [-1, 1], default 7x7 window): for each
class, ``ssim_pairs_per_class`` random distinct same-class pairs (all of them in a class with fewer), for
real-real (two *different* held-out real
images: the reference could pair an image with itself), real-fake and fake-fake (two different generated
images). High real-fake SSIM means generated images look like real ones pixel by pixel; fake-fake SSIM
well above real-real means the generator makes too little variety.

MS-SSIM (torchmetrics) among generated pairs of a class is the usual diversity score (lower = more
varied). It compares the images at several scales, halving each time; the kit uses as many scales as
torchmetrics' own size check admits (side // (scales - 1)^2 above the window's 10 extra pixels, and a
side of at least 2^scales): at 128 px 4, at 16-32 px only 2, below 16 px none. That check is looser than
a full 11-pixel window at every scale (at 16 px the second scale is 8 px, which torchmetrics pads). The
number of scales used is reported, with the standard weights of those scales renormalized; values with
different numbers of scales are not comparable.
"""

from __future__ import annotations

import numpy as np
import torch
from skimage.metrics import structural_similarity
from torchmetrics.functional.image import multiscale_structural_similarity_index_measure

from .registry import EvaluationContext, register, skipped

DATA_RANGE = 2.0  # images are in [-1, 1]
SSIM_WINDOW = 7  # skimage's default
MS_SSIM_KERNEL = 11
MS_SSIM_CHUNK = 100  # pairs per call
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang et al. 2003, finest scale first


def random_pairs(n_first: int, n_second: int | None, count: int, rng: np.random.Generator) -> np.ndarray:
    """``[P, 2]`` distinct index pairs, ``P = min(count, number of distinct pairs)``.

    With ``n_second=None`` both indices come from one set, are never equal, and a pair is unordered ((i, j)
    and (j, i) are one pair). When there are no more distinct pairs than ``count`` (a small class), every
    pair is used once, so the mean is exact rather than an average over repeated draws.
    """
    same_set = n_second is None
    if same_set and n_first < 2:
        raise ValueError("pairs of different images need at least two images")
    if same_set:
        total = n_first * (n_first - 1) // 2
    else:
        total = n_first * n_second
    if total <= count:
        if same_set:
            return np.stack(np.triu_indices(n_first, k=1), axis=1)
        return np.stack(np.unravel_index(np.arange(total), (n_first, n_second)), axis=1)
    chosen = np.empty((0, 2), dtype=np.int64)
    while len(chosen) < count:  # draw, drop repeats, draw again for the missing ones
        first = rng.integers(n_first, size=count)
        if same_set:
            second = (first + rng.integers(1, n_first, size=count)) % n_first
            drawn = np.sort(np.stack([first, second], axis=1), axis=1)
        else:
            drawn = np.stack([first, rng.integers(n_second, size=count)], axis=1)
        chosen = np.unique(np.concatenate([chosen, drawn]), axis=0)
    return chosen[np.sort(rng.choice(len(chosen), size=count, replace=False))]


def ssim_values(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """SSIM of each pair of images ``[P, C, s, s]`` (channels averaged), as skimage computes it."""
    channel_axis = 0 if first.shape[1] > 1 else None
    squeeze = (lambda image: image) if channel_axis is not None else (lambda image: image[0])
    return np.array([structural_similarity(squeeze(a), squeeze(b), data_range=DATA_RANGE, channel_axis=channel_axis)
                     for a, b in zip(first, second, strict=True)])


def _summary(values: np.ndarray) -> dict:
    return {"mean": float(values.mean()), "std": float(values.std()), "pairs": len(values)}


@register("ssim")
def ssim(context: EvaluationContext) -> dict:
    """SSIM real-real, real-fake and fake-fake: mean and std per class and over all pairs."""
    sets, pairs = context.sets, context.options.ssim_pairs_per_class
    if sets.real_images.shape[-1] < SSIM_WINDOW:
        return skipped(f"images of {sets.real_images.shape[-1]} px are smaller than the {SSIM_WINDOW}-px SSIM window")
    rng = context.rng("ssim")
    real, fake = sets.real_images.numpy(), sets.fake_images.numpy()
    values: dict[str, dict[str, np.ndarray]] = {"real_real": {}, "real_fake": {}, "fake_fake": {}}
    for k, name in enumerate(sets.class_names):
        real_k, fake_k = real[sets.real_labels.numpy() == k], fake[sets.fake_labels.numpy() == k]
        if len(real_k) < 2 or len(fake_k) < 2:
            return skipped(f"class {name} needs at least 2 real held-out and 2 generated images")
        for comparison, (first, second, same_set) in {"real_real": (real_k, real_k, True),
                                                      "real_fake": (real_k, fake_k, False),
                                                      "fake_fake": (fake_k, fake_k, True)}.items():
            index = random_pairs(len(first), None if same_set else len(second), pairs, rng)
            values[comparison][name] = ssim_values(first[index[:, 0]], second[index[:, 1]])
    return {comparison: {"overall": _summary(np.concatenate(list(per_class.values()))),
                         "per_class": {name: _summary(v) for name, v in per_class.items()}}
            for comparison, per_class in values.items()}


def ms_ssim_scales(side: int, kernel_size: int = MS_SSIM_KERNEL) -> int:
    """The most scales (at most 5) torchmetrics' MS-SSIM accepts for ``side``-px images; 0 if none."""
    for scales in range(len(MS_SSIM_WEIGHTS), 0, -1):
        if side >= 2**scales and side // max(1, scales - 1) ** 2 > kernel_size - 1:
            return scales
    return 0


@register("ms_ssim_fake")
def ms_ssim_fake(context: EvaluationContext) -> dict:
    """MS-SSIM between random pairs of different generated images of the same class (diversity)."""
    sets = context.sets
    side = sets.fake_images.shape[-1]
    scales = ms_ssim_scales(side)
    if scales < 2:
        return skipped(f"images of {side} px are too small for MS-SSIM with an {MS_SSIM_KERNEL}-px window "
                       "(at least 2 scales need 16 px or more)")
    weights = torch.tensor(MS_SSIM_WEIGHTS[:scales])
    weights = tuple((weights / weights.sum()).tolist())
    rng = context.rng("ms_ssim")
    per_class = {}
    for k, name in enumerate(sets.class_names):
        fake_k = sets.fake_images[sets.fake_labels == k]
        if len(fake_k) < 2:
            return skipped(f"class {name} needs at least 2 generated images")
        index = torch.from_numpy(random_pairs(len(fake_k), None, context.options.ssim_pairs_per_class, rng))
        # In chunks: torchmetrics filters five stacked copies of the pairs at once, gigabytes for 1000 pairs.
        values = [multiscale_structural_similarity_index_measure(
            fake_k[chunk[:, 0]], fake_k[chunk[:, 1]], data_range=DATA_RANGE, kernel_size=MS_SSIM_KERNEL,
            betas=weights, reduction="none") for chunk in index.split(MS_SSIM_CHUNK)]
        per_class[name] = torch.cat(values).double().numpy()
    return {"scales": scales, "weights": [round(w, 4) for w in weights],
            "overall": _summary(np.concatenate(list(per_class.values()))),
            "per_class": {name: _summary(v) for name, v in per_class.items()}}
