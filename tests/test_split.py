"""Subject-grouped, stratified split: no subject in two sets, sizes near 64/16/20, both classes everywhere."""

from __future__ import annotations

import pytest
from conftest import fake_labels

from pacgan_lite.data import assign_splits, check_disjoint_subjects, split_summary
from pacgan_lite.errors import DataError


@pytest.mark.parametrize(
    ("n_subjects", "sessions", "test_fraction", "val_fraction", "seed"),
    [(50, 2, 0.2, 0.2, 0), (100, 3, 0.2, 0.2, 1), (40, 1, 0.25, 0.0, 2), (60, 2, 0.5, 0.5, 3)],
)
def test_split_is_grouped_and_stratified(n_subjects, sessions, test_fraction, val_fraction, seed):
    labels = fake_labels(n_subjects=n_subjects, sessions=sessions)
    split = assign_splits(labels, test_fraction, val_fraction, seed)
    # The property the split exists for: each subject's images are all in one set.
    sets_per_subject = labels.assign(Split=split).groupby("Subject_ID")["Split"].nunique()
    assert (sets_per_subject == 1).all()
    check_disjoint_subjects(labels, split)
    shares = split.value_counts(normalize=True)
    assert shares["test"] == pytest.approx(test_fraction, abs=0.06)
    if val_fraction:
        assert shares["val"] == pytest.approx((1 - test_fraction) * val_fraction, abs=0.06)
    else:
        assert "val" not in shares
    summary = split_summary(labels, split, ["CN", "AD"])
    assert (summary[["images_CN", "images_AD"]] > 0).all().all()


def test_split_is_deterministic_for_a_seed():
    labels = fake_labels(n_subjects=50)
    assert assign_splits(labels, seed=4).equals(assign_splits(labels, seed=4))
    assert not assign_splits(labels, seed=4).equals(assign_splits(labels, seed=5))


def test_check_disjoint_subjects_catches_a_leak():
    labels = fake_labels(n_subjects=4)
    split = assign_splits(fake_labels(n_subjects=20), 0.2, 0.0).iloc[: len(labels)].reset_index(drop=True)
    split[:] = "train"
    split.iloc[1] = "test"  # the second session of subject S000 leaks into test
    with pytest.raises(DataError, match=r"subjects \['S000'\] appear in more than one set"):
        check_disjoint_subjects(labels, split)


def test_too_few_subjects_is_a_clear_error():
    with pytest.raises(DataError, match="cannot be split into 5 grouped folds"):
        assign_splits(fake_labels(n_subjects=6), 0.2, 0.2)

