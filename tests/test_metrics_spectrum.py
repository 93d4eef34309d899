"""The radially averaged power spectrum on images whose spectrum is known."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pacgan_lite.evaluation import figures
from pacgan_lite.metrics import EvaluationContext, EvaluationSets, compute_metrics
from pacgan_lite.metrics.spectrum import (
    axis_and_total_power,
    frequencies,
    log_radial_power,
    streak_ratio_of_powers,
)

pytestmark = pytest.mark.usefixtures("single_thread")

SIDE = 32


def disks(n: int, seed: int) -> torch.Tensor:
    """``[n, 1, 32, 32]`` bright disks of random radius on -1, with a little noise: smooth images."""
    generator = torch.Generator().manual_seed(seed)
    grid = torch.linspace(-1, 1, SIDE)
    distance = torch.hypot(*torch.meshgrid(grid, grid, indexing="ij"))
    radii = torch.empty(n).uniform_(0.3, 0.8, generator=generator)
    images = torch.where(distance[None] < radii[:, None, None], 0.5, -1.0)
    return (images + 0.05 * torch.randn(n, SIDE, SIDE, generator=generator))[:, None]


def spectrum_of(fake: torch.Tensor, held_out: str = "val") -> dict:
    """The power_spectrum metric with 40 training and 20 held-out disks as the real images."""
    labels = torch.arange(2).repeat(30)
    sets = EvaluationSets(disks(40, 0), labels[:40], disks(20, 1), labels[40:], fake,
                          torch.arange(2).repeat_interleave(len(fake) // 2), ["CN", "AD"], held_out=held_out)
    return compute_metrics(EvaluationContext(sets), ["power_spectrum"])["power_spectrum"]


@pytest.mark.parametrize("std", [1.0, 0.1], ids=["variance 1", "variance 0.01"])
def test_white_noise_has_a_flat_spectrum_at_its_variance(std):
    noise = std * torch.randn(64, 1, SIDE, SIDE, generator=torch.Generator().manual_seed(0))
    curve = log_radial_power(noise).mean(dim=0).numpy()
    assert curve.shape == (SIDE // 2,)
    np.testing.assert_allclose(curve, math.log10(std**2), atol=0.05)  # the few-pixel rings near 0 a bit low


def _stripes(period: int) -> torch.Tensor:
    """A cosine across the columns with ``period`` pixels."""
    return torch.cos(2 * math.pi * torch.arange(SIDE) / period).expand(SIDE, SIDE)


def _grid(period: int) -> torch.Tensor:
    """Every ``period``-th pixel of every ``period``-th row brighter, as nearest up-sampling can leave."""
    pattern = torch.zeros(SIDE, SIDE)
    pattern[::period, ::period] = 1.0
    return pattern


@pytest.mark.parametrize(
    ("pattern", "peak", "low", "high"),
    [
        (_grid(2), 0.5, 1.5, math.inf),  # the top ring holds the grid's (16, 0) and (0, 16) frequencies
        (0.3 * _stripes(2), 0.5, 1.5, math.inf),
        (0.3 * _stripes(4), 0.25, 0.9, 1.1),  # 0.25 cycles per pixel lies below the high-frequency band
    ],
    ids=["grid, period 2", "stripes, period 2", "stripes, period 4"],
)
def test_a_periodic_pattern_peaks_at_its_frequency(pattern, peak, low, high):
    result = spectrum_of(torch.cat([disks(20, 2), disks(20, 3)]) + 0.5 * pattern)
    gap = np.subtract(result["log10_power"]["fake"]["all"], result["log10_power"]["real"]["all"])
    assert result["frequency_cycles_per_pixel"][int(gap.argmax())] == peak
    assert low <= result["high_frequency_ratio"]["overall"] <= high
    figures.power_spectrum_figure(result)


def test_identical_sets_have_a_ratio_of_one_and_the_reference_is_every_real_image():
    labels = torch.arange(2).repeat(30)
    real = torch.cat([disks(40, 0), disks(20, 1)])
    order = torch.cat([torch.nonzero(labels == 0)[:, 0], torch.nonzero(labels == 1)[:, 0]])
    result = spectrum_of(real[order])  # the same 60 images, sorted by class as generated sets are
    assert result["high_frequency_ratio"] == {"overall": pytest.approx(1.0, abs=1e-12),
                                              "per_class": {"CN": pytest.approx(1.0, abs=1e-12),
                                                            "AD": pytest.approx(1.0, abs=1e-12)}}
    assert result["real_reference_images"] == {"sets": {"train": 40, "val": 20}, "n": 60,
                                               "per_class": {"CN": 30, "AD": 30}}
    assert result["high_frequency_band_cycles_per_pixel"] == [0.375, 0.5] and result["n_fake"] == 60


def test_rings_run_from_one_frequency_step_to_nyquist():
    np.testing.assert_allclose(frequencies(8), [0.125, 0.25, 0.375, 0.5])
    constant = torch.full((2, 3, 8, 8), 0.4)  # all power in the mean: every ring is empty
    assert log_radial_power(constant).shape == (2, 4) and (log_radial_power(constant) < -10).all()


def _streaks(seed: int) -> torch.Tensor:
    """Fine random row and column streaks, as nearest up-sampling through a narrow layer leaves them: each row
    and each column gets its own brightness offset."""
    generator = torch.Generator().manual_seed(seed)
    return 0.1 * (torch.randn(SIDE, 1, generator=generator) + torch.randn(1, SIDE, generator=generator))


@pytest.mark.parametrize(
    ("make_fake", "low", "high"),
    [
        (lambda real: real.clone(), 1.0 - 1e-12, 1.0 + 1e-12),
        # isotropic fine noise adds power in every direction, the axes' share stays
        (lambda real: real + 0.1 * torch.randn(real.shape, generator=torch.Generator().manual_seed(5)), 0.8, 1.25),
        (lambda real: real + torch.stack([_streaks(i) for i in range(len(real))])[:, None], 2.0, math.inf),
    ],
    ids=["the same images", "isotropic noise", "row and column streaks"],
)
def test_the_axis_streak_ratio_finds_row_and_column_streaks(make_fake, low, high):
    real = disks(60, 0)
    assert low <= streak_ratio_of_powers(axis_and_total_power(real), axis_and_total_power(make_fake(real))) <= high


def test_the_metric_reports_the_streak_ratio_overall_and_per_class():
    streaked = torch.cat([disks(20, 2), disks(20, 3)]) + torch.stack([_streaks(i) for i in range(40)])[:, None]
    result = spectrum_of(streaked)
    assert result["axis_streak_band_cycles_per_pixel"] == [0.25, 0.707107]
    assert result["axis_streak_ratio"]["overall"] > 2.0
    assert all(ratio > 2.0 for ratio in result["axis_streak_ratio"]["per_class"].values())
    assert "axis streak ratio" in figures.power_spectrum_figure(result)._suptitle.get_text()
