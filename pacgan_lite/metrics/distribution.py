"""Fréchet distance (FD) and kernel distance (KID) between real and generated feature distributions.

Computed by torchmetrics (``FrechetInceptionDistance`` and ``KernelInceptionDistance`` accept any feature
module); the features are extracted once per set (see :class:`~.registry.EvaluationContext`) and handed
to torchmetrics through :class:`PrecomputedFeatures`, so each network sees each image once.

The real-vs-real baseline: the held-out real images are split into two disjoint halves A and B
(stratified by class); ``real_real`` compares A with B and ``real_fake`` compares A with as many generated
images as B holds, of the same classes. Both comparisons then have the same sample sizes, so their
small-sample bias is the same (the reference compared the test set with itself, which is 0 by
construction). Each is given overall and per class; a class with fewer than 4 held-out images is skipped.
KID is an unbiased estimate, so for two samples of one distribution it scatters around 0 and can be
negative.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from .registry import EvaluationContext, register, skipped

MINIMUM_PER_SIDE = 2  # a covariance (and KID's unbiased estimate) needs at least two samples


class PrecomputedFeatures(nn.Module):
    """Hands already extracted features ``[N, D]`` to torchmetrics unchanged (its feature module)."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


def frechet_distance(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to ``real [N, D]`` and ``fake [M, D]`` features."""
    metric = FrechetInceptionDistance(feature=PrecomputedFeatures(real.shape[1]), reset_real_features=True)
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    return float(metric.compute())


def kernel_distance(real: torch.Tensor, fake: torch.Tensor, subset_size: int, subsets: int, seed: int) -> dict:
    """KID (cubic polynomial kernel MMD², unbiased) over random subsets: ``{"mean", "std", "subset_size"}``."""
    with warnings.catch_warnings():  # its note that features are kept in memory: they are small here
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        metric = KernelInceptionDistance(feature=PrecomputedFeatures(real.shape[1]), subsets=subsets,
                                         subset_size=subset_size)
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    with torch.random.fork_rng():  # torchmetrics draws the subsets from the global RNG
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return {"mean": float(mean), "std": float(std), "subset_size": subset_size}


def split_halves(labels: torch.Tensor, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Indices of two disjoint halves of ``labels [N]``, each class split in two (A gets the odd one)."""
    half_a, half_b = [], []
    for k in np.unique(labels.numpy()):
        members = rng.permutation(np.flatnonzero(labels.numpy() == k))
        cut = (len(members) + 1) // 2
        half_a.append(members[:cut])
        half_b.append(members[cut:])
    return np.sort(np.concatenate(half_a)), np.sort(np.concatenate(half_b))


def matched_fakes(fake_labels: torch.Tensor, like: torch.Tensor, rng: np.random.Generator) -> np.ndarray:
    """Indices of generated images with the class counts of ``like`` (drawn without replacement)."""
    chosen = []
    for k, count in zip(*np.unique(like.numpy(), return_counts=True), strict=True):
        pool = np.flatnonzero(fake_labels.numpy() == k)
        chosen.append(rng.choice(pool, size=min(count, len(pool)), replace=False))
    return np.sort(np.concatenate(chosen))


def _comparisons(context: EvaluationContext, extractor: str, statistic) -> dict:
    """``statistic(real_features, fake_features)`` for real-real and real-fake, overall and per class."""
    sets = context.sets
    if len(sets.real_labels) < 2 * MINIMUM_PER_SIDE or len(sets.fake_labels) < MINIMUM_PER_SIDE:
        return skipped(f"needs {2 * MINIMUM_PER_SIDE} or more held-out real images and {MINIMUM_PER_SIDE} or more "
                       f"generated ones, got {len(sets.real_labels)} and {len(sets.fake_labels)}")
    real, fake = context.features(extractor, "real"), context.features(extractor, "fake")
    half_a, half_b = split_halves(sets.real_labels, context.rng(f"halves-{extractor}"))
    fakes = matched_fakes(sets.fake_labels, sets.real_labels[half_b], context.rng(f"fakes-{extractor}"))

    def compare(class_index: int | None) -> dict:
        def members(indices, labels):
            return indices if class_index is None else indices[labels[indices].numpy() == class_index]

        a, b = members(half_a, sets.real_labels), members(half_b, sets.real_labels)
        f = members(fakes, sets.fake_labels)
        if min(len(a), len(b)) < MINIMUM_PER_SIDE:
            return skipped(f"needs {2 * MINIMUM_PER_SIDE} or more held-out real images (two halves of "
                           f"{MINIMUM_PER_SIDE}), got {len(a) + len(b)}; use a larger held-out split")
        if len(f) < len(b):  # equal sizes keep the two comparisons' small-sample bias equal
            return skipped(f"needs {len(b)} generated images to match the second real half, got {len(f)}; "
                           "raise evaluation.synthetic_per_class")
        return {"real_real": statistic(real[a], real[b]), "real_fake": statistic(real[a], fake[f]),
                "n_real_a": len(a), "n_real_b": len(b), "n_fake": len(f)}

    return {"overall": compare(None),
            "per_class": {name: compare(k) for k, name in enumerate(sets.class_names)}}


def frechet_metric(context: EvaluationContext, extractor: str) -> dict:
    """FD of one extractor, or why it was skipped."""
    if extractor not in context.extractors:
        return skipped(context.missing_extractors.get(extractor, f"no {extractor} feature extractor"))
    return {"extractor": extractor, **_comparisons(context, extractor, frechet_distance)}


def kernel_metric(context: EvaluationContext, extractor: str) -> dict:
    """KID of one extractor, or why it was skipped; the subset size shrinks to the smallest compared set."""
    if extractor not in context.extractors:
        return skipped(context.missing_extractors.get(extractor, f"no {extractor} feature extractor"))
    options = context.options

    def statistic(real: torch.Tensor, fake: torch.Tensor) -> dict:
        size = min(options.kid_subset_size, len(real), len(fake))
        if size == len(real) == len(fake):  # every subset would be both whole sets: one value, no spread
            return {**kernel_distance(real, fake, size, 1, options.seed), "std": None}
        return kernel_distance(real, fake, size, options.kid_subsets, options.seed)

    result = _comparisons(context, extractor, statistic)
    result["subset_size_requested"] = options.kid_subset_size
    return {"extractor": extractor, **result}


# extractor -> (Fréchet metric, kernel metric). The names say which features: only Inception-v3 features
# give "FID"/"KID"; the domain encoder (see .encoder) and EfficientNet-Lite0 (see .efficientnet) do not.
DISTANCE_METRICS = {
    "domain": ("fd_domain", "kid_domain"),
    "efficientnet": ("fd_efficientnet", "kid_efficientnet"),
    "inception": ("fid_inception", "kid_inception"),
}
for _extractor, (_frechet_name, _kernel_name) in DISTANCE_METRICS.items():
    register(_frechet_name)(functools.partial(frechet_metric, extractor=_extractor))
    register(_kernel_name)(functools.partial(kernel_metric, extractor=_extractor))
