"""The reference layout: round trips, and a clear error for each kind of bad input."""

from __future__ import annotations

import gzip
import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import fake_images, fake_labels

from pacgan_lite.data import (
    SliceDataset,
    check_dataset,
    nchw_to_nifti,
    nifti_name,
    nifti_to_nchw,
    read_labels,
    write_dataset,
)
from pacgan_lite.errors import DataError


@pytest.mark.parametrize(
    ("top", "channels", "expected_sizes"),
    [(4, 1, (4,)), (16, 1, (4, 8, 16)), (32, 3, (4, 8, 16, 32))],
)
def test_write_then_check_round_trip(tmp_path, top, channels, expected_sizes):
    labels = fake_labels(n_subjects=4)
    images = fake_images(len(labels), size=top, channels=channels)
    write_dataset(tmp_path / "ds", images, labels, ["CN", "AD"], metadata={"name": "test"})
    info = check_dataset(tmp_path / "ds")
    assert info.sizes == expected_sizes
    assert (info.n_images, info.channels) == (8, channels)
    assert info.class_names == ["CN", "AD"]
    assert info.class_counts == {"CN": 4, "AD": 4}
    stored = nib.load(tmp_path / "ds" / nifti_name(top)).get_fdata(dtype=np.float32)
    np.testing.assert_allclose(stored, images, atol=1e-6)
    assert list(info.labels.columns) == ["ID", "Label", "Subject_ID", "Age", "Sex", "Session"]


def test_nchw_conversion_is_the_reference_transpose():
    images = np.arange(4 * 4 * 1 * 3, dtype=np.float32).reshape(4, 4, 1, 3)  # [W, H, C, N]
    nchw = nifti_to_nchw(images)
    assert nchw.shape == (3, 1, 4, 4)
    assert nchw[2, 0, 1, 3] == images[3, 1, 0, 2]  # [n, c, h, w] = [w, h, c, n]
    np.testing.assert_array_equal(nchw_to_nifti(nchw), images)


def test_class_names_default_when_metadata_is_absent(tiny_dataset):
    (tiny_dataset / "dataset.json").unlink()
    assert check_dataset(tiny_dataset).class_names == ["class 0", "class 1"]


@pytest.mark.parametrize(("top", "splits", "n"), [(8, None, 16), (16, ("train",), 8)])
def test_slice_dataset_shapes(tiny_dataset, top, splits, n):
    if splits:
        labels = pd.read_csv(tiny_dataset / "labels.csv")
        labels["Split"] = np.where(labels["Subject_ID"].isin(["S000", "S001", "S002", "S003"]), "train", "test")
        labels.to_csv(tiny_dataset / "labels.csv", index=False)
    dataset = SliceDataset(tiny_dataset, top, splits=splits)
    image, label = dataset[0]
    assert len(dataset) == n
    assert image.shape == (1, top, top) and image.dtype == torch.float32
    assert label.ndim == 0 and int(label) in (0, 1)
    assert dataset.images.shape == (n, 1, top, top)
    assert float(dataset.images.min()) >= -1 and float(dataset.images.max()) <= 1


# ----------------------------------------------------------------------------------------- bad input table


def _edit_labels(edit):
    def apply(folder):
        labels = pd.read_csv(folder / "labels.csv")
        edit(labels).to_csv(folder / "labels.csv", index=False)
    return apply


def _edit_nifti(size, edit):
    def apply(folder):
        path = folder / nifti_name(size)
        data = nib.load(path).get_fdata(dtype=np.float32)
        nib.save(nib.Nifti1Image(edit(data), np.eye(4)), path)
    return apply


def _set(column, row, value):
    def edit(labels):
        labels[column] = labels[column].astype(object)
        labels.loc[row, column] = value
        return labels
    return edit


def _write_text(name, text):
    def apply(folder):
        (folder / name).write_text(text)
    return apply


def _uncompress(size, keep_compressed):
    def apply(folder):
        path = folder / nifti_name(size)
        (folder / path.stem).write_bytes(gzip.decompress(path.read_bytes()))  # Real8x8.nii
        if not keep_compressed:
            path.unlink()
    return apply


def _nan_image(data):
    data[0, 0, 0, 3] = np.nan
    return data


