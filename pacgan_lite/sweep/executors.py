"""Where the runs of a sweep execute: the local pool, or submitit (a SLURM cluster, or its local executor).

* ``pool`` (default): a thread pool on this machine, one run at a time on a CPU or a single GPU, one run per
  GPU where there are several (each run gets its own ``train.device``);
* ``slurm``: one submitit job per run (a job array) on a SLURM cluster; a killed sweep leaves its jobs
  running, and a sweep started again skips what they hold (the run locks of :mod:`.execute`);
* ``submitit-local``: the same submitit path with its local executor (each run a process on this machine,
  all at once): what the tests use, so the cluster path runs without a cluster.

submitit's parameters (``timeout_min``, ``gpus_per_node``, ``slurm_partition``, ...) can be given; otherwise a
job gets :data:`SUBMITIT_DEFAULTS` and one GPU (on SLURM, or locally when there is one).
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import torch

from .execute import RunTask, execute_run

EXECUTORS = ("pool", "slurm", "submitit-local")
SUBMITIT_DEFAULTS = {"timeout_min": 24 * 60, "name": "pacgan-lite-sweep"}


def pool_devices() -> list[str | None]:
    """One worker per GPU when there are several (``cuda:k``), else one on the runs' own device (None)."""
    count = torch.cuda.device_count()
    return [f"cuda:{k}" for k in range(count)] if count > 1 else [None]


@contextmanager
def started(tasks: list[RunTask], executor: str, submitit_folder: Path,
            submitit_parameters: dict | None = None) -> Iterator[dict]:
    """Start ``tasks`` on ``executor``; yield ``{handle: task}`` (handles have ``done()`` and ``result()``)."""
    if executor == "pool":
        with _pool(tasks) as handles:
            yield handles
        return
    import submitit

    cluster = "slurm" if executor == "slurm" else "local"
    defaults = {**SUBMITIT_DEFAULTS, "gpus_per_node": int(cluster == "slurm" or torch.cuda.is_available())}
    runner = submitit.AutoExecutor(folder=submitit_folder, cluster=cluster)
    runner.update_parameters(**{**defaults, **(submitit_parameters or {})})
    jobs = runner.map_array(execute_run, tasks)
    yield dict(zip(jobs, tasks, strict=True))


@contextmanager
def _pool(tasks: list[RunTask]) -> Iterator[dict]:
    devices: queue.Queue = queue.Queue()
    for device in pool_devices():
        devices.put(device)

    def on_a_free_device(task: RunTask):
        device = devices.get()
        try:
            return execute_run(task, device)
        finally:
            devices.put(device)

    pool = ThreadPoolExecutor(max_workers=devices.qsize())
    try:
        yield {pool.submit(on_a_free_device, task): task for task in tasks}
    finally:  # after an interrupt (Ctrl-C), runs not started are dropped and those in progress end their notebook
        pool.shutdown(wait=False, cancel_futures=True)
