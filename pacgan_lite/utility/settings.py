"""The settings of the utility study, (a) to (e), and the training set each builds for one seed.

=====  ===============================  ==========================================================================
group  setting                          training images
=====  ===============================  ==========================================================================
a      ``real``                         the real training images
b      ``synthetic x<m>``               synthetic only: m times as many as the real training images, in their
                                        class proportions (train on synthetic, test on real)
c      ``real + synthetic x<r>``        the real training images plus r synthetic images per real one, same
                                        class proportions
d      ``imbalanced``                   the real training images subsampled to ``imbalance_ratio`` minority
                                        images per majority image (1 AD : 4 CN)
d      ``imbalanced + synthetic``       the same, the minority class filled up to the majority's count with
                                        synthetic images
d      ``imbalanced + oversampling``    the same, the minority class filled up by repeating its real images,
                                        each copy augmented (the classical remedy: the honest baseline of d)
e      ``critic (final run)``           none: the critic of the final-protocol run (retrained on train +
                                        validation for the selected epochs), the paper's classifier
e      ``critic (validation run)``      none: the critic of the run itself, trained on the training images only
=====  ===============================  ==========================================================================

Settings a to d train the plain classifier once per seed; the seed also draws the generated images and the
imbalanced subset, so the spread over seeds includes theirs. Settings e are one network each.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..config import UtilityOptions
from .datasets import (
    OVERSAMPLED,
    REAL,
    SYNTHETIC,
    Pool,
    TrainingSet,
    class_counts,
    combine,
    imbalanced_indices,
    oversampling_indices,
    scaled_counts,
)

REFERENCE = "real"  # the setting every other is compared with
CRITIC_FINAL, CRITIC_VALIDATION = "critic (final run)", "critic (validation run)"
SYNTHETIC_REMEDY, OVERSAMPLING_REMEDY = "imbalanced + synthetic", "imbalanced + oversampling"  # of (d)
GROUPS = {"a": "real training images", "b": "synthetic only", "c": "real + synthetic",
          "d": "imbalanced (1 : 4)", "e": "the critic as the classifier"}


@dataclass(frozen=True)
class Setting:
    """One row of the module's table: ``name`` (unique), ``group`` ("a" to "e"), ``kind`` ("classifier" or
    "critic") and ``amount`` (m of b, r of c; 0 otherwise)."""

    name: str
    group: str
    kind: str
    amount: float = 0.0


def _times(value: float) -> str:
    return f"x{value:g}"


def study_settings(options: UtilityOptions) -> list[Setting]:
    """Every setting the options ask for, in the order of the module's table."""
    settings = [Setting(REFERENCE, "a", "classifier")]
    settings += [Setting(f"synthetic {_times(m)}", "b", "classifier", m) for m in options.synthetic_amounts]
    settings += [Setting(f"real + synthetic {_times(r)}", "c", "classifier", r) for r in options.synthetic_ratios]
    settings += [Setting(name, "d", "classifier") for name in
                 ("imbalanced", SYNTHETIC_REMEDY, OVERSAMPLING_REMEDY)]
    if options.critic:
        settings += [Setting(CRITIC_FINAL, "e", "critic"), Setting(CRITIC_VALIDATION, "e", "critic")]
    return settings


def imbalanced_subset(labels: torch.Tensor, options: UtilityOptions, seed: int) -> np.ndarray:
    """The indices of seed ``seed``'s imbalanced subset of the real training labels (groups d)."""
    return imbalanced_indices(labels, options.minority_class, options.imbalance_ratio,
                              np.random.default_rng([seed, *b"imbalance"]))


def synthetic_needed(settings: list[Setting], real_labels: torch.Tensor, options: UtilityOptions,
                     n_classes: int) -> list[int]:
    """Generated images per class that one seed's settings need at most (the size of its pool)."""
    real = class_counts(real_labels, n_classes)
    needed = [0] * n_classes
    for setting in settings:
        if setting.group in ("b", "c"):
            needed = [max(a, b) for a, b in zip(needed, scaled_counts(real, setting.amount), strict=True)]
    if any(setting.name == SYNTHETIC_REMEDY for setting in settings):
        # the most any seed's subset can lack: every majority image kept, minority images at their ratio
        majority = sum(count for k, count in enumerate(real) if k != options.minority_class)
        needed[options.minority_class] = max(needed[options.minority_class], majority)
    return needed


def training_set(setting: Setting, images: torch.Tensor, labels: torch.Tensor, pool: Pool,
                 options: UtilityOptions, seed: int) -> TrainingSet:
    """The training set of ``setting`` for ``seed``, from the real training ``images [N, C, s, s]``, ``labels
    [N]`` and the seed's generated ``pool``."""
    n_classes = int(labels.max()) + 1
    real_counts = class_counts(labels, n_classes)
    if setting.group == "a":
        return combine((images, labels, REAL))
    if setting.group == "b":
        return combine((*pool.take(scaled_counts(real_counts, setting.amount)), SYNTHETIC))
    if setting.group == "c":
        return combine((images, labels, REAL), (*pool.take(scaled_counts(real_counts, setting.amount)), SYNTHETIC))
    if setting.group != "d":
        raise ValueError(f"setting {setting.name!r} trains no classifier")
    keep = torch.from_numpy(imbalanced_subset(labels, options, seed))
    kept_images, kept_labels = images[keep], labels[keep]
    if setting.name == "imbalanced":
        return combine((kept_images, kept_labels, REAL))
    minority = options.minority_class
    counts = class_counts(kept_labels, n_classes)
    lacking = max(counts) - counts[minority]
    if setting.name == SYNTHETIC_REMEDY:
        wanted = [lacking if k == minority else 0 for k in range(n_classes)]
        return combine((kept_images, kept_labels, REAL), (*pool.take(wanted), SYNTHETIC))
    members = torch.nonzero(kept_labels == minority).flatten()
    copies = members[torch.from_numpy(oversampling_indices(len(members), max(counts),
                                                           np.random.default_rng([seed, *b"oversample"])))]
    return combine((kept_images, kept_labels, REAL), (kept_images[copies], kept_labels[copies], OVERSAMPLED))
