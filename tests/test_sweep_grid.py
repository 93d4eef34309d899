"""Grid files (good and bad), the per-run notebook's parameters, and the comparison of variants."""

from __future__ import annotations

import functools
import json

import numpy as np
import pandas as pd
import pytest
import yaml

from pacgan_lite.config import KitConfig, load_profile, read_yaml
from pacgan_lite.errors import ConfigError
from pacgan_lite.notebooks import declared_parameters
from pacgan_lite.sweep import PROFILE_GRIDS, read_grid
from pacgan_lite.sweep import grid as grid_module
from pacgan_lite.sweep.compare import better, differences, key_metrics, reading
from pacgan_lite.sweep.execute import RUN_NOTEBOOK
from pacgan_lite.sweep.grid import GRID_DIR, PRESET_DIR
from pacgan_lite.sweep.runs import in_seed_order, plan_runs

GOOD = {"profile": "smoke", "seeds": [0, 1],
        "variants": [{"name": "full"}, {"name": "no-ema", "set": {"train.ema": False}}]}


def _write(tmp_path, grid: dict):
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(grid))
    return path


@pytest.mark.parametrize("name", sorted(p.stem for p in GRID_DIR.glob("*.yaml")))
def test_committed_grids_read_and_start_from_the_full_pacgan(name):
    grid = read_grid(name)
    assert grid.reference == "full" and grid.variants[0].overrides == {}
    assert len(grid.seeds) >= (1 if name == "smoke" else 2)
    assert grid.evaluation["held_out"] == "test"


# The ablation grids whose "full" is PACGAN at the teaching widths: whatever the teaching profile adds, their
# full run keeps the paper's conditioning, class targets, generator loss, batches and selection start.
PACGAN_OPTIONS = ("model.conditioning", "train.loss.class_generator", "train.loss.mode_seeking",
                  "train.loss.class_label_smoothing", "train.batch_sizes", "train.selection_start")


@pytest.mark.parametrize("name", ["teaching", "demo"])
@pytest.mark.parametrize("option", PACGAN_OPTIONS)
def test_the_paper_ablation_grids_run_pacgan_as_their_full_variant(name, option):
    grid = read_grid(name)
    full = grid.config(grid.variants[0], grid.seeds[0])
    value, paper = (functools.reduce(getattr, option.split("."), config) for config in (full, KitConfig()))
    if option == "train.batch_sizes":  # the stages a grid trains; entries past them are unused
        value, paper = value[:full.train.stages], paper[:full.train.stages]
    assert value == paper, f"{name} grid's full run has {option} = {value!r}, PACGAN's is {paper!r}"


@pytest.mark.parametrize("name", sorted(p.stem for p in PRESET_DIR.glob("pacgan*.yaml")))
def test_a_pacgan_preset_holds_the_paper_profiles_values(name):
    preset = read_yaml(PRESET_DIR / f"{name}.yaml")
    paper = load_profile("paper")
    for option, value in preset.items():
        expected = functools.reduce(getattr, option.split("."), paper)
        assert (list(expected) if isinstance(expected, tuple) else expected) == value, option


def test_each_profile_names_a_grid_for_notebook_04():
    assert {name: read_grid(grid).name for name, grid in PROFILE_GRIDS.items()} == PROFILE_GRIDS


def test_a_good_grid_gives_each_run_its_options_and_seed(tmp_path):
    grid = read_grid(_write(tmp_path, {**GOOD, "overrides": {"train.stages": 3}, "evaluation": {"held_out": "test"}}))
    config = grid.config(grid.variants[1], 1, {"train.samples_per_class": 2})
    assert (config.train.ema, config.train.seed, config.train.stages) == (False, 1, 3)
    assert (config.train.samples_per_class, config.evaluation.held_out) == (2, "test")


@pytest.mark.parametrize(("presets", "overrides", "variant", "expected"), [
    # (preset files, the grid's overrides, the variant's options) -> (train.ema, train.stages) of the run
    ({"a": {"train.ema": False}}, {}, {}, (False, 3)),
    ({"a": {"train.ema": False, "train.stages": 2}}, {"train.stages": 3}, {}, (False, 3)),  # the grid wins
    ({"a": {"train.ema": False}, "b": {"train.ema": True}}, {}, {}, (True, 3)),  # a later preset wins
    ({"a": {"train.ema": True}}, {}, {"train.ema": False}, (False, 3)),  # the variant wins
])
def test_presets_come_first_and_later_sources_win(tmp_path, monkeypatch, presets, overrides, variant, expected):
    monkeypatch.setattr(grid_module, "PRESET_DIR", tmp_path)
    for name, options in presets.items():
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(options))
    grid = read_grid(_write(tmp_path, {**GOOD, "presets": list(presets), "overrides": {"train.stages": 3, **overrides},
                                       "variants": [{"name": "full", "set": variant}]}))
    config = grid.config(grid.variants[0], 0)
    assert (config.train.ema, config.train.stages) == expected


