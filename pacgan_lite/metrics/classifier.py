"""The critic's class head as a classifier of real held-out images.

Every number is computed once over the whole set of predictions (the reference averaged a per-batch AUC),
from probabilities made in eval mode, where the critic's minibatch-stddev feature is a stored running
value: a prediction does not depend on the other images in its batch.

For two classes, class 1 (AD in the embedded cohort) is the positive class: sensitivity is its recall
and specificity the recall of class 0. With more classes the AUC is one-vs-rest macro and sensitivity
and specificity are left out (per-class recall is in the confusion matrix).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.stats import rankdata
from sklearn.metrics import confusion_matrix, roc_curve

from ..sampling import set_auc
from .registry import EvaluationContext, register, skipped


def stratified_resamples(labels: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """``[R, N]`` bootstrap indices into ``labels [N]``: each row draws every class's images again from within
    the class, so every resample holds every class and its class counts."""
    by_class = [np.flatnonzero(labels == k) for k in np.unique(labels)]
    return np.stack([np.concatenate([rng.choice(members, size=len(members)) for members in by_class])
                     for _ in range(resamples)])


def resampled_aucs(scores: np.ndarray, labels: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``[R, S]`` the AUC of each of ``scores [S, N]`` (S sets of positive-class scores) on each resample
    ``index [R, N]`` of the images with ``labels [N]`` (0/1). Ties count half, as in ``roc_auc_score``."""
    positive = labels[index] == 1  # [R, N]
    n_positive = positive.sum(axis=1)
    n_negative = index.shape[1] - n_positive
    ranks = rankdata(scores[:, index], axis=-1)  # [S, R, N], ties averaged
    rank_sum = (ranks * positive[None]).sum(axis=-1)  # [S, R]
    return ((rank_sum - n_positive * (n_positive + 1) / 2) / (n_positive * n_negative)).T


def bootstrap_auc_interval(probabilities: torch.Tensor, labels: torch.Tensor, resamples: int,
                           rng: np.random.Generator, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the set-level AUC over stratified bootstrap resamples
    (:func:`stratified_resamples`) of ``probabilities [N, K]`` and ``labels [N]``."""
    labels_np = labels.numpy()
    index = stratified_resamples(labels_np, resamples, rng)
    if probabilities.shape[1] == 2:  # all resamples at once: the same AUCs as set_auc, without R sklearn calls
        aucs = resampled_aucs(probabilities[:, 1].float().numpy()[None], labels_np, index)[:, 0]
    else:
        aucs = [set_auc(probabilities[row], labels[row]) for row in torch.from_numpy(index)]
    low, high = np.nanpercentile(aucs, [50 * (1 - level), 50 * (1 + level)])
    return float(low), float(high)


def classification_report(probabilities: torch.Tensor, labels: torch.Tensor, class_names: list[str],
                          resamples: int = 1000, rng: np.random.Generator | None = None) -> dict:
    """AUC with a bootstrap 95% interval, ROC curve, confusion matrix and rates of ``probabilities [N, K]``
    against ``labels [N]`` (predicted class = the most probable)."""
    rng = rng or np.random.default_rng(0)
    n_classes = len(class_names)
    labels_np = labels.numpy()
    predicted = probabilities.argmax(dim=1).numpy()
    matrix = confusion_matrix(labels_np, predicted, labels=list(range(n_classes)))
    recalls = [matrix[k, k] / matrix[k].sum() if matrix[k].sum() else math.nan for k in range(n_classes)]
    auc = set_auc(probabilities, labels)
    report = {
        "auc": auc,
        "auc_95ci": list(bootstrap_auc_interval(probabilities, labels, resamples, rng)) if not math.isnan(auc)
        else None,
        "bootstrap_resamples": resamples,
        "accuracy": float((predicted == labels_np).mean()),
        "balanced_accuracy": float(np.mean(recalls)),  # NaN when a class has no image: not the mean of the rest
        "confusion_matrix": {"rows_true_columns_predicted": matrix.tolist(), "class_names": list(class_names)},
        "n_images": len(labels_np),
        "n_per_class": {name: int((labels_np == k).sum()) for k, name in enumerate(class_names)},
    }
    if n_classes == 2:
        report["positive_class"] = class_names[1]
        report["sensitivity"], report["specificity"] = float(recalls[1]), float(recalls[0])
        if not math.isnan(auc):
            fpr, tpr, _ = roc_curve(labels_np, probabilities[:, 1].numpy())
            report["roc"] = {"false_positive_rate": fpr.round(5).tolist(), "true_positive_rate": tpr.round(5).tolist()}
    return report


@register("classifier")
def classifier(context: EvaluationContext) -> dict:
    """The critic's class head on the real held-out images (see the module docstring)."""
    sets = context.sets
    if sets.real_probabilities is None:
        return skipped("no critic probabilities for the held-out images")
    note = {"val": {"selection_note": "these validation images also chose each stage's epoch, so the AUC is "
                    "optimistic; a final run's test AUC is not"},
            "population": {"population_note": "fresh subjects of the run's population, matched as its data "
                           "were: none of these images trained or chose anything"}}.get(sets.held_out, {})
    return {"held_out": sets.held_out, **note, **classification_report(
        sets.real_probabilities, sets.real_labels, sets.class_names, context.options.bootstrap_resamples,
        context.rng("bootstrap"))}
