"""The critic-as-classifier report on scores whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pacgan_lite.config import MetricOptions
from pacgan_lite.metrics import EvaluationContext, EvaluationSets, compute_metrics
from pacgan_lite.metrics.classifier import bootstrap_auc_interval, classification_report, stratified_resamples
from pacgan_lite.sampling import set_auc


def probabilities_from(scores: np.ndarray) -> torch.Tensor:
    """Two-class probabilities whose class-1 column is ``scores``."""
    p1 = torch.tensor(scores, dtype=torch.float32)
    return torch.stack([1 - p1, p1], dim=1)


LABELS = np.array([0] * 50 + [1] * 50)
RNG = np.random.default_rng(0)


@pytest.mark.parametrize(
    ("scores", "auc_range"),
    [
        (np.r_[RNG.uniform(0, 0.4, 50), RNG.uniform(0.6, 1, 50)], (1.0, 1.0)),  # separable
        (RNG.uniform(0, 1, 100), (0.35, 0.65)),  # scores unrelated to the labels
        (np.r_[RNG.uniform(0.6, 1, 50), RNG.uniform(0, 0.4, 50)], (0.0, 0.0)),  # inverted
    ],
    ids=["separable", "inseparable", "inverted"],
)
def test_auc_and_its_bootstrap_interval(scores, auc_range):
    report = classification_report(probabilities_from(scores), torch.from_numpy(LABELS), ["CN", "AD"], resamples=200)
    assert auc_range[0] <= report["auc"] <= auc_range[1]
    low, high = report["auc_95ci"]
    assert low <= report["auc"] <= high
    assert report["roc"]["false_positive_rate"][0] == 0 and report["roc"]["true_positive_rate"][-1] == 1


def test_two_class_bootstrap_interval_is_the_percentiles_of_set_auc_on_each_resample():
    scores = np.round(RNG.normal(size=100) + LABELS, 1)  # rounding makes ties
    probabilities, labels = probabilities_from(scores), torch.from_numpy(LABELS)
    index = stratified_resamples(LABELS, 300, np.random.default_rng(7))
    aucs = [set_auc(probabilities[row], labels[row]) for row in torch.from_numpy(index)]
    expected = np.percentile(aucs, [2.5, 97.5])
    interval = bootstrap_auc_interval(probabilities, labels, 300, np.random.default_rng(7))
    np.testing.assert_allclose(interval, expected, rtol=0, atol=1e-12)


def test_confusion_matrix_and_rates():
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
    # predicted: CN CN CN AD | AD AD AD AD CN CN -> specificity 3/4, sensitivity 4/6
    scores = np.array([0.1, 0.2, 0.3, 0.9, 0.8, 0.7, 0.6, 0.55, 0.4, 0.2])
    report = classification_report(probabilities_from(scores), labels, ["CN", "AD"], resamples=50)
    assert report["confusion_matrix"] == {"rows_true_columns_predicted": [[3, 1], [2, 4]], "class_names": ["CN", "AD"]}
    assert report["specificity"] == pytest.approx(0.75) and report["sensitivity"] == pytest.approx(4 / 6)
    assert report["accuracy"] == pytest.approx(0.7)
    assert report["balanced_accuracy"] == pytest.approx((0.75 + 4 / 6) / 2)
    assert report["positive_class"] == "AD" and report["n_per_class"] == {"CN": 4, "AD": 6}


def test_three_classes_give_macro_auc_without_binary_rates():
    labels = torch.tensor([0, 1, 2] * 10)
    probabilities = torch.nn.functional.one_hot(labels, 3).float() * 0.8 + 0.2 / 3
    report = classification_report(probabilities, labels, ["a", "b", "c"], resamples=20)
    assert report["auc"] == 1.0 and report["accuracy"] == 1.0
    assert "sensitivity" not in report and "roc" not in report


def test_a_class_without_images_leaves_balanced_accuracy_undefined():
    report = classification_report(probabilities_from(np.array([0.2, 0.7, 0.1])), torch.tensor([0, 0, 0]),
                                   ["CN", "AD"], resamples=10)
    assert np.isnan(report["balanced_accuracy"]) and np.isnan(report["sensitivity"])
    assert report["specificity"] == pytest.approx(2 / 3) and np.isnan(report["auc"])


@pytest.mark.parametrize(("held_out", "noted"), [("val", True), ("test", False)])
def test_validation_images_that_chose_the_epochs_are_flagged(held_out, noted):
    labels = torch.tensor([0, 1] * 5)
    images = torch.zeros(10, 1, 4, 4)
    sets = EvaluationSets(images, labels, images, labels, images, labels, ["CN", "AD"],
                          real_probabilities=probabilities_from(np.linspace(0, 1, 10)), held_out=held_out)
    result = compute_metrics(EvaluationContext(sets, MetricOptions(bootstrap_resamples=10)), ["classifier"])
    assert ("selection_note" in result["classifier"]) is noted