@pytest.mark.parametrize(("preset_text", "message"), [
    ("train.emma: true", r"grid\.yaml: presets\[0\] \(bad\): train\.emma: unknown option"),
    ("[1, 2]", r"bad\.yaml: \(whole file\): expected a mapping of options"),
    ("train.ema: [", r"bad\.yaml: \(whole file\): not valid YAML"),
])
def test_a_bad_preset_names_its_file_or_the_grid_field(tmp_path, monkeypatch, preset_text, message):
    monkeypatch.setattr(grid_module, "PRESET_DIR", tmp_path)
    (tmp_path / "bad.yaml").write_text(preset_text)
    with pytest.raises(ConfigError, match=message):
        read_grid(_write(tmp_path, {**GOOD, "presets": ["bad"]}))


def test_runs_go_seed_by_seed_and_the_table_variant_by_variant(tmp_path):
    grid = read_grid(_write(tmp_path, {**GOOD, "seeds": [3, 1]}))
    planned = plan_runs(grid, tmp_path / "sweep")
    assert [run.name for run in planned] == ["full-seed3", "full-seed1", "no-ema-seed3", "no-ema-seed1"]
    assert [run.name for run in in_seed_order(planned, grid.seeds)] == [
        "full-seed3", "no-ema-seed3", "full-seed1", "no-ema-seed1"]


@pytest.mark.parametrize(("change", "message"), [
    ({"variants": [{"name": "full"}, {"name": "x", "set": {"train.emma": True}}]},
     r"variants\[1\]\.set\.train\.emma: unknown option\. Fix: valid options here: .*ema"),
    ({"variants": [{"name": "full"}, {"name": "x", "set": {"train.ema": "yes"}}]},
     r"variants\[1\]\.set\.train\.ema: expected bool"),
    ({"overrides": {"train.stages": 9}}, r"overrides\.train\.stages: must be in 1\.\.7"),
    ({"evaluation": {"held_out": "train"}}, r"evaluation\.held_out: unknown split 'train'"),
    ({"seeds": None}, r"seeds: expected a list of integers >= 0"),
    ({"seeds": [0, 0]}, r"seeds: repeats a seed"),
    ({"variants": [{"name": "full"}, {"name": "full", "set": {"train.ema": True}}]},
     r"variants\[1\]\.name: duplicate variant name 'full'\. Fix: give each variant its own name"),
    ({"variants": [{"name": "a/b"}]}, r"variants\[0\]\.name: expected a name of letters"),
    ({"variants": [{"name": "full", "sett": {}}]}, r"variants\[0\]\.sett: unknown field"),
    ({"variants": [{"name": "full", "set": {"train.seed": 3}}]}, r"variants\[0\]\.set\.train\.seed: is set by `seeds`"),
    ({"profile": "smok"}, r"profile: no such profile or file: smok"),
    ({"data": "no/such/folder"}, r"data: 'no/such/folder' is not a prepared folder"),
    ({"sedes": [0]}, r"sedes: unknown field\. Fix: a grid has the fields"),
    ({"presets": "pacgan-training"}, r"presets: expected a list of preset names"),
    ({"presets": ["pacgan"]}, r"presets\[0\]: no such preset: 'pacgan'\. Fix: give one of pacgan-training"),
    ({"evaluation": {"metrics": ["clasifier"]}}, r"evaluation\.metrics: unknown metric\(s\) 'clasifier'\. Fix: use "
                                                r"any of classifier, "),
    ({"variants": [{"name": "full", "set": {"evaluation.metrics": ["ssim", "fid"]}}]},
     r"variants\[0\]\.set\.evaluation\.metrics: unknown metric\(s\) 'fid'"),
])
def test_a_bad_grid_names_the_file_the_field_and_the_fix(tmp_path, change, message):
    path = _write(tmp_path, {**GOOD, **change})
    with pytest.raises(ConfigError, match=message) as caught:
        read_grid(path)
    assert caught.value.path == path.resolve()


@pytest.mark.parametrize(("extra", "message"), [
    ({"train.seed": 3}, "override: train.seed: is set by `seeds`. Fix: list the seeds under `seeds:`"),
    ({"evaluation.metrics": ["clasifier"]}, "{grid}: override evaluation.metrics: unknown metric(s) 'clasifier'"),
])
def test_the_sweeps_own_overrides_are_checked(tmp_path, extra, message):
    path = _write(tmp_path, GOOD)
    with pytest.raises(ConfigError) as caught:
        read_grid(path, extra)
    assert str(caught.value).startswith(message.format(grid=path.resolve()))


