"""The architecture of a network pair as plain data, and the networks it builds.

The dict holds the keys that decide every weight's shape; checkpoints store it, and loading checks it, so
a checkpoint is always rebuilt into networks its weights fit.
"""

from __future__ import annotations

from .networks import Discriminator, Generator

ARCHITECTURE_KEYS = ("n_classes", "image_channels", "z_dim", "embedding_dim", "base_channels", "channel_factors",
                     "aux_hidden")


def architecture(model, n_classes: int, image_channels: int) -> dict:
    """The architecture of ``model`` (a :class:`pacgan_lite.config.ModelOptions`) for a data set with
    ``n_classes`` classes and ``image_channels`` channels."""
    return {"n_classes": n_classes, "image_channels": image_channels, "z_dim": model.z_dim,
            "embedding_dim": model.embedding_dim, "base_channels": model.base_channels,
            "channel_factors": list(model.channel_factors), "aux_hidden": model.aux_hidden}


def build_networks(arch: dict) -> tuple[Generator, Discriminator]:
    """G and D for an :func:`architecture` dict (weights from the current torch RNG)."""
    generator = Generator(arch["n_classes"], arch["z_dim"], arch["embedding_dim"], arch["base_channels"],
                          arch["channel_factors"], arch["image_channels"])
    discriminator = Discriminator(arch["n_classes"], arch["base_channels"], arch["channel_factors"],
                                  arch["image_channels"], arch["aux_hidden"])
    return generator, discriminator
