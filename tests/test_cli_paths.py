"""Relative paths on the command line are relative to the current directory, as with every CLI tool."""

from __future__ import annotations

from pathlib import Path

import pytest

from pacgan_lite.cli import build_parser, main
from pacgan_lite.config import load_profile

REPOSITORY = Path(__file__).resolve().parents[1]

PATH_ARGUMENTS = [
    # argv with relative paths -> {argparse dest: the relative path it was given}
    (["cohort", "--out", "c"], {"out": "c"}),
    (["check", "f"], {"folder": "f"}),
    (["preprocess", "--volumes", "v", "--metadata", "m.csv", "--out", "o"],
     {"volumes": "v", "metadata": "m.csv", "out": "o"}),
    (["prepare", "--data", "d", "--out", "o"], {"data": "d", "out": "o"}),
    (["train", "--data", "d", "--out", "o", "--resume", "r.pt", "--reference-config", "config.json"],
     {"data": "d", "out": "o", "resume": "r.pt", "reference_config": "config.json"}),
    (["generate", "--checkpoint", "c.pt", "--per-class", "1", "--out", "g.nii.gz"],
     {"checkpoint": "c.pt", "out": "g.nii.gz"}),
    (["classify", "--checkpoint", "c.pt", "--images", "i.nii.gz", "--labels", "l.csv", "--out", "p.csv"],
     {"checkpoint": "c.pt", "images": "i.nii.gz", "labels": "l.csv", "out": "p.csv"}),
    (["evaluate", "--run", "r", "--checkpoint", "c.pt", "--out", "e", "--inception-weights", "w.pt"],
     {"run": "r", "checkpoint": "c.pt", "out": "e", "inception_weights": "w.pt"}),
    (["notebooks", "--out", "n"], {"out": "n"}),
    (["bench", "--out", "b"], {"out": "b"}),
]


@pytest.mark.parametrize(("argv", "paths"), PATH_ARGUMENTS, ids=[case[0][0] for case in PATH_ARGUMENTS])
def test_path_arguments_are_absolute_against_the_current_directory(argv, paths, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = build_parser().parse_args(argv)
    assert {dest: getattr(args, dest) for dest in paths} == {dest: str(tmp_path / path) for dest, path in paths.items()}


@pytest.mark.parametrize("command", ["prepare", "train", "bench"])
def test_set_values_of_path_options_are_absolute(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sets = ["data.root=rel", "data.source=embedded", "train.selection_from=runs/val", "train.final_mode=true",
            "evaluation.inception_weights=w.pt", "cohort.size=32", "data.source=src"]
    args = build_parser().parse_args([command, *(x for value in sets for x in ("--set", value))])
    config = load_profile("smoke", args.set)
    assert config.data.root == str(tmp_path / "rel") and config.data.source == str(tmp_path / "src")
    assert config.train.selection_from == str(tmp_path / "runs" / "val")
    assert config.evaluation.inception_weights == str(tmp_path / "w.pt") and config.cohort.size == 32
    embedded = build_parser().parse_args([command, "--set", "data.source=embedded", "--set", "data.root=''"])
    assert load_profile("smoke", embedded.set).data == load_profile("smoke").data


@pytest.mark.slow
def test_cohort_check_prepare_from_another_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["cohort", "--n-subjects", "4", "--size", "16", "--out", "c", "--no-progress", "--workers", "1"]) == 0
    assert main(["check", "c"]) == 0
    assert main(["prepare", "--profile", "smoke", "--data", "c", "--out", "p", "--set", "matching.enabled=false",
                 "--set", "split.test_fraction=0.5", "--set", "split.val_fraction=0"]) == 0, capsys.readouterr().err
    assert (tmp_path / "c" / "labels.csv").is_file() and (tmp_path / "p" / "train" / "labels.csv").is_file()
    assert not (REPOSITORY / "c").exists() and not (REPOSITORY / "p").exists()
