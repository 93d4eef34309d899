"""Model selection criteria: the formulas on hand-made numbers, and which epoch each prefers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from pacgan_lite.config import SELECTION_CRITERIA, load_profile
from pacgan_lite.errors import ConfigError
from pacgan_lite.run_folder import RunFolder
from pacgan_lite.training import selection as selection_module
from pacgan_lite.training.selection import (
    SELECTION_FORMULAS,
    BestEpoch,
    class_spreads,
    fidelity_terms,
    ratio_gap,
    selection_components,
    selection_score,
)

NAN = math.nan


@pytest.mark.parametrize(("real", "fake", "gap"), [
    (0.9, 0.9, 0.0),
    (1.0, 2.0, 0.5),  # twice the effect ...
    (1.0, 0.5, 0.5),  # ... and half of it cost the same
    (-1.0, -2.0, 0.5),
    (1.0, 1.1, 1 - 1 / 1.1),
    (0.93, 8.88, 1 - 0.93 / 8.88),  # the teaching generator's over-separation
    (1.0, -1.0, 1.0),  # the other sign
    (1.0, 0.0, 1.0),  # no effect
    (1.0, NAN, 1.0),  # not measurable in generated images (no spread)
    (NAN, 2.0, 0.0),  # nothing to match: the real effect is not measurable
    (0.0, 2.0, 0.0),
])
def test_ratio_gap(real, fake, gap):
    assert ratio_gap(real, fake) == pytest.approx(gap)
    assert 0.0 <= ratio_gap(real, fake) <= 1.0


@pytest.mark.parametrize(("criterion", "components", "score"), [
    ("paper", {"auc_real": 0.8, "auc_fake": 0.9}, 1.7),
    ("fidelity", {"auc_real": 0.8, "auc_fake": 0.9, "effect_gap": 0.25}, 0.55),
    ("fidelity_spread", {"auc_real": 0.8, "auc_fake": 0.9, "effect_gap": 0.25, "spread_gap": 0.75}, 0.3),
])
def test_selection_score(criterion, components, score):
    assert selection_score(criterion, components) == pytest.approx(score)


def test_every_criterion_of_the_options_has_a_formula():
    assert tuple(SELECTION_FORMULAS) == SELECTION_CRITERIA


# Areas per class: real CN 1, 2, 3 and AD 3, 4, 5 (d = 2, spreads 1, 1).
REAL_AREAS, REAL_LABELS = np.array([1.0, 2, 3, 3, 4, 5]), np.array([0, 0, 0, 1, 1, 1])


@pytest.mark.parametrize(("fake_areas", "effect_fake", "effect_gap", "spread_fake", "spread_gap"), [
    ([1.0, 2, 3, 3, 4, 5], 2.0, 0.0, [1.0, 1.0], 0.0),  # the real images again
    ([1.0, 2, 3, 5, 6, 7], 4.0, 0.5, [1.0, 1.0], 0.0),  # twice the class effect, same spread
    ([2.0, 2, 2, 4, 4, 4], NAN, 1.0, [0.0, 0.0], 1.0),  # collapsed classes: no spread, no measurable d
    ([0.0, 2, 4, 4, 6, 8], 2.0, 0.0, [2.0, 2.0], 0.5),  # d matched, but each class twice as varied
])
def test_fidelity_terms_from_hand_made_areas(fake_areas, effect_fake, effect_gap, spread_fake, spread_gap):
    terms = fidelity_terms("fidelity_spread", REAL_AREAS, REAL_LABELS, np.array(fake_areas), REAL_LABELS, 2)
    assert terms["effect_real"] == [pytest.approx(2.0)] and terms["spread_real"] == [1.0, 1.0]
    assert terms["effect_fake"] == [pytest.approx(effect_fake, nan_ok=True)]
    assert terms["effect_gap"] == pytest.approx(effect_gap)
    assert terms["spread_fake"] == pytest.approx(spread_fake) and terms["spread_gap"] == pytest.approx(spread_gap)
    assert set(fidelity_terms("fidelity", REAL_AREAS, REAL_LABELS, np.array(fake_areas), REAL_LABELS, 2)) == {
        "effect_real", "effect_fake", "effect_gap"}


def test_three_classes_each_have_an_effect_against_class_0_and_the_gaps_are_averaged():
    labels = np.array([0, 0, 1, 1, 2, 2])
    real, fake = np.array([1.0, 2, 2, 3, 3, 4]), np.array([1.0, 2, 2, 3, 5, 6])  # d 1.41, 2.83 vs 1.41, 5.66
    terms = fidelity_terms("fidelity", real, labels, fake, labels, 3)
    assert terms["effect_real"] == pytest.approx([2 ** 0.5, 2 * 2 ** 0.5])
    assert terms["effect_fake"] == pytest.approx([2 ** 0.5, 4 * 2 ** 0.5])
    assert terms["effect_gap"] == pytest.approx((0 + 0.5) / 2)
    assert math.isnan(class_spreads(np.array([1.0, 2, 3]), np.array([0, 0, 1]), 2)[1])  # one image: no spread


def test_the_components_of_each_criterion(monkeypatch):
    # The biomarker itself is tested in test_biomarkers.py; here pixel (0, 0) of channel 0 stands for it.
    monkeypatch.setattr(selection_module, "ventricle_areas", lambda images: images[:, 0, 0, 0].double().numpy())
    labels = torch.tensor(REAL_LABELS)
    real = (torch.tensor(REAL_AREAS, dtype=torch.float32)[:, None, None, None].expand(6, 1, 4, 4), labels)
    fake = (torch.tensor([1.0, 2, 3, 5, 6, 7])[:, None, None, None].expand(6, 1, 4, 4), labels)
    assert selection_components("paper", 0.8, 0.9, real, fake, 2) == {"auc_real": 0.8, "auc_fake": 0.9}
    fidelity = selection_components("fidelity", 0.8, 0.9, real, fake, 2)
    assert set(fidelity) == {"auc_real", "auc_fake", "effect_real", "effect_fake", "effect_gap"}
    assert fidelity["effect_fake"] == [pytest.approx(4.0)] and fidelity["effect_gap"] == pytest.approx(0.5)
    assert set(selection_components("fidelity_spread", 0.8, 0.9, real, fake, 2)) == {
        *fidelity, "spread_real", "spread_fake", "spread_gap"}


# Two epochs: the first over-separates the generated classes (AUC on fakes 1.0, ten times the real
# effect), the second matches the real effect, with a lower AUC on fakes and a slightly lower one on real.
OVER_SEPARATED = {"auc_real": 0.80, "auc_fake": 1.00, "effect_real": [0.9], "effect_fake": [9.0],
                  "effect_gap": ratio_gap(0.9, 9.0), "spread_gap": 0.0}
MATCHED = {"auc_real": 0.78, "auc_fake": 0.65, "effect_real": [0.9], "effect_fake": [0.95],
           "effect_gap": ratio_gap(0.9, 0.95), "spread_gap": 0.0}


@pytest.mark.parametrize(("criterion", "selected"), [("paper", 1), ("fidelity", 2), ("fidelity_spread", 2)])
def test_fidelity_prefers_the_epoch_whose_class_effect_matches_the_real_one(criterion, selected):
    best = BestEpoch()
    for epoch, components in enumerate((OVER_SEPARATED, MATCHED), start=1):
        best.offer(epoch, selection_score(criterion, components), {"weights": torch.tensor([float(epoch)])},
                   components)
    assert best.epoch == selected
    assert best.components == (OVER_SEPARATED, MATCHED)[selected - 1]


def test_best_epoch_keeps_the_components_through_a_checkpoint():
    best = BestEpoch()
    best.offer(3, 1.5, {"weights": torch.zeros(1)}, MATCHED)
    best.offer(4, 1.2, {"weights": torch.ones(1)}, OVER_SEPARATED)
    restored = BestEpoch.from_dict(best.to_dict())
    assert restored.epoch == 3 and restored.components == MATCHED
    assert BestEpoch().components is None


@pytest.mark.parametrize(("overrides", "option", "message"), [
    (["train.selection=auc"], "train.selection", "unknown criterion 'auc'. Fix: use one of paper, fidelity, "
                                                 "fidelity_spread"),
    (["train.selection=fidelity", "train.validation_fakes_per_class=1"], "train.validation_fakes_per_class",
     "needs a spread in each class. Fix: give 2 or more"),
])
def test_bad_selection_options_name_the_option_once(overrides, option, message):
    with pytest.raises(ConfigError) as err:
        load_profile("smoke", overrides)
    assert str(err.value).count(option) == 1 and message in str(err.value), str(err.value)


def test_the_paper_criterion_is_the_default():
    assert load_profile("paper").train.selection == "paper"


# The selected epochs a final run retrains to, from a validation run's selection.json. A leading stage the
# validation run skipped (0 epochs: no progressive growing) has no record and reads as 0.
def _record(stage: int, selected: int, epochs: int = 2) -> dict:
    return {"stage": stage, "selected_epoch": selected, "epochs": epochs}


@pytest.mark.parametrize(("records", "planned", "expected"), [
    ([_record(0, 2), _record(1, 1), _record(2, 2)], (2, 2, 2), [2, 1, 2]),
    ([_record(2, 1)], (0, 0, 2), [0, 0, 1]),
    ([_record(1, 2), _record(2, 1)], (0, 2, 2), [0, 2, 1]),
    ([_record(2, 1)], None, [0, 0, 1]),
    # a final run of fewer stages than the validation run: only the stages both have must agree
    ([_record(0, 2), _record(1, 1), _record(2, 2, epochs=9)], (2, 2), [2, 1, 2]),
    ([_record(1, 2), _record(2, 1)], (0,), [0, 2, 1]),
])
def test_selected_epochs_read_a_skipped_leading_stage_as_0(tmp_path, records, planned, expected):
    (tmp_path / "selection.json").write_text(json.dumps({"stages": records}))
    assert selection_module.selected_epochs(tmp_path, planned) == expected
    assert RunFolder(tmp_path).selected_epochs() == expected


@pytest.mark.parametrize(("records", "planned", "message"), [
    ([_record(2, 1)], (2, 2, 2), r"epochs: the validation run's stages had \[0, 0, 2\] epochs, "
                                 r"train\.epochs_per_stage says \[2, 2, 2\]"),
    ([_record(0, 1), _record(1, 1)], (0, 2, 2), r"epochs: the validation run's stages had \[2, 2\] epochs"),
    ([_record(0, 1), _record(2, 1)], None, r"stages: the records are of stages \[0, 2\], not of consecutive"),
    ([_record(1, 0), _record(2, 1)], None, r"selected_epoch: epochs of the trained stages must be >= 1, got \[0, 1\]"),
])
def test_selected_epochs_refuse_what_a_final_run_cannot_retrain(tmp_path, records, planned, message):
    (tmp_path / "selection.json").write_text(json.dumps({"stages": records}))
    with pytest.raises(ConfigError, match=message):
        selection_module.selected_epochs(tmp_path, planned)
