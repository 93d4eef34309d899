"""The training loop at 4..16 px: run folder, exact resume, selection, final mode, NaN handling, CLI."""

from __future__ import annotations

import hashlib
import json
import shutil

import pandas as pd
import pytest
import torch
from conftest import fake_images, fake_labels
from training_helpers import TINY_TRAIN, make_prepared, tiny_config

from pacgan_lite import sampling as sampling_module
from pacgan_lite.checkpoint import load_checkpoint
from pacgan_lite.cli import main
from pacgan_lite.data import write_dataset
from pacgan_lite.errors import ConfigError, DataError, InputError
from pacgan_lite.inference import load_model, model_for_size
from pacgan_lite.run_folder import COMPLETE, INCOMPLETE, RunFolder
from pacgan_lite.training import TrainingDiverged, train
from pacgan_lite.training import loop as loop_module
from pacgan_lite.training import selection as selection_module
from pacgan_lite.training import step as step_module

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    return make_prepared(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def full_run(prepared, tmp_path_factory):
    """One uninterrupted validation run, shared by the tests that only read it."""
    return train(tiny_config(), prepared / "train", run_dir=tmp_path_factory.mktemp("runs") / "full", echo=False)


def _weights(*modules):
    return [t for m in modules if m is not None for t in [*m.parameters(), *m.buffers()]]


def _stats(run_dir):
    return [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]


def test_run_folder_holds_options_log_stats_samples_checkpoints(full_run):
    run_dir = full_run.run_dir
    options = json.loads((run_dir / "options.json").read_text())
    assert options["config"]["train"]["stages"] == 3 and options["class_names"] == ["CN", "AD"]
    stats = _stats(run_dir)
    assert [(r["stage"], r["epoch"], r["resolution"]) for r in stats] == [
        (0, 1, 4), (0, 2, 4), (1, 1, 8), (1, 2, 8), (2, 1, 16), (2, 2, 16)]
    for key in ("fade_alpha", "critic_loss", "critic_score_real", "critic_score_fake", "critic_gradient_penalty",
                "critic_class_real", "critic_class_fake", "generator_loss", "images_per_second", "seconds"):
        assert all(key in r for r in stats), key
    # selection_start 0.5 of 2 epochs: epoch 1 onwards is validated
    assert all("val_auc_real" in r and "val_auc_fake" in r for r in stats)
    assert stats[2]["fade_alpha"] == pytest.approx(1.0) and 0 < stats[2]["images_seen"]
    for stage in range(3):
        for name in (f"samples-stage{stage}.png", f"stage{stage}-best.pt", f"stage{stage}-final.pt"):
            assert (run_dir / name).is_file(), name
    assert "selected epoch" in (run_dir / "log.txt").read_text()
    assert [s["stage"] for s in json.loads((run_dir / "selection.json").read_text())["stages"]] == [0, 1, 2]
    assert full_run.stage == 3 and full_run.generator(torch.zeros(2, 8), torch.tensor([0, 1]), 2, 1.0).shape == (
        2, 1, 16, 16)


@pytest.mark.parametrize("stop_after", [1, 3])
def test_interrupted_and_resumed_run_ends_with_the_same_weights(full_run, prepared, tmp_path, stop_after):
    config = tiny_config()
    first = train(config, prepared / "train", run_dir=tmp_path / "run", max_epochs=stop_after, echo=False)
    assert (first.stage, first.epoch) == divmod(stop_after, 2)
    resumed = train(config, prepared / "train", resume=tmp_path / "run" / "latest.pt", echo=False)
    assert resumed.run_dir == tmp_path / "run"
    for mine, reference in zip(_weights(resumed.generator, resumed.discriminator),
                               _weights(full_run.generator, full_run.discriminator), strict=True):
        assert torch.equal(mine, reference)
    assert [r["critic_loss"] for r in _stats(tmp_path / "run")] == [r["critic_loss"] for r in _stats(full_run.run_dir)]


@pytest.mark.parametrize("levers", [
    {"train__ema": True, "train__ema_half_life_images": 16, "train__gradient_penalty_interval": 3},
    {"train__augment": ["translation", "cutout", "brightness", "contrast"], "model__conditioning": "tac",
     "model__mbstd_group_size": 2, "train__loss__class_label_smoothing": 0.1, "train__class_augment": True},
    {"model__conditioning": "projection", "model__min_channels": 8, "model__upsample": "bilinear",
     "train__loss__mode_seeking": 1.0, "train__loss__mode_seeking_scale": 2, "train__loss__mode_seeking_up_to_real": True,
     "train__loss__mode_seeking_per_class": True},
    {"model__bilinear_from": 16, "model__noise_from": 8, "model__generator_padding": "reflect"},
], ids=["ema-lazy-penalty", "augment-tac-groups-smoothing-class-augment", "projection-floor-bilinear-capped-per-class-mode-seeking",
        "bilinear-from-noise-reflect"])
def test_resume_is_exact_with_the_levers(prepared, tmp_path, levers):
    # The EMA weights, the critic-step counter that times the lazy penalty and the noise generator the
    # augmentations draw from all live in the checkpoint.
    config = tiny_config(**levers)
    whole = train(config, prepared / "train", run_dir=tmp_path / "whole", echo=False)
    train(config, prepared / "train", run_dir=tmp_path / "run", max_epochs=3, echo=False)
    resumed = train(config, prepared / "train", resume=tmp_path / "run" / "latest.pt", echo=False)
    for mine, reference in zip(_weights(resumed.generator, resumed.discriminator, resumed.generator_ema),
                               _weights(whole.generator, whole.discriminator, whole.generator_ema), strict=True):
        assert torch.equal(mine, reference)
    for term, lever in (("mode_seeking", "train__loss__mode_seeking"),
                        ("mode_seeking_real", "train__loss__mode_seeking_up_to_real")):
        logged = [f"generator_{term}" in r for r in _stats(tmp_path / "whole")]
        assert all(logged) if lever in levers else not any(logged)


@pytest.mark.parametrize("resume_from", ["latest.pt", "stage0-best.pt"])
def test_a_resume_leaves_one_stats_row_per_epoch(full_run, prepared, tmp_path, resume_from):
    # The periodic checkpoint every 2 epochs misses the stop after stage 1's first epoch, so the stop saves
    # it; a resume from an earlier checkpoint trains the epochs after it again, and their rows are written anew.
    config = tiny_config(train__checkpoint_every_epochs=2)
    train(config, prepared / "train", run_dir=tmp_path / "run", max_epochs=3, echo=False)
    position = load_checkpoint(tmp_path / "run" / "latest.pt")["position"]
    assert (position["stage"], position["epoch"]) == (1, 1)
    resumed = train(config, prepared / "train", resume=tmp_path / "run" / resume_from, echo=False)
    for mine, reference in zip(_weights(resumed.generator, resumed.discriminator),
                               _weights(full_run.generator, full_run.discriminator), strict=True):
        assert torch.equal(mine, reference)
    mine, reference = ([(r["stage"], r["epoch"], r["critic_loss"]) for r in _stats(run_dir)]
                       for run_dir in (tmp_path / "run", full_run.run_dir))
    assert mine == reference


def test_a_run_continued_in_place_to_more_stages_reads_as_the_longer_run(prepared, tmp_path):
    run = RunFolder(tmp_path / "run")
    train(tiny_config(train__stages=2, train__validate=False), prepared / "train", run_dir=run.path, echo=False)
    assert run.status().state == COMPLETE
    trainer = loop_module.Trainer(tiny_config(train__validate=False), prepared / "train", resume=run.checkpoint(1),
                                  echo=False)
    options = run.options()
    assert options["epochs_per_stage"] == [2, 2, 2] and options["resume"] == str(run.checkpoint(1))
    assert [(earlier["epochs_per_stage"], earlier["resume"]) for earlier in options["earlier"]] == [([2, 2], None)]
    status = run.status()
    assert status.state == INCOMPLETE and status.reason.endswith("of 3 stages")
    trainer.run()
    assert run.status().reason == "all 3 stages finished" and run.final_checkpoint() == run.checkpoint(2)


def test_a_training_split_without_rows_is_named_with_its_fix(tmp_path):
    prepared = make_prepared(tmp_path)
    labels = pd.read_csv(prepared / "train" / "labels.csv")
    labels["Split"] = labels["Split"].replace({"train": "Train"})
    labels.to_csv(prepared / "train" / "labels.csv", index=False)
    with pytest.raises(DataError, match=r"labels\.csv: Split: no 'train' rows to train on\. Fix: mark the training "
                                        r"rows Split = train"):
        train(tiny_config(), prepared / "train", run_dir=tmp_path / "run", echo=False)


def test_resume_takes_the_learning_rate_of_the_options_and_refuses_a_changed_schedule(prepared, tmp_path):
    # The advice after a divergence is "lower train.learning_rate and resume": the optimizers must follow it.
    train(tiny_config(), prepared / "train", run_dir=tmp_path / "run", max_epochs=1, echo=False)
    latest = tmp_path / "run" / "latest.pt"
    trainer = loop_module.Trainer(tiny_config(train__learning_rate=2e-4, train__betas=[0.0, 0.99]),
                                  prepared / "train", resume=latest, echo=False)
    for optimizer in (trainer.step.opt_G, trainer.step.opt_D):
        assert {(g["lr"], tuple(g["betas"])) for g in optimizer.param_groups} == {(2e-4, (0.0, 0.99))}
    with pytest.raises(ConfigError, match=r"latest\.pt: train\.epochs_per_stage: the checkpoint was trained with "
                                          r"\(2, 2, 2\), the options now say \(3, 2, 2\)"):
        train(tiny_config(train__epochs_per_stage=[3, 2, 2]), prepared / "train", resume=latest, echo=False)


def test_resume_refuses_data_whose_labels_name_other_classes(prepared, tmp_path):
    train(tiny_config(), prepared / "train", run_dir=tmp_path / "run", max_epochs=1, echo=False)
    swapped = shutil.copytree(prepared / "train", tmp_path / "swapped")
    meta = json.loads((swapped / "dataset.json").read_text())
    (swapped / "dataset.json").write_text(json.dumps({**meta, "class_names": meta["class_names"][::-1]}))
    with pytest.raises(DataError, match=r"dataset\.json: class_names: are \['AD', 'CN'\]; the checkpoint latest\.pt "
                                        r"was trained with \['CN', 'AD'\]"):
        train(tiny_config(), swapped, resume=tmp_path / "run" / "latest.pt", echo=False)


def test_resume_continues_with_new_values_for_the_stages_ahead_and_refuses_a_change_to_a_begun_one(
        full_run, prepared, tmp_path):
    # Trained to 8 px with another length planned for the 16 px stage, then continued with the full run's
    # schedule: the stages ahead of a checkpoint are free, and the result is the full run to the last bit.
    train(tiny_config(train__stages=2, train__epochs_per_stage=[2, 2, 9], train__batch_sizes=[8, 8, 4]),
          prepared / "train", run_dir=tmp_path / "short", echo=False)
    continued = train(tiny_config(), prepared / "train", resume=tmp_path / "short" / "stage1-best.pt",
                      run_dir=tmp_path / "continued", echo=False)
    for mine, reference in zip(_weights(continued.generator, continued.discriminator),
                               _weights(full_run.generator, full_run.discriminator), strict=True):
        assert torch.equal(mine, reference)
    assert json.loads((tmp_path / "continued" / "options.json").read_text())["epochs_per_stage"] == [2, 2, 2]

    train(tiny_config(), prepared / "train", run_dir=tmp_path / "stopped", max_epochs=3, echo=False)
    mid_stage_1 = tmp_path / "stopped" / "latest.pt"  # stage 1, epoch 1: stages 0 and 1 begun
    loop_module.Trainer(tiny_config(train__critic_iterations=[1, 1, 3]), prepared / "train", resume=mid_stage_1,
                        echo=False)
    with pytest.raises(ConfigError, match=r"latest\.pt: train\.batch_sizes: the checkpoint was trained with "
                                          r"\(8, 8, 8\), the options now say \(8, 4, 8\): stage 1, which it has "
                                          r"begun, changed\. Fix: keep the values of stages 0 to 1"):
        train(tiny_config(train__batch_sizes=[8, 4, 8]), prepared / "train", resume=mid_stage_1, echo=False)


def test_one_stage_per_call_from_the_previous_stage_checkpoint(full_run, prepared, tmp_path):
    config = tiny_config()
    train(config, prepared / "train", run_dir=tmp_path / "run", stages=1, echo=False)
    train(config, prepared / "train", resume=tmp_path / "run" / "stage0-best.pt", stages=2, echo=False)
    last = train(config, prepared / "train", resume=tmp_path / "run" / "stage1-best.pt", stages=3, echo=False)
    for mine, reference in zip(_weights(last.generator), _weights(full_run.generator), strict=True):
        assert torch.equal(mine, reference)


def test_best_snapshot_is_a_copy_and_is_carried_into_the_next_stage(prepared, tmp_path, monkeypatch):
    """Scores fall with every validation, so epoch 1 is selected; later training must not change it."""
    scores = iter(range(100, 0, -1))
    monkeypatch.setattr(loop_module, "classifier_auc", lambda *args: (next(scores) / 200, 0.5))
    config = tiny_config(train__epochs_per_stage=[3, 3, 3], train__selection_start=0.0, train__stages=2)
    result = train(config, prepared / "train", run_dir=tmp_path / "run", echo=False)
    best = load_checkpoint(tmp_path / "run" / "stage0-best.pt")
    final = load_checkpoint(tmp_path / "run" / "stage0-final.pt")
    stage0 = final["selection"]["best"]
    assert stage0["epoch"] == 1 and [h["epoch"] for h in stage0["history"]] == [1, 2, 3]
    assert best["position"] == {**best["position"], "stage": 1, "epoch": 0}
    for name, snapshot in stage0["snapshot"]["generator"].items():
        assert torch.equal(best["generator"][name], snapshot)
    differs = [not torch.equal(final["generator"][n], s) for n, s in stage0["snapshot"]["generator"].items()]
    assert any(differs), "the best snapshot followed the live weights"
    assert "stage 0 (4 px): selected epoch 1 of 3" in (tmp_path / "run" / "log.txt").read_text()
    assert [s["selected_epoch"] for s in result.selections] == [1, 1]


def test_auc_is_computed_once_over_the_whole_set(prepared, tmp_path, monkeypatch):
    sizes = []
    real_set_auc = sampling_module.set_auc

    def spy(probabilities, labels):
        sizes.append(len(labels))
        return real_set_auc(probabilities, labels)

    monkeypatch.setattr(sampling_module, "set_auc", spy)
    config = tiny_config(train__stages=1, train__eval_batch_size=3)  # batches of 3 must not matter
    train(config, prepared / "train", run_dir=tmp_path / "run", echo=False)
    assert sizes == [8, 8] * 2  # per validated epoch: 8 real val images, 2 x 4 fakes


def test_set_auc_is_set_level_not_a_batch_average():
    probabilities = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.3, 0.7]])
    labels = torch.tensor([0, 0, 1, 1])
    # Set level: pairs (pos, neg) ranked right: 0.6 > 0.1, 0.6 < 0.8, 0.7 > 0.1, 0.7 < 0.8 -> 0.5
    assert sampling_module.set_auc(probabilities, labels) == pytest.approx(0.5)
    assert torch.isnan(torch.tensor(sampling_module.set_auc(probabilities[:2], labels[:2])))
    three = torch.softmax(torch.randn(30, 3, generator=torch.Generator().manual_seed(0)), 1)
    assert 0 <= sampling_module.set_auc(three, torch.arange(30) % 3) <= 1


