"""The default feature extractor: a small convolutional encoder trained by the kit on real training images.

Inception-v3 features (the usual FID) come from photographs and see grey brain slices as one texture;
their numbers cannot be compared with anything outside the kit anyway. The domain encoder instead learns
what brain slices of *this* data set look like: it is the encoder half of an autoencoder trained to
reconstruct the real training images (never held-out or generated ones). Distances in its feature space
are reported as ``FD_domain`` / ``KID_domain``, never as FID or KID.

Training is seeded and takes seconds on a CPU; the weights are cached under
``<data root>/cache/encoders/``, keyed by a hash of the training images, the seed and the options, so
every evaluation of runs on the same data uses the same encoder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .. import __version__
from ..atomic import atomic_path
from ..config import EncoderOptions
from ..schedule import is_resolution

CACHE_FORMAT = "pacgan-lite-domain-encoder"


class DomainEncoder(nn.Module):
    """``images [B, C, s, s]`` in [-1, 1] -> ``features [B, feature_dim]``.

    Images larger than ``max_side`` are first average-pooled to it (the encoder then sees anatomy and
    contrast, not texture finer than ``256 / max_side`` mm: that keeps CPU training in seconds). Strided
    3x3 convolutions then halve the side down to 4x4, and a linear layer makes the feature vector.
    """

    def __init__(self, image_channels: int, resolution: int, feature_dim: int = 64, width: int = 8,
                 max_side: int = 64):
        super().__init__()
        if not is_resolution(resolution):
            raise ValueError(f"resolution must be a power of two >= 4, got {resolution}")
        self.resolution, self.image_channels, self.num_features = resolution, image_channels, feature_dim
        self.side = min(resolution, max_side)
        self.channels = [image_channels] + [min(width * 2**i, 8 * width)
                                            for i in range(int(math.log2(self.side // 4)))]
        layers: list[nn.Module] = []
        for c_in, c_out in itertools.pairwise(self.channels):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.LeakyReLU(0.2)]
        self.convolutions = nn.Sequential(*layers)
        self.to_features = nn.Linear(self.channels[-1] * 16, feature_dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[-1] > self.side:
            images = F.avg_pool2d(images, images.shape[-1] // self.side)
        return self.to_features(self.convolutions(images).flatten(1))


class _Decoder(nn.Module):
    """The training-only mirror of :class:`DomainEncoder`: ``[B, feature_dim]`` -> ``[B, C, side, side]``."""

    def __init__(self, encoder: DomainEncoder):
        super().__init__()
        channels = encoder.channels[::-1]
        self.first_channels = channels[0]
        self.from_features = nn.Linear(encoder.num_features, channels[0] * 16)
        layers: list[nn.Module] = []
        for c_in, c_out in itertools.pairwise(channels):
            layers += [nn.Upsample(scale_factor=2), nn.Conv2d(c_in, c_out, 3, padding=1), nn.LeakyReLU(0.2)]
        # The last layer makes the image, in [-1, 1]; at 4 px there is no convolution, only the linear layer.
        self.layers = nn.Sequential(*layers[:-1], nn.Tanh())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers(self.from_features(features).view(-1, self.first_channels, 4, 4))


def cache_key(images: torch.Tensor, options: EncoderOptions) -> str:
    """A hash of the training images (their bytes and shape), the options and the kit version."""
    digest = hashlib.sha1()
    digest.update(json.dumps({"shape": list(images.shape), "options": dataclasses.asdict(options),
                              "version": __version__}, sort_keys=True).encode())
    digest.update(images.contiguous().float().numpy().tobytes())
    return digest.hexdigest()[:16]


def _new_encoder(images: torch.Tensor, options: EncoderOptions) -> DomainEncoder:
    return DomainEncoder(images.shape[1], images.shape[-1], options.feature_dim, options.width, options.max_side)


def train_encoder(images: torch.Tensor, options: EncoderOptions = EncoderOptions()) -> tuple[DomainEncoder, list[float]]:
    """Train a :class:`DomainEncoder` as an autoencoder on ``images [N, C, s, s]``; returns it (eval mode)
    and the reconstruction loss (mean squared error) of every 50th step."""
    generator = torch.Generator().manual_seed(options.seed)
    with torch.random.fork_rng():  # the weights' init draws from the global RNG: keep the caller's stream
        torch.manual_seed(options.seed)
        encoder = _new_encoder(images, options)
        decoder = _Decoder(encoder)
    optimizer = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr=options.learning_rate)
    losses = []
    for step in range(options.steps):
        batch = images[torch.randint(len(images), (min(options.batch_size, len(images)),), generator=generator)]
        target = F.avg_pool2d(batch, batch.shape[-1] // encoder.side) if batch.shape[-1] > encoder.side else batch
        loss = F.mse_loss(decoder(encoder(batch)), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % 50 == 0 or step == options.steps - 1:
            losses.append(round(loss.item(), 5))
    return encoder.eval().requires_grad_(False), losses


def load_or_train_encoder(images: torch.Tensor, cache_dir: str | Path | None,
                          options: EncoderOptions = EncoderOptions()) -> tuple[DomainEncoder, dict]:
    """The encoder for ``images`` from ``cache_dir`` if cached there, else trained (and cached if a folder
    is given). Returns it with its record: cache key, options, losses and whether it came from the cache."""
    key = cache_key(images, options)
    path = None if cache_dir is None else Path(cache_dir) / f"domain-encoder-{key}.pt"
    if path is not None and path.is_file():
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # torch raises many types for a damaged file; a cache can always be rebuilt
            payload = {}
        if isinstance(payload, dict) and payload.get("format") == CACHE_FORMAT and payload.get("key") == key:
            encoder = _new_encoder(images, options)
            encoder.load_state_dict(payload["state_dict"])
            return encoder.eval().requires_grad_(False), {**payload["record"], "cached": True}
    encoder, losses = train_encoder(images, options)
    record = {"key": key, "options": dataclasses.asdict(options), "n_images": len(images),
              "reconstruction_mse": losses, "path": None if path is None else str(path)}
    if path is not None:
        with atomic_path(path) as tmp:
            torch.save({"format": CACHE_FORMAT, "key": key, "state_dict": encoder.state_dict(), "record": record},
                       tmp)
    return encoder, {**record, "cached": False}


@torch.no_grad()
def extract_features(network: nn.Module, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """``network(images)`` in batches, without gradients: ``[N, C, s, s]`` -> ``[N, D]`` (CPU)."""
    return torch.cat([network(batch).float().cpu() for batch in images.split(batch_size)])
