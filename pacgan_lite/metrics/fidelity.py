"""Class fidelity: does the generator put the class difference where the real images have it?

A biomarker is measured the same way on real held-out and on generated images: the ventricle area in the
slice (:func:`pacgan_lite.biomarkers.ventricle_area`, a documented threshold-and-components segmentation
that needs no training). Per class: its mean and spread in real and in generated images, and Cohen's d of
generated against real (0 = the generator matches the real class; |d| > 0.8 is a large gap). Across
classes: the effect of class (d of class k against class 0) in real and in generated images, and the AUC
the biomarker alone reaches on each.

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


def _auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    return float(roc_auc_score(labels, scores)) if len(np.unique(labels)) == 2 else None


@register("class_fidelity")
def class_fidelity(context: EvaluationContext) -> dict:
    """Ventricle area per class, real vs generated, and the severity ceiling when it is known."""
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
    result = {"biomarker": "ventricle_area_mm2", "per_class": per_class, "class_effect_cohens_d": class_effect,
              "biomarker_auc": {"real": _auc(real_labels, real_area), "fake": _auc(fake_labels, fake_area)},
              "areas": {"real": real_area.round(2).tolist(), "fake": fake_area.round(2).tolist()}}
    if sets.severity is not None:
        result["ceiling_auc_from_hidden_severity"] = _auc(real_labels, sets.severity)
        if sets.real_probabilities is not None and sets.real_probabilities.shape[1] == 2:
            result["critic_auc"] = _auc(real_labels, sets.real_probabilities[:, 1].numpy())
    return result
