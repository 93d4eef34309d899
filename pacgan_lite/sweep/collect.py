"""The sweep's table, rebuilt from the run folders alone: one row per run and a per-variant summary.

``results.csv``, one row per run of the grid (runs that are not done yet too, with empty metrics):

    variant, seed, run, state, reason    the run and where it stands (see :mod:`.runs`)
    held_out                             the split the evaluation compared with
    <headline metric> ...                every number of :func:`~pacgan_lite.evaluation.summary.headline_table`
    images_per_second                    trained images over the seconds of the training epochs (the run's stats)
    train_seconds                        those seconds (training steps only)
    wall_seconds                         the run's attempts that ended, start to end (training, evaluation,
                                         notebook), from the sweep's log; a killed attempt is not counted

``summary.csv``, long form: ``variant, metric, mean, std, n`` (n: the runs with a value; std needs two).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..atomic import atomic_path
from ..evaluation.summary import headline_table
from .grid import Grid
from .runs import LOG_FILE, RESULTS_FILE, SUMMARY_FILE, SweepRun, plan_runs

ID_COLUMNS = ("variant", "seed", "run", "state", "reason", "held_out")


@dataclass
class SweepTable:
    """``results`` (one row per run) and ``summary`` (per variant and metric); see the module docstring."""

    results: pd.DataFrame
    summary: pd.DataFrame

    @property
    def metrics(self) -> list[str]:
        """The numeric columns of ``results``: every headline metric, images/s and the times."""
        return [column for column in self.results.columns if column not in ID_COLUMNS]


def collect(grid: Grid, out: str | Path) -> SweepTable:
    """Read every run folder of ``grid`` under ``out``; write and return the results and the summary."""
    out = Path(out)
    wall = _wall_seconds(out / LOG_FILE)
    results = pd.DataFrame([_row(run, wall.get(run.name)) for run in plan_runs(grid, out)])
    for column in ID_COLUMNS:
        if column not in results:
            results[column] = None
    results = results[list(ID_COLUMNS) + [c for c in results.columns if c not in ID_COLUMNS]]
    table = SweepTable(results, pd.DataFrame())
    table.summary = summarize(results, table.metrics, [variant.name for variant in grid.variants])
    for name, frame in ((RESULTS_FILE, table.results), (SUMMARY_FILE, table.summary)):
        with atomic_path(out / name) as tmp:
            frame.to_csv(tmp, index=False)
    return table


def summarize(results: pd.DataFrame, metrics: list[str], variants: list[str]) -> pd.DataFrame:
    """Per variant (in ``variants`` order) and metric: mean, std and n over the runs that have a value."""
    long = results.melt(id_vars=["variant"], value_vars=metrics, var_name="metric").dropna(subset=["value"])
    long["value"] = long["value"].astype(float)
    long["variant"] = pd.Categorical(long["variant"], categories=variants, ordered=True)
    summary = long.groupby(["variant", "metric"], observed=True, sort=False)["value"].agg(["mean", "std", "count"])
    summary = summary.rename(columns={"count": "n"}).reset_index()
    summary["metric"] = pd.Categorical(summary["metric"], categories=metrics, ordered=True)
    summary = summary.sort_values(["variant", "metric"]).reset_index(drop=True)
    return summary.astype({"variant": str, "metric": str})


def _row(run: SweepRun, wall_seconds: float | None) -> dict:
    folder = run.folder
    state, reason = run.state()
    row = {"variant": run.variant.name, "seed": run.seed, "run": run.name, "state": state, "reason": reason}
    record = folder.metrics()
    if record is not None:
        row["held_out"] = record["held_out"]
        row.update(headline_table(record)["value"].to_dict())
    stats = folder.stats()
    if not stats.empty:
        seconds = float(stats["seconds"].sum())
        row["images_per_second"] = float((stats["images_per_second"] * stats["seconds"]).sum()) / seconds
        row["train_seconds"] = seconds
    row["wall_seconds"] = wall_seconds
    return row


def _wall_seconds(log: Path) -> dict[str, float]:
    """Per run, the seconds of its attempts that reached their end (the log's ``end`` events)."""
    totals: dict[str, float] = {}
    lines = log.read_text().splitlines() if log.is_file() else []
    for line in lines:
        event = json.loads(line) if line.strip() else {}
        if event.get("event") == "end":
            totals[event["run"]] = totals.get(event["run"], 0.0) + float(event["seconds"])
    return totals
