"""Age/sex matching: a planted confound is removed, whole subjects are kept or dropped, balance is reported."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pacgan_lite.data import balance_tests, match_age_sex, subject_table
from pacgan_lite.errors import DataError


def confounded_labels(n_per_class: int = 60, seed: int = 0) -> pd.DataFrame:
    """Class 1 is younger and more often male than class 0 (the ADNI-like confound), 1-3 sessions each."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(2 * n_per_class):
        label = s % 2
        age = rng.normal(78, 4) if label == 0 else rng.normal(72, 7)
        sex = "F" if rng.random() < (0.6 if label == 0 else 0.35) else "M"
        for session in range(int(rng.integers(1, 4))):
            rows.append({"Label": label, "Subject_ID": f"S{s:03d}", "Age": age + session, "Sex": sex})
    labels = pd.DataFrame(rows)
    labels.insert(0, "ID", np.arange(len(labels)))
    return labels


def test_matching_removes_a_planted_age_and_sex_confound():
    labels = confounded_labels()
    result = match_age_sex(labels, caliper_years=2.0)
    before = result.balance.set_index("stage").loc["before"]
    after = result.balance.set_index("stage").loc["after"]
    assert before["t_test_p"] < 0.001 and before["mann_whitney_p"] < 0.001
    assert after["t_test_p"] > 0.05 and after["mann_whitney_p"] > 0.05 and after["chi2_sex_p"] > 0.05
    assert after["n_a"] == after["n_b"] >= 15  # 1:1 pairs
    assert (result.pairs["Age_difference"] <= 2.0).all()


def test_matching_keeps_or_drops_whole_subjects():
    labels = confounded_labels()
    result = match_age_sex(labels)
    kept = set(result.labels["Subject_ID"])
    for subject, images in labels.groupby("Subject_ID"):
        kept_images = result.labels[result.labels["Subject_ID"] == subject]
        assert len(kept_images) == (len(images) if subject in kept else 0)
    assert set(result.removed_subjects) == set(labels["Subject_ID"]) - kept
    assert result.labels["ID"].isin(labels["ID"]).all()  # IDs unchanged


def test_matching_is_deterministic():
    labels = confounded_labels()
    first, second = match_age_sex(labels), match_age_sex(labels.sample(frac=1, random_state=3))
    assert sorted(first.labels["ID"]) == sorted(second.labels["ID"])


def test_matching_pairs_within_sex():
    result = match_age_sex(confounded_labels())
    sex = result.subjects_after.set_index("Subject_ID")["Sex"]
    assert (sex[result.pairs["Subject_ID_a"]].to_numpy() == sex[result.pairs["Subject_ID_b"]].to_numpy()).all()


def test_subject_table_uses_the_first_session():
    labels = confounded_labels(n_per_class=3)
    table = subject_table(labels)
    assert len(table) == 6
    assert (table.set_index("Subject_ID")["Age"] == labels.groupby("Subject_ID")["Age"].min()).all()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda df: df.drop(columns="Age"), "Age: column needed for age/sex matching is missing"),
        (lambda df: df.assign(Sex=None), "Sex: missing for subjects"),
        (lambda df: df.assign(Label=np.arange(len(df)) % 2), "have more than one Label"),
    ],
)
def test_matching_bad_input(edit, message):
    with pytest.raises(DataError, match=message.replace("(", r"\(")):
        match_age_sex(edit(confounded_labels(n_per_class=5)))


def test_no_pair_within_caliper_is_an_error():
    labels = pd.DataFrame({"ID": [0, 1], "Label": [0, 1], "Subject_ID": ["a", "b"], "Age": [60.0, 90.0],
                           "Sex": ["F", "F"]})
    with pytest.raises(DataError, match="widen the caliper"):
        match_age_sex(labels, caliper_years=2.0)


def test_balance_tests_on_identical_groups():
    subjects = pd.DataFrame({"Label": [0, 1] * 20, "Age": np.repeat(np.arange(20.0), 2), "Sex": ["F", "F", "M", "M"] * 10})
    report = balance_tests(subjects, 0, 1)
    assert report["t_test_p"] == pytest.approx(1.0) and report["chi2_sex_p"] == pytest.approx(1.0)
