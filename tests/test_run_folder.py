"""The run folder: names, status (complete / incomplete / failed), the reader, the sampling point, grids."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from training_helpers import make_prepared, tiny_config

from pacgan_lite.checkpoint import load_checkpoint
from pacgan_lite.run_folder import COMPLETE, FAILED, INCOMPLETE, RunFolder, save_image_grid
from pacgan_lite.training import TrainingDiverged, train
from pacgan_lite.utility.critic import ensure_final_run

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    return make_prepared(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def complete_run(prepared, tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs") / "run"
    train(tiny_config(), prepared / "train", run_dir=folder, echo=False)
    return RunFolder(folder)


def test_a_finished_run_reads_back_whole(complete_run):
    status = complete_run.status()
    assert (status.state, status.resume_from) == (COMPLETE, complete_run.latest)
    assert complete_run.n_stages == 3
    assert complete_run.config()["train"]["stages"] == 3
    assert list(complete_run.checkpoints()) == [0, 1, 2]
    assert all(set(kinds) == {"best", "final"} for kinds in complete_run.checkpoints().values())
    assert complete_run.final_checkpoint() == complete_run.checkpoint(2, "best")
    assert len(complete_run.selected_epochs()) == 3 and all(1 <= e <= 2 for e in complete_run.selected_epochs())
    stats = complete_run.stats()
    assert len(stats) == 6 and stats["epoch_index"].tolist() == list(range(1, 7))
    assert set(stats["stage"]) == {0, 1, 2}
    assert all(complete_run.samples(stage).is_file() for stage in range(3))
    assert complete_run.metrics() is None and complete_run.failure() is None


@pytest.mark.parametrize(("stage", "kind"), [(0, "best"), (1, "best"), (1, "final"), (2, "best"), (2, "final")])
def test_every_checkpoint_stores_where_it_samples(complete_run, stage, kind):
    payload = load_checkpoint(complete_run.checkpoint(stage, kind))
    sampling = payload["sampling"]
    assert (sampling["stage"], sampling["resolution"]) == (stage, 4 * 2**stage)
    if kind == "final" or stage == 0:
        assert sampling["fade_alpha"] == 1.0  # the end of a stage (or the first stage, which has no fade)
    else:  # the selected epoch e of 2: fade over the first half of the stage's images
        selected = complete_run.selected_epochs()[stage]
        assert sampling["fade_alpha"] == pytest.approx(min(1.0, selected / (0.5 * 2)))


def test_the_best_checkpoint_samples_its_stage_while_training_resumes_at_the_next(complete_run):
    payload = load_checkpoint(complete_run.checkpoint(1, "best"))
    assert payload["position"]["stage"] == 2 and payload["sampling"]["stage"] == 1


def test_an_interrupted_run_is_incomplete_and_says_where_it_stopped(prepared, tmp_path):
    train(tiny_config(), prepared / "train", run_dir=tmp_path / "run", max_epochs=3, echo=False)
    status = RunFolder(tmp_path / "run").status()
    assert status.state == INCOMPLETE
    assert status.resume_from == tmp_path / "run" / "latest.pt"
    assert "stage 1, epoch 1" in status.reason


def test_a_diverged_run_is_failed_with_its_reason_until_a_resume_starts(prepared, tmp_path):
    run = RunFolder(tmp_path / "run")
    with pytest.raises(TrainingDiverged):
        train(tiny_config(train__learning_rate=1e30), prepared / "train", run_dir=run.path, echo=False)
    status = run.status()
    assert status.state == FAILED and "TrainingDiverged" in status.reason and "not finite" in status.reason
    run.file("failure.json").write_text(json.dumps({"error": "x", "stage": 0, "epoch": 0}))
    assert run.status().state == FAILED
    # A resume is a new attempt: the failure record goes.
    train(tiny_config(), prepared / "train", run_dir=run.path, max_epochs=1, echo=False)
    assert run.status().state == INCOMPLETE and run.failure() is None


@pytest.mark.parametrize(("files", "state", "reason"), [
    ({}, INCOMPLETE, "not started"),
    ({"options.json": {"epochs_per_stage": [2, 2]}}, INCOMPLETE, "no checkpoint yet"),
    ({"options.json": {"epochs_per_stage": [2, 2]}, "failure.json": {"error": "boom"}}, FAILED, "boom"),
])
def test_status_of_folders_without_checkpoints(tmp_path, files, state, reason):
    for name, content in files.items():
        (tmp_path / name).write_text(json.dumps(content))
    status = RunFolder(tmp_path).status()
    assert status.state == state and reason in status.reason and status.resume_from is None


def test_a_folder_that_is_not_a_run_is_named_in_the_error(tmp_path):
    with pytest.raises(ValueError, match=r"options\.json: not found.*Fix: give the folder"):
        RunFolder(tmp_path).options()
    with pytest.raises(ValueError, match="not complete"):
        RunFolder(tmp_path).final_checkpoint()


def test_new_folders_count_up_and_the_newest_complete_run_is_found(tmp_path, complete_run):
    first, second = RunFolder.create(tmp_path, "smoke-val"), RunFolder.create(tmp_path, "smoke-val")
    assert (first.path.name, second.path.name) == ("00000-smoke-val", "00001-smoke-val")
    assert RunFolder.newest_complete(tmp_path, "smoke") is None  # both empty
    (tmp_path / "00002-smoke-val").symlink_to(complete_run.path)
    assert RunFolder.newest_complete(tmp_path, "smoke").path.name == "00002-smoke-val"


def test_stats_number_epochs_across_stages(tmp_path):
    run = RunFolder(tmp_path)
    for record in [{"stage": s, "epoch": e, "critic_loss": 1.0} for s in (0, 1) for e in (1, 2)]:
        run.append_stats(record)
    run.append_stats({"stage": 1, "epoch": 3, "critic_loss": float("nan")})
    stats = run.stats()
    assert stats["epoch_index"].tolist() == [1, 2, 3, 4, 5]
    assert np.isnan(stats["critic_loss"].iloc[-1])  # written as null, read back as missing


def _strict(constant: str):
    raise ValueError(f"{constant} is not JSON")


@pytest.mark.parametrize(("value", "read_back"), [
    (1.5, 1.5),
    (float("nan"), None),
    ([float("nan"), 0.5], [None, 0.5]),  # as val_effect_real of a class without a measurable effect
    ({"per_class": [float("-inf")]}, {"per_class": [None]}),
])
def test_stats_lines_are_json_with_non_finite_numbers_as_null(tmp_path, value, read_back):
    run = RunFolder(tmp_path)
    run.append_stats({"stage": 0, "epoch": 1, "value": value})
    assert json.loads(run.file("stats.jsonl").read_text(), parse_constant=_strict)["value"] == read_back


STATS_ROWS = [(0, 1), (0, 2), (1, 1), (1, 2)]


@pytest.mark.parametrize(("stage", "epoch", "kept"), [
    (1, 1, STATS_ROWS[:3]),  # the latest checkpoint of stage 1, epoch 1
    (1, 0, STATS_ROWS[:2]),  # stage 0's best: stage 1 starts again
    (2, 0, STATS_ROWS),
    (0, 0, []),  # a new start
])
def test_training_that_starts_again_keeps_the_stats_rows_up_to_its_start(tmp_path, stage, epoch, kept):
    run = RunFolder(tmp_path)
    for row_stage, row_epoch in STATS_ROWS:
        run.append_stats({"stage": row_stage, "epoch": row_epoch, "critic_loss": 1.0})
    with open(run.file("stats.jsonl"), "a") as file:
        file.write('{"stage": 1, "ep')  # torn by a crash while it was written
    run.keep_stats_until(stage, epoch)
    assert [(row["stage"], row["epoch"]) for row in run.stats().to_dict("records")] == kept


def _run_folder(path, train: dict) -> RunFolder:
    """A complete one-stage run folder with ``train`` options, without training."""
    path.mkdir(parents=True)
    (path / "options.json").write_text(json.dumps({"config": {"profile": "smoke", "train": train},
                                                   "epochs_per_stage": [2]}))
    (path / "stage0-best.pt").touch()
    return RunFolder(path)


@pytest.mark.parametrize("selection_from", [
    "runs/00000-smoke-val", "runs/00000-smoke-val/selection.json", "{root}/runs/00000-smoke-val"])
def test_a_final_run_is_found_by_its_selection_from_relative_to_the_repository_root(tmp_path, monkeypatch,
                                                                                    selection_from):
    root = tmp_path / "root"
    monkeypatch.setenv("PACGAN_LITE_ROOT", str(root))
    monkeypatch.chdir(tmp_path)  # not the root: a relative path read from here would name another folder
    validation = _run_folder(root / "runs" / "00000-smoke-val", {"final_mode": False, "selection_from": None})
    (validation.path / "selection.json").write_text(json.dumps({"stages": [{"stage": 0, "selected_epoch": 1,
                                                                            "epochs": 2}]}))
    final = _run_folder(root / "runs" / "00001-smoke-final",
                        {"final_mode": True, "selection_from": selection_from.format(root=root)})
    _run_folder(root / "runs" / "00002-smoke-final", {"final_mode": True, "selection_from": "runs/another"})
    assert [run.path for run in validation.final_runs()] == [final.path]
    run, how = ensure_final_run(validation, final.path)
    assert (run.path, how) == (final.path, "given")


def test_sample_grid_puts_anterior_up(tmp_path):
    image = -torch.ones(2, 1, 4, 4)
    image[:, :, -1, :] = 1  # the last tensor row (H axis) is the most anterior one
    save_image_grid(image, rows=2, path=tmp_path / "grid.png")
    pixels = np.asarray(Image.open(tmp_path / "grid.png"))
    assert pixels.shape == (2 * 6 + 2, 6 + 2)
    assert (pixels[2, 2:6] == 255).all() and (pixels[5, 2:6] == 0).all()  # top row of the first tile is bright


@pytest.mark.parametrize(("stage", "kind"), [(0, "best"), (1, "best"), (2, "best"), (1, "final")])
def test_a_version_1_checkpoint_loads_with_the_sampling_point_worked_out(complete_run, tmp_path, stage, kind):
    current = load_checkpoint(complete_run.checkpoint(stage, kind))
    older = {key: value for key, value in current.items() if key != "sampling"} | {"format_version": 1}
    torch.save(older, tmp_path / "v1.pt")
    upgraded = load_checkpoint(tmp_path / "v1.pt")
    assert upgraded["format_version"] == 2
    assert upgraded["sampling"] == pytest.approx(current["sampling"])


def test_a_checkpoint_from_before_newer_options_resumes_with_their_defaults(prepared, tmp_path):
    run = RunFolder(tmp_path / "run")
    train(tiny_config(), prepared / "train", run_dir=run.path, max_epochs=1, echo=False)
    payload = torch.load(run.latest, weights_only=True)
    del payload["options"]["train"]["selection"]  # written before train.selection existed
    for key in ("conditioning", "mbstd_group_size", "min_channels", "upsample", "bilinear_from", "noise_from",
                "generator_padding"):  # and these
        del payload["architecture"][key]
    torch.save(payload, run.latest)
    result = train(tiny_config(), prepared / "train", resume=run.latest, max_epochs=1, echo=False)
    assert (result.stage, result.epoch) == (1, 0)  # the second of stage 0's two epochs, then the stage end