BAD_INPUTS = [
    ("missing column", _edit_labels(lambda df: df.drop(columns="Label")), "labels.csv: Label: required column is missing"),
    ("misnamed column", _edit_labels(lambda df: df.rename(columns={"Subject_ID": "subject_id"})), "rename column 'subject_id' to 'Subject_ID'"),
    ("saved index column", lambda f: pd.read_csv(f / "labels.csv").to_csv(f / "labels.csv"), "unnamed column"),
    ("duplicated column", _write_text("labels.csv", "ID,Label,Subject_ID,Label\n0,0,S0,0\n"), "Label: column appears more than once"),
    ("duplicated ID", _edit_labels(_set("ID", 1, 0)), "ID: duplicated IDs [0]"),
    ("ID out of range", _edit_labels(_set("ID", 1, 99)), "ID: IDs [99] are out of range 0..15"),
    ("ID not an integer", _edit_labels(_set("ID", 1, "two")), "ID: not an integer"),
    ("unknown label", _edit_labels(_set("Label", 2, 5)), "Label: labels [5] are not in the class list ['CN', 'AD']"),
    ("text label", _edit_labels(_set("Label", 2, "AD")), "Label: not an integer class"),
    ("missing subject", _edit_labels(_set("Subject_ID", 2, "")), "Subject_ID: missing for IDs [2]"),
    ("single class", _edit_labels(lambda df: df.assign(Label=0)), "Label: only one class is present (CN)"),
    ("fewer rows than images", _edit_labels(lambda df: df[df["ID"] < 15]), "15 rows but the NIfTI files hold 16 images"),
    ("NaN intensity", _edit_nifti(16, _nan_image), "Real16x16.nii.gz: intensities: NaN or Inf in images [3]"),
    ("out-of-range intensity", _edit_nifti(8, lambda d: d * 255), "Real8x8.nii.gz: intensities: values span"),
    ("3-D NIfTI", _edit_nifti(8, lambda d: d[:, :, 0, :]), "Real8x8.nii.gz: shape: has 3 dimensions"),
    ("non-square", _edit_nifti(8, lambda d: d[:, :4]), "images are 8x4, expected square"),
    ("size disagrees with name", _edit_nifti(8, lambda d: np.zeros((16, 16, 1, 16), np.float32)), "images are 16x16 but the file name says 8x8"),
    ("N disagrees across levels", _edit_nifti(8, lambda d: d[..., :10]), "Real8x8.nii.gz: shape: 10 images with 1 channels, but Real4x4.nii.gz has 16"),
    ("five channels", _edit_nifti(4, lambda d: np.repeat(d, 5, axis=2)), "C = 5 channels"),
    ("uncompressed level", _uncompress(8, keep_compressed=False), "Real8x8.nii: (file): is not compressed"),
    ("uncompressed copy of a level", _uncompress(8, keep_compressed=True), "Real8x8.nii: (file): lies beside Real8x8.nii.gz"),
    ("corrupt NIfTI", _write_text(nifti_name(16), "not a nifti"), "Real16x16.nii.gz: (file): cannot be read as NIfTI"),
    ("no labels file", lambda f: (f / "labels.csv").unlink(), "labels.csv: (file): not found"),
    ("bad class names", _write_text("dataset.json", json.dumps({"class_names": ["CN"]})), "dataset.json: class_names: needs at least two"),
    ("invalid metadata", _write_text("dataset.json", "{oops"), "dataset.json: (whole file): not valid JSON"),
]


@pytest.mark.parametrize(("case", "corrupt", "message"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_gives_a_clear_error(tiny_dataset, case, corrupt, message):
    corrupt(tiny_dataset)
    with pytest.raises(DataError) as err:
        check_dataset(tiny_dataset)
    assert message in str(err.value)
    assert "Fix:" in str(err.value)


def test_read_labels_sorts_by_id_and_keeps_extra_columns(tiny_dataset):
    labels = pd.read_csv(tiny_dataset / "labels.csv").sample(frac=1, random_state=0)
    labels.to_csv(tiny_dataset / "labels.csv", index=False)
    read = read_labels(tiny_dataset, n_images=16)
    assert read["ID"].tolist() == list(range(16))
    assert {"Age", "Sex", "Session"} <= set(read.columns)
    assert read["Subject_ID"].map(type).eq(str).all()


# --------------------------------------------------------------------------------------------- atomicity


def test_existing_folder_is_not_overwritten_by_default(tiny_dataset):
    labels = fake_labels()
    with pytest.raises(FileExistsError):
        write_dataset(tiny_dataset, fake_images(len(labels)), labels, ["CN", "AD"])


def test_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    import pacgan_lite.data.layout as layout

    calls = []
    real_save = nib.save

    def failing_save(image, path):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full")
        real_save(image, path)

    monkeypatch.setattr(layout.nib, "save", failing_save, raising=True)
    labels = fake_labels()
    with pytest.raises(OSError, match="disk full"):
        write_dataset(tmp_path / "out", fake_images(len(labels)), labels, ["CN", "AD"])
    assert list(tmp_path.iterdir()) == []


def test_write_refuses_labels_that_do_not_number_the_images(tmp_path):
    labels = fake_labels().assign(ID=lambda df: df["ID"] + 1)
    with pytest.raises(DataError, match="IDs do not number the images"):
        write_dataset(tmp_path / "out", fake_images(len(labels)), labels, ["CN", "AD"])
