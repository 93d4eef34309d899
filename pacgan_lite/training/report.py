"""Tables for the notebooks: network sizes per stage (a run's statistics: :meth:`RunFolder.stats`)."""

from __future__ import annotations

import pandas as pd

from ..architecture import architecture, build_networks
from ..networks import Discriminator, Generator, stage_channels
from ..schedule import resolution


def parameter_table(generator: Generator, discriminator: Discriminator, channels: tuple[int, ...]) -> pd.DataFrame:
    """Per stage: resolution, feature channels, and the parameters each network adds and has in total."""
    table = pd.DataFrame({
        "resolution": [f"{resolution(s)}x{resolution(s)}" for s in range(len(channels))],
        "channels": channels,
        "G added": generator.parameters_per_stage(),
        "D added": discriminator.parameters_per_stage(),
    })
    table["G total"] = table["G added"].cumsum()
    table["D total"] = table["D added"].cumsum()
    return table.rename_axis("stage")


def network_table(model_options, n_classes: int, image_channels: int) -> pd.DataFrame:
    """:func:`parameter_table` for the networks the trainer builds from ``config.model``."""
    generator, discriminator = build_networks(architecture(model_options, n_classes, image_channels))
    channels = stage_channels(model_options.base_channels, model_options.channel_factors, model_options.min_channels)
    return parameter_table(generator, discriminator, channels)
