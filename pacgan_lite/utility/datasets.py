"""The images of the utility study: the real splits of a run's data, generated pools, and each setting's
training set.

Every image set is ``[N, C, s, s]`` float32 in [-1, 1] with labels ``[N]`` int64, at the classifier's
resolution. The real images come from the run's own prepared folders, split as the GAN saw them: the
``train`` rows of the training folder train the classifier, its ``val`` rows stop it early, and the test
folder scores it. Test images never enter a training set: a :class:`TrainingSet` is built from the real
``train`` rows and generated images only.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from ..config import IMBALANCE_DENOMINATOR
from ..data import SliceDataset
from ..data.embedded import hidden_severity
from ..errors import InputError
from ..inference import LoadedModel, balanced_labels, iter_samples

REAL, SYNTHETIC, OVERSAMPLED = "real", "synthetic", "oversampled"  # where a training image comes from


@dataclass
class RealData:
    """The real images of a run's data at one resolution.

    Attributes:
        train_images, train_labels: the ``train`` rows of the training folder (the GAN's training images).
        val_images, val_labels: its ``val`` rows (early stopping).
        test_images, test_labels: the test folder (every score).
        test_ids: ``[N_test]`` the test images' IDs in the test folder's labels.csv.
        severity: ``[N_test]`` the hidden disease severity of the test images (embedded cohort), else None.
        class_names: names indexed by label.
    """

    train_images: torch.Tensor
    train_labels: torch.Tensor
    val_images: torch.Tensor
    val_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    test_ids: np.ndarray
    severity: np.ndarray | None
    class_names: list[str]
    test_folder: Path


def load_real_data(train_folder: Path, test_folder: Path | None, size: int) -> RealData:
    """The three real splits at ``size`` px (see :class:`RealData`).

    Raises:
        InputError: no test folder, or a split without images of every class.
    """
    if test_folder is None:
        raise InputError(train_folder, "test_folder", "the run was trained without a test folder, and every "
                         "setting is scored on real test images", "train the run on prepared data (train/ and test/)")
    train = SliceDataset(train_folder, size, splits=("train",))
    val = SliceDataset(train_folder, size, splits=("val",))
    test = SliceDataset(test_folder, size, splits=("test",))
    for name, dataset in (("train", train), ("val", val), ("test", test)):
        missing = sorted(set(range(len(train.class_names))) - set(dataset.targets.tolist()))
        if missing:
            raise InputError(dataset.folder, "Split" if name != "test" else "Label", f"the {name} images hold no "
                             f"image of class {[train.class_names[k] for k in missing]}",
                             "prepare the data so that every split holds every class (pacgan-lite prepare)")
    ids = test.labels["ID"].to_numpy()
    return RealData(train.images, train.targets, val.images, val.targets, test.images, test.targets, ids,
                    hidden_severity(Path(test_folder), ids), train.class_names, Path(test_folder))


def class_counts(labels: torch.Tensor, n_classes: int) -> list[int]:
    """Images per class of ``labels [N]``."""
    return torch.bincount(labels, minlength=n_classes).tolist()


def scaled_counts(counts: list[int], factor: float) -> list[int]:
    """``round(factor * count)`` per class: the same class proportions, ``factor`` times as many images."""
    return [round(factor * count) for count in counts]


@dataclass
class Pool:
    """Generated images of every class, drawn once per seed; a setting takes the first ``k`` of a class, so
    the sets of one seed are nested (a larger amount adds images to a smaller one)."""

    images: torch.Tensor
    labels: torch.Tensor

    def take(self, counts: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """The first ``counts[k]`` images of each class k: ``(images [sum, C, s, s], labels [sum])``."""
        index = []
        for k, count in enumerate(counts):
            members = torch.nonzero(self.labels == k).flatten()
            if count > len(members):
                raise ValueError(f"the pool holds {len(members)} images of class {k}, {count} were asked for")
            index.append(members[:count])
        index = torch.cat(index)
        return self.images[index], self.labels[index]


def generate_pool(model: LoadedModel, counts: list[int], seed: int, batch_size: int) -> Pool:
    """``counts[k]`` generated images of each class k at the model's resolution, from latent vectors seeded
    by ``seed`` (:func:`pacgan_lite.inference.iter_samples`)."""
    labels = balanced_labels(counts, model.n_classes) if sum(counts) else torch.zeros(0, dtype=torch.long)
    if not len(labels):
        return Pool(torch.zeros(0), labels)
    return Pool(torch.cat(list(iter_samples(model, labels, seed, batch_size))), labels)


@dataclass
class TrainingSet:
    """One setting's training images for one seed.

    Attributes:
        images, labels: ``[N, C, s, s]`` and ``[N]``.
        origin: ``[N]`` where each image comes from: "real", "synthetic" or "oversampled" (a repeated real
            image).
        augment: ``[N]`` bool, images augmented at every epoch even when the classifier's augmentation is
            off (the copies of oversampling: without it they would be duplicates).
    """

    images: torch.Tensor
    labels: torch.Tensor
    origin: np.ndarray
    augment: torch.Tensor

    def counts(self, n_classes: int) -> dict[str, list[int]]:
        """Images per class and origin: ``{"real": [...], "synthetic": [...], "oversampled": [...]}``."""
        labels = self.labels.numpy()
        return {origin: [int(((self.origin == origin) & (labels == k)).sum()) for k in range(n_classes)]
                for origin in (REAL, SYNTHETIC, OVERSAMPLED)}


def combine(*parts: tuple[torch.Tensor, torch.Tensor, str]) -> TrainingSet:
    """A training set of ``(images, labels, origin)`` parts; oversampled copies are marked for augmentation."""
    parts = [part for part in parts if len(part[1])]
    origin = np.concatenate([np.full(len(labels), name) for _, labels, name in parts])
    return TrainingSet(torch.cat([images for images, _, _ in parts]), torch.cat([labels for _, labels, _ in parts]),
                       origin, torch.from_numpy(origin == OVERSAMPLED))


def imbalanced_indices(labels: torch.Tensor, minority: int, ratio: float, rng: np.random.Generator) -> np.ndarray:
    """Indices into ``labels [N]`` (two classes) of a subset with exactly ``ratio`` minority images per
    majority image (``ratio`` as a fraction p/q with q at most ``IMBALANCE_DENOMINATOR``: 0.25 is 1/4).

    As many images as possible are kept: k = the largest count with p·k minority and q·k majority images
    available; the images dropped from either class are chosen at random.

    Raises:
        InputError: too few images for even one group of p minority and q majority images.
    """
    fraction = Fraction(ratio).limit_denominator(IMBALANCE_DENOMINATOR)
    labels_np = labels.numpy()
    minority_index = np.flatnonzero(labels_np == minority)
    majority_index = np.flatnonzero(labels_np != minority)
    groups = min(len(minority_index) // fraction.numerator, len(majority_index) // fraction.denominator)
    if groups == 0:
        raise InputError("utility.imbalance_ratio", "imbalance_ratio", f"{len(minority_index)} minority and "
                         f"{len(majority_index)} majority training images cannot make {fraction}",
                         "use more training images or a ratio nearer 1")
    keep_minority = rng.choice(minority_index, fraction.numerator * groups, replace=False)
    keep_majority = rng.choice(majority_index, fraction.denominator * groups, replace=False)
    return np.sort(np.concatenate([keep_minority, keep_majority]))


def oversampling_indices(n_images: int, target: int, rng: np.random.Generator) -> np.ndarray:
    """``target - n_images`` indices into ``n_images`` images, each image repeated as evenly as possible
    (whole random permutations, then part of one): the copies that bring a class from ``n_images`` to
    ``target``."""
    extra = target - n_images
    rounds = [rng.permutation(n_images) for _ in range(-(-extra // n_images))]
    return np.concatenate(rounds)[:extra] if rounds else np.zeros(0, dtype=np.int64)
