"""Tables and sample grids for the notebooks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from pacgan_lite.config import ModelOptions
from pacgan_lite.layers import count_parameters
from pacgan_lite.networks import Discriminator, Generator
from pacgan_lite.training.report import network_table, read_stats
from pacgan_lite.training.run_dir import save_image_grid


@pytest.mark.parametrize(("factors", "n_classes"), [((1, 1, 0.5), 2), ((1, 0.5, 0.25, 0.125), 3)])
def test_network_table_totals_match_the_networks(factors, n_classes):
    options = ModelOptions(z_dim=16, base_channels=16, channel_factors=factors, aux_hidden=8)
    table = network_table(options, n_classes=n_classes, image_channels=1)
    generator = Generator(n_classes, 16, 3, 16, factors, 1)
    discriminator = Discriminator(n_classes, 16, factors, 1, 8)
    assert list(table["resolution"]) == [f"{4 * 2**s}x{4 * 2**s}" for s in range(len(factors))]
    assert table["G total"].iloc[-1] == count_parameters(generator)
    assert table["D total"].iloc[-1] == count_parameters(discriminator)


def test_read_stats_numbers_epochs_across_stages(tmp_path):
    records = [{"stage": s, "epoch": e, "critic_loss": 1.0} for s in (0, 1) for e in (1, 2)]
    (tmp_path / "stats.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    stats = read_stats(tmp_path)
    assert stats["epoch_index"].tolist() == [1, 2, 3, 4]


def test_sample_grid_puts_anterior_up(tmp_path):
    image = -torch.ones(2, 1, 4, 4)
    image[:, :, -1, :] = 1  # the last tensor row (H axis) is the most anterior one
    save_image_grid(image, rows=2, path=tmp_path / "grid.png")
    pixels = np.asarray(Image.open(tmp_path / "grid.png"))
    assert pixels.shape == (2 * 6 + 2, 6 + 2)
    assert (pixels[2, 2:6] == 255).all() and (pixels[5, 2:6] == 0).all()  # top row of the first tile is bright
