"""Precision and recall of the generated distribution (Kynkäänniemi et al. 2019), in domain features.

Each set's manifold is the union of balls around its points, each ball reaching the point's k-th nearest
neighbour in the same set. Precision: the fraction of generated images inside the real manifold (are the
images realistic?). Recall: the fraction of real held-out images inside the generated manifold (does the
generator cover the real variety?). Both sets have the same size and class counts, since the radii
depend on how many points a set holds.
"""

from __future__ import annotations

import torch

from .distribution import matched_fakes
from .registry import EvaluationContext, register, skipped


def manifold_radii(points: torch.Tensor, k: int) -> torch.Tensor:
    """Distance of each point of ``points [N, D]`` to its k-th nearest other point."""
    distances = torch.cdist(points.double(), points.double())
    return distances.kthvalue(k + 1, dim=1).values  # +1: the point itself is at distance 0


def coverage_fraction(queries: torch.Tensor, points: torch.Tensor, radii: torch.Tensor) -> float:
    """Fraction of ``queries`` that lie within ``radii`` of at least one of ``points``."""
    inside = torch.cdist(queries.double(), points.double()) <= radii[None, :]
    return float(inside.any(dim=1).double().mean())


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int) -> dict:
    """``{"precision", "recall", "k"}`` of ``fake [M, D]`` against ``real [N, D]`` features."""
    return {"precision": coverage_fraction(fake, real, manifold_radii(real, k)),
            "recall": coverage_fraction(real, fake, manifold_radii(fake, k)), "k": k}


@register("precision_recall_domain")
def precision_recall_domain(context: EvaluationContext) -> dict:
    """k-NN precision and recall of generated vs real held-out images in the domain encoder's features."""
    k = context.options.nearest_neighbours
    if "domain" not in context.extractors:
        return skipped(context.missing_extractors.get("domain", "no domain feature extractor"))
    sets = context.sets
    # k-NN radii shrink as a set grows: compare as many generated images as there are real ones, class by class
    fakes = matched_fakes(sets.fake_labels, sets.real_labels, context.rng("precision-recall-fakes"))
    real, fake = context.features("domain", "real"), context.features("domain", "fake")[fakes]
    if min(len(real), len(fake)) <= k:
        return skipped(f"needs more than k = {k} real and generated images")
    return {**precision_recall(real, fake, k), "n_real": len(real), "n_fake": len(fake)}
