"""The utility study's statistics: the resampled AUC, intervals, and the paired reading against the reference."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from pacgan_lite.metrics.classifier import resampled_aucs, stratified_resamples
from pacgan_lite.utility.report import (
    CANNOT_TELL,
    HELPS,
    HURTS,
    Bootstrap,
    ceiling,
    paired_comparison,
    prediction_table,
    reading,
    scores_of,
)

LABELS = np.array([0] * 40 + [1] * 40)


def _scores(separation: float, seeds: int, seed: int = 0) -> np.ndarray:
    """``[seeds, 80]`` positive-class scores: noise plus ``separation`` for the positive images."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(seeds, len(LABELS))) + separation * LABELS


@pytest.mark.parametrize(("low", "high", "expected"),
                         [(0.01, 0.2, HELPS), (-0.2, -0.01, HURTS), (-0.1, 0.1, CANNOT_TELL), (0.0, 0.1, CANNOT_TELL)])
def test_reading_of_an_interval(low, high, expected):
    assert reading(low, high) == expected


def test_resampled_aucs_are_sklearns_on_each_resample_ties_included():
    scores = np.round(_scores(1.0, 3), 1)  # rounding makes ties
    index = stratified_resamples(LABELS, 20, np.random.default_rng(0))
    expected = [[roc_auc_score(LABELS[row], seed_scores[row]) for seed_scores in scores] for row in index]
    np.testing.assert_allclose(resampled_aucs(scores, LABELS, index), expected)


def test_stratified_resamples_keep_the_class_counts():
    index = stratified_resamples(LABELS, 50, np.random.default_rng(1))
    assert (LABELS[index].sum(axis=1) == 40).all() and index.shape == (50, 80)


@pytest.mark.parametrize(
    ("separation", "reference_separation", "expected"),
    [(3.0, 0.0, HELPS), (0.0, 3.0, HURTS), (1.0, 1.0, CANNOT_TELL)],
    ids=["better", "worse", "same"],
)
def test_paired_comparison_reads_helps_hurts_or_cannot_tell(separation, reference_separation, expected):
    bootstrap = Bootstrap(LABELS, 3, 300, np.random.default_rng(0))
    result = paired_comparison("x", _scores(separation, 3, seed=1), _scores(reference_separation, 3, seed=2), bootstrap)
    assert result["reading"] == expected
    assert result["difference_low"] <= result["difference"] <= result["difference_high"]
    assert len(result["per_seed_differences"].split()) == 3


def test_pairing_removes_the_test_sets_own_noise():
    """The same network's scores plus a tiny change: paired, the interval of the difference is tiny even though
    each AUC's own interval is wide."""
    bootstrap = Bootstrap(LABELS, 3, 300, np.random.default_rng(0))
    reference = _scores(0.8, 3)
    result = paired_comparison("x", reference + 0.01 * LABELS, reference, bootstrap)
    single_low, single_high = np.percentile(bootstrap.mean_aucs(reference), [2.5, 97.5])
    assert result["difference_high"] - result["difference_low"] < 0.1 * (single_high - single_low)


def test_a_single_network_is_compared_with_every_reference_seed():
    bootstrap = Bootstrap(LABELS, 3, 100, np.random.default_rng(0))
    result = paired_comparison("critic", _scores(2.0, 1), _scores(0.5, 3), bootstrap)
    assert len(result["per_seed_differences"].split()) == 3 and result["seeds_better"] == "3/3"


def test_the_interval_of_a_mean_auc_holds_it_and_narrows_with_more_test_images():
    widths = []
    for n in (20, 320):
        labels = np.repeat([0, 1], n)
        scores = np.random.default_rng(n).normal(size=(3, 2 * n)) + labels
        values = Bootstrap(labels, 3, 400, np.random.default_rng(0)).mean_aucs(scores)
        low, high = np.percentile(values, [2.5, 97.5])
        mean_auc = np.mean([roc_auc_score(labels, row) for row in scores])
        assert low < mean_auc < high
        widths.append(high - low)
    assert widths[1] < widths[0] / 2


def test_ceiling_is_the_severity_auc():
    severity = LABELS + np.random.default_rng(0).normal(size=80)
    top = ceiling(severity, Bootstrap(LABELS, 3, 100, np.random.default_rng(0)))
    assert top["auc"] == pytest.approx(roc_auc_score(LABELS, severity)) and top["auc_low"] < top["auc"] < top["auc_high"]
    assert ceiling(None, Bootstrap(LABELS, 3, 10, np.random.default_rng(0))) is None


def test_the_prediction_table_gives_the_scores_back():
    scores = {"real": list(_scores(1, 2)), "critic (final run)": [_scores(1, 1)[0]]}
    table = prediction_table(np.arange(80), LABELS, scores, (4, 7), severity=np.zeros(80))
    assert "real | seed 7" in table and "critic (final run)" in table and "hidden severity" in table
    back = scores_of(table)
    assert list(back) == list(scores)
    for name, values in scores.items():
        np.testing.assert_allclose(back[name], np.stack(values))
