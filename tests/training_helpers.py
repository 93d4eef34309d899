"""A tiny prepared data set (train/ with Split = train | val, test/) and a tiny training config."""

from __future__ import annotations

from pathlib import Path

from conftest import fake_images, fake_labels

from pacgan_lite.config import KitConfig, load_profile
from pacgan_lite.data import write_dataset

TINY_TRAIN = {
    "model.z_dim": 8,
    "model.embedding_dim": 2,
    "model.base_channels": 8,
    "model.channel_factors": [1, 1, 0.5],
    "model.aux_hidden": 4,
    "train.stages": 3,
    "train.epochs_per_stage": [2, 2, 2],
    "train.batch_sizes": [8, 8, 8],
    "train.critic_iterations": [1, 1, 2],
    "train.selection_start": 0.5,
    "train.validation_fakes_per_class": 4,
    "train.samples_per_class": 2,
    "train.eval_batch_size": 8,
    "train.progress": False,
}


def tiny_config(**overrides) -> KitConfig:
    """The smoke profile narrowed to 3 stages (4..16 px) of a 8-channel network."""
    return load_profile("smoke", {**TINY_TRAIN, **{key.replace("__", "."): v for key, v in overrides.items()}})


def make_prepared(root: Path) -> Path:
    """``root/prepared`` with ``train/`` (16 train + 8 val images) and ``test/`` (8 images), 4..16 px."""
    prepared = root / "prepared"
    for part, n_subjects, seed in (("train", 12, 0), ("test", 4, 1)):
        labels = fake_labels(n_subjects=n_subjects, sessions=2, seed=seed)
        if part == "train":
            labels["Split"] = ["val" if int(s[1:]) >= 8 else "train" for s in labels["Subject_ID"]]
        else:
            labels["Split"] = "test"
        write_dataset(prepared / part, fake_images(len(labels), size=16, seed=seed), labels, ["CN", "AD"])
    return prepared
