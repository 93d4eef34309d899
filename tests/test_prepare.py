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


def _more_images(folder):
    labels = fake_labels(n_subjects=50, sessions=2)
    write_dataset(folder, fake_images(len(labels)), labels, ["CN", "AD"], overwrite=True)


def _labels_swapped(folder):
    labels = pd.read_csv(folder / "labels.csv")
    labels.assign(Label=1 - labels["Label"]).to_csv(folder / "labels.csv", index=False)


@pytest.mark.parametrize("change", [_more_images, _labels_swapped], ids=["images rebuilt", "labels edited"])
def test_prepare_writes_again_when_the_source_changes_in_place(source, tmp_path, change):
    out = tmp_path / "prepared"
    prepare(_config(source), out=out)
    change(source)
    prepared = prepare(_config(source), out=out)
    on_disk = pd.concat([pd.read_csv(prepared.train / "labels.csv"), pd.read_csv(prepared.test / "labels.csv")])
    expected = prepared.labels[["ID", "Label"]].rename(columns={"ID": "Source_ID"})
    pd.testing.assert_frame_equal(on_disk[["Source_ID", "Label"]].sort_values("Source_ID").reset_index(drop=True),
                                  expected.sort_values("Source_ID").reset_index(drop=True))


def test_preparing_without_matching_removes_the_matching_tables(source, tmp_path):
    out = tmp_path / "prepared"
    prepare(_config(source), out=out)
    assert (out / "balance.csv").is_file() and (out / "pairs.csv").is_file()
    prepare(_config(source, **{"matching.enabled": False}), out=out)
    assert not (out / "balance.csv").exists() and not (out / "pairs.csv").exists()


def test_a_failed_rewrite_leaves_no_record_that_vouches_for_the_folder(source, tmp_path, monkeypatch):
    import pacgan_lite.data.prepare as prepare_module

    out = tmp_path / "prepared"
    prepare(_config(source), out=out)
    real_write_levels = prepare_module.write_levels

    def fail_on_test(folder, *args, **kwargs):
        if folder.name == "test":
            raise OSError("disk full")
        return real_write_levels(folder, *args, **kwargs)

    monkeypatch.setattr(prepare_module, "write_levels", fail_on_test)
    with pytest.raises(OSError, match="disk full"):
        prepare(_config(source, **{"split.seed": 3}), out=out)  # train/ is new, test/ still the old one
    assert not (out / "prepare.json").exists()
    monkeypatch.undo()
    prepared = prepare(_config(source, **{"split.seed": 3}), out=out)
    assert pd.read_csv(prepared.test / "labels.csv")["Source_ID"].tolist() == \
        prepared.labels.loc[prepared.labels["Split"] == "test", "ID"].tolist()


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
