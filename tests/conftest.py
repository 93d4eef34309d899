"""Shared fixtures: small data sets in the reference layout, made by the test itself."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import torch

from pacgan_lite.data import write_dataset
from pacgan_lite.notebooks import HEADLESS_ENV

os.environ[HEADLESS_ENV] = "1"  # nbval's and papermill's kernels inherit it: no live widgets in tests


def fake_labels(n_subjects: int = 8, sessions: int = 2, seed: int = 0) -> pd.DataFrame:
    """Labels for ``n_subjects`` (half class 0, half class 1) with ``sessions`` images each."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_subjects):
        label = s % 2
        age = float(rng.normal(75, 5))
        sex = "F" if rng.random() < 0.5 else "M"
        for session in range(sessions):
            rows.append({"Label": label, "Subject_ID": f"S{s:03d}", "Age": age + session, "Sex": sex,
                         "Session": session + 1})
    labels = pd.DataFrame(rows)
    labels.insert(0, "ID", np.arange(len(labels)))
    return labels


def fake_images(n: int, size: int = 16, channels: int = 1, seed: int = 0) -> np.ndarray:
    """``[size, size, channels, n]`` float32 in [-1, 1]: a bright disk whose radius varies per image."""
    rng = np.random.default_rng(seed)
    grid = np.linspace(-1, 1, size)
    radius = np.hypot(*np.meshgrid(grid, grid, indexing="ij"))
    disks = [(radius < rng.uniform(0.3, 0.8)).astype(np.float32) * 2 - 1 for _ in range(n)]
    return np.repeat(np.stack(disks, axis=-1)[:, :, None, :], channels, axis=2)


@pytest.fixture(scope="module")
def single_thread():
    """Run a module on one torch thread: for tiny networks a second thread only adds OpenMP overhead, which
    grows a hundredfold when other processes keep the cores busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tiny_dataset(tmp_path):
    """A valid 8-subject, 16-image data set at 4..16 px with class names CN/AD."""
    labels = fake_labels()
    folder = tmp_path / "tiny"
    write_dataset(folder, fake_images(len(labels)), labels, ["CN", "AD"])
    return folder


def pytest_collectstart(collector):
    """nbval: do not compare stderr (progress bars, warnings) in notebooks."""
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare += ("stderr",)
