"""The headline table and the plain-language reading of a metrics.json record."""

from __future__ import annotations

import math

import pytest

from pacgan_lite.evaluation.summary import headline_table, plain_reading


def _record(fake_fake_ssim: float = 0.5, class_effect_ratio: float = 1.2, spread_cn: float = 0.8) -> dict:
    return {"held_out": "val", "metrics": {
        "classifier": {"auc": 0.8, "auc_95ci": [0.7, 0.9], "n_images": 40, "balanced_accuracy": 0.75},
        "fd_domain": {"overall": {"real_real": 2.0, "real_fake": 6.0}},
        "fd_efficientnet": {"overall": {"real_real": 10.0, "real_fake": 120.0}},
        "fid_inception": {"skipped": "no local Inception-v3 weights file"},
        "ssim": {"real_real": {"overall": {"mean": 0.45}}, "real_fake": {"overall": {"mean": 0.5}},
                 "fake_fake": {"overall": {"mean": fake_fake_ssim}}},
        "class_fidelity": {
            "per_class": {"CN": {"real_mean_mm2": 300.0, "fake_mean_mm2": 280.0, "cohens_d_fake_vs_real": -0.2},
                          "AD": {"real_mean_mm2": 500.0, "fake_mean_mm2": 560.0, "cohens_d_fake_vs_real": 0.4}},
            "class_effect_cohens_d": {"AD vs CN": {"real": 0.9, "fake": 1.1 * class_effect_ratio}},
            "class_effect_cohens_d_real_reference": {"AD vs CN": 1.1},
            "class_effect_ratio": {"AD vs CN": class_effect_ratio},
            "spread_ratio_per_class": {"CN": spread_cn, "AD": 0.6},
            "real_reference_images": {"sets": {"train": 193, "val": 48}, "n": 241,
                                      "per_class": {"CN": 120, "AD": 121}},
            "targets": {"class_effect_ratio": [0.5, 2.0], "spread_ratio_at_least": 0.5}},
        "precision_recall_domain": {"overall": {"precision": 0.9, "recall": 0.3}},
        "density_coverage_domain": {"overall": {"density": 1.4, "coverage": 0.25,
                                                "coverage_expected_for_one_distribution": 0.88}},
        "density_coverage_efficientnet": {"skipped": "no EfficientNet"},
        "power_spectrum": {"high_frequency_ratio": {"overall": 0.42, "per_class": {"CN": 0.4, "AD": 0.44}},
                           "high_frequency_band_cycles_per_pixel": [0.375, 0.5],
                           "axis_streak_ratio": {"overall": 3.25, "per_class": {"CN": 3.0, "AD": 3.5}}},
        "margin": {"frame_pixels": 2, "corner_pixels": 6,
                   "touching_frame": {"overall": {"real": 0.0, "fake": 0.04}},
                   "bright_corner": {"overall": {"real": 0.0, "fake": 0.675}}},
        "memorization": {"pixels_rms": {"fraction_fake_closer_than_any_real": 0.25, "fake_min": 0.2, "real_min": 0.25}},
    }}


@pytest.mark.parametrize(
    ("row", "value"),
    [("critic AUC, real held-out", 0.8), ("FD_efficientnet real-fake", 120.0), ("recall (domain)", 0.3),
     ("density (domain)", 1.4), ("coverage (domain)", 0.25), ("high-frequency power ratio, generated / real", 0.42),
     ("axis streak ratio, generated / real", 3.25), ("generated with tissue at the image border", 0.04),
     ("real with tissue at the image border", 0.0), ("generated with a bright corner", 0.675),
     ("class-effect ratio AD vs CN, generated / real d", 1.2), ("spread ratio CN, generated / real std", 0.8),
     ("spread ratio AD, generated / real std", 0.6)],
)
def test_headline_table_keeps_computed_numbers(row, value):
    assert headline_table(_record()).loc[row, "value"] == value


@pytest.mark.parametrize("row", ["FID (Inception) real-fake", "coverage (EfficientNet)", "precision (EfficientNet)"])
def test_headline_table_leaves_out_skipped_and_missing_metrics(row):
    assert row not in headline_table(_record()).index


@pytest.mark.parametrize(("fake_fake_ssim", "warns_of_averaging"), [(0.5, False), (0.8, True)])
def test_plain_reading_states_ratios_and_warns_when_collapse_mimics_memorization(fake_fake_ssim, warns_of_averaging):
    reading = plain_reading(_record(fake_fake_ssim))
    assert "AUC of 0.80 (95% interval 0.70 to 0.90)" in reading
    assert "3.0 times as far" in reading and "12.0 times as far" in reading
    assert "25.0% of generated images" in reading and "by 0.200 (RMS), the closest real one by 0.250" in reading
    assert ("without copying any" in reading) is warns_of_averaging
    assert ("4% of the generated images have tissue in the outer 2-pixel frame and 68% a bright pixel in a "
            "corner (real: 0% and 0%)") in reading


@pytest.mark.parametrize(
    ("class_effect_ratio", "spread_cn", "expected"),
    [
        (1.2, 0.8, ["is 1.20 times the real one (d = 1.32 against 1.10 in all 241 real images: 193 train and "
                    "48 val); within the target of 0.5 to 2", "CN 0.80, AD 0.60 times as much as real ones "
                    "(target at least 0.5): the variety is reproduced"]),
        (8.0, 0.3, ["is 8.00 times the real one", "outside the target of 0.5 to 2", "too little variety in CN."]),
        (float("nan"), 0.3, ["CN 0.30, AD 0.60"]),  # an undefined ratio is left out of the reading
    ],
    ids=["within targets", "outside targets", "undefined effect"],
)
def test_plain_reading_sets_the_fidelity_ratios_against_their_targets(class_effect_ratio, spread_cn, expected):
    reading = plain_reading(_record(class_effect_ratio=class_effect_ratio, spread_cn=spread_cn))
    for sentence in expected:
        assert sentence in reading
    assert ("times the real one" in reading) is not math.isnan(class_effect_ratio)


def test_plain_reading_states_coverage_and_the_high_frequency_power():
    reading = plain_reading(_record())
    assert "Coverage: 25% of the real held-out images" in reading and "would give about 88%" in reading
    assert "Density 1.40" in reading
    assert "above 0.375 cycles per pixel) generated images carry 0.42 times the power" in reading
