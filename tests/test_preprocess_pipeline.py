"""End to end: posed synthetic heads (one LPS with 1.3 mm slices) and nilearn's template under a random
affine go through ``preprocess``; the fitted poses, the slices and the written layout are checked.

One preprocessing run is shared by the module (registration is the expensive part).
"""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from scipy.spatial.transform import Rotation

from pacgan_lite.cohort import make_raw_heads
from pacgan_lite.cohort.anatomy import template_anatomy
from pacgan_lite.cohort.grid import Grid
from pacgan_lite.cohort.heads3d import STREAM_RAW_HEADS, pose_matrix, render_head_volume
from pacgan_lite.cohort.render import plane_points
from pacgan_lite.cohort.subjects import keyed_rng
from pacgan_lite.cohort.template import template_path
from pacgan_lite.data import check_dataset, load_level
from pacgan_lite.preprocess import CONFORMED_AFFINE, preprocess, slice_z_mm
from pacgan_lite.preprocess.qc import template_slice

SEED = 3
TEMPLATE_POSE = {"rotation_deg": (7.0, -9.0, 5.0), "translation_mm": (6.0, -11.0, 9.0), "scale": (1.05, 0.95, 1.02)}
TOLERANCE = {"rotation_deg": 2.0, "translation_mm": 2.0, "scale": 0.02}


def _adni_name(image_id: str) -> str:
    return f"ADNI_002_S_{image_id[1:]}_MR_MPRAGE_br_raw_{image_id}.nii.gz"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Volumes I1000 (RAS, 1 mm) and I1001 (LPS, 1 x 1 x 1.3 mm), the posed template I1002, a 4D file
    I1003 and an MCI row I1004, preprocessed with skip_bad."""
    root = tmp_path_factory.mktemp("preprocess")
    volumes = root / "volumes"
    poses = make_raw_heads(2, volumes, seed=SEED, progress=False)
    poses["image_id"] = ["I1000", "I1001"]
    for file, image_id in zip(poses["file"], poses["image_id"], strict=True):
        (volumes / file).rename(volumes / _adni_name(image_id))
    (volumes / "poses.csv").unlink()
    template = nib.load(template_path("t1"))
    mni_to_head = pose_matrix(*TEMPLATE_POSE.values())
    nib.save(nib.Nifti1Image(np.asarray(template.dataobj), mni_to_head @ template.affine), volumes / _adni_name("I1002"))
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 4, 2), np.float32), np.eye(4)), volumes / _adni_name("I1003"))
    nib.save(nib.Nifti1Image(np.ones((4, 4, 4), np.float32), np.eye(4)), volumes / _adni_name("I1004"))
    metadata = pd.DataFrame({"Image Data ID": ["I1000", "I1001", "I1002", "I1003", "I1004"],
                             "Subject": ["002_S_1000", "002_S_1001", "002_S_1002", "002_S_1003", "002_S_1004"],
                             "Group": ["CN", "AD", "CN", "AD", "MCI"], "Sex": ["F", "M", "F", "M", "F"],
                             "Age": [71.0, 74.5, 68.0, 80.0, 77.0], "Modality": "MRI"})
    metadata.to_csv(root / "collection.csv", index=False)
    result = preprocess(volumes, root / "collection.csv", root / "out", skip_bad=True, workers=1, progress=False)
    return {"result": result, "poses": poses, "root": root}


def _truth(poses: pd.DataFrame) -> dict[str, dict]:
    """True pose per file: the raw heads' poses.csv values and the template's chosen pose."""
    truth = {_adni_name(row.image_id): {"rotation_deg": (row.rot_x_deg, row.rot_y_deg, row.rot_z_deg),
                                        "translation_mm": (row.trans_x_mm, row.trans_y_mm, row.trans_z_mm),
                                        "scale": (row.scale_x, row.scale_y, row.scale_z),
                                        "matrix": np.array(json.loads(row.mni_to_head))}
             for row in poses.itertuples()}
    truth[_adni_name("I1002")] = {**TEMPLATE_POSE, "matrix": pose_matrix(*TEMPLATE_POSE.values())}
    return truth


@pytest.mark.parametrize("image_id", ["I1000", "I1001", "I1002"])
def test_pose_is_recovered(run, image_id):
    qc = run["result"].qc.set_index("file").loc[_adni_name(image_id)]
    true = _truth(run["poses"])[_adni_name(image_id)]
    fitted = {name: np.array([qc[f"{prefix}_{a}{suffix}"] for a in "xyz"])
              for name, prefix, suffix in (("rotation_deg", "rot", "_deg"), ("translation_mm", "trans", "_mm"),
                                           ("scale", "scale", ""))}
    rotation = Rotation.from_euler("xyz", fitted["rotation_deg"], degrees=True).as_matrix()
    true_rotation = Rotation.from_euler("xyz", true["rotation_deg"], degrees=True).as_matrix()
    assert np.degrees(Rotation.from_matrix(true_rotation.T @ rotation).magnitude()) < TOLERANCE["rotation_deg"]
    assert np.abs(fitted["translation_mm"] - true["translation_mm"]).max() < TOLERANCE["translation_mm"]
    assert np.abs(fitted["scale"] / np.array(true["scale"]) - 1).max() < TOLERANCE["scale"]
    assert qc["flags"] == ""


def _unposed_slice(poses: pd.DataFrame, index: int, slice_index: int = 127) -> np.ndarray:
    """The same synthetic head rendered straight in MNI space on slice ``slice_index`` of the cube: the
    generator's random stream replayed with the identity pose (its own noise draw)."""
    rng = keyed_rng(SEED, STREAM_RAW_HEADS, index)
    for _ in range(3):  # rotation, translation and scale draws
        rng.uniform(-1.0, 1.0, 3)
    snr = float(rng.uniform(25.0, 45.0))
    plane = CONFORMED_AFFINE.copy()
    plane[:3, 3] = CONFORMED_AFFINE[:3, :3] @ [0, 0, slice_index] + CONFORMED_AFFINE[:3, 3]
    volume = render_head_volume(template_anatomy(None), Grid(plane, (256, 256, 1)), np.eye(4), rng,
                                float(poses["deform_mm"].iloc[index]), snr)
    return volume[:, :, 0].astype(np.float32)


