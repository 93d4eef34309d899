"""``pacgan-lite preprocess``: a good run in two processes, and a bad input reported as an error."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd

from pacgan_lite.cli import main
from pacgan_lite.cohort.heads3d import pose_matrix
from pacgan_lite.cohort.template import template_path
from pacgan_lite.data import check_dataset


def _posed_templates(folder, poses):
    """nilearn's template saved under each pose (the voxels untouched, only the affine changed)."""
    folder.mkdir()
    template = nib.load(template_path("t1"))
    for name, (rotation, translation, scale) in poses.items():
        affine = pose_matrix(rotation, translation, scale) @ template.affine
        nib.save(nib.Nifti1Image(np.asarray(template.dataobj), affine), folder / f"{name}.nii.gz")


def test_cli_preprocess_writes_the_layout(tmp_path, capsys):
    _posed_templates(tmp_path / "volumes", {"sub1_ses1": ((5, 0, -4), (3, -6, 2), (1.0, 1.04, 0.97)),
                                            "sub2_ses1": ((-6, 3, 0), (-4, 5, 8), (0.96, 1.0, 1.03))})
    pd.DataFrame({"file": ["sub1_ses1.nii.gz", "sub2_ses1.nii.gz"], "subject": ["sub1", "sub2"],
                  "label": ["CN", "AD"], "age": [70, 72], "sex": ["F", "M"]}).to_csv(tmp_path / "meta.csv", index=False)
    code = main(["preprocess", "--volumes", str(tmp_path / "volumes"), "--metadata", str(tmp_path / "meta.csv"),
                 "--out", str(tmp_path / "out"), "--n-slices", "3", "--workers", "2", "--no-progress"])
    assert code == 0, capsys.readouterr().err
    assert "2 volumes registered" in capsys.readouterr().out
    info = check_dataset(tmp_path / "out")
    assert info.n_images == 6
    assert info.labels["Slice"].tolist() == [126, 127, 128] * 2
    assert info.labels["Subject_ID"].tolist() == ["sub1"] * 3 + ["sub2"] * 3
    qc = pd.read_csv(tmp_path / "out" / "qc.csv")
    assert (qc["similarity"] > 0.95).all()


def test_cli_preprocess_reports_bad_input(tmp_path, capsys):
    _posed_templates(tmp_path / "volumes", {"sub1_ses1": ((0, 0, 0), (0, 0, 0), (1, 1, 1))})
    pd.DataFrame({"file": ["sub1_ses1.nii.gz"], "subject": ["sub1"], "label": ["CN"], "age": [""],
                  "sex": ["F"]}).to_csv(tmp_path / "meta.csv", index=False)
    code = main(["preprocess", "--volumes", str(tmp_path / "volumes"), "--metadata", str(tmp_path / "meta.csv"),
                 "--out", str(tmp_path / "out")])
    assert code == 2
    assert "meta.csv: age: missing, not a number or outside 0-130 ('') for sub1_ses1.nii.gz. Fix: give the age" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
