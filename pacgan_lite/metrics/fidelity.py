"""Class fidelity: does the generator put the class difference where the real images have it?

A biomarker is measured the same way on real held-out and on generated images: the ventricle area in the
slice (:func:`pacgan_lite.biomarkers.ventricle_area`, a documented threshold-and-components segmentation
that needs no training). Per class: its mean and spread in real and in generated images, and Cohen's d of
generated against real (0 = the generator matches the real class; |d| > 0.8 is a large gap). Across
classes: the effect of class (d of class k against class 0) in real and in generated images, and the AUC
the biomarker alone reaches on each.

Two ratios sum the fidelity up, each generated over real, 1 for a perfect generator:

- the class-effect ratio: Cohen's d of class k against class 0 in generated images over the same d in real
  images (does the generator reproduce the size of the class difference?); the kit's target is 0.5 to 2,
  within a factor of two of the real effect;
- the spread ratio of each class: the biomarker's standard deviation in generated over real images of the
  class (does the generator reproduce the variety within a class?); the target is at least 0.5, since a
  generator that loses most of the spread makes near-copies of one typical image.

Their real reference is every real image the evaluation holds, training and held-out together
(:meth:`~.registry.EvaluationSets.real_reference`), so that the reference's own sampling noise stays small;
the result says which sets and how many images. The per-class gaps (Cohen's d generated vs real) compare
with the held-out images alone, as the figure does.

On the embedded cohort the hidden disease severity is known: its AUC against the labels is the ceiling any
classifier can reach on those images (labels are noisy with respect to pathology), shown next to the
critic's AUC.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from ..biomarkers import ventricle_area
from .registry import EvaluationContext, register


def cohens_d(first: np.ndarray, second: np.ndarray) -> float:
    """``(mean(first) - mean(second)) / pooled std`` (NaN if either has fewer than 2 values or no spread)."""
    if len(first) < 2 or len(second) < 2:
        return math.nan
    pooled = math.sqrt(((len(first) - 1) * first.var(ddof=1) + (len(second) - 1) * second.var(ddof=1))
                       / (len(first) + len(second) - 2))
    return float((first.mean() - second.mean()) / pooled) if pooled > 0 else math.nan


def ventricle_areas(images: torch.Tensor) -> np.ndarray:
    """Ventricle area (mm²) of ``images [N, C, s, s]`` (torch order: rows are H) from channel 0."""
    return ventricle_area(images[:, 0].transpose(1, 2).numpy())  # -> [N, W, H], the biomarker's layout


CLASS_EFFECT_RATIO_TARGET = (0.5, 2.0)
SPREAD_RATIO_TARGET = 0.5  # at least


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, NaN when the denominator is 0 or either is NaN."""
    if denominator == 0 or math.isnan(numerator) or math.isnan(denominator):
        return math.nan
    return float(numerator / denominator)


def sample_std(values: np.ndarray) -> float:
    """Standard deviation (ddof 1) of ``values [N]``; NaN for fewer than 2 values."""
    return float(values.std(ddof=1)) if len(values) > 1 else math.nan


def fidelity_ratios(real_values: np.ndarray, real_labels: np.ndarray, fake_values: np.ndarray,
                    fake_labels: np.ndarray, class_names: list[str]) -> dict:
    """The class-effect and spread ratios of a biomarker, generated over real.

    Args:
        real_values, real_labels: ``[N]`` biomarker values and class indices of the real reference images.
        fake_values, fake_labels: ``[M]`` the same for generated images.
        class_names: names indexed by class; class 0 is the base of every class effect.

    Returns:
        ``{"class_effect_ratio": {"<k> vs <0>": d_fake / d_real}, "class_effect_cohens_d_real_reference":
        {"<k> vs <0>": d_real}, "spread_ratio_per_class": {<class>: std_fake / std_real},
        "real_reference_per_class": {<class>: {"mean", "std", "n"}}}``, NaN where a class has fewer than 2
        values or no spread.
    """
    real = [real_values[real_labels == c] for c in range(len(class_names))]
    fake = [fake_values[fake_labels == c] for c in range(len(class_names))]
    contrasts = {f"{name} vs {class_names[0]}": c for c, name in enumerate(class_names) if c > 0}
    real_d = {contrast: cohens_d(real[c], real[0]) for contrast, c in contrasts.items()}
    fake_d = {contrast: cohens_d(fake[c], fake[0]) for contrast, c in contrasts.items()}
    return {
        "class_effect_ratio": {contrast: ratio(fake_d[contrast], real_d[contrast]) for contrast in contrasts},
        "class_effect_cohens_d_real_reference": real_d,
        "spread_ratio_per_class": {name: ratio(sample_std(fake[c]), sample_std(real[c])) for c, name in enumerate(class_names)},
        "real_reference_per_class": {name: {"mean": float(real[c].mean()) if len(real[c]) else math.nan,
                                            "std": sample_std(real[c]), "n": len(real[c])}
                                     for c, name in enumerate(class_names)},
    }


def _auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    return float(roc_auc_score(labels, scores)) if len(np.unique(labels)) == 2 else None


@register("class_fidelity")
def class_fidelity(context: EvaluationContext) -> dict:
    """Ventricle area per class, real vs generated, the class-effect and spread ratios against every real
    image, and the severity ceiling when it is known."""
    sets = context.sets
    real_labels, fake_labels = sets.real_labels.numpy(), sets.fake_labels.numpy()
    real_area, fake_area = ventricle_areas(sets.real_images), ventricle_areas(sets.fake_images)
    per_class = {}
    for k, name in enumerate(sets.class_names):
        real_k, fake_k = real_area[real_labels == k], fake_area[fake_labels == k]
        per_class[name] = {"real_mean_mm2": float(real_k.mean()), "real_std_mm2": float(real_k.std(ddof=1)),
                           "fake_mean_mm2": float(fake_k.mean()), "fake_std_mm2": float(fake_k.std(ddof=1)),
                           "n_real": len(real_k), "n_fake": len(fake_k),
                           "cohens_d_fake_vs_real": cohens_d(fake_k, real_k)}
    base = sets.class_names[0]
    class_effect = {f"{name} vs {base}": {
        "real": cohens_d(real_area[real_labels == k], real_area[real_labels == 0]),
        "fake": cohens_d(fake_area[fake_labels == k], fake_area[fake_labels == 0])}
        for k, name in enumerate(sets.class_names) if k > 0}
    reference_images, reference_labels, reference_record = sets.real_reference()
    reference_area = ventricle_areas(reference_images)
    ratios = fidelity_ratios(reference_area, reference_labels.numpy(), fake_area, fake_labels, sets.class_names)
    result = {"biomarker": "ventricle_area_mm2", "per_class": per_class, "class_effect_cohens_d": class_effect,
              **ratios, "real_reference_images": reference_record,
              "targets": {"class_effect_ratio": list(CLASS_EFFECT_RATIO_TARGET),
                          "spread_ratio_at_least": SPREAD_RATIO_TARGET},
              "biomarker_auc": {"real": _auc(real_labels, real_area), "fake": _auc(fake_labels, fake_area)},
              "areas": {"real": real_area.round(2).tolist(), "fake": fake_area.round(2).tolist(),
                        "real_reference": reference_area.round(2).tolist()}}
    if sets.severity is not None:
        result["ceiling_auc_from_hidden_severity"] = _auc(real_labels, sets.severity)
        if sets.real_probabilities is not None and sets.real_probabilities.shape[1] == 2:
            result["critic_auc"] = _auc(real_labels, sets.real_probabilities[:, 1].numpy())
    return result
