"""Bad inputs to ``preprocess``: each gives a message naming the file, the field and the fix, before any
registration starts (so these tests are fast)."""

from __future__ import annotations

import pickle

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from pacgan_lite.errors import InputError
from pacgan_lite.preprocess import pipeline, preprocess, slice_indices
from pacgan_lite.preprocess.metadata import ADNI_COLUMNS

GOOD_ROWS = [
    {"Image Data ID": "I101", "Subject": "002_S_0101", "Group": "CN", "Sex": "F", "Age": "74.5", "Visit": "1"},
    {"Image Data ID": "I102", "Subject": "002_S_0102", "Group": "AD", "Sex": "M", "Age": "71", "Visit": "1"},
]

SIMPLE_ROWS = [
    {"file": "ADNI_002_S_0101_MR_MPRAGE_br_raw_I101.nii.gz", "subject": "002_S_0101", "label": "CN", "age": "74.5", "sex": "F"},
    {"file": "ADNI_002_S_0102_MR_MPRAGE_br_raw_I102.nii.gz", "subject": "002_S_0102", "label": "AD", "age": "71", "sex": "M"},
]


def _volume(path, shape=(8, 8, 8)):
    nib.save(nib.Nifti1Image(np.random.default_rng(0).random(shape, dtype=np.float32), np.eye(4)), path)


def _inputs(tmp_path, rows=GOOD_ROWS, columns=None):
    volumes = tmp_path / "volumes"
    volumes.mkdir()
    for image_id in ("I101", "I102"):
        _volume(volumes / f"ADNI_002_S_0{image_id[1:]}_MR_MPRAGE_br_raw_{image_id}.nii.gz")
    table = pd.DataFrame(rows)
    table[columns or list(table.columns)].to_csv(tmp_path / "meta.csv", index=False)
    return volumes, tmp_path / "meta.csv"


def _garbage(volumes):
    (volumes / "ADNI_002_S_0101_MR_MPRAGE_br_raw_I101.nii.gz").write_bytes(b"not a nifti at all")


def _four_d(volumes):
    _volume(volumes / "ADNI_002_S_0101_MR_MPRAGE_br_raw_I101.nii.gz", shape=(8, 8, 8, 2))


def _no_orientation(volumes):
    nib.save(nib.Nifti1Image(np.ones((8, 8, 8), np.float32), None), volumes / "ADNI_002_S_0101_MR_MPRAGE_br_raw_I101.nii.gz")


def _second_copy(volumes):
    _volume(volumes / "ADNI_002_S_0101_MR_MPRAGE_br_raw_I101.nii")


def _extra_volume(volumes):
    _volume(volumes / "ADNI_002_S_0999_MR_MPRAGE_br_raw_I999.nii.gz")


def _edit(**changes):
    return [{**GOOD_ROWS[0], **changes}, GOOD_ROWS[1]]


@pytest.mark.parametrize(
    ("rows", "columns", "damage", "file", "field", "problem", "fix"),
    [
        (GOOD_ROWS, None, _garbage, "I101.nii.gz", "(file)", "cannot be read as NIfTI", "re-export the volume"),
        (GOOD_ROWS, None, _four_d, "I101.nii.gz", "shape", "not one 3D volume", "give one 3D T1 volume per file"),
        (GOOD_ROWS, None, _no_orientation, "I101.nii.gz", "sform_code/qform_code", "both are 0",
         "re-export the volume from DICOM"),
        (GOOD_ROWS, None, _second_copy, "I101.nii", "Image Data ID", "I101 is also in the name of",
         "keep one file per image ID"),
        (SIMPLE_ROWS, None, _second_copy, "I101.nii", "file", "names this file and ADNI_002_S_0101_MR_MPRAGE_br_raw_I101.nii.gz",
         "keep one file per row"),
        (GOOD_ROWS, None, _extra_volume, "I999.nii.gz", "(metadata row)", "no row of meta.csv names this volume",
         "add a row for it"),
        (GOOD_ROWS + [{**GOOD_ROWS[0], "Image Data ID": "I555"}], None, None, "meta.csv", "Image Data ID",
         "row for 'I555' has no volume", "add the volume to the folder or remove the row"),
        (GOOD_ROWS + [GOOD_ROWS[0]], None, None, "meta.csv", "Image Data ID", "'I101' appears in 2 rows",
         "keep one row per image"),
        (_edit(Group="MCI"), None, None, "meta.csv", "Group", "unknown group label 'MCI'", "use one of CN, AD"),
        (_edit(Age=""), None, None, "meta.csv", "Age", "missing, not a number", "give the age at the scan"),
        (_edit(Age="150"), None, None, "meta.csv", "Age", "outside 0-130", "give the age at the scan"),
        (_edit(Sex=""), None, None, "meta.csv", "Sex", "missing or not M/F", "give M or F"),
        (_edit(Subject=""), None, None, "meta.csv", "Subject", "missing", "give the subject ID"),
        (GOOD_ROWS, ["Image Data ID", "Subject", "Group", "Age"], None, "meta.csv", "Sex",
         "required column is missing", "export the ADNI collection CSV"),
    ],
    ids=["unreadable", "4d", "no-orientation", "two-files-one-id", "two-files-one-row", "volume-without-row", "row-without-volume", "duplicate-id", "unknown-group",
         "missing-age", "age-out-of-range", "missing-sex", "missing-subject", "missing-column"],
)
def test_bad_input_names_file_field_and_fix(tmp_path, rows, columns, damage, file, field, problem, fix):
    volumes, metadata = _inputs(tmp_path, rows, columns)
    if damage:
        damage(volumes)
    with pytest.raises(InputError) as caught:
        preprocess(volumes, metadata, tmp_path / "out", progress=False)
    message = str(caught.value)
    where, _, rest = message.partition(": ")
    assert where.endswith(file)
    assert rest.startswith(f"{field}: ")
    assert problem in message
    assert f"Fix: {fix}" in message
    assert not (tmp_path / "out").exists()


