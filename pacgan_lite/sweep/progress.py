"""Following the runs of a sweep: a bar over the runs, the current run's stage, an estimate of the time left.

The bar counts finished runs plus the trained fraction of each running one (epochs done over the epochs of
all its stages, read from its run folder), so tqdm's estimate of the time left moves while a run trains
(epochs at higher resolutions take longer, so early estimates are low). A handle is anything with
``done()`` and ``result()``: a ``concurrent.futures.Future`` of the local pool or a submitit ``Job``.
"""

from __future__ import annotations

import time

from tqdm.auto import tqdm

from ..errors import InputError
from ..run_folder import FAILED, RunFolder
from .execute import RunOutcome, RunTask

POLL_S = 1.0


def training_progress(folder: RunFolder) -> tuple[float, str]:
    """``(fraction of the run's epochs done, "stage 2 (16 px), epoch 3/20")`` from its run folder."""
    try:
        epochs = folder.options()["epochs_per_stage"]
        stats = folder.stats()
    except (InputError, ValueError):  # not started yet, or a line being written
        return 0.0, "starting"
    if stats.empty:
        return 0.0, "starting"
    stage, epoch = int(stats["stage"].iloc[-1]), int(stats["epoch"].iloc[-1])
    where = f"stage {stage} ({int(stats['resolution'].iloc[-1])} px), epoch {epoch}/{epochs[stage]}"
    return min(1.0, (sum(epochs[:stage]) + epoch) / sum(epochs)), where


def follow(handles: dict, total: int, finished: int, show: bool = True) -> list[RunOutcome]:
    """Wait for every handle (-> its :class:`RunTask`), printing each outcome; ``finished`` of the ``total``
    runs were done before. Returns the outcomes in the order the runs ended."""
    pending: dict = dict(handles)
    fractions = {task.name: training_progress(RunFolder(task.run_dir))[0] for task in pending.values()}
    outcomes: list[RunOutcome] = []
    with tqdm(total=total, initial=finished + sum(fractions.values()), unit="run", desc="sweep", disable=not show,
              bar_format="{l_bar}{bar}| {n:.1f}/{total} runs [{elapsed}<{remaining}{postfix}]") as bar:
        while pending:
            for handle in [handle for handle in pending if handle.done()]:
                task = pending.pop(handle)
                outcome = _outcome(handle, task)
                bar.update(1.0 - fractions.pop(task.name))
                bar.write(f"{outcome.name}: {outcome.state} ({outcome.reason}) after {outcome.seconds:.0f} s")
                outcomes.append(outcome)
            moving = []
            for task in pending.values():
                fraction, where = training_progress(RunFolder(task.run_dir))
                if fraction != fractions[task.name]:
                    bar.update(fraction - fractions[task.name])
                    fractions[task.name] = fraction
                    moving.append(f"{task.name}: {where}")
            if moving:
                bar.set_postfix_str("; ".join(moving))
            if pending:
                time.sleep(POLL_S)
    return outcomes


def _outcome(handle, task: RunTask) -> RunOutcome:
    """The handle's :class:`RunOutcome`; a worker that died (a job killed by its scheduler) is a failure."""
    try:
        return handle.result()
    except Exception as err:
        first_line = (str(err).strip().splitlines() or [""])[0]
        return RunOutcome(task.name, FAILED, f"{type(err).__name__}: {first_line}", float("nan"))
