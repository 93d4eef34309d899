"""The architecture of a network pair as plain data, and the networks it builds.

The dict holds the keys that decide every weight's shape and what the critic computes; checkpoints store it,
and loading checks it, so a checkpoint is always rebuilt into networks its weights fit.
"""

from __future__ import annotations

from .config import ModelOptions
from .networks import Discriminator, Generator

ARCHITECTURE_KEYS = ("n_classes", "image_channels", "z_dim", "embedding_dim", "base_channels", "channel_factors",
                     "min_channels", "aux_hidden", "conditioning", "mbstd_group_size", "upsample",
                     "bilinear_from", "noise_from", "generator_padding", "class_resolution")
# Keys that checkpoints written before them lack: such a checkpoint was trained with the paper's value.
LATER_KEYS = ("min_channels", "conditioning", "mbstd_group_size", "upsample", "bilinear_from", "noise_from",
              "generator_padding", "class_resolution")


def architecture(model, n_classes: int, image_channels: int) -> dict:
    """The architecture of ``model`` (a :class:`pacgan_lite.config.ModelOptions`) for a data set with
    ``n_classes`` classes and ``image_channels`` channels."""
    return {"n_classes": n_classes, "image_channels": image_channels, "z_dim": model.z_dim,
            "embedding_dim": model.embedding_dim, "base_channels": model.base_channels,
            "channel_factors": list(model.channel_factors), "min_channels": model.min_channels,
            "aux_hidden": model.aux_hidden, "conditioning": model.conditioning,
            "mbstd_group_size": model.mbstd_group_size, "upsample": model.upsample,
            "bilinear_from": model.bilinear_from, "noise_from": model.noise_from,
            "generator_padding": model.generator_padding, "class_resolution": model.class_resolution}


def complete_architecture(arch: dict) -> dict:
    """``arch`` with each of :data:`LATER_KEYS` it lacks (an older checkpoint's) set to the paper's value."""
    return {**{key: getattr(ModelOptions, key) for key in LATER_KEYS}, **arch}


def build_networks(arch: dict) -> tuple[Generator, Discriminator]:
    """G and D for an :func:`architecture` dict, or an older one without :data:`LATER_KEYS` (weights from the
    current torch RNG)."""
    arch = complete_architecture(arch)
    generator = Generator(arch["n_classes"], arch["z_dim"], arch["embedding_dim"], arch["base_channels"],
                          arch["channel_factors"], arch["image_channels"], min_channels=arch["min_channels"],
                          upsample=arch["upsample"], bilinear_from=arch["bilinear_from"],
                          noise_from=arch["noise_from"], padding_mode=arch["generator_padding"])
    discriminator = Discriminator(arch["n_classes"], arch["base_channels"], arch["channel_factors"],
                                  arch["image_channels"], arch["aux_hidden"], min_channels=arch["min_channels"],
                                  conditioning=arch["conditioning"], mbstd_group_size=arch["mbstd_group_size"],
                                  class_resolution=arch["class_resolution"])
    return generator, discriminator
