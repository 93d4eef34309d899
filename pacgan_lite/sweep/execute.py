"""One run of a sweep: a papermill execution of the per-run notebook (``run.ipynb`` beside this module).

The notebook trains into the run folder, resuming from ``RunFolder.status().resume_from`` (so a killed run
continues where its latest checkpoint left it, and a complete one only gets evaluated), evaluates it and
shows its sample grids and loss curves. Its executed copy is left next to the run folder.

:func:`execute_run` is what a worker runs: a thread of the local pool, or a submitit job on this machine or
a SLURM node (so it and its argument are plain picklable objects). It holds a lock on the run while it runs,
so two sweeps started on one folder never train the same run at once, and appends the start and end of
each attempt to the sweep's log (JSON lines: ``time``, ``run``, ``event`` start | end, ``host``, ``pid``;
``state``, ``reason`` and ``seconds`` at the end).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..notebooks import run_notebook
from ..run_folder import FAILED, RunFolder

RUN_NOTEBOOK = Path(__file__).resolve().with_name("run.ipynb")
BUSY = "busy"  # another process holds the run's lock


@dataclass(frozen=True)
class RunTask:
    """What a worker needs to execute one run.

    Attributes:
        name: ``<variant>-seed<seed>``.
        run_dir: the run folder.
        notebook: the executed copy of the per-run notebook.
        parameters: the notebook's parameters (PROFILE, OVERRIDES, TRAIN_DATA, TEST_DATA, RUN_DIR).
        log: the sweep's log of attempts (JSON lines).
        lock: the run's lock file.
        timeout_s: the longest a notebook cell may run.
    """

    name: str
    run_dir: Path
    notebook: Path
    parameters: dict
    log: Path
    lock: Path
    timeout_s: int


@dataclass(frozen=True)
class RunOutcome:
    """How an attempt ended: the run folder's state after it (complete, incomplete, failed); failed too when
    the notebook stopped with nothing recorded in the folder (a dead kernel: the folder stays resumable); or
    busy when another process holds the run."""

    name: str
    state: str
    reason: str
    seconds: float


def execute_run(task: RunTask, device: str | None = None) -> RunOutcome:
    """Execute the per-run notebook for ``task`` on ``device`` (default: the run's own ``train.device``)."""
    with _exclusive(task.lock) as mine:
        if not mine:
            return RunOutcome(task.name, BUSY, "another process is running it (its lock is held)", 0.0)
        folder, start = RunFolder(task.run_dir), time.time()
        parameters = dict(task.parameters)
        if device is not None:
            parameters["OVERRIDES"] = {**parameters["OVERRIDES"], "train.device": device}
        _log(task.log, task.name, "start", resuming=folder.status().reason)
        error = None
        try:
            run_notebook(RUN_NOTEBOOK, task.notebook, parameters, timeout_s=task.timeout_s)
        except Exception as err:  # the run's own errors are in its folder; this also catches a dead kernel
            error = err
        status = folder.status()
        state, reason = status.state, status.reason
        if error is not None and state != FAILED:  # nothing recorded in the folder: a dead kernel, a timeout
            first_line = (str(error).strip().splitlines() or [""])[0]
            state, reason = FAILED, f"{type(error).__name__}: {first_line}"
        outcome = RunOutcome(task.name, state, reason, time.time() - start)
        _log(task.log, task.name, "end", state=outcome.state, reason=outcome.reason, seconds=outcome.seconds)
        return outcome


@contextmanager
def failures_recorded(run: RunFolder) -> Iterator[None]:
    """Write an error raised inside the block to the run folder's failure record (unless the trainer already
    did, with its stage and epoch), so the sweep reads the run as failed; the error propagates."""
    try:
        yield
    except Exception as err:
        if run.failure() is None:
            run.path.mkdir(parents=True, exist_ok=True)
            stats = run.stats()
            stage, epoch = (0, 0) if stats.empty else (int(stats["stage"].iloc[-1]), int(stats["epoch"].iloc[-1]))
            run.write_failure(f"{type(err).__name__}: {err}", stage, epoch)
        raise


@contextmanager
def _exclusive(path: Path) -> Iterator[bool]:
    """Yield whether this process got the lock on ``path``; the system drops it when the holder dies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


def _log(path: Path, run: str, event: str, **fields) -> None:
    record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "run": run, "event": event,
              "host": socket.gethostname(), "pid": os.getpid(), **fields}
    with open(path, "a") as file:  # one short append per line: lines of parallel workers do not interleave
        file.write(json.dumps(record) + "\n")
