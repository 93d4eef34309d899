"""Memorization: is a generated image closer to a training image than real unseen images ever are?

For every generated image, the distance to its nearest training image; the same for every real held-out
image (they come from other subjects, so their distances show how close "new but similar" gets). Both in
pixels (root-mean-square difference over pixels, in [-1, 1] units) and in the domain encoder's feature
space. The headline number is the fraction of generated images closer to a training image than *any*
held-out real image is: about 0 for a generator that makes new images, up to 1 for one that copies.
The closest generated/training pairs are kept for a figure.
"""

from __future__ import annotations

import numpy as np
import torch

from .registry import EvaluationContext, register


def nearest_distances(queries: torch.Tensor, reference: torch.Tensor, chunk: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """For each row of ``queries [N, D]``: the Euclidean distance to the nearest row of ``reference [M, D]``
    and its index, computed in chunks so that N x M distances are never held at once."""
    distances, indices = [], []
    for part in queries.double().split(chunk):
        nearest = torch.cdist(part, reference.double()).min(dim=1)
        distances.append(nearest.values)
        indices.append(nearest.indices)
    return torch.cat(distances), torch.cat(indices)


def _summary(fake_nearest: torch.Tensor, real_nearest: torch.Tensor) -> dict:
    closest_real = float(real_nearest.min())
    return {"fraction_fake_closer_than_any_real": float((fake_nearest < closest_real).double().mean()),
            "fake_median": float(fake_nearest.median()), "real_median": float(real_nearest.median()),
            "fake_min": float(fake_nearest.min()), "real_min": closest_real,
            "fake_nearest": fake_nearest.float().numpy().round(5).tolist(),
            "real_nearest": real_nearest.float().numpy().round(5).tolist()}


@register("memorization")
def memorization(context: EvaluationContext) -> dict:
    """Nearest-training-image distances of generated vs real held-out images, in pixels and features."""
    sets = context.sets
    train, real, fake = (images.flatten(1) for images in (sets.train_images, sets.real_images, sets.fake_images))
    pixels = train.shape[1] ** 0.5  # Euclidean distance / sqrt(pixels) = root-mean-square difference
    fake_pixel, fake_match = nearest_distances(fake, train)
    real_pixel, _ = nearest_distances(real, train)
    result = {"pixels_rms": _summary(fake_pixel / pixels, real_pixel / pixels)}
    if "domain" in context.extractors:
        fake_feature, _ = nearest_distances(context.features("domain", "fake"), context.features("domain", "train"))
        real_feature, _ = nearest_distances(context.features("domain", "real"), context.features("domain", "train"))
        result["domain_features"] = _summary(fake_feature, real_feature)
    order = np.argsort(fake_pixel.numpy(), kind="stable")[: context.options.closest_pairs]
    result["closest_pairs"] = [{"fake_index": int(i), "train_index": int(fake_match[i]),
                                "pixels_rms": float(fake_pixel[i] / pixels)} for i in order]
    result["n_train"], result["n_real"], result["n_fake"] = len(train), len(real), len(fake)
    return result
