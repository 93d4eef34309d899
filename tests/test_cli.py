"""The pacgan-lite command line: the cohort command end to end, checks and clear errors."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from pacgan_lite import cli, evaluation, training
from pacgan_lite.cli import OPTION_FLAGS, build_parser, main
from pacgan_lite.cohort import CohortParams
from pacgan_lite.config import (
    HELD_OUT_SPLITS,
    EvaluationOptions,
    KitConfig,
    MatchingOptions,
    MetricOptions,
    SplitOptions,
    load_profile,
)
from pacgan_lite.data import check_dataset, nifti_name
from pacgan_lite.data import prepare as prepare_module
from pacgan_lite.sweep import grid


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "cohort"
    assert main(["cohort", "--n-subjects", "8", "--size", "64", "--out", str(out), "--no-progress"]) == 0
    return out


def test_cohort_command_writes_the_layout(cohort_dir):
    for size in (4, 8, 16, 32, 64):
        assert (cohort_dir / nifti_name(size)).is_file()
    assert not (cohort_dir / nifti_name(128)).exists()
    info = check_dataset(cohort_dir)
    assert info.class_names == ["CN", "AD"] and info.labels["Subject_ID"].nunique() == 8
    assert {"Age", "Sex", "Session"} <= set(info.labels.columns)
    assert "Severity" not in info.labels.columns  # the hidden truth stays out of the labels
    truth = pd.read_csv(cohort_dir / "truth.csv")
    assert truth["ID"].tolist() == info.labels["ID"].tolist() and "Severity" in truth.columns


def test_check_command(cohort_dir, capsys):
    assert main(["check", str(cohort_dir)]) == 0
    assert "images, 1 channel(s), sizes [4, 8, 16, 32, 64]" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["check", "/nonexistent/folder"], "/nonexistent/folder: (folder): not found. Fix:"),
        (["prepare", "--profile", "smoke", "--set", "cohort.n_subject=3"], "cohort.n_subject: unknown option"),
    ],
)
def test_errors_are_reported_with_exit_code_2(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["evaluate", "--run", "r", "--synthetic-per-class", "1"], "--synthetic-per-class: must be at least 2, got 1"),
        (["generate", "--checkpoint", "c", "--per-class", "-3", "--out", "o"], "--per-class: must be at least 0"),
        (["preprocess", "--volumes", "v", "--metadata", "m", "--out", "o", "--workers", "x"],
         "--workers: invalid integer >= 0 value: 'x'"),
    ],
    ids=["synthetic-per-class", "negative-count", "not-a-number"],
)
def test_counts_are_checked_by_the_parser(argv, message, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2 and message in capsys.readouterr().err


def test_cohort_refuses_to_overwrite(cohort_dir, capsys):
    argv = ["cohort", "--n-subjects", "4", "--size", "8", "--out", str(cohort_dir), "--no-progress"]
    assert main(argv) == 2
    assert "already exists" in capsys.readouterr().err


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "pacgan-lite"
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("pacgan-lite ")


def _subcommand(name: str) -> argparse.ArgumentParser:
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return commands.choices[name]


@pytest.mark.parametrize("command", OPTION_FLAGS)
def test_option_flags_default_to_none_so_the_options_supply_the_value(command):
    section, flags = OPTION_FLAGS[command]
    defaults = {action.dest: action.default for action in _subcommand(command)._actions}
    assert {dest: defaults.get(dest, "no such flag") for dest in flags} == dict.fromkeys(flags)
    for option in flags.values():  # each names a real option
        functools.reduce(getattr, [section, *option.split(".")], KitConfig())


@pytest.mark.parametrize(
    ("command", "shown"),
    [("cohort", f"(default {KitConfig().cohort.size})"),
     ("utility", "side of the classifier's images (default: the run's profile, or --profile)"),
     ("evaluate", "An option not given is the run's own"),
     ("sweep", "(pacgan_lite/grids: demo, fidelity, paper, smoke, teaching)")],
)
def test_help_shows_the_defaults_of_the_options(command, shown):
    assert shown in " ".join(_subcommand(command).format_help().split())


def test_the_help_lists_the_sweeps_grid_folder():
    assert cli.GRID_DIR == grid.GRID_DIR


@pytest.mark.parametrize(
    ("command", "not_shown"),
    [("utility", f"(default {KitConfig().utility.resolution})"),  # the run's profile decides
     ("utility", f"(default {KitConfig().utility.seeds})"),
     ("evaluate", f"(default {KitConfig().evaluation.synthetic_per_class})"),  # the run's options decide
     ("evaluate", "(default: evaluation.population_subjects)")],
)
def test_help_shows_no_default_that_the_run_overrides(command, not_shown):
    assert not_shown not in " ".join(_subcommand(command).format_help().split())


def test_held_out_choices_are_the_evaluation_splits():
    action = next(action for action in _subcommand("evaluate")._actions if action.dest == "held_out")
    assert tuple(action.choices) == HELD_OUT_SPLITS


def test_cohort_flags_are_checked_like_overrides(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["cohort", "--size", "48", "--out", "never-written"]) == 2
    assert "override: cohort.size: must be a power of two" in capsys.readouterr().err
    assert not (tmp_path / "never-written").exists()


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ([], EvaluationOptions(synthetic_per_class=50)),  # the run's own (its profile's) options
        (["--synthetic-per-class", "8"], EvaluationOptions(synthetic_per_class=8)),
        (["--seed", "3", "--held-out", "test"],
         EvaluationOptions(held_out="test", metric=MetricOptions(seed=3), synthetic_per_class=50)),
        (["--held-out", "population", "--population-subjects", "100"],
         EvaluationOptions(held_out="population", population_subjects=100, synthetic_per_class=50)),
        (["--metrics", "ssim", "classifier", "--synthetic-per-class", "8"],
         EvaluationOptions(metrics=("ssim", "classifier"), synthetic_per_class=8)),
        (["--inception-weights", "w.pt"], EvaluationOptions(inception_weights="{cwd}/w.pt", synthetic_per_class=50)),
    ],
)
def test_evaluate_flags_override_the_evaluation_options(flags, expected, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "options.json").write_text(json.dumps({"config": {"evaluation": {"synthetic_per_class": 50}}}))
    seen = {}

    def fake_evaluate(run_dir, options, **_):
        seen.update(run_dir=run_dir, options=options)
        return SimpleNamespace(metrics={}, folder=tmp_path)

    monkeypatch.setattr(evaluation, "evaluate", fake_evaluate)
    assert main(["evaluate", "--run", "r", *flags]) == 0
    if expected.inception_weights:
        expected = dataclasses.replace(expected, inception_weights=expected.inception_weights.format(cwd=tmp_path))
    assert seen == {"run_dir": str(tmp_path / "r"), "options": expected}


@pytest.mark.parametrize(
    ("stored", "flags", "message"),
    [
        ({}, ["--metrics", "ssim", "clasifier"], "override: evaluation.metrics: unknown metric(s) 'clasifier'"),
        ({"metrics": ["fid"]}, [], "{run}/options.json: evaluation.metrics: unknown metric(s) 'fid'"),
    ],
)
def test_evaluate_refuses_unknown_metric_names_before_any_work(stored, flags, message, tmp_path, monkeypatch,
                                                               capsys):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "options.json").write_text(json.dumps({"config": {"evaluation": stored}}))
    monkeypatch.setattr(evaluation, "evaluate", _no_work)
    assert main(["evaluate", "--run", str(tmp_path / "r"), *flags]) == 2
    assert message.format(run=tmp_path / "r") in capsys.readouterr().err


def _no_work(*args, **kwargs):
    raise AssertionError("work started")


# prepare.json options of a prepared folder, and the cohort recorded in its train/dataset.json
MADE = {"matching": {"enabled": True, "caliper_years": 1.5}, "split": {"seed": 4, "test_fraction": 0.25,
                                                                      "val_fraction": 0.0}}
COHORT = dataclasses.asdict(CohortParams(n_subjects=30, size=64, seed=7, effect=0.5))


def _prepared(folder: Path, source: str | None, cohort: dict | None) -> Path:
    for part in ("train", "test"):
        (folder / part).mkdir(parents=True)
    if source is not None:
        (folder / "prepare.json").write_text(json.dumps({"options": {**MADE, "source": source}}))
    if cohort is not None:
        (folder / "train" / "dataset.json").write_text(json.dumps({"cohort_params": cohort}))
    return folder


@pytest.mark.parametrize(
    ("source", "cohort", "expected"),
    [
        ("/data/cohorts/embedded-n30", COHORT, {"data.source": "embedded", "cohort": CohortParams(**COHORT),
                                                "matching": MatchingOptions(True, 1.5),
                                                "split": SplitOptions(0.25, 0.0, 4)}),
        ("/data/adni", None, {"data.source": "/data/adni", "cohort": load_profile("smoke").cohort,
                              "split": SplitOptions(0.25, 0.0, 4)}),
        (None, None, {"data.source": "{data}"}),  # not written by prepare: the folder is its own source
    ],
    ids=["embedded", "own-data", "not-prepared-by-the-kit"],
)
def test_train_records_where_a_prepared_folder_came_from(source, cohort, expected, tmp_path, monkeypatch):
    data = _prepared(tmp_path / "prepared", source, cohort)
    seen = {}
    monkeypatch.setattr(training, "train", lambda config, *_, **__: seen.setdefault("run", SimpleNamespace(
        run_dir="run", config=config)))
    assert main(["train", "--profile", "smoke", "--data", str(data)]) == 0
    config = seen["run"].config
    assert {option: functools.reduce(getattr, option.split("."), config) for option in expected} == {
        option: value.format(data=data) if isinstance(value, str) else value for option, value in expected.items()}


@pytest.mark.parametrize("option", ["cohort.seed=3", "data.source=/data/other", "split.seed=0"])
def test_train_refuses_options_that_a_prepared_folder_fixed(option, tmp_path, monkeypatch, capsys):
    data = _prepared(tmp_path / "prepared", "/data/cohorts/embedded-n30", COHORT)
    monkeypatch.setattr(training, "train", _no_work)
    assert main(["train", "--profile", "smoke", "--data", str(data), "--set", option]) == 2
    key = option.partition("=")[0]
    assert f"override: {key}: is " in capsys.readouterr().err


def test_train_refuses_unknown_metric_names_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(prepare_module, "prepare", _no_work)
    monkeypatch.setattr(training, "train", _no_work)
    assert main(["train", "--profile", "smoke", "--set", "evaluation.metrics=[clasifier]"]) == 2
    assert "override: evaluation.metrics: unknown metric(s) 'clasifier'" in capsys.readouterr().err