def test_final_mode_trains_the_selected_epoch_counts_on_train_and_val(prepared, tmp_path):
    validation_run = tmp_path / "validation"
    validation_run.mkdir()
    (validation_run / "selection.json").write_text(json.dumps({"stages": [
        {"stage": 0, "selected_epoch": 2, "epochs": 9}, {"stage": 1, "selected_epoch": 1, "epochs": 9},
        {"stage": 2, "selected_epoch": 3, "epochs": 9}]}))
    with pytest.raises(ConfigError, match=r"selection\.json: epochs: the validation run's stages had \[9, 9, 9\] "
                                          r"epochs, train\.epochs_per_stage says \[9, 8, 9\]"):
        train(tiny_config(train__final_mode=True, train__selection_from=str(validation_run),
                          train__epochs_per_stage=[9, 8, 9]), prepared / "train", run_dir=tmp_path / "x", echo=False)
    config = tiny_config(train__final_mode=True, train__selection_from=str(validation_run),
                         train__epochs_per_stage=[9, 9, 9])
    result = train(config, prepared / "train", test_folder=prepared / "test", run_dir=tmp_path / "final",
                   echo=False)
    stats = _stats(tmp_path / "final")
    assert [max(r["epoch"] for r in stats if r["stage"] == s) for s in range(3)] == [2, 1, 3]
    assert stats[0]["images_seen"] == 24  # train + val
    assert stats[2]["fade_alpha"] == pytest.approx(1 / 4.5)  # the fade of the 9-epoch validation schedule
    assert not any("val_auc_real" in r for r in stats)
    test = json.loads((tmp_path / "final" / "test_metrics.json").read_text())["stages"]
    assert [t["stage"] for t in test] == [0, 1, 2] and all(0 <= t["test_auc"] <= 1 for t in test)
    assert all(t["n_test"] == 8 for t in result.test_metrics)


