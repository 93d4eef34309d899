"""Tests of the synthetic AD/CN cohort generator and the 3D raw-head mode (fast: small images)."""

import dataclasses
import importlib.util
import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from scipy import ndimage as ndi

from pacgan_lite.biomarkers import ventricle_area
from pacgan_lite.cohort import Cohort, CohortParams, make_cohort, make_raw_heads, separability
from pacgan_lite.cohort.render import render_subject
from pacgan_lite.cohort.subjects import plan_cohort, with_severity
from pacgan_lite.cohort.template import load_template, template_dir

LABEL_COLUMNS = ["ID", "Label", "Subject_ID", "Age", "Sex", "Session"]


@pytest.fixture(scope="module")
def small_cohorts() -> dict[int, Cohort]:
    """Cohorts of 6 subjects at 32 and 64 px, rendered in this process."""
    return {
        size: make_cohort(CohortParams(n_subjects=6, size=size, seed=3), workers=1, progress=False)
        for size in (32, 64)
    }


@pytest.mark.parametrize("size", [32, 64])
def test_images_shape_dtype_and_range(small_cohorts, size):
    cohort = small_cohorts[size]
    n_images = len(cohort.labels)
    assert cohort.images.shape == (n_images, size, size)
    assert cohort.images.dtype == np.float32
    assert np.isfinite(cohort.images).all()
    assert cohort.images.min() >= -1.0 and cohort.images.max() <= 1.0
    assert np.allclose(cohort.images.min(axis=(1, 2)), -1.0, atol=0.1)  # background


@pytest.mark.parametrize(("size", "skull"), [(4, True), (8, False)])
def test_tiny_sizes(size, skull):
    params = CohortParams(n_subjects=2, size=size, seed=1, max_sessions=1, skull=skull)
    images = make_cohort(params, workers=1, progress=False).images
    assert images.shape == (2, size, size) and images.dtype == np.float32
    assert np.isfinite(images).all() and images.min() >= -1.0 and images.max() <= 1.0


@pytest.mark.parametrize("size", [32, 64])
def test_tables(small_cohorts, size):
    cohort = small_cohorts[size]
    labels, truth = cohort.labels, cohort.truth
    assert list(labels.columns) == LABEL_COLUMNS
    assert labels["ID"].tolist() == list(range(len(labels)))
    assert truth["ID"].tolist() == labels["ID"].tolist()
    assert "Severity" in truth.columns and "Severity" not in labels.columns
    assert set(labels.columns) & {"a_vent_mm", "a_cort_mm", "Group", "Preclinical"} == set()
    assert cohort.class_names == ["CN", "AD"]
    assert labels["Subject_ID"].nunique() == 6
    assert labels.groupby("Subject_ID")["Label"].nunique().eq(1).all()
    assert (labels.drop_duplicates("Subject_ID")["Label"].value_counts().sort_index() == [3, 3]).all()
    assert set(labels["Sex"]) <= {"F", "M"}
    for _, rows in labels.groupby("Subject_ID"):
        sessions = rows["Session"].tolist()
        assert sessions == list(range(1, len(sessions) + 1)) and len(sessions) <= 3
        assert np.allclose(np.diff(rows["Age"]), 1.0, atol=0.11)
    assert (truth.loc[truth["Label"] == 0, "Group"].isin(["healthy", "preclinical"])).all()


def test_same_seed_gives_the_same_cohort_with_any_number_of_workers(small_cohorts):
    reference = small_cohorts[32]
    again = make_cohort(CohortParams(n_subjects=6, size=32, seed=3), workers=2, progress=False)
    pd.testing.assert_frame_equal(again.labels, reference.labels)
    pd.testing.assert_frame_equal(again.truth, reference.truth)
    np.testing.assert_allclose(again.images, reference.images, atol=1e-6)


def test_different_seed_gives_a_different_cohort(small_cohorts):
    other = make_cohort(CohortParams(n_subjects=6, size=32, seed=4), workers=1, progress=False)
    reference = small_cohorts[32]
    assert not other.labels.equals(reference.labels) or not np.allclose(
        other.images, reference.images[: len(other.images)]
    )


def test_separability_keys(small_cohorts):
    cohort = small_cohorts[64]
    result = separability(cohort)
    assert result["n_images"] == len(cohort.labels)
    assert 0.0 <= result["oracle_auc"] <= 1.0 and 0.0 <= result["ventricle_auc"] <= 1.0


def test_higher_severity_gives_larger_ventricles():
    params = CohortParams(n_subjects=4, size=64, seed=5, effect=2.0)
    for plan in plan_cohort(params)[:3]:
        first_session = dataclasses.replace(plan, sessions=plan.sessions[:1])
        healthy = render_subject(with_severity(first_session, 0.0, params.effect), params)
        diseased = render_subject(with_severity(first_session, 1.5, params.effect), params)
        assert ventricle_area(diseased)[0] > 1.3 * ventricle_area(healthy)[0]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"size": 100}, "size"),
        ({"size": 512}, "size"),
        ({"size": 2}, "size"),
        ({"n_subjects": 1}, "n_subjects"),
        ({"n_subjects": 10.5}, "n_subjects"),
        ({"effect": -0.5}, "effect"),
        ({"effect": float("nan")}, "effect"),
        ({"seed": -1}, "seed"),
        ({"slice_z_mm": 90.0}, "slice_z_mm"),
        ({"max_sessions": 0}, "max_sessions"),
        ({"skull": "yes"}, "skull"),
    ],
)
def test_params_validation(kwargs, field):
    with pytest.raises(ValueError, match=field):
        CohortParams(**kwargs)


def test_missing_nilearn_is_explained(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install nilearn"):
        template_dir()


def test_raw_heads_match_their_poses(tmp_path):
    poses = make_raw_heads(2, tmp_path, seed=1, deform_mm=0.0, progress=False)
    assert (tmp_path / "poses.csv").is_file()
    assert pd.read_csv(tmp_path / "poses.csv")["file"].tolist() == poses["file"].tolist()
    template = load_template()
    rng = np.random.default_rng(0)
    inside = np.argwhere(template.t1 > 0.05)
    voxels = inside[rng.choice(len(inside), 2000, replace=False)]
    landmarks_mni = voxels @ template.affine[:3, :3].T + template.affine[:3, 3]
    for row, expected_zooms in zip(poses.itertuples(), [(1.0, 1.0, 1.0), (1.0, 1.0, 1.3)], strict=True):
        image = nib.load(tmp_path / row.file)
        assert image.get_data_dtype() == np.uint8
        assert np.allclose(image.header.get_zooms(), expected_zooms)
        assert "".join(nib.aff2axcodes(image.affine)) == row.orientation
        mni_to_head = np.array(json.loads(row.mni_to_head))
        assert np.allclose(np.array(json.loads(row.head_to_mni)) @ mni_to_head, np.eye(4))
        to_voxel = np.linalg.inv(image.affine) @ mni_to_head
        head_voxels = landmarks_mni @ to_voxel[:3, :3].T + to_voxel[:3, 3]
        intensity = ndi.map_coordinates(np.asarray(image.dataobj, np.float32), head_voxels.T, order=1)
        assert np.corrcoef(intensity, template.t1[tuple(voxels.T)])[0, 1] > 0.9
    assert poses.loc[1, "orientation"] == "LPS"
    assert poses[["rot_x_deg", "rot_y_deg", "rot_z_deg"]].abs().max().max() <= 12.0
