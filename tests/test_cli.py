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

from pacgan_lite import evaluation
from pacgan_lite.cli import OPTION_FLAGS, build_parser, main
from pacgan_lite.config import HELD_OUT_SPLITS, EvaluationOptions, KitConfig, MetricOptions
from pacgan_lite.data import check_dataset, nifti_name


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
     ("evaluate", f"(default {KitConfig().evaluation.synthetic_per_class})")],
)
def test_help_shows_the_defaults_of_the_options(command, shown):
    assert shown in " ".join(_subcommand(command).format_help().split())


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