def test_leading_stages_of_0_epochs_are_skipped_no_progressive_growing(prepared, tmp_path, monkeypatch):
    # 4 and 8 px skipped: 16 px trained from its first image at fade_alpha 1 (with fade_fraction 1, a stage
    # that fades in would read 0.5 after its first epoch of 2)
    config = tiny_config(train__epochs_per_stage=[0, 0, 2], train__fade_fraction=1.0)
    points, step = [], step_module.TrainingStep.__call__
    monkeypatch.setattr(step_module.TrainingStep, "__call__",
                        lambda self, real, labels, point: points.append(point) or step(self, real, labels, point))
    whole = train(config, prepared / "train", run_dir=tmp_path / "whole", echo=False)
    assert points and {(point.stage, point.fade_alpha) for point in points} == {(2, 1.0)}
    assert [(r["stage"], r["epoch"], r["fade_alpha"]) for r in _stats(tmp_path / "whole")] == [(2, 1, 1.0), (2, 2, 1.0)]
    run = whole.run
    status = run.status()
    assert (status.state, status.reason) == (COMPLETE, "all 3 stages finished (stages [0, 1] skipped: 0 epochs)")
    assert run.skipped_stages == [0, 1] and list(run.checkpoints()) == [2]
    assert run.final_checkpoint() == run.checkpoint(2, "best")
    assert sorted(path.name for path in run.path.glob("samples-*")) == ["samples-stage2.png"]
    assert [record["stage"] for record in run.selections()] == [2]  # no record for a skipped stage ...
    assert run.selected_epochs()[:2] == [0, 0] and len(run.selected_epochs()) == 3  # ... it reads as 0
    with pytest.raises(InputError, match=r"8 px needs the weights selected at that stage \(stage1-best\.pt\)"):
        model_for_size(load_model(run.path), 8)
    with pytest.raises(ConfigError, match=r"stages: must be in 3\.\.3 \(stages \[0, 1\] have 0 epochs\), got 2"):
        train(config, prepared / "train", run_dir=tmp_path / "short", stages=2, echo=False)

    # stopped mid-stage and resumed: the same weights as the whole run
    first = train(config, prepared / "train", run_dir=tmp_path / "run", max_epochs=1, echo=False)
    assert (first.stage, first.epoch) == (2, 1)
    resumed = train(config, prepared / "train", resume=tmp_path / "run" / "latest.pt", echo=False)
    for mine, reference in zip(_weights(resumed.generator, resumed.discriminator),
                               _weights(whole.generator, whole.discriminator), strict=True):
        assert torch.equal(mine, reference)

    # final mode retrains to the selected epoch of stage 2 and skips stages 0 and 1 again
    final = tiny_config(train__epochs_per_stage=[0, 0, 2], train__fade_fraction=1.0, train__final_mode=True,
                        train__selection_from=str(run.path))
    train(final, prepared / "train", test_folder=prepared / "test", run_dir=tmp_path / "final", echo=False)
    stats = _stats(tmp_path / "final")
    assert {r["stage"] for r in stats} == {2} and stats[-1]["epoch"] == run.selected_epochs()[2]
    assert [t["stage"] for t in RunFolder(tmp_path / "final").test_metrics()] == [2]
    assert RunFolder(tmp_path / "final").status().state == COMPLETE


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(prepared, tmp_path, monkeypatch):
    config = tiny_config()
    train(config, prepared / "train", run_dir=tmp_path / "run", max_epochs=1, echo=False)
    latest = tmp_path / "run" / "latest.pt"
    digest = hashlib.sha256(latest.read_bytes()).hexdigest()
    real_generator_loss = step_module.generator_loss

    def poisoned(*args, **kwargs):
        loss, terms = real_generator_loss(*args, **kwargs)
        return loss * float("nan"), {**terms, "loss": terms["loss"] * float("nan")}

    monkeypatch.setattr(step_module, "generator_loss", poisoned)
    with pytest.raises(TrainingDiverged, match=r"stage 0 \(4 px\), epoch 2: .*generator_loss"):
        train(config, prepared / "train", resume=latest, echo=False)
    assert hashlib.sha256(latest.read_bytes()).hexdigest() == digest
    payload = load_checkpoint(latest)
    assert payload["position"]["epoch"] == 1
    assert all(torch.isfinite(t).all() for t in payload["generator"].values())
    assert "training diverged" in (tmp_path / "run" / "log.txt").read_text()