@pytest.mark.parametrize("missing", ["profile", "seeds", "variants"])
def test_a_missing_field_is_named(tmp_path, missing):
    path = _write(tmp_path, {key: value for key, value in GOOD.items() if key != missing})
    with pytest.raises(ConfigError, match=rf"grid\.yaml: {missing}: missing\. Fix: add `{missing}:`"):
        read_grid(path)


@pytest.mark.parametrize(("text", "message"), [
    ("[1, 2]", r"grid\.yaml: \(whole file\): must be a mapping of fields"),
    ("seeds: [0", r"grid\.yaml: \(whole file\): not valid YAML"),
])
def test_a_grid_file_that_is_not_a_mapping_is_refused(tmp_path, text, message):
    (tmp_path / "grid.yaml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        read_grid(tmp_path / "grid.yaml")


def test_an_unknown_grid_name_lists_the_named_grids():
    with pytest.raises(ConfigError, match=r"no such grid or file\. Fix: give one of demo, fidelity, paper, smoke, teaching"):
        read_grid("smoek")


def test_the_run_notebook_declares_what_the_sweep_passes():
    assert set(declared_parameters(RUN_NOTEBOOK)) == {"PROFILE", "OVERRIDES", "TRAIN_DATA", "TEST_DATA", "RUN_DIR"}


def test_key_metrics_include_the_fidelity_ratios_of_any_class_names_in_a_fixed_order():
    metrics = ["spread ratio MCI, generated / real std", "wall_seconds", "coverage (domain)",
               "class-effect ratio AD vs CN, generated / real d", "critic AUC, real held-out", "spread ratios"]
    assert key_metrics(metrics) == ["critic AUC, real held-out", "coverage (domain)",
                                    "class-effect ratio AD vs CN, generated / real d",
                                    "spread ratio MCI, generated / real std"]
    assert (better("spread ratio MCI, generated / real std"), better("wall_seconds")) == ("closer to 1", None)


RESULTS = pd.DataFrame({"variant": ["full", "full", "a", "a", "b", "b"], "seed": [0, 1, 0, 1, 0, 1],
                        "critic AUC, real held-out": [0.70, 0.72, 0.80, 0.82, 0.70, 0.74]})


# With two seeds a group's resampled mean takes 3 values, the extreme ones with probability 1/4 each, so the
# 2.5% tails of the difference fall on its extremes: every resample of a above every one of full.
@pytest.mark.parametrize(("variant", "difference", "low", "high"), [
    ("a", 0.10, 0.08, 0.12),
    ("b", 0.01, -0.02, 0.04),  # the seeds overlap: the interval holds 0
])
def test_differences_are_means_minus_the_reference_with_bootstrap_bounds(variant, difference, low, high):
    diffs = differences(RESULTS, ["critic AUC, real held-out"], "full").set_index("variant")
    row = diffs.loc[variant]
    assert np.allclose([row["difference"], row["low"], row["high"]], [difference, low, high])
    assert (row["n_variant"], row["n_reference"]) == (2, 2)


@pytest.mark.parametrize(("results", "expected"), [
    (RESULTS, "moved beyond the seeds' spread by a +0.1"),
    (RESULTS[RESULTS["seed"] == 0], "the numbers show only that the sweep runs"),
])
def test_the_reading_says_what_moved_and_what_one_seed_cannot_say(results, expected):
    diffs = differences(results, ["critic AUC, real held-out"], "full")
    assert expected in reading(diffs, results, "full")



def test_a_grid_on_a_prepared_folder_records_what_its_data_were_made_with(tmp_path):
    data = tmp_path / "prepared"
    for part in ("train", "test"):
        (data / part).mkdir(parents=True)
    made = {"matching": {"enabled": True, "caliper_years": 1.5},
            "split": {"seed": 4, "test_fraction": 0.25, "val_fraction": 0.0}, "source": "/data/cohorts/embedded-n30"}
    (data / "prepare.json").write_text(json.dumps({"options": made}))
    (data / "train" / "dataset.json").write_text(json.dumps({"cohort_params": {"seed": 7, "effect": 0.5}}))
    grid = read_grid(_write(tmp_path, {**GOOD, "data": str(data)}))
    config = grid.config(grid.variants[1], seed=0)
    assert (config.data.source, config.cohort.seed, config.cohort.effect, config.split.test_fraction) == (
        "embedded", 7, 0.5, 0.25)
    # what the per-run notebook builds its configuration from, and so records
    assert load_profile(grid.profile, grid.run_overrides(grid.variants[1], seed=0)) == config
    other_cohort = {**GOOD, "data": str(data), "variants": [{"name": "full"}, {"name": "seed-3", "set": {"cohort.seed": 3}}]}
    with pytest.raises(ConfigError, match=r"variants\[1\]\.set\.cohort\.seed: is 3, but the prepared folder"):
        read_grid(_write(tmp_path, other_cohort))
