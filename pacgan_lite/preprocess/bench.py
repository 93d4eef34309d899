"""Seconds per volume of the whole preprocessing step, for ``make bench`` (no data needed)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from ..cohort import make_raw_heads
from .pipeline import preprocess_one
from .register import template_target


def seconds_per_volume(n_volumes: int = 2, seed: int = 0, threads: int | None = None) -> dict:
    """Time :func:`~pacgan_lite.preprocess.preprocess_one` (read, reorient, register, resample, slice) on
    ``n_volumes`` synthetic raw heads (volume 0 is 1 mm isotropic RAS, volume 1 LPS with 1.3 mm slices).

    The one-time template setup is timed separately. Returns ``{"seconds_per_volume", "volumes",
    "per_volume", "registration_seconds", "setup_seconds"}`` (wall seconds).
    """
    started = time.perf_counter()
    template_target()
    setup = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as folder:
        poses = make_raw_heads(n_volumes, folder, seed=seed, progress=False)
        results = [preprocess_one(Path(folder) / file, threads=threads) for file in poses["file"]]
    per_volume = [round(r.seconds, 2) for r in results]
    return {"seconds_per_volume": sum(per_volume) / len(per_volume), "volumes": n_volumes, "per_volume": per_volume,
            "registration_seconds": [round(r.registration.seconds, 2) for r in results],
            "setup_seconds": round(setup, 2)}