def test_optional_ema_and_optimizer_reset(prepared, tmp_path):
    config = tiny_config(train__ema=True, train__ema_half_life_images=16, train__reset_optimizers_per_stage=True,
                         train__stages=2, train__validate=False)
    result = train(config, prepared / "train", run_dir=tmp_path / "run", echo=False)
    assert result.generator_ema is not None
    ema, live = result.generator_ema.state_dict(), result.generator.state_dict()
    assert any(not torch.equal(ema[k], live[k]) for k in live)
    payload = load_checkpoint(tmp_path / "run" / "latest.pt")
    assert payload["generator_ema"] is not None
    # a reset at stage 1 leaves Adam's step count at stage 1's steps only (2 epochs of 2 batches); the
    # 4 px to-image layer, used only during the fade-in (the first half), has stepped in that half only
    steps = {int(s["step"]) for s in payload["optimizer_generator"]["state"].values()}
    assert steps == {2, 4}


def test_cli_train_writes_the_run_folder(prepared, tmp_path, capsys):
    out = tmp_path / "cli-run"
    sets = [x for k, v in TINY_TRAIN.items() for x in ("--set", f"{k}={json.dumps(v)}")]
    args = ["train", "--profile", "smoke", "--data", str(prepared), "--out", str(out), *sets, "--set", "train.stages=1"]
    assert main(args) == 0
    assert (out / "latest.pt").is_file() and (out / "stats.jsonl").is_file() and (out / "samples-stage0.png").is_file()
    assert "run folder" in capsys.readouterr().out


