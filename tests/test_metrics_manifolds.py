"""k-NN precision, recall, density and coverage on features whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pacgan_lite.config import MetricOptions
from pacgan_lite.evaluation import figures
from pacgan_lite.metrics import EvaluationContext, EvaluationSets, compute_metrics
from pacgan_lite.metrics.manifolds import expected_coverage, nearest_neighbour_scores

pytestmark = pytest.mark.usefixtures("single_thread")

NAMES = ["precision_recall_domain", "density_coverage_domain", "precision_recall_efficientnet",
         "density_coverage_efficientnet"]


def gaussian(n: int, dim: int = 4, shift: float = 0.0, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) + shift


def points(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)[:, None]


# Real points 0, 1, 2, 3 on a line: with k = 1 every real ball has radius 1 (strict: a point at distance 1 is
# outside). Worked by hand, e.g. the second row: generated 0.5, 0.6 and 2.9 lie in real balls, 21 does not
# (precision 3/4); their own balls (radii 0.1, 0.1, 2.3, 18.1) hold the real points 1, 2, 3 but not 0 (recall
# 3/4); 0.5, 0.6 and 2.9 lie in two real balls each (density 6/4 / k); every real ball holds one (coverage 1).
@pytest.mark.parametrize(
    ("fake", "expected"),
    [
        (points(0.5, 0.6, 20.0, 21.0), {"precision": 0.5, "recall": 0.0, "density": 1.0, "coverage": 0.5}),
        (points(0.5, 0.6, 2.9, 21.0), {"precision": 0.75, "recall": 0.75, "density": 1.5, "coverage": 1.0}),
    ],
    ids=["two-strays", "one-stray"],
)
def test_scores_of_a_worked_example(fake, expected):
    assert nearest_neighbour_scores(points(0.0, 1.0, 2.0, 3.0), fake, k=1) == pytest.approx(expected)


COLLAPSED = gaussian(300, seed=1) * 0.05
# Three far generated outliers: each one's k-th neighbour is far, so its ball swallows every real point.
OUTLIERS = torch.cat([COLLAPSED[:297], torch.tensor([[40.0, 0, 0, 0], [-40.0, 0, 0, 0], [0, 40.0, 0, 0]],
                                                    dtype=torch.float64)])


@pytest.mark.parametrize(
    ("fake", "low", "high"),
    [
        (gaussian(300, seed=1), {"precision": 0.85, "recall": 0.85, "density": 0.8, "coverage": 0.82},
         {"precision": 1.0, "recall": 1.0, "density": 1.2, "coverage": 0.95}),  # same law
        (gaussian(300, shift=10.0, seed=1), dict.fromkeys(("precision", "recall", "density", "coverage"), 0.0),
         dict.fromkeys(("precision", "recall", "density", "coverage"), 0.0)),  # far away: all 0
        (COLLAPSED, {"precision": 0.95, "recall": 0.0, "density": 1.3, "coverage": 0.0},
         {"precision": 1.0, "recall": 0.05, "density": 3.0, "coverage": 0.1}),  # collapsed to the centre
        (OUTLIERS, {"precision": 0.95, "recall": 0.85, "density": 1.3, "coverage": 0.0},
         {"precision": 1.0, "recall": 1.0, "density": 3.0, "coverage": 0.1}),  # outliers fool recall, not coverage
    ],
    ids=["same", "disjoint", "collapsed", "collapsed-with-outliers"],
)
def test_scores_on_gaussians(fake, low, high):
    scores = nearest_neighbour_scores(gaussian(300), fake, k=3)
    for key in low:
        assert low[key] <= scores[key] <= high[key], key


@pytest.mark.parametrize(
    ("n_real", "n_fake", "k", "expected"),
    [(2, 1, 1, 0.5), (4, 4, 1, 1 - 3 / 7), (10**4, 10**4, 3, 1 - 0.5**3)],
    ids=["one-of-two", "4-and-4", "large: 1 - 2^-k"],
)
def test_expected_coverage(n_real, n_fake, k, expected):
    assert expected_coverage(n_real, n_fake, k) == pytest.approx(expected, abs=1e-4)


def test_same_law_samples_reach_the_expected_coverage_and_density_one():
    scores = [nearest_neighbour_scores(gaussian(150, seed=s), gaussian(150, seed=1000 + s), k=3) for s in range(20)]
    assert np.mean([s["coverage"] for s in scores]) == pytest.approx(expected_coverage(150, 150, 3), abs=0.02)
    assert np.mean([s["density"] for s in scores]) == pytest.approx(1.0, abs=0.05)


def _context(n_real: int = 40, fake_shift: float = 0.0) -> EvaluationContext:
    """Class-balanced sets of 8 x 8 images; both extractors read 4 pixels (scaled differently)."""

    def images(n, shift, seed):
        return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed)) + shift

    labels = torch.arange(2).repeat(30)
    sets = EvaluationSets(images(20, 0.0, 0), labels[:20], images(n_real, 0.0, 1), labels[:n_real],
                          images(60, fake_shift, 2), labels, ["CN", "AD"])
    context = EvaluationContext(sets, MetricOptions())
    context.extractors["domain"] = lambda x: x.flatten(1)[:, :4]
    context.extractors["efficientnet"] = lambda x: x.flatten(1)[:, 4:8] * 100
    return context


def test_metrics_compare_class_matched_sets_overall_and_per_class():
    near, far = compute_metrics(_context(), NAMES), compute_metrics(_context(fake_shift=5.0), NAMES)
    for name in NAMES:
        assert near[name]["overall"]["n_real"] == near[name]["overall"]["n_fake"] == 40, name
        assert near[name]["per_class"]["AD"]["n_fake"] == 20 and near[name]["k"] == 3
    assert set(near["precision_recall_domain"]["overall"]) == {"precision", "recall", "n_real", "n_fake"}
    coverage = near["density_coverage_efficientnet"]["overall"]
    assert coverage["coverage_expected_for_one_distribution"] == pytest.approx(expected_coverage(40, 40, 3))
    assert coverage["coverage"] > 0.6 and far["density_coverage_efficientnet"]["overall"]["coverage"] == 0.0
    assert far["precision_recall_domain"]["per_class"]["CN"]["precision"] == 0.0


def test_too_few_images_or_no_extractor_are_skipped_with_the_reason():
    context = _context(n_real=6)  # 3 per class: too few for k = 3 in a class, enough overall
    del context.extractors["efficientnet"]
    context.missing_extractors["efficientnet"] = "no EfficientNet here"
    results = compute_metrics(context, NAMES)
    assert "k + 2 = 5" in results["density_coverage_domain"]["per_class"]["CN"]["skipped"]
    assert results["density_coverage_efficientnet"] == {"skipped": "no EfficientNet here"}
    figures.nearest_neighbours_figure(results)  # draws what was computed
    tiny = compute_metrics(_context(n_real=4), ["precision_recall_domain"])["precision_recall_domain"]
    assert "got 4 and 4" in tiny["skipped"]
    figures.nearest_neighbours_figure({"precision_recall_domain": tiny})


def test_fewer_generated_than_real_images_of_a_class_are_skipped_with_the_fix():
    context = _context()
    sets = context.sets
    keep = torch.cat([torch.nonzero(sets.fake_labels == 0).flatten(), torch.nonzero(sets.fake_labels == 1).flatten()[:15]])
    sets.fake_images, sets.fake_labels = sets.fake_images[keep], sets.fake_labels[keep]  # 30 CN, 15 AD; real 20 each
    result = compute_metrics(context, ["density_coverage_domain"])["density_coverage_domain"]
    assert result == {"skipped": "needs as many generated images per class as real held-out ones, got 15 for 20 AD; "
                                 "raise evaluation.synthetic_per_class to 20 or more"}

