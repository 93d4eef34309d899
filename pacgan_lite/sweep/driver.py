"""A sweep: every run of a grid as a papermill run of the per-run notebook, then the table and the figures.

Resumable and idempotent: a run that is done is skipped, one that stopped part-way resumes from its
latest checkpoint, one that failed is reported and left alone unless ``retry_failed`` (it then resumes from
its latest checkpoint too). Killing the sweep loses at most the epoch in progress of the runs in progress;
starting it again finishes the rest. The table is always rebuilt from the run folders (:func:`report`).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..atomic import atomic_path
from ..config import KitConfig
from ..data.prepare import prepare
from ..errors import ConfigError
from ..paths import runs_root
from ..run_folder import FAILED, OPTIONS_FILE
from .collect import SweepTable, collect
from .compare import differences, key_metrics
from .execute import RunOutcome, RunTask
from .executors import EXECUTORS, started
from .figures import write_figures
from .grid import Grid, read_grid
from .progress import follow
from .runs import FIGURES_DIR, GRID_FILE, LOG_FILE, SUBMITIT_DIR, TO_DO, SweepRun, in_seed_order, plan_runs

DIFFERENCES_FILE = "differences.csv"


@dataclass
class SweepReport:
    """What the run folders of a sweep say: the table, the differences to the reference, the figures."""

    table: SweepTable
    differences: pd.DataFrame
    figures: list[Path]


@dataclass
class SweepResult:
    """One call of :func:`sweep`: the attempts it made, the runs it left alone and why, and the report."""

    grid: Grid
    out: Path
    outcomes: list[RunOutcome]
    skipped: dict[str, str]
    report: SweepReport

    @property
    def failed(self) -> list[str]:
        """The runs whose folder records a failure now."""
        results = self.report.table.results
        return list(results.loc[results["state"] == FAILED, "run"])


def default_out(grid: Grid) -> Path:
    """``runs/sweeps/<grid name>``."""
    return runs_root() / "sweeps" / grid.name


def sweep(grid: Grid | str | Path, out: str | Path | None = None, overrides: dict | None = None,
          executor: str = "pool", retry_failed: bool = False, submitit_parameters: dict | None = None,
          progress: bool = True, timeout_s: int | None = None) -> SweepResult:
    """Run every run of ``grid`` that is not done yet into ``out`` (default :func:`default_out`).

    Args:
        grid: a :class:`Grid`, a grid name (``pacgan_lite/grids/<name>.yaml``) or a grid file.
        overrides: options of every run on top of the grid's (dotted names); the variants' still win.
        executor: ``pool``, ``slurm`` or ``submitit-local`` (see :mod:`.executors`).
        retry_failed: run failed runs again (resuming from their latest checkpoint).
        submitit_parameters: for the submitit executors, e.g. ``{"slurm_partition": "gpu"}``.
        progress: show the bar over the runs.
        timeout_s: the longest a cell of a run's notebook may take (None: no limit).
    """
    if executor not in EXECUTORS:
        raise ConfigError("sweep", "executor", f"unknown executor {executor!r}", f"use one of {', '.join(EXECUTORS)}")
    grid = grid if isinstance(grid, Grid) else read_grid(grid, overrides)
    out = Path(out) if out else default_out(grid)
    out.mkdir(parents=True, exist_ok=True)
    runs, to_run, skipped = plan_runs(grid, out), [], {}
    configs = {run.name: grid.config(run.variant, run.seed, overrides) for run in runs}
    for run in runs:  # a run already in the folder must be the run the grid describes now
        changed = run.options_changed(configs[run.name])
        if changed:
            option, trained, planned = changed[0]
            others = f" ({len(changed) - 1} more option(s) differ)" if len(changed) > 1 else ""
            raise ConfigError(run.folder.file(OPTIONS_FILE), option, f"the run was trained with {trained!r}, the "
                              f"grid now gives {planned!r}{others}",
                              f"sweep into another --out, or delete {run.folder.path} to train it again")
    if grid.path.resolve() != (out / GRID_FILE).resolve():
        with atomic_path(out / GRID_FILE) as tmp:
            shutil.copyfile(grid.path, tmp)
    for run in in_seed_order(runs, grid.seeds):
        state, reason = run.state()
        if state == TO_DO or (state == FAILED and retry_failed):
            to_run.append(run)
            continue
        skipped[run.name] = f"{state}: {reason}"
        advice = "; not run again (retry it with --retry-failed)" if state == FAILED else ", skipped"
        print(f"{run.name}: {state} ({reason}){advice}")
    outcomes: list[RunOutcome] = []
    if to_run:
        tasks = _tasks(grid, to_run, configs, overrides or {}, out, timeout_s)
        with started(tasks, executor, out / SUBMITIT_DIR, submitit_parameters) as handles:
            outcomes = follow(handles, total=len(runs), finished=len(runs) - len(to_run), show=progress)
    return SweepResult(grid, out, outcomes, skipped, report(grid, out))


def report(grid: Grid, out: str | Path) -> SweepReport:
    """Rebuild the table from the run folders, compare each variant with the reference, draw the figures;
    writes ``results.csv``, ``summary.csv``, ``differences.csv`` and ``figures/`` into ``out``."""
    out = Path(out)
    table = collect(grid, out)
    diffs = differences(table.results, table.metrics, grid.reference)
    with atomic_path(out / DIFFERENCES_FILE) as tmp:
        diffs.to_csv(tmp, index=False)
    plotted = key_metrics(list(diffs["metric"].unique()))
    return SweepReport(table, diffs, write_figures(table.results, diffs, plotted, grid.reference, out / FIGURES_DIR))


def _tasks(grid: Grid, runs: list[SweepRun], configs: dict[str, KitConfig], overrides: dict, out: Path,
           timeout_s: int | None) -> list[RunTask]:
    """A task per run, with its data prepared here, once per data set (the runs then only read it)."""
    prepared: dict[str, tuple[Path, Path]] = {}
    tasks = []
    for run in runs:
        config = configs[run.name]
        if grid.data is not None:
            folders = (grid.data / "train", grid.data / "test")
        else:
            key = json.dumps({section: config.to_dict()[section] for section in ("data", "cohort", "matching", "split")},
                             sort_keys=True)
            if key not in prepared:
                data = prepare(config)
                prepared[key] = (data.train, data.test)
            folders = prepared[key]
        parameters = {"PROFILE": grid.profile, "OVERRIDES": grid.run_overrides(run.variant, run.seed, overrides),
                      "TRAIN_DATA": str(folders[0]), "TEST_DATA": str(folders[1]), "RUN_DIR": str(run.folder.path)}
        tasks.append(RunTask(run.name, run.folder.path, run.notebook, parameters, out / LOG_FILE, run.lock, timeout_s))
    return tasks
