"""Precision, recall, density and coverage of the generated distribution, in a feature space.

All four rest on k-nearest-neighbour balls (Kynkäänniemi et al. 2019; Naeem et al. 2020) and are computed
by the ``prdc`` package (clovaai, MIT): around each real image a ball reaching its k-th nearest real
neighbour, around each generated image one reaching its k-th nearest generated neighbour.

- precision: the fraction of generated images inside some real ball (are they realistic?);
- recall: the fraction of real images inside some generated ball (is the real variety reproduced?);
- density: the number of real balls that hold a generated image, averaged over generated images and
  divided by k. About 1 when both sets come from one distribution; above 1 when generated images crowd
  where real ones are densest (a generator that plays safe), below 1 when they fall between or outside;
- coverage: the fraction of real balls that hold at least one generated image. It builds no ball around
  generated images, so, unlike recall, a few stray generated images with wide balls cannot inflate it.

For two samples of one distribution, coverage stays below 1 (a real ball may by chance hold only real
images): with N real and M generated images its expected value is 1 - C(N - 1, k) / C(N + M - 1, k), about
1 - 2^-k for large equal sets (0.875 for k = 3). It is reported next to each coverage.

Every radius depends on how many points a set holds, so both sets have the same size and class counts: as
many generated images as there are real held-out ones, class by class (the metrics are skipped, with the
fix, when a class has fewer generated images than real ones). Each metric is given overall and per
class (a class's real images against that class's generated ones), in the domain encoder's features and in
EfficientNet-Lite0's.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math

import torch
from prdc import compute_prdc

from .distribution import matched_fakes
from .registry import EvaluationContext, register, skipped

# prdc selects the k-th neighbour with numpy's argpartition at index k + 1, which needs k + 2 points
POINTS_BEYOND_K = 2


def nearest_neighbour_scores(real: torch.Tensor, fake: torch.Tensor, k: int) -> dict[str, float]:
    """``{"precision", "recall", "density", "coverage"}`` of ``fake [M, D]`` against ``real [N, D]`` features,
    with balls reaching each point's k-th nearest neighbour in its own set."""
    with contextlib.redirect_stdout(io.StringIO()):  # prdc prints the set sizes on every call
        scores = compute_prdc(real.double().numpy(), fake.double().numpy(), nearest_k=k)
    return {name: float(value) for name, value in scores.items()}


def expected_coverage(n_real: int, n_fake: int, k: int) -> float:
    """Coverage expected when ``n_fake`` generated and ``n_real`` real points come from one distribution: a
    real ball holds no generated point when the k points nearest its centre are all real."""
    return 1.0 - math.comb(n_real - 1, k) / math.comb(n_real + n_fake - 1, k)


def _group_scores(real: torch.Tensor, fake: torch.Tensor, k: int, keys: tuple[str, ...]) -> dict:
    if min(len(real), len(fake)) < k + POINTS_BEYOND_K:
        return skipped(f"needs at least k + {POINTS_BEYOND_K} = {k + POINTS_BEYOND_K} real and generated images, "
                       f"got {len(real)} and {len(fake)}; use a larger held-out split")
    scores = nearest_neighbour_scores(real, fake, k)
    result = {key: scores[key] for key in keys}
    if "coverage" in keys:
        result["coverage_expected_for_one_distribution"] = expected_coverage(len(real), len(fake), k)
    return {**result, "n_real": len(real), "n_fake": len(fake)}


def nearest_neighbour_metric(context: EvaluationContext, extractor: str, keys: tuple[str, ...]) -> dict:
    """``keys`` of the four scores in ``extractor``'s features, overall and per class, or why it was skipped."""
    if extractor not in context.extractors:
        return skipped(context.missing_extractors.get(extractor, f"no {extractor} feature extractor"))
    sets, k = context.sets, context.options.nearest_neighbours
    short = {name: (int((sets.real_labels == c).sum()), int((sets.fake_labels == c).sum()))
             for c, name in enumerate(sets.class_names)}
    short = {name: counts for name, counts in short.items() if counts[1] < counts[0]}
    if short:  # every radius depends on its set's size: compare equal, class-matched sets or nothing
        needed = max(real for real, _ in short.values())
        return skipped("needs as many generated images per class as real held-out ones, got "
                       + ", ".join(f"{fake} for {real} {name}" for name, (real, fake) in short.items())
                       + f"; raise evaluation.synthetic_per_class to {needed} or more")
    # The same draw for every extractor and score: all four describe one pair of sets.
    fakes = matched_fakes(sets.fake_labels, sets.real_labels, context.rng("precision-recall-fakes"))
    real, fake = context.features(extractor, "real"), context.features(extractor, "fake")[fakes]
    real_labels, fake_labels = sets.real_labels, sets.fake_labels[fakes]
    overall = _group_scores(real, fake, k, keys)
    if "skipped" in overall:
        return overall
    return {"extractor": extractor, "k": k, "overall": overall,
            "per_class": {name: _group_scores(real[real_labels == c], fake[fake_labels == c], k, keys)
                          for c, name in enumerate(sets.class_names)}}


# extractor -> (precision/recall metric, density/coverage metric)
NEAREST_NEIGHBOUR_METRICS = {
    "domain": ("precision_recall_domain", "density_coverage_domain"),
    "efficientnet": ("precision_recall_efficientnet", "density_coverage_efficientnet"),
}
for _extractor, (_precision_recall, _density_coverage) in NEAREST_NEIGHBOUR_METRICS.items():
    register(_precision_recall)(functools.partial(nearest_neighbour_metric, extractor=_extractor,
                                                  keys=("precision", "recall")))
    register(_density_coverage)(functools.partial(nearest_neighbour_metric, extractor=_extractor,
                                                  keys=("density", "coverage")))