def _corr(a, b) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.mark.parametrize("index", [0, 1])
def test_registered_slice_matches_the_unposed_head(run, index):
    """Threshold: the registered slice must match the truth better than the truth matches itself moved by
    the pose tolerance (2 mm along y), i.e. the registration error is below what the tolerance allows."""
    images, labels, _ = load_level(run["result"].folder, 256)
    image_id = labels.index[labels["Image_ID"] == run["poses"]["image_id"].iloc[index]][0]
    registered = images[:, :, 0, image_id]
    truth = _unposed_slice(run["poses"], index)
    threshold = _corr(truth, np.roll(truth, 2, axis=1))
    assert _corr(registered, truth) > threshold > 0.5


def test_template_under_a_random_affine_comes_back(run):
    images, labels, _ = load_level(run["result"].folder, 256)
    registered = images[:, :, 0, labels.index[labels["Image_ID"] == "I1002"][0]]
    assert _corr(registered, template_slice(127)) > 0.98


def test_layout_labels_and_skipped(run):
    result = run["result"]
    info = check_dataset(result.folder)
    assert info.sizes == (4, 8, 16, 32, 64, 128, 256)
    assert info.class_names == ["CN", "AD"]
    assert info.labels[["Image_ID", "Label", "Sex", "Age", "Slice"]].values.tolist() == [
        ["I1000", 0, "F", 71.0, 127], ["I1001", 1, "M", 74.5, 127], ["I1002", 0, "F", 68.0, 127]]
    skipped = pd.read_csv(result.folder / "skipped.csv")
    files = [file.rsplit("/", 1)[-1] for file in skipped["file"]]
    assert sorted(zip(skipped["field"], files, strict=True)) == [("Group", "collection.csv"),
                                                                  ("shape", _adni_name("I1003"))]
    assert "MCI" in skipped.loc[skipped["field"] == "Group", "reason"].item()
    assert sorted(p.name for p in (result.folder / "qc").iterdir()) == [
        _adni_name(i).replace(".nii.gz", ".png") for i in ("I1000", "I1001", "I1002")]
    assert json.loads((result.folder / "dataset.json").read_text())["slice_z_mm"] == 18.0


def test_cube_grid_is_the_cohorts_slice_127():
    """Slice 127 of the cube is the plane the synthetic cohort renders at MNI z = +18 mm."""
    a, b = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    cube = np.stack([a, b, np.full_like(a, 127), np.ones_like(a)], axis=-1) @ CONFORMED_AFFINE.T
    np.testing.assert_allclose(cube[..., :3], plane_points(256, 18.0))
    assert slice_z_mm(127) == 18.0
