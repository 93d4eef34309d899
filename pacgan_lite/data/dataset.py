"""Torch access to one pyramid level."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import DataError
from .layout import LABELS_FILE, load_level, nifti_to_nchw


class SliceDataset(Dataset):
    """The images of one resolution of a data set, held in memory as one tensor.

    ``dataset[i]`` is ``(image, label)`` with ``image`` float32 ``[C, size, size]`` in [-1, 1] (rows run
    posterior -> anterior, columns the patient's right -> left) and ``label`` an int64 scalar tensor.
    ``self.images`` is the whole ``[N, C, size, size]`` tensor and ``self.targets`` ``[N]``, for loaders that
    index them directly.

    Args:
        folder: a data set in the reference layout (checked on load).
        size: the resolution, e.g. 64 for ``Real64x64.nii.gz``.
        splits: keep only rows whose ``Split`` column is in this tuple (e.g. ``("train",)``); None keeps all.
    """

    def __init__(self, folder: str | Path, size: int, splits: tuple[str, ...] | None = None):
        images, labels, class_names = load_level(folder, size)
        if splits is not None:
            if "Split" not in labels.columns:
                raise DataError(Path(folder) / LABELS_FILE, "Split", "column needed to select a split is missing",
                                "prepare the data with pacgan-lite prepare, or load without splits")
            labels = labels[labels["Split"].isin(splits)].reset_index(drop=True)
        self.folder = Path(folder)
        self.size = size
        self.class_names = class_names
        self.labels = labels
        selected = nifti_to_nchw(images)[labels["ID"].to_numpy()]
        self.images = torch.from_numpy(np.ascontiguousarray(selected))
        self.targets = torch.tensor(labels["Label"].to_numpy(np.int64))

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.targets[index]
