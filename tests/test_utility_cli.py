"""``pacgan-lite utility`` end to end on a tiny validation run: the tables, the figures, the final-protocol run
trained once and found again, and errors that name the file, the option and the fix."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from training_helpers import make_prepared, tiny_config

from pacgan_lite.cli import main
from pacgan_lite.run_folder import UTILITY_FILES, RunFolder
from pacgan_lite.training import train

FAST = ["--profile", "smoke", "--resolution", "16", "--seeds", "0", "1", "--quiet",
        "--set", "utility.bootstrap_resamples=50", "--set", "utility.classifier.max_epochs=2"]


@pytest.fixture(scope="module")
def study(tmp_path_factory, single_thread):
    """A tiny validation run (4..16 px) and the utility study of it, run once through the command line."""
    root = tmp_path_factory.mktemp("utility")
    prepared = make_prepared(root)
    run = train(tiny_config(), prepared / "train", test_folder=prepared / "test", run_dir=root / "runs" / "00000-smoke-val",
                echo=False).run
    assert main(["utility", "--run", str(run.path), *FAST]) == 0
    return run


def test_the_study_writes_its_tables_and_figures_into_the_run(study):
    assert sorted(path.name for path in study.utility_dir.iterdir()) == sorted(UTILITY_FILES.values())
    summary = study.utility_table("summary")
    assert summary["setting"].tolist() == ["real", "synthetic x1", "real + synthetic x1", "imbalanced",
                                           "imbalanced + synthetic", "imbalanced + oversampling",
                                           "critic (final run)", "critic (validation run)"]
    assert summary["n_seeds"].tolist() == [2] * 6 + [1, 1]
    assert ((summary["auc_low"] <= summary["auc"] + 1e-9) & (summary["auc"] <= summary["auc_high"] + 1e-9)).all()
    runs = study.utility_table("runs")
    assert len(runs) == 6 * 2 + 2
    assert set(study.utility_table("comparisons")["reading"]) <= {"helps", "hurts", "cannot tell"}
    record = study.utility_record()
    assert record["n_images"] == {"train": 16, "val": 8, "test": 8} and record["ceiling_from_hidden_severity"] is None
    assert record["options"]["seeds"] == [0, 1] and record["final_run_was"] == "trained"
    remedies = record["synthetic_vs_oversampling"]  # the two remedies of the imbalance against each other
    assert remedies["setting"] == "imbalanced + synthetic" and remedies["reading"] in {"helps", "hurts", "cannot tell"}
    assert remedies["difference_low"] <= remedies["difference_high"]


def test_the_final_run_is_the_paper_protocol_and_its_critic_scores_as_the_trainer_did(study):
    final = RunFolder(study.utility_record()["final_run"])
    assert final.is_final_mode and final.status().state == "complete"
    assert final.config()["train"]["selection_from"] == str(study.path.resolve())
    assert final.n_stages == study.n_stages and final.path.parent == study.path.parent
    critic_auc = study.utility_table("runs").set_index("setting").loc["critic (final run)", "test_auc"]
    assert critic_auc == pytest.approx(final.test_metrics()[-1]["test_auc"])  # the trainer's own test AUC


def test_a_second_study_finds_the_final_run_instead_of_training_it(study, capsys):
    assert main(["utility", "--run", str(study.path), *FAST, "--set", "utility.synthetic_ratios=[]",
                 "--set", "utility.synthetic_amounts=[]"]) == 0
    record = study.utility_record()
    assert record["final_run_was"] == "found"
    assert "real + synthetic x1" not in pd.read_csv(study.utility_file("summary"))["setting"].tolist()
    assert "tables and figures written to" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--resolution", "32"], "utility.resolution: the run has no finished stage at 32 px (its stages: [4, 8, 16] px)"),
        (["--set", "train.seed=1"], "override: train.seed: is not an option of the utility study"),
        (["--set", "utility.classifier.widths=[4, 8]"], "utility.classifier.widths: has 2 entries"),
        (["--set", "utility.imbalance_ratio=1.5"], "utility.imbalance_ratio: must be in [0.01, 0.99]"),
    ],
    ids=["resolution-not-trained", "not-a-utility-option", "three-levels", "ratio"],
)
def test_bad_input_is_named_with_its_fix(study, extra, message, capsys):
    assert main(["utility", "--run", str(study.path), *FAST, *extra]) == 2
    assert message in capsys.readouterr().err


def test_a_final_run_given_must_be_a_final_run_of_this_run(study, tmp_path, capsys):
    assert main(["utility", "--run", str(study.path), *FAST, "--final-run", str(study.path)]) == 2
    assert "train.selection_from: is not a final run of" in capsys.readouterr().err


def test_a_folder_that_is_not_a_run_is_refused(tmp_path, capsys):
    assert main(["utility", "--run", str(tmp_path), "--quiet"]) == 2
    assert "options.json: not found" in capsys.readouterr().err
    assert not (tmp_path / "utility").exists()


def test_the_record_is_plain_json(study):
    json.dumps(study.utility_record())
