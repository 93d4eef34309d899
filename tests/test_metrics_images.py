"""SSIM, MS-SSIM, class fidelity and memorization on images whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pacgan_lite.config import MetricOptions
from pacgan_lite.evaluation import figures
from pacgan_lite.metrics import EvaluationContext, EvaluationSets, compute_metrics
from pacgan_lite.metrics.fidelity import cohens_d, fidelity_ratios
from pacgan_lite.metrics.ssim import ms_ssim_scales, random_pairs

pytestmark = pytest.mark.usefixtures("single_thread")


def disks(n: int, size: int, radius: tuple[float, float], seed: int) -> torch.Tensor:
    """``[n, 1, size, size]`` grey disks on -1 with random radii (a fraction of the half-width) and noise."""
    generator = torch.Generator().manual_seed(seed)
    grid = torch.linspace(-1, 1, size)
    distance = torch.hypot(*torch.meshgrid(grid, grid, indexing="ij"))
    radii = torch.empty(n).uniform_(*radius, generator=generator)
    images = torch.where(distance[None] < radii[:, None, None], 0.5, -1.0)
    return (images + 0.05 * torch.randn(n, size, size, generator=generator)).clamp(-1, 1)[:, None]


def context(fake: torch.Tensor, size: int = 32, pairs: int = 100) -> EvaluationContext:
    labels = torch.arange(2).repeat(10)
    real = disks(20, size, (0.3, 0.8), seed=1)
    sets = EvaluationSets(disks(20, size, (0.3, 0.8), seed=0), labels, real, labels, fake, labels, ["CN", "AD"])
    return EvaluationContext(sets, MetricOptions(ssim_pairs_per_class=pairs, closest_pairs=3))


@pytest.mark.parametrize(
    ("n_first", "n_second", "count", "expected_pairs"),
    [(3, None, 1000, 3), (24, None, 1000, 276), (200, None, 1000, 1000), (5, 2, 1000, 10), (24, 200, 1000, 1000)],
    ids=["3 images: all 3 pairs", "24: all 276", "200: 1000 of 19900", "5x2: all 10", "24x200: 1000"],
)
def test_random_pairs_are_distinct_and_never_pair_an_image_with_itself(n_first, n_second, count, expected_pairs):
    pairs = random_pairs(n_first, n_second, count, np.random.default_rng(0))
    assert len(pairs) == expected_pairs == len(np.unique(pairs, axis=0))
    if n_second is None:
        assert (pairs[:, 0] < pairs[:, 1]).all()  # unordered: (i, j) and (j, i) are one pair
    else:
        assert pairs[:, 0].max() < n_first and pairs[:, 1].max() < n_second


def test_ssim_of_identical_images_is_one_and_noise_lowers_it():
    same = torch.full((20, 1, 32, 32), 0.3)
    result = compute_metrics(context(same), ["ssim"])["ssim"]
    assert result["fake_fake"]["overall"]["mean"] == pytest.approx(1.0)
    assert result["real_fake"]["overall"]["pairs"] == 200 and set(result["real_real"]["per_class"]) == {"CN", "AD"}
    noise = torch.rand(20, 1, 32, 32, generator=torch.Generator().manual_seed(3)) * 2 - 1
    noisy = compute_metrics(context(noise), ["ssim"])["ssim"]
    assert noisy["real_fake"]["overall"]["mean"] < 0.2 < noisy["real_real"]["overall"]["mean"]


@pytest.mark.parametrize(("side", "scales"), [(8, 0), (16, 2), (32, 2), (64, 3), (128, 4), (256, 5)])
def test_ms_ssim_scales_fit_the_image(side, scales):
    assert ms_ssim_scales(side) == scales


def test_ms_ssim_among_fakes_detects_collapse_and_skips_tiny_images():
    collapsed = compute_metrics(context(torch.full((20, 1, 32, 32), 0.3)), ["ms_ssim_fake"])["ms_ssim_fake"]
    varied = compute_metrics(context(disks(20, 32, (0.2, 0.9), seed=5)), ["ms_ssim_fake"])["ms_ssim_fake"]
    assert collapsed["overall"]["mean"] == pytest.approx(1.0, abs=1e-4) and collapsed["scales"] == 2
    assert varied["overall"]["mean"] < 0.9
    tiny = compute_metrics(context(disks(20, 8, (0.3, 0.8), seed=5), size=8), ["ms_ssim_fake"])["ms_ssim_fake"]
    assert "too small for MS-SSIM" in tiny["skipped"]


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], 0.0), ([3.0, 4.0, 5.0], [1.0, 2.0, 3.0], 2.0), ([1.0], [2.0, 3.0], np.nan)],
)
def test_cohens_d(first, second, expected):
    assert cohens_d(np.array(first), np.array(second)) == pytest.approx(expected, nan_ok=True)


def test_class_fidelity_reports_areas_per_class_and_the_severity_ceiling():
    ctx = context(disks(20, 32, (0.3, 0.8), seed=2))
    ctx.sets.severity = ctx.sets.real_labels.numpy() + 0.1 * np.arange(20) / 20  # perfectly separating severity
    result = compute_metrics(ctx, ["class_fidelity"])["class_fidelity"]
    assert set(result["per_class"]) == {"CN", "AD"} and result["per_class"]["CN"]["n_fake"] == 10
    assert result["ceiling_auc_from_hidden_severity"] == 1.0
    assert len(result["areas"]["real"]) == 20 and set(result["class_effect_cohens_d"]) == {"AD vs CN"}


# Real reference: CN 1, 2, 3 and AD 3, 4, 5 (means 2 and 4, std 1 each): the real class effect is d = 2.
@pytest.mark.parametrize(
    ("fake_cn", "fake_ad", "class_effect_ratio", "spread_ratios"),
    [
        ([1.0, 2.0, 3.0], [3.0, 4.0, 5.0], 1.0, (1.0, 1.0)),  # the real values themselves
        ([1.0, 2.0, 3.0], [5.0, 6.0, 7.0], 2.0, (1.0, 1.0)),  # AD twice as far from CN: d = 4
        ([2.0, 4.0, 6.0], [6.0, 8.0, 10.0], 1.0, (2.0, 2.0)),  # all doubled: the same d, twice the spread
        ([1.5, 2.0, 2.5], [3.0, 4.0, 5.0], 2 / np.sqrt(0.625) / 2, (0.5, 1.0)),  # CN spread halved: pooled var 0.625
        ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], 0.0, (1.0, 1.0)),  # no class effect at all
        ([2.0, 2.0, 2.0], [4.0, 4.0, 4.0], np.nan, (0.0, 0.0)),  # no spread: d is undefined
    ],
    ids=["same", "effect doubled", "spread doubled", "CN spread halved", "no effect", "no spread"],
)
def test_fidelity_ratios_of_known_biomarker_values(fake_cn, fake_ad, class_effect_ratio, spread_ratios):
    result = fidelity_ratios(np.array([1.0, 2.0, 3.0, 3.0, 4.0, 5.0]), np.array([0, 0, 0, 1, 1, 1]),
                             np.array(fake_cn + fake_ad), np.array([0] * len(fake_cn) + [1] * len(fake_ad)),
                             ["CN", "AD"])
    assert result["class_effect_ratio"]["AD vs CN"] == pytest.approx(class_effect_ratio, nan_ok=True)
    assert result["class_effect_cohens_d_real_reference"] == {"AD vs CN": pytest.approx(2.0)}
    assert [result["spread_ratio_per_class"][name] for name in ("CN", "AD")] == pytest.approx(list(spread_ratios))
    assert result["real_reference_per_class"]["AD"] == {"mean": 4.0, "std": 1.0, "n": 3}


def ventricles(labels: torch.Tensor, size: int, seed: int) -> torch.Tensor:
    """``[N, 1, size, size]`` a bright brain disk with a dark central blob (the biomarker's ventricles),
    larger for class 1."""
    generator = torch.Generator().manual_seed(seed)
    grid = torch.linspace(-1, 1, size)
    distance = torch.hypot(*torch.meshgrid(grid, grid, indexing="ij"))
    radii = torch.empty(len(labels)).uniform_(0.08, 0.2, generator=generator) + 0.08 * labels
    images = torch.where(distance[None] < 0.8, 0.5, -1.0)
    images = torch.where(distance[None] < radii[:, None, None], -0.8, images)
    return (images + 0.05 * torch.randn(len(labels), size, size, generator=generator)).clamp(-1, 1)[:, None]


def test_class_fidelity_measures_its_ratios_against_training_and_held_out_images():
    ctx = context(disks(20, 32, (0.3, 0.8), seed=2))
    sets = ctx.sets
    sets.train_images, sets.real_images = ventricles(sets.train_labels, 32, 0), ventricles(sets.real_labels, 32, 1)
    result = compute_metrics(ctx, ["class_fidelity"])["class_fidelity"]
    assert result["real_reference_images"] == {"sets": {"train": 20, "test": 20}, "n": 40,
                                               "per_class": {"CN": 20, "AD": 20}}
    assert len(result["areas"]["real_reference"]) == 40 and result["targets"]["class_effect_ratio"] == [0.5, 2.0]
    # generated images that are the real reference itself reproduce it exactly
    sets.fake_images = torch.cat([sets.train_images, sets.real_images])
    sets.fake_labels = torch.cat([sets.train_labels, sets.real_labels])
    copy = compute_metrics(ctx, ["class_fidelity"])["class_fidelity"]
    assert copy["class_effect_ratio"] == {"AD vs CN": pytest.approx(1.0)}
    assert copy["spread_ratio_per_class"] == {"CN": pytest.approx(1.0), "AD": pytest.approx(1.0)}
    figures.class_fidelity_figure(copy, sets)  # held-out, every real image, generated


def test_memorization_finds_a_planted_copy_of_a_training_image():
    ctx = context(disks(20, 32, (0.3, 0.8), seed=2))
    ctx.sets.fake_images[7] = ctx.sets.train_images[11]
    ctx.extractors["domain"] = lambda x: x.flatten(1)[:, ::16]
    result = compute_metrics(ctx, ["memorization"])["memorization"]
    assert result["closest_pairs"][0] == {"fake_index": 7, "train_index": 11, "pixels_rms": 0.0}
    assert result["pixels_rms"]["fraction_fake_closer_than_any_real"] >= 1 / 20
    assert result["domain_features"]["fake_min"] == 0.0
    honest = compute_metrics(context(disks(20, 32, (0.3, 0.8), seed=2)), ["memorization"])["memorization"]
    assert honest["pixels_rms"]["fake_min"] > 0 and "domain_features" not in honest
