"""Tables for the notebooks."""

from __future__ import annotations

import pytest

from pacgan_lite.config import ModelOptions
from pacgan_lite.layers import count_parameters
from pacgan_lite.networks import Discriminator, Generator
from pacgan_lite.training.report import network_table


@pytest.mark.parametrize(("factors", "n_classes"), [((1, 1, 0.5), 2), ((1, 0.5, 0.25, 0.125), 3)])
def test_network_table_totals_match_the_networks(factors, n_classes):
    options = ModelOptions(z_dim=16, base_channels=16, channel_factors=factors, aux_hidden=8)
    table = network_table(options, n_classes=n_classes, image_channels=1)
    generator = Generator(n_classes, 16, 3, 16, factors, 1)
    discriminator = Discriminator(n_classes, 16, factors, 1, 8)
    assert list(table["resolution"]) == [f"{4 * 2**s}x{4 * 2**s}" for s in range(len(factors))]
    assert table["G total"].iloc[-1] == count_parameters(generator)
    assert table["D total"].iloc[-1] == count_parameters(discriminator)