def test_simple_format_is_read(tmp_path):
    volumes, _ = _inputs(tmp_path)
    simple = pd.DataFrame({"file": [p.name for p in sorted(volumes.iterdir())], "subject": ["a", "b"],
                           "label": ["CN", "MCI"], "age": [70, 71], "sex": ["F", "M"]})
    simple.to_csv(tmp_path / "simple.csv", index=False)
    with pytest.raises(InputError, match=r"simple\.csv: label: unknown group label 'MCI'"):
        preprocess(volumes, tmp_path / "simple.csv", tmp_path / "out", progress=False)


def test_missing_folder_and_file(tmp_path):
    with pytest.raises(InputError, match=r"nowhere: \(folder\): not found"):
        preprocess(tmp_path / "nowhere", tmp_path / "meta.csv", tmp_path / "out", progress=False)
    volumes, _ = _inputs(tmp_path)
    with pytest.raises(InputError, match=r"absent\.csv: \(file\): not found"):
        preprocess(volumes, tmp_path / "absent.csv", tmp_path / "out", progress=False)


@pytest.mark.parametrize(
    ("index", "count", "expected"),
    [(127, 1, [127]), (127, 3, [126, 127, 128]), (127, 2, [126, 127]), (0, 1, [0])],
)
def test_slice_indices(index, count, expected):
    assert slice_indices(index, count) == expected


@pytest.mark.parametrize(("index", "count", "field"), [(256, 1, "slice"), (127, 0, "n_slices"), (1, 5, "n_slices"),
                                                       (127.0, 1, "slice")])
def test_bad_slice_options(index, count, field):
    with pytest.raises(InputError, match=f"<input>: {field}: .*Fix: "):
        slice_indices(index, count)


def test_adni_columns_are_the_reference_ones():
    assert list(ADNI_COLUMNS) == ["Image Data ID", "Subject", "Group", "Sex", "Age"]


def test_existing_output_folder_is_refused_before_any_work(tmp_path):
    volumes, metadata = _inputs(tmp_path)
    (tmp_path / "out").mkdir()
    with pytest.raises(FileExistsError, match="already exists"):
        preprocess(volumes, metadata, tmp_path / "out", progress=False)


def test_skip_bad_with_nothing_good_left(tmp_path):
    volumes, metadata = _inputs(tmp_path, _edit(Group="MCI")[:1])
    (volumes / "ADNI_002_S_0102_MR_MPRAGE_br_raw_I102.nii.gz").unlink()
    with pytest.raises(InputError, match=r"volumes: \(volumes\): no volume could be preprocessed \(1 bad inputs, "
                                         r"the first: .*meta\.csv: Group: unknown group label 'MCI'"):
        preprocess(volumes, metadata, tmp_path / "out", skip_bad=True, progress=False)


def test_simple_format_rows_for_one_volume_with_and_without_gz_are_duplicates(tmp_path):
    volumes, _ = _inputs(tmp_path)
    name = sorted(volumes.iterdir())[0].name
    simple = pd.DataFrame({"file": [name, name.removesuffix(".gz")], "subject": ["a", "a"], "label": ["CN", "AD"],
                           "age": [70, 70], "sex": ["F", "F"]})
    simple.to_csv(tmp_path / "simple.csv", index=False)
    with pytest.raises(InputError, match=r"simple\.csv: file: .* appears in 2 rows"):
        preprocess(volumes, tmp_path / "simple.csv", tmp_path / "out", progress=False)


def test_input_errors_cross_process_boundaries():
    error = InputError("a/b.nii", "field", "problem", "fix")
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is InputError and str(again) == str(error) and again.field == "field"


def test_a_failed_registration_is_a_problem_of_its_volume(tmp_path, monkeypatch):
    volumes, metadata = _inputs(tmp_path)

    def itk_failure(path, *args):
        raise RuntimeError("Exception thrown in SimpleITK ImageRegistrationMethod_Execute:\nToo many samples map "
                           "outside moving image buffer")

    monkeypatch.setattr(pipeline, "preprocess_one", itk_failure)
    with pytest.raises(InputError) as caught:
        preprocess(volumes, metadata, tmp_path / "out", skip_bad=True, workers=1, progress=False)
    assert "registration: failed (RuntimeError: outside moving image buffer" in str(caught.value).replace(
        "Too many samples map ", "")
    assert "Fix: look at the volume" in str(caught.value)


def test_bad_volumes_found_in_worker_processes_are_listed_with_skip_bad(tmp_path):
    paths = []
    for name in ("nan.nii.gz", "zeros.nii.gz"):
        data = np.full((8, 8, 8), np.nan if name.startswith("nan") else 0.0, np.float32)
        nib.save(nib.Nifti1Image(data, np.eye(4)), tmp_path / name)
        paths.append(tmp_path / name)
    results, problems = pipeline._run_all(paths, 127, 1, workers=2, progress=False, skip_bad=True)
    assert results == {} and sorted(p.path.name for p in problems) == ["nan.nii.gz", "zeros.nii.gz"]
