"""Sweeps that really run: a killed sweep started again, the table from the folders alone, submitit's local
executor, and a failed run next to a good one. Each run is a papermill execution of a tiny 4 -> 8 px run."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
import yaml
from training_helpers import make_prepared

from pacgan_lite import cli
from pacgan_lite.errors import ConfigError
from pacgan_lite.evaluation.summary import headline_table
from pacgan_lite.run_folder import COMPLETE, INCOMPLETE, RunFolder
from pacgan_lite.sweep import sweep
from pacgan_lite.sweep.runs import LOG_FILE, RESULTS_FILE, SUMMARY_FILE

pytestmark = pytest.mark.slow

TINY_RUN = {
    "model.z_dim": 8, "model.embedding_dim": 2, "model.base_channels": 8, "model.channel_factors": [1, 1],
    "model.aux_hidden": 4, "train.stages": 2, "train.epochs_per_stage": [1, 12], "train.batch_sizes": [8, 8],
    "train.critic_iterations": [1, 1], "train.validation_fakes_per_class": 4, "train.samples_per_class": 2,
    "train.eval_batch_size": 8,
}
DIVERGES = {"train.learning_rate": 1.0e30}  # the weights overflow in the first step: TrainingDiverged


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    return make_prepared(tmp_path_factory.mktemp("data"))


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """The notebooks' kernels inherit it: tiny networks run faster on one thread of a busy machine."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def _grid(folder: Path, prepared: Path, variants: list[dict], seeds: list[int]) -> Path:
    path = folder / "grid.yaml"
    path.write_text(yaml.safe_dump({
        "profile": "smoke", "data": str(prepared), "overrides": {**TINY_RUN, "data.root": str(prepared.parent)},
        "evaluation": {"held_out": "test", "synthetic_per_class": 8, "metrics": ["classifier", "ssim"]},
        "seeds": seeds, "variants": variants}))
    return path


def _starts(out: Path) -> list[str]:
    """The runs whose notebook the sweep started, in order, from its log of attempts."""
    events = [json.loads(line) for line in (out / LOG_FILE).read_text().splitlines()]
    return [event["run"] for event in events if event["event"] == "start"]


def _kill_with_descendants(process: subprocess.Popen) -> None:
    """SIGKILL a process and all it started: the sweep and its notebook's kernel, which runs in a session of
    its own and, left orphaned, can finish a tiny run after the kill."""
    parent = psutil.Process(process.pid)
    for victim in [*parent.children(recursive=True), parent]:
        with contextlib.suppress(psutil.NoSuchProcess):
            victim.kill()


def _wait_for(condition, timeout_s: float, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert process.poll() is None, f"the sweep ended early: {process.communicate()}"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def killed_and_restarted(prepared, tmp_path_factory):
    """A sweep of two runs, killed with SIGKILL once the first is done and the second has a checkpoint,
    then started again; returns the sweep folder and what was seen at the kill."""
    folder = tmp_path_factory.mktemp("killed")
    grid, out = _grid(folder, prepared, [{"name": "full"}], [0, 1]), folder / "sweep"
    command = [str(Path(sys.executable).with_name("pacgan-lite")), "sweep", str(grid), "--out", str(out), "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first, second = RunFolder(out / "full-seed0"), RunFolder(out / "full-seed1")
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for(lambda: first.metrics() is not None and second.latest.is_file(), 300, process)
    finally:
        _kill_with_descendants(process)
        process.communicate()
    at_kill = {"second": second.status(), "mtimes": {p.name: p.stat().st_mtime_ns for p in first.path.rglob("*")}}
    restarted = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    return out, at_kill, restarted.stdout


def test_a_killed_sweep_started_again_finishes_without_redoing_finished_runs(killed_and_restarted):
    out, at_kill, printed = killed_and_restarted
    first, second = RunFolder(out / "full-seed0"), RunFolder(out / "full-seed1")
    assert "full-seed0: done (trained and evaluated), skipped" in printed
    assert _starts(out) == ["full-seed0", "full-seed1", "full-seed1"]  # the finished run was not started again
    assert {p.name: p.stat().st_mtime_ns for p in first.path.rglob("*")} == at_kill["mtimes"]
    assert [run.status().state for run in (first, second)] == [COMPLETE, COMPLETE]
    assert second.metrics() is not None and (out / "full-seed1.ipynb").is_file()
    if at_kill["second"].state == INCOMPLETE:  # killed part-way: the second attempt resumed its checkpoint
        assert f"resumed from {at_kill['second'].resume_from}" in second.file("log.txt").read_text()


def test_collect_rebuilds_the_table_from_the_run_folders_alone(killed_and_restarted, capsys):
    out = killed_and_restarted[0]
    for name in (RESULTS_FILE, SUMMARY_FILE, LOG_FILE):  # only the run folders are left
        (out / name).unlink()
    assert cli.main(["sweep", str(out.parent / "grid.yaml"), "--out", str(out), "--collect"]) == 0
    results = pd.read_csv(out / RESULTS_FILE)
    assert list(results["run"]) == ["full-seed0", "full-seed1"] and set(results["state"]) == {"done"}
    auc = "critic AUC, real held-out"
    for run, value in results.set_index("run")[auc].items():
        assert value == pytest.approx(headline_table(RunFolder(out / run).metrics()).loc[auc, "value"])
    assert results["images_per_second"].gt(0).all() and results["wall_seconds"].isna().all()
    summary = pd.read_csv(out / SUMMARY_FILE).set_index(["variant", "metric"])
    assert summary.loc[("full", "critic AUC, real held-out"), "n"] == 2
    assert "full-seed1" in capsys.readouterr().out


def test_a_grid_changed_since_its_runs_trained_is_refused(killed_and_restarted, tmp_path):
    out = killed_and_restarted[0]
    first_grid = yaml.safe_load((out / "grid.yaml").read_text())
    changed = tmp_path / "grid.yaml"
    changed.write_text(yaml.safe_dump({**first_grid, "overrides": {**first_grid["overrides"], "train.learning_rate": 5.0e-4}}))
    with pytest.raises(ConfigError, match=r"full-seed0/options\.json: train\.learning_rate: the run was trained with "
                                          r"0\.001, the grid now gives 0\.0005"):
        sweep(changed, out=out, progress=False)
    assert yaml.safe_load((out / "grid.yaml").read_text()) == first_grid  # the folder still holds its grid


def test_submitit_runs_each_run_as_a_job_and_a_failed_run_does_not_stop_the_others(prepared, tmp_path):
    grid = _grid(tmp_path, prepared, [{"name": "full"}, {"name": "diverges", "set": DIVERGES}], [0])
    out = tmp_path / "sweep"
    result = sweep(grid, out, executor="submitit-local", progress=False)
    outcomes = {outcome.name: outcome for outcome in result.outcomes}
    assert outcomes["full-seed0"].state == COMPLETE
    assert outcomes["diverges-seed0"].state == "failed" and "TrainingDiverged" in outcomes["diverges-seed0"].reason
    assert result.failed == ["diverges-seed0"]
    assert len(list((out / "submitit").glob("*_result.pkl"))) == 2  # each run came back from its own job
    again = sweep(grid, out, progress=False)  # a failed run is reported and left alone...
    assert again.outcomes == [] and again.skipped["diverges-seed0"].startswith("failed: TrainingDiverged")
    retried = sweep(grid, out, progress=False, retry_failed=True)  # ...until asked for
    assert [outcome.name for outcome in retried.outcomes] == ["diverges-seed0"]
    assert _starts(out).count("diverges-seed0") == 2 and _starts(out).count("full-seed0") == 1