def test_cli_train_prepares_a_source_data_set(tmp_path, monkeypatch):
    labels = fake_labels(n_subjects=40, sessions=2)
    write_dataset(tmp_path / "source", fake_images(len(labels), size=16), labels, ["CN", "AD"])
    monkeypatch.setenv("PACGAN_LITE_DATA", str(tmp_path / "cache"))
    sets = [x for k, v in TINY_TRAIN.items() for x in ("--set", f"{k}={json.dumps(v)}")]
    args = ["train", "--profile", "smoke", "--data", str(tmp_path / "source"), "--out", str(tmp_path / "run"),
            *sets, "--set", "train.stages=1", "--set", "matching.caliper_years=6.0"]
    assert main(args) == 0
    options = json.loads((tmp_path / "run" / "options.json").read_text())
    assert options["train_folder"].startswith(str(tmp_path / "cache")) and options["test_folder"].endswith("test")


def test_the_paper_criterion_is_recorded_with_its_components(full_run):
    records = json.loads((full_run.run_dir / "selection.json").read_text())["stages"]
    for record in records:
        components = record["components"]
        assert record["criterion"] == "paper" and set(components) == {"auc_real", "auc_fake"}
        assert record["score"] == components["auc_real"] + components["auc_fake"]
    assert "(AUC real + AUC fake = " in (full_run.run_dir / "log.txt").read_text()


