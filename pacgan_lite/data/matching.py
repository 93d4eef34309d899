"""Age and sex matching of two classes, at the level of subjects.

Method (documented so a reader can reproduce it): each subject is described by its age at its first
session and its sex. Within each sex, subjects of the two classes are paired 1:1 by *optimal* matching on
age (the Hungarian algorithm, scipy's ``linear_sum_assignment``, minimises the total age difference), and
pairs further apart than a caliper (default 2 years) are dropped. Unpaired subjects are removed with all
their sessions. Matching within sex makes the sex distribution identical, and the caliper bounds the age
difference of every pair. The result is deterministic (no random draws), unlike the reference's random
pruning of images, and it never separates the sessions of one subject.

Balance is reported before and after with the usual tests: Welch's t-test and the Mann-Whitney U test for
age, and the chi-square test of independence for sex (scipy).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from scipy.optimize import linear_sum_assignment

from ..errors import DataError


@dataclass
class MatchResult:
    """Outcome of :func:`match_age_sex`."""

    labels: pd.DataFrame  # the kept images (rows of the input labels, IDs unchanged)
    subjects_before: pd.DataFrame  # one row per subject: Subject_ID, Label, Age, Sex
    subjects_after: pd.DataFrame
    pairs: pd.DataFrame  # Subject_ID_a, Subject_ID_b, Sex, age difference
    balance: pd.DataFrame  # one row per (stage, test) with statistic and p-value

    @property
    def removed_subjects(self) -> list[str]:
        kept = set(self.subjects_after["Subject_ID"])
        return sorted(s for s in self.subjects_before["Subject_ID"] if s not in kept)


def subject_table(labels: pd.DataFrame) -> pd.DataFrame:
    """One row per subject: its label, age at the first session and sex.

    Raises DataError when a subject carries more than one label or sex, or age/sex are missing.
    """
    for column in ("Age", "Sex"):
        if column not in labels.columns:
            raise DataError(None, column, "column needed for age/sex matching is missing",
                            f"add {column} to labels.csv, or turn matching off (matching.enabled: false)")
        if labels[column].isna().any():
            bad = labels.loc[labels[column].isna(), "Subject_ID"].unique().tolist()[:5]
            raise DataError(None, column, f"missing for subjects {bad}", "fill it in, or drop those subjects")
    grouped = labels.groupby("Subject_ID", sort=True)
    for column in ("Label", "Sex"):
        varying = grouped[column].nunique()
        if (varying > 1).any():
            bad = varying.index[varying > 1].tolist()[:5]
            raise DataError(None, column, f"subjects {bad} have more than one {column}",
                            "each subject must keep one class and one sex across sessions")
    order = labels.sort_values(["Subject_ID", "Age"], kind="stable")
    first = order.groupby("Subject_ID", sort=True).first()
    return first[["Label", "Age", "Sex"]].reset_index()


def balance_tests(subjects: pd.DataFrame, label_a: int, label_b: int) -> dict[str, float]:
    """Welch t-test and Mann-Whitney U on age, chi-square on sex, between two labels (subject level)."""
    age_a = subjects.loc[subjects["Label"] == label_a, "Age"].to_numpy(float)
    age_b = subjects.loc[subjects["Label"] == label_b, "Age"].to_numpy(float)
    pair = subjects[subjects["Label"].isin([label_a, label_b])]
    table = pd.crosstab(pair["Label"], pair["Sex"])
    chi2 = stats.chi2_contingency(table.to_numpy()) if table.shape == (2, 2) else None
    return {
        "n_a": len(age_a),
        "n_b": len(age_b),
        "age_mean_a": float(age_a.mean()),
        "age_mean_b": float(age_b.mean()),
        "t_test_p": float(stats.ttest_ind(age_a, age_b, equal_var=False).pvalue),
        "mann_whitney_p": float(stats.mannwhitneyu(age_a, age_b).pvalue),
        "chi2_sex_p": float(chi2.pvalue) if chi2 is not None else 1.0,
    }


def _pair_within_sex(subjects: pd.DataFrame, label_a: int, label_b: int, caliper_years: float) -> pd.DataFrame:
    rows = []
    for sex, group in subjects.groupby("Sex", sort=True):
        a = group[group["Label"] == label_a]
        b = group[group["Label"] == label_b]
        if a.empty or b.empty:
            continue
        cost = np.abs(a["Age"].to_numpy(float)[:, None] - b["Age"].to_numpy(float)[None, :])
        # Pairs beyond the caliper must never be preferred over leaving a subject unmatched.
        blocked = cost > caliper_years
        cost_for_solver = np.where(blocked, caliper_years * 1e3 + cost, cost)
        rows_a, rows_b = linear_sum_assignment(cost_for_solver)
        for i, j in zip(rows_a, rows_b, strict=True):
            if not blocked[i, j]:
                rows.append((a["Subject_ID"].iat[i], b["Subject_ID"].iat[j], sex, float(cost[i, j])))
    return pd.DataFrame(rows, columns=["Subject_ID_a", "Subject_ID_b", "Sex", "Age_difference"])


def match_age_sex(
    labels: pd.DataFrame, label_a: int = 0, label_b: int = 1, caliper_years: float = 2.0
) -> MatchResult:
    """Keep the subjects of ``label_a`` and ``label_b`` that pair 1:1 on age within sex (see module doc).

    Subjects of other classes are kept unchanged. ``labels`` needs Subject_ID, Label, Age, Sex.
    """
    if caliper_years <= 0:
        raise ValueError(f"caliper_years must be positive, got {caliper_years}")
    before = subject_table(labels)
    pairs = _pair_within_sex(before, label_a, label_b, caliper_years)
    paired = set(pairs["Subject_ID_a"]) | set(pairs["Subject_ID_b"])
    keep = before["Subject_ID"].isin(paired) | ~before["Label"].isin([label_a, label_b])
    after = before[keep].reset_index(drop=True)
    if after["Label"].isin([label_a]).sum() == 0:
        raise DataError(None, "Age", f"no pair of subjects is within {caliper_years} years of age",
                        "widen the caliper (matching.caliper_years) or turn matching off")
    kept_labels = labels[labels["Subject_ID"].isin(after["Subject_ID"])].reset_index(drop=True)
    balance = pd.DataFrame([
        {"stage": stage, **balance_tests(table, label_a, label_b)}
        for stage, table in (("before", before), ("after", after))
    ])
    return MatchResult(kept_labels, before, after, pairs, balance)
