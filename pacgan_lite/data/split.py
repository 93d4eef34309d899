"""Subject-grouped, class-stratified train / validation / test split.

Every image of a subject lands in one set, so no subject is seen in training and judged in testing.
scikit-learn's ``StratifiedGroupKFold`` (shuffled with the given seed) takes one fold of the subjects as the
test set (``test_fraction``, default 20%: one fold of 1 / test_fraction), then one fold of the rest as the
validation set (``val_fraction`` of the rest, default 20%, i.e. 16% overall), keeping the class mix close in
each set.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from ..errors import DataError

SPLITS = ("train", "val", "test")


def _one_fold(labels: pd.DataFrame, fraction: float, seed: int, what: str) -> np.ndarray:
    """Boolean mask of one grouped, stratified fold holding about ``fraction`` of the images."""
    n_splits = round(1 / fraction)
    n_subjects = labels["Subject_ID"].nunique()
    smallest = labels.groupby("Label")["Subject_ID"].nunique().min()
    if n_splits < 2 or smallest < n_splits:
        raise DataError(None, "Subject_ID",
                        f"{what}: {n_subjects} subjects (smallest class {smallest}) cannot be split into "
                        f"{n_splits} grouped folds", f"use more subjects or a larger {what} fraction")
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    _, held_out = next(folds.split(labels, labels["Label"], groups=labels["Subject_ID"]))
    mask = np.zeros(len(labels), dtype=bool)
    mask[held_out] = True
    return mask


def assign_splits(labels: pd.DataFrame, test_fraction: float = 0.2, val_fraction: float = 0.2, seed: int = 0):
    """A ``Split`` value (``train``/``val``/``test``) for each row of ``labels``, as a Series.

    Each fraction is one of k grouped folds (1/k, checked with the other options by
    :func:`pacgan_lite.config.validate_config`); ``val_fraction`` is the share of the non-test images, 0 for
    no validation set.
    """
    labels = labels.reset_index(drop=True)
    split = pd.Series("train", index=labels.index, name="Split")
    is_test = _one_fold(labels, test_fraction, seed, "test split")
    split[is_test] = "test"
    if val_fraction > 0:
        rest = labels[~is_test]
        is_val = _one_fold(rest.reset_index(drop=True), val_fraction, seed + 1, "validation split")
        split[rest.index[is_val]] = "val"
    return split


def split_summary(labels: pd.DataFrame, split: pd.Series, class_names: list[str]) -> pd.DataFrame:
    """Images and subjects per set and class (rows: train, val, test)."""
    table = labels.assign(Split=split.to_numpy())
    rows = []
    for name in SPLITS:
        part = table[table["Split"] == name]
        if part.empty:
            continue
        row = {"split": name, "images": len(part), "subjects": part["Subject_ID"].nunique()}
        for k, class_name in enumerate(class_names):
            row[f"images_{class_name}"] = int((part["Label"] == k).sum())
        rows.append(row)
    return pd.DataFrame(rows).set_index("split")


def check_disjoint_subjects(labels: pd.DataFrame, split: pd.Series) -> None:
    """Raise if any subject has images in more than one set."""
    sets_per_subject = labels.assign(Split=split.to_numpy()).groupby("Subject_ID")["Split"].nunique()
    leaking = sets_per_subject.index[sets_per_subject > 1].tolist()
    if leaking:
        raise DataError(None, "Subject_ID", f"subjects {leaking[:5]} appear in more than one set",
                        "split by subject (this is a bug if it comes from the kit's own split)")
