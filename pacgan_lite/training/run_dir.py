"""The run folder (stylegan2-ada style): ``runs/<5-digit id>-<desc>/`` with options, log, stats and images.

::

    00003-smoke-val/
        options.json        resolved options (the whole KitConfig) and the run's inputs
        log.txt             what was printed, with times
        stats.jsonl         one JSON object per epoch
        selection.json      the selected epoch of each stage (validation runs)
        samples-stage2.png  fixed-z sample grid after each stage, one row per class
        latest.pt, stage2-best.pt, stage2-final.pt, ...
"""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..atomic import atomic_path, write_json


def next_run_dir(root: str | Path, desc: str) -> Path:
    """Create and return ``root/<next free 5-digit id>-<desc>``."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    ids = [int(match.group(1)) for child in root.iterdir() if (match := re.match(r"^(\d{5})-", child.name))]
    run_dir = root / f"{max(ids, default=-1) + 1:05d}-{desc}"
    run_dir.mkdir()
    return run_dir


def open_run_dir(run_dir: str | Path | None, resume: str | Path | None, root: Path, desc: str) -> Path:
    """The given folder (created if needed), else the folder of the ``resume`` checkpoint, else a new one."""
    if run_dir is not None:
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        return Path(run_dir)
    if resume is not None:
        return Path(resume).resolve().parent
    return next_run_dir(root, desc)


class RunLog:
    """Appends lines to ``log.txt`` (and prints them) and epoch records to ``stats.jsonl``.

    With ``run_dir=None`` (DDP ranks other than 0) nothing is written or printed.
    """

    def __init__(self, run_dir: Path | None, echo: bool = True):
        self.run_dir, self.echo = run_dir, echo
        self.start = time.time()

    def log(self, message: str) -> None:
        if self.run_dir is None:
            return
        line = f"[{time.time() - self.start:8.1f}s] {message}"
        if self.echo:
            print(line, flush=True)
        with open(self.run_dir / "log.txt", "a") as file:
            file.write(line + "\n")

    def stats(self, record: dict) -> None:
        if self.run_dir is None:
            return
        clean = {key: (None if isinstance(value, float) and not math.isfinite(value) else value)
                 for key, value in record.items()}
        with open(self.run_dir / "stats.jsonl", "a") as file:
            file.write(json.dumps(clean) + "\n")

    def write_json(self, name: str, payload: dict) -> None:
        if self.run_dir is None:
            return
        write_json(self.run_dir / name, payload)


def save_image_grid(images: torch.Tensor, rows: int, path: str | Path) -> Path:
    """Write ``images [rows * cols, C, s, s]`` in [-1, 1] as one PNG, row-major (one row per class).

    One channel gives a grey PNG, three an RGB one; images are separated by a 2-pixel black border. Each
    image is flipped vertically so that anterior is up, as in the kit's figures (row 0 is posterior).
    """
    count, channels, side, _ = images.shape
    cols = count // rows
    pixels = ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()
    pad = 2
    canvas = np.zeros((rows * (side + pad) + pad, cols * (side + pad) + pad, channels), dtype=np.uint8)
    for index in range(rows * cols):
        row, col = divmod(index, cols)
        top, left = pad + row * (side + pad), pad + col * (side + pad)
        canvas[top:top + side, left:left + side] = pixels[index].transpose(1, 2, 0)[::-1]
    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(canvas[..., 0] if channels == 1 else canvas).save(tmp, format="PNG")
    return path
