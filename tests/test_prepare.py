"""prepare(): matching + grouped split written as train/ and test/ in the reference layout."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from conftest import fake_images, fake_labels

from pacgan_lite.config import load_profile
from pacgan_lite.data import check_dataset, nifti_name, write_dataset
from pacgan_lite.data.prepare import prepare
from pacgan_lite.errors import DataError


@pytest.fixture
def source(tmp_path):
    labels = fake_labels(n_subjects=40, sessions=2)
    truth = pd.DataFrame({"ID": labels["ID"], "Subject_ID": labels["Subject_ID"], "Severity": labels["ID"] / 10})
    folder = tmp_path / "source"
    write_dataset(folder, fake_images(len(labels)), labels, ["CN", "AD"], extra_tables={"truth.csv": truth})
    return folder


def _config(source, **overrides):
    return load_profile("smoke", {"data.source": str(source), "matching.caliper_years": 6.0, **overrides})


def test_prepare_writes_valid_disjoint_sets(source, tmp_path):
    prepared = prepare(_config(source), out=tmp_path / "prepared")
    train, test = check_dataset(prepared.train), check_dataset(prepared.test)
    assert train.sizes == test.sizes == (4, 8, 16)
    assert set(train.labels["Split"]) == {"train", "val"} and set(test.labels["Split"]) == {"test"}
    assert not set(train.labels["Subject_ID"]) & set(test.labels["Subject_ID"])
    assert train.class_names == ["CN", "AD"]
    assert train.n_images + test.n_images == len(prepared.labels)
    assert prepared.summary.loc["test", "images"] == test.n_images


def test_prepared_images_are_the_source_images(source, tmp_path):
    prepared = prepare(_config(source), out=tmp_path / "prepared")
    for part in (prepared.train, prepared.test):
        labels = pd.read_csv(part / "labels.csv")
        for size in (4, 16):
            mine = nib.load(part / nifti_name(size)).get_fdata(dtype=np.float32)
            theirs = nib.load(source / nifti_name(size)).get_fdata(dtype=np.float32)
            np.testing.assert_array_equal(mine, theirs[..., labels["Source_ID"].to_numpy()])
        truth = pd.read_csv(part / "truth.csv")
        assert truth["Source_ID"].tolist() == labels["Source_ID"].tolist()
        np.testing.assert_allclose(truth["Severity"], labels["Source_ID"] / 10)


def test_prepare_reuses_its_output_until_options_change(source, tmp_path):
    out = tmp_path / "prepared"
    prepare(_config(source), out=out)
    written = (out / "prepare.json").stat().st_mtime_ns
    prepare(_config(source), out=out)
    assert (out / "prepare.json").stat().st_mtime_ns == written
    prepare(_config(source, **{"split.seed": 3}), out=out)
    assert (out / "prepare.json").stat().st_mtime_ns != written


def test_without_matching_every_image_is_kept(source, tmp_path):
    prepared = prepare(_config(source, **{"matching.enabled": False}), out=tmp_path / "prepared")
    assert prepared.matching is None
    assert len(prepared.labels) == 80


def test_too_small_a_data_set_names_its_labels_file(tmp_path):
    labels = fake_labels(n_subjects=6, sessions=1)
    folder = tmp_path / "small"
    write_dataset(folder, fake_images(len(labels)), labels, ["CN", "AD"])
    with pytest.raises(DataError, match=r"small/labels\.csv: Subject_ID: test split: 6 subjects"):
        prepare(_config(folder, **{"matching.enabled": False}), out=tmp_path / "prepared")


def test_data_root_option_decides_where_prepared_data_go(source, tmp_path):
    prepared = prepare(_config(source, **{"data.root": str(tmp_path / "cache")}))
    assert prepared.folder.parent == tmp_path / "cache" / "prepared"
    assert (prepared.folder / "prepare.json").is_file()


@pytest.mark.parametrize(("folder", "env", "expected"), [("mine", "elsewhere", "mine"), ("", "elsewhere", "elsewhere"),
                                                         ("", None, "data")])
def test_data_root_precedence(monkeypatch, folder, env, expected):
    from pacgan_lite.paths import data_root, repo_root

    if env is None:
        monkeypatch.delenv("PACGAN_LITE_DATA", raising=False)
    else:
        monkeypatch.setenv("PACGAN_LITE_DATA", env)
    assert data_root(folder) == repo_root() / expected
