"""The sweep folder: its file names, the runs of a grid in it, and where each run stands.

::

    <sweep>/
        grid.yaml                   the grid file as last run
        <variant>-seed<seed>/       a run folder (pacgan_lite.run_folder), evaluation/ inside
        <variant>-seed<seed>.ipynb  the run's executed notebook, with its figures
        sweep-log.jsonl             the start and end of every attempt (pacgan_lite.sweep.execute)
        results.csv, summary.csv    the table, rebuilt from the run folders (pacgan_lite.sweep.collect)
        figures/                    one PNG per metric (pacgan_lite.sweep.figures)
        .locks/, submitit/          run locks; submitit's job files

A run's state is read through :class:`RunFolder` only. A run is

* ``done``: training complete and evaluated (its evaluation's metrics file): skipped;
* ``failed``: the run folder records a failure (training or evaluation raised): skipped and reported,
  run again (resumed from its latest checkpoint) on request;
* ``to do``: not started, stopped part-way (resumed from its latest checkpoint), or trained but not yet
  evaluated.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..config import KitConfig
from ..run_folder import COMPLETE, FAILED, OPTIONS_FILE, RunFolder
from .grid import Grid, Variant

DONE, TO_DO = "done", "to do"
GRID_FILE = "grid.yaml"
LOG_FILE = "sweep-log.jsonl"
RESULTS_FILE = "results.csv"
SUMMARY_FILE = "summary.csv"
FIGURES_DIR = "figures"
LOCKS_DIR = ".locks"
SUBMITIT_DIR = "submitit"


@dataclass(frozen=True)
class SweepRun:
    """One run of the grid: a variant at a seed, and its place in the sweep folder."""

    variant: Variant
    seed: int
    out: Path

    @property
    def name(self) -> str:
        return f"{self.variant.name}-seed{self.seed}"

    @property
    def folder(self) -> RunFolder:
        return RunFolder(self.out / self.name)

    @property
    def notebook(self) -> Path:
        """The executed per-run notebook, next to the run folder."""
        return self.out / f"{self.name}.ipynb"

    @property
    def lock(self) -> Path:
        return self.out / LOCKS_DIR / f"{self.name}.lock"

    def state(self) -> tuple[str, str]:
        """``(done | failed | to do, reason)``; see the module docstring."""
        status = self.folder.status()
        if status.state == FAILED:
            return FAILED, status.reason
        if status.state == COMPLETE:
            if self.folder.metrics() is not None:
                return DONE, "trained and evaluated"
            return TO_DO, "trained, not evaluated yet"
        return TO_DO, status.reason


    def options_changed(self, planned: KitConfig) -> list[tuple[str, object, object]]:
        """``(option, value trained with, value planned)`` wherever the run folder's recorded configuration
        differs from ``planned``; [] for a run not started. Options newer than the run are not compared."""
        if not self.folder.file(OPTIONS_FILE).is_file():
            return []
        return list(_differences(self.folder.config(), json.loads(json.dumps(planned.to_dict(), default=str))))


def _differences(recorded: dict, planned: dict, prefix: str = "") -> Iterator[tuple[str, object, object]]:
    for key, value in recorded.items():
        if key not in planned:
            continue
        if isinstance(value, dict) and isinstance(planned[key], dict):
            yield from _differences(value, planned[key], f"{prefix}{key}.")
        elif value != planned[key]:
            yield f"{prefix}{key}", value, planned[key]


def plan_runs(grid: Grid, out: Path) -> list[SweepRun]:
    """Every run of the grid, variant by variant (the reference first), each seed in the grid's order."""
    return [SweepRun(variant, seed, Path(out)) for variant in grid.variants for seed in grid.seeds]


def in_seed_order(runs: list[SweepRun], seeds: Sequence[int]) -> list[SweepRun]:
    """``runs`` seed by seed, in the grid's order of variants within a seed: a sweep stopped part-way has
    run every variant once before any runs its second seed."""
    return sorted(runs, key=lambda run: list(seeds).index(run.seed))
