"""The plain classifier: early stopping keeps the best validation epoch, training repeats with its seed, and the
augmentation changes only the chosen images."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pacgan_lite.config import ClassifierOptions
from pacgan_lite.sampling import set_auc
from pacgan_lite.utility.augmentation import augment_batch
from pacgan_lite.utility.classifier import predict, train_classifier
from pacgan_lite.utility.datasets import REAL, combine

TINY = ClassifierOptions(widths=(4, 4, 8, 8), blocks=(1, 1, 1, 1), batch_size=8, max_epochs=12, patience=3, augment=False)


def _disks(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``[n, 1, 16, 16]`` disks on a -1 background, class 1 larger, with noise; labels ``[n]``."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    grid = torch.linspace(-1, 1, 16)
    radius = torch.hypot(grid[:, None], grid[None, :])
    size = 0.35 + 0.15 * labels + 0.1 * torch.rand(n, generator=generator)
    images = (radius[None] < size[:, None, None]).float() * 2 - 1 + 0.3 * torch.randn(n, 16, 16, generator=generator)
    return images[:, None], labels


@pytest.fixture(scope="module")
def trained(single_thread):
    """A classifier whose validation labels are the training labels reversed: the better it learns, the worse
    its validation AUC, so early stopping has to stop it and go back."""
    images, labels = _disks(32, 0)
    val_images, val_labels = _disks(16, 1)
    result = train_classifier(combine((images, labels, REAL)), val_images, 1 - val_labels, TINY, seed=0, n_classes=2)
    return result, val_images, 1 - val_labels


def test_early_stopping_restores_the_best_validation_epoch(trained):
    result, val_images, val_labels = trained
    history = result.val_auc
    assert result.best_epoch == int(np.argmax(history)) + 1  # the first epoch of the best AUC
    assert result.epochs == result.best_epoch + TINY.patience < TINY.max_epochs  # stopped after `patience`
    restored = set_auc(predict(result.model, val_images, 64), val_labels)
    assert restored == pytest.approx(history[result.best_epoch - 1]) and restored > history[-1]


def test_training_repeats_with_its_seed_and_changes_with_another(trained, single_thread):
    result, val_images, val_labels = trained
    images, labels = _disks(32, 0)
    again = train_classifier(combine((images, labels, REAL)), val_images, val_labels, TINY, seed=0, n_classes=2)
    other = train_classifier(combine((images, labels, REAL)), val_images, val_labels, TINY, seed=1, n_classes=2)
    assert again.val_auc == result.val_auc
    assert torch.equal(predict(again.model, val_images, 64), predict(result.model, val_images, 64))
    assert not torch.equal(predict(other.model, val_images, 64), predict(result.model, val_images, 64))


def test_augmentation_changes_only_the_chosen_images_and_keeps_air_as_air():
    images = torch.full((4, 1, 16, 16), -1.0)
    images[:, :, 4:12, 4:12] = 0.5
    chosen = torch.tensor([True, False, True, False])
    options = ClassifierOptions(augment_brightness=1e-6, augment_contrast=1e-6)  # the affine alone
    out = augment_batch(images, chosen, options, torch.Generator().manual_seed(0))
    assert torch.equal(out[~chosen], images[~chosen])
    assert not torch.equal(out[chosen], images[chosen])
    assert torch.allclose(out[chosen][:, :, 0], torch.tensor(-1.0), atol=1e-4)  # the border is background
    repeat = augment_batch(images, chosen, options, torch.Generator().manual_seed(0))
    assert torch.equal(out, repeat)
