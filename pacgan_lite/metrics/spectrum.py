"""Radially averaged power spectrum of real and generated images (Durall et al. 2020).

Up-sampling layers leave traces that the eye misses and the Fourier transform shows: nearest up-sampling
or a transposed convolution with few channels can repeat a pattern every 2 pixels (power at 0.5 cycles
per pixel), and a generator that has not learnt the fine texture has too little power at high frequencies.

Per image: the 2-D discrete Fourier transform (orthonormal, so white noise of variance v has power v at
every frequency), its power averaged over the channels and over each ring of radius r = 1 .. s/2 frequency
steps (r / s cycles per pixel; larger rings would lie partly outside the spectrum's square, and r = 0 is
the mean brightness, not a frequency), then log10. A set's curve is the mean of its images' log spectra.

The high-frequency band is the top quarter of the rings, above 0.375 cycles per pixel: periods of 2 to 2.7
pixels, where the period-2 patterns of up-sampling and the finest texture (noise, folding) show and where
the anatomy's edges, which dominate the lower frequencies, weigh least. Its ratio is the mean over the band
of the generated minus the real log power, as a power ratio (the geometric mean of the per-ring ratios, the
gap the figure shows): 1 for matching spectra, well above 1 for grid patterns or excess noise, below 1 for
images smoother than real ones.

Row and column streaks (the grid pattern of nearest up-sampling through narrow layers) have their power on
the two frequency axes: a streak along the rows varies only down the columns. The **axis streak ratio** is
the share of the power above :data:`STREAK_START` (0.25 cycles per pixel from zero, out to the spectrum's
corners at 0.71) that lies within one frequency step of either axis, generated over real (each set's share is that of its summed power): 1 when the
generated images' fine detail is as directional as the real ones', well above 1 for streaks. The radial
average cannot show them: a streak pattern moves little power off the rings' other directions.

The real reference is every real image of the evaluation, training and held-out together
(:meth:`~.registry.EvaluationSets.real_reference`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .registry import EvaluationContext, register

HIGH_FREQUENCY_START = 0.375  # cycles per pixel: the top quarter of 0 .. 0.5
STREAK_START = 0.25  # cycles per pixel: the upper half of 0 .. 0.5, where the anatomy's own edges weigh less
STREAK_END = round(math.sqrt(0.5), 6)  # the streak band is the whole square beyond STREAK_START, corners included
CHUNK = 128  # images per Fourier transform: a few hundred MB at 256 px
POWER_FLOOR = 1e-12  # a flat image has no power at all: keep its logarithm finite


def ring_index(side: int) -> torch.Tensor:
    """``[side, side]`` ring of each coefficient of a side x side DFT: its distance to the zero frequency, in
    frequency steps, rounded."""
    steps = torch.fft.fftfreq(side, d=1.0 / side)  # 0, 1, .., side/2 - 1, -side/2, .., -1
    return torch.hypot(steps[:, None], steps[None, :]).round().long()


def log_radial_power(images: torch.Tensor) -> torch.Tensor:
    """``images [N, C, s, s]`` -> ``[N, s // 2]``: log10 of the power averaged over channels and over each
    ring r = 1 .. s/2 (frequencies r / s cycles per pixel)."""
    side = images.shape[-1]
    rings = ring_index(side).flatten()
    inside = (rings >= 1) & (rings <= side // 2)
    rings = rings[inside] - 1
    counts = torch.bincount(rings, minlength=side // 2).double()
    profiles = []
    for chunk in images.split(CHUNK):
        power = torch.fft.fft2(chunk.double(), norm="ortho").abs().square().mean(dim=1).flatten(1)[:, inside]
        sums = torch.zeros(len(chunk), side // 2, dtype=torch.float64).index_add_(1, rings, power)
        profiles.append(sums / counts)
    return torch.cat(profiles).clamp_min(POWER_FLOOR).log10()


def axis_and_total_power(images: torch.Tensor) -> torch.Tensor:
    """``images [N, C, s, s]`` -> ``[N, 2]`` float64: per image, the power within one frequency step of either
    axis and all power, summed over channels, of the frequencies farther than :data:`STREAK_START` cycles per
    pixel from zero."""
    side = images.shape[-1]
    steps = torch.fft.fftfreq(side, d=1.0 / side).abs()
    band = torch.hypot(steps[:, None], steps[None, :]) > STREAK_START * side
    axes = band & ((steps[:, None] <= 1) | (steps[None, :] <= 1))
    rows = []
    for chunk in images.split(CHUNK):
        power = torch.fft.fft2(chunk.double(), norm="ortho").abs().square().sum(dim=1)  # [n, s, s]
        rows.append(torch.stack([power[:, axes].sum(dim=1), power[:, band].sum(dim=1)], dim=1))
    return torch.cat(rows)


def streak_ratio_of_powers(real: torch.Tensor, fake: torch.Tensor) -> float:
    """The axis streak ratio from :func:`axis_and_total_power` rows ``[N, 2]`` of real and generated images:
    each set's share is that of its summed power; NaN when a set is empty or has no power in the band."""
    shares = []
    for rows in (real, fake):
        on_axes, total = rows.sum(dim=0).tolist() if len(rows) else (0.0, 0.0)
        shares.append(on_axes / total if total > 0 else math.nan)
    return shares[1] / shares[0] if shares[0] > 0 else math.nan


def frequencies(side: int) -> np.ndarray:
    """Cycles per pixel of the rings of :func:`log_radial_power`: ``[s // 2]``, 1/s .. 0.5."""
    return np.arange(1, side // 2 + 1) / side


def high_frequency_ratio(real_log_power: np.ndarray, fake_log_power: np.ndarray) -> float:
    """Generated over real power in the band above :data:`HIGH_FREQUENCY_START`, from two mean log10 curves
    ``[s // 2]`` (the geometric mean over the band's rings)."""
    band = frequencies(2 * len(real_log_power)) > HIGH_FREQUENCY_START
    return float(10.0 ** np.mean(fake_log_power[band] - real_log_power[band]))


def _mean_curves(log_power: torch.Tensor, labels: torch.Tensor, class_names: list[str]) -> dict:
    """``{"all": [s // 2], <class>: [s // 2] or None}``: mean log spectrum of all images and of each class."""
    curves = {"all": log_power.mean(dim=0).numpy()}
    for c, name in enumerate(class_names):
        members = log_power[labels == c]
        curves[name] = members.mean(dim=0).numpy() if len(members) else None
    return curves


@register("power_spectrum")
def power_spectrum(context: EvaluationContext) -> dict:
    """Mean log10 radial power spectrum of real (training and held-out) and generated images, overall and per
    class, the generated-to-real power ratio in the high-frequency band, and the axis streak ratio."""
    sets = context.sets
    reference, reference_labels, reference_record = sets.real_reference()
    real = _mean_curves(log_radial_power(reference), reference_labels, sets.class_names)
    fake = _mean_curves(log_radial_power(sets.fake_images), sets.fake_labels, sets.class_names)
    ratios = {group: high_frequency_ratio(real[group], fake[group])
              if real[group] is not None and fake[group] is not None else math.nan for group in real}
    real_power, fake_power = axis_and_total_power(reference), axis_and_total_power(sets.fake_images)
    streaks = {"overall": streak_ratio_of_powers(real_power, fake_power),
               "per_class": {name: streak_ratio_of_powers(real_power[reference_labels == c],
                                                          fake_power[sets.fake_labels == c])
                             for c, name in enumerate(sets.class_names)}}
    side = sets.fake_images.shape[-1]
    return {"frequency_cycles_per_pixel": frequencies(side).round(6).tolist(),
            "high_frequency_band_cycles_per_pixel": [HIGH_FREQUENCY_START, 0.5],
            "log10_power": {which: {group: None if curve is None else curve.round(5).tolist()
                                    for group, curve in curves.items()}
                            for which, curves in (("real", real), ("fake", fake))},
            "high_frequency_ratio": {"overall": ratios.pop("all"), "per_class": ratios},
            "axis_streak_band_cycles_per_pixel": [STREAK_START, STREAK_END], "axis_streak_ratio": streaks,
            "real_reference_images": reference_record, "n_fake": len(sets.fake_labels)}
