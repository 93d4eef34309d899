"""Ablations as a papermill batch: a grid of variants and seeds, one notebook execution per run.

Usage::

    from pacgan_lite.sweep import default_out, read_grid, report, sweep

    result = sweep("smoke")            # pacgan_lite/grids/smoke.yaml into runs/sweeps/smoke/
    result.report.table.results        # one row per run: variant, seed, headline metrics, images/s
    grid = read_grid("smoke")
    report(grid, default_out(grid))    # the same table, rebuilt from the run folders alone

One module per job: :mod:`.grid` reads a grid file, :mod:`.runs` names the sweep folder's files and says
where each run stands, :mod:`.execute` runs one run (``run.ipynb`` with papermill), :mod:`.executors`
starts runs on the local pool or submitit, :mod:`.progress` follows them, :mod:`.collect` rebuilds the
table, :mod:`.compare` sets each variant against the reference, :mod:`.figures` draws them, and
:mod:`.driver` ties them together.
"""

from .driver import SweepReport, SweepResult, default_out, report, sweep
from .grid import PROFILE_GRIDS, Grid, Variant, read_grid

__all__ = ["PROFILE_GRIDS", "Grid", "SweepReport", "SweepResult", "Variant", "default_out", "read_grid", "report",
           "sweep"]