@pytest.mark.parametrize(("criterion", "selected"), [("paper", 1), ("fidelity", 2), ("fidelity_spread", 2)])
def test_each_criterion_selects_its_epoch_and_records_what_it_measured(prepared, tmp_path, monkeypatch, criterion,
                                                                        selected):
    """Epoch 1 over-separates the generated classes (AUC on fakes 1.0, ten times the real class effect),
    epoch 2 matches the real effect with a lower AUC on fakes, epoch 3 has twice the effect."""
    aucs = iter([0.8, 1.0, 0.8, 0.6, 0.8, 0.9])  # per validation: real, then generated
    effects = iter([[0.9], [9.0], [0.9], [0.95], [0.9], [1.8]])  # per validation: real, then generated
    monkeypatch.setattr(loop_module, "classifier_auc", lambda *args: (next(aucs), 0.5))
    monkeypatch.setattr(selection_module, "class_effects", lambda *args: next(effects))
    config = tiny_config(train__stages=1, train__epochs_per_stage=[3, 2, 2], train__selection_start=0.0,
                         train__selection=criterion)
    result = train(config, prepared / "train", run_dir=tmp_path / "run", echo=False)
    assert [s["selected_epoch"] for s in result.selections] == [selected]
    record = json.loads((tmp_path / "run" / "selection.json").read_text())["stages"][0]
    assert record["criterion"] == criterion and record["selected_epoch"] == selected
    assert record["components"]["auc_fake"] == [1.0, 0.6, 0.9][selected - 1]
    stats = _stats(tmp_path / "run")
    if criterion != "paper":
        assert record["components"]["effect_fake"] == [[9.0], [0.95], [1.8]][selected - 1]
        assert [r["val_effect_gap"] for r in stats] == pytest.approx([0.9, 1 - 0.9 / 0.95, 0.5])
    assert ("val_spread_gap" in stats[0]) == (criterion == "fidelity_spread")
    assert [r["selection_score"] for r in stats] == pytest.approx({
        "paper": [1.8, 1.4, 1.7], "fidelity": [-0.1, 0.8 - 0.05 / 0.95, 0.3],
        "fidelity_spread": [0.35, 0.8 - 0.025 / 0.95, 0.55]}[criterion], abs=1e-4)


def test_a_fidelity_run_measures_the_biomarker_and_a_resume_keeps_its_criterion(prepared, tmp_path):
    config = tiny_config(train__stages=2, train__selection="fidelity_spread")
    train(config, prepared / "train", run_dir=tmp_path / "run", echo=False)
    for record in json.loads((tmp_path / "run" / "selection.json").read_text())["stages"]:
        assert record["criterion"] == "fidelity_spread"
        assert len(record["components"]["effect_fake"]) == 1 and len(record["components"]["spread_fake"]) == 2
    latest = tmp_path / "run" / "latest.pt"
    with pytest.raises(ConfigError, match=r"latest\.pt: train\.selection: the checkpoint was trained with "
                                          r"fidelity_spread, the options now say paper"):
        train(tiny_config(train__stages=2), prepared / "train", resume=latest, echo=False)
