"""The headline table and the plain-language reading of a metrics.json record."""

from __future__ import annotations

import pytest

from pacgan_lite.evaluation.summary import headline_table, plain_reading


def _record(fake_fake_ssim: float) -> dict:
    return {"held_out": "val", "metrics": {
        "classifier": {"auc": 0.8, "auc_95ci": [0.7, 0.9], "n_images": 40, "balanced_accuracy": 0.75},
        "fd_domain": {"overall": {"real_real": 2.0, "real_fake": 6.0}},
        "fd_efficientnet": {"overall": {"real_real": 10.0, "real_fake": 120.0}},
        "fid_inception": {"skipped": "no local Inception-v3 weights file"},
        "ssim": {"real_real": {"overall": {"mean": 0.45}}, "real_fake": {"overall": {"mean": 0.5}},
                 "fake_fake": {"overall": {"mean": fake_fake_ssim}}},
        "memorization": {"pixels_rms": {"fraction_fake_closer_than_any_real": 0.25, "fake_min": 0.2, "real_min": 0.25}},
    }}


def test_headline_table_keeps_computed_numbers_and_leaves_out_skipped_ones():
    table = headline_table(_record(0.5))
    assert table.loc["critic AUC, real held-out", "value"] == 0.8
    assert table.loc["FD_efficientnet real-fake", "value"] == 120.0
    assert "FID (Inception) real-fake" not in table.index


@pytest.mark.parametrize(("fake_fake_ssim", "warns_of_averaging"), [(0.5, False), (0.8, True)])
def test_plain_reading_states_ratios_and_warns_when_collapse_mimics_memorization(fake_fake_ssim, warns_of_averaging):
    reading = plain_reading(_record(fake_fake_ssim))
    assert "AUC of 0.80 (95% interval 0.70 to 0.90)" in reading
    assert "3.0 times as far" in reading and "12.0 times as far" in reading
    assert "25.0% of generated images" in reading and "by 0.200 (RMS), the closest real one by 0.250" in reading
    assert ("without copying any" in reading) is warns_of_averaging
