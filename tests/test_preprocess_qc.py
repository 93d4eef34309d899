"""QC flags: a low similarity or an implausible scale marks a registration as suspicious."""

from __future__ import annotations

import numpy as np
import pytest

from pacgan_lite.cohort.heads3d import pose_matrix
from pacgan_lite.preprocess import Registration, decompose, qc_flags, qc_record


def _registration(similarity=0.88, scale=(1.0, 1.0, 1.0)):
    matrix = pose_matrix((3.0, -2.0, 1.0), (4.0, 5.0, -6.0), scale)
    return Registration(matrix, *decompose(matrix), similarity=similarity, iterations=30, seconds=2.0)


@pytest.mark.parametrize(
    ("similarity", "scale", "flags"),
    [
        (0.88, (1.0, 1.0, 1.0), []),
        (0.55, (1.0, 1.0, 1.0), ["similarity 0.55 < 0.7"]),
        (float("nan"), (1.0, 1.0, 1.0), ["similarity nan < 0.7"]),
        (0.88, (1.0, 1.4, 0.7), ["scale_y 1.40 outside 0.8..1.25", "scale_z 0.70 outside 0.8..1.25"]),
    ],
)
def test_qc_flags(similarity, scale, flags):
    assert qc_flags(_registration(similarity, scale)) == flags


def test_qc_record_holds_the_pose_in_the_cohort_convention():
    record = qc_record("a.nii.gz", _registration(scale=(1.05, 0.97, 1.0)))
    np.testing.assert_allclose([record[f"rot_{a}_deg"] for a in "xyz"], [3.0, -2.0, 1.0], atol=1e-3)
    np.testing.assert_allclose([record[f"trans_{a}_mm"] for a in "xyz"], [4.0, 5.0, -6.0], atol=1e-3)
    np.testing.assert_allclose([record[f"scale_{a}"] for a in "xyz"], [1.05, 0.97, 1.0], atol=1e-5)
    assert record["flags"] == ""
