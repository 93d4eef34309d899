"""The utility study's training sets: class proportions, amounts, the 1 : 4 imbalance, oversampling, and that
test images never enter a training set."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pacgan_lite.config import UtilityOptions
from pacgan_lite.errors import InputError
from pacgan_lite.utility.datasets import (
    OVERSAMPLED,
    REAL,
    SYNTHETIC,
    Pool,
    imbalanced_indices,
    oversampling_indices,
)
from pacgan_lite.utility.settings import CRITIC_FINAL, study_settings, synthetic_needed, training_set

OPTIONS = UtilityOptions(synthetic_amounts=(1.0, 2.5), synthetic_ratios=(0.5,))


def _labelled_images(counts: list[int], first_value: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``[N, 1, 4, 4]`` each filled with its own value (first_value, first_value + 1, ...), labels by
    class: every image can be traced back to where it came from."""
    labels = torch.arange(len(counts)).repeat_interleave(torch.tensor(counts))
    values = first_value + torch.arange(len(labels), dtype=torch.float32)
    return values.view(-1, 1, 1, 1).expand(-1, 1, 4, 4).clone(), labels


REAL_COUNTS = [20, 12]  # CN, AD
REAL_IMAGES, REAL_LABELS = _labelled_images(REAL_COUNTS, 0.0)
POOL = Pool(*_labelled_images([60, 60], 1000.0))
TEST_IMAGES, _ = _labelled_images([5, 5], -1000.0)
SETTINGS = {setting.name: setting for setting in study_settings(OPTIONS)}


@pytest.mark.parametrize(
    ("name", "real", "synthetic", "oversampled"),
    [
        ("real", [20, 12], [0, 0], [0, 0]),
        ("synthetic x1", [0, 0], [20, 12], [0, 0]),
        ("synthetic x2.5", [0, 0], [50, 30], [0, 0]),
        ("real + synthetic x0.5", [20, 12], [10, 6], [0, 0]),
        ("imbalanced", [20, 5], [0, 0], [0, 0]),  # 20 CN, 12 AD -> 1 AD : 4 CN, as many as can be: 5 AD
        ("imbalanced + synthetic", [20, 5], [0, 15], [0, 0]),
        ("imbalanced + oversampling", [20, 5], [0, 0], [0, 15]),
    ],
)
def test_each_setting_builds_its_training_set(name, real, synthetic, oversampled):
    made = training_set(SETTINGS[name], REAL_IMAGES, REAL_LABELS, POOL, OPTIONS, seed=3)
    assert made.counts(2) == {REAL: real, SYNTHETIC: synthetic, OVERSAMPLED: oversampled}
    values = made.images[:, 0, 0, 0]
    assert (values[torch.from_numpy(made.origin == SYNTHETIC)] >= 1000).all()  # synthetic ones from the pool
    assert (values[torch.from_numpy(made.origin != SYNTHETIC)] < 1000).all()  # the rest real training images
    assert not set(values.tolist()) & set(TEST_IMAGES[:, 0, 0, 0].tolist())  # never a test image
    assert made.augment.tolist() == (made.origin == OVERSAMPLED).tolist()  # only the copies always augmented
    # every image keeps its own label
    assert torch.equal(made.labels[torch.from_numpy(made.origin == REAL)],
                       REAL_LABELS[values[torch.from_numpy(made.origin == REAL)].long()])


def test_the_critic_settings_train_no_classifier():
    with pytest.raises(ValueError, match="trains no classifier"):
        training_set(SETTINGS[CRITIC_FINAL], REAL_IMAGES, REAL_LABELS, POOL, OPTIONS, seed=0)


def test_larger_amounts_add_to_the_smaller_ones_of_a_seed():
    small = training_set(SETTINGS["synthetic x1"], REAL_IMAGES, REAL_LABELS, POOL, OPTIONS, seed=0)
    large = training_set(SETTINGS["synthetic x2.5"], REAL_IMAGES, REAL_LABELS, POOL, OPTIONS, seed=0)
    assert set(small.images[:, 0, 0, 0].tolist()) <= set(large.images[:, 0, 0, 0].tolist())


@pytest.mark.parametrize(
    ("n_minority", "n_majority", "ratio", "kept_minority", "kept_majority"),
    [(12, 20, 0.25, 5, 20), (50, 40, 0.25, 10, 40), (1, 4, 0.25, 1, 4), (30, 30, 0.5, 15, 30), (9, 30, 1 / 3, 9, 27)],
)
def test_the_imbalanced_subset_has_exactly_the_ratio(n_minority, n_majority, ratio, kept_minority, kept_majority):
    labels = torch.tensor([1] * n_minority + [0] * n_majority)
    kept = labels[imbalanced_indices(labels, 1, ratio, np.random.default_rng(0))]
    assert [(kept == 1).sum().item(), (kept == 0).sum().item()] == [kept_minority, kept_majority]


def test_the_imbalanced_subset_depends_on_the_seed_and_repeats_with_it():
    labels = torch.tensor([1] * 12 + [0] * 20)
    draw = [imbalanced_indices(labels, 1, 0.25, np.random.default_rng(seed)).tolist() for seed in (0, 0, 1)]
    assert draw[0] == draw[1] != draw[2]


def test_too_few_images_for_the_ratio_are_refused():
    with pytest.raises(InputError, match="cannot make 1/4"):
        imbalanced_indices(torch.tensor([1, 0, 0]), 1, 0.25, np.random.default_rng(0))


@pytest.mark.parametrize(("n_images", "target", "most", "least"), [(3, 12, 3, 3), (3, 11, 3, 2), (4, 5, 1, 0), (5, 5, 0, 0)])
def test_oversampling_repeats_every_image_as_evenly_as_possible(n_images, target, most, least):
    copies = np.bincount(oversampling_indices(n_images, target, np.random.default_rng(0)), minlength=n_images)
    assert copies.sum() == target - n_images and copies.max() == most and copies.min() == least


def test_the_pool_holds_what_the_settings_of_a_seed_need():
    # b: 2.5 x [20, 12] = [50, 30]; d: the AD images can at most lack all 20 CN
    assert synthetic_needed(list(SETTINGS.values()), REAL_LABELS, OPTIONS, 2) == [50, 30]
    for seed in range(5):
        for setting in SETTINGS.values():
            if setting.kind == "classifier":
                training_set(setting, REAL_IMAGES, REAL_LABELS, Pool(*_labelled_images([50, 30], 1000.0)), OPTIONS, seed)
