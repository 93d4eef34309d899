"""What the loop builds before it starts: device and precision, networks, optimizers, EMA, stage data."""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..config import ModelOptions, TrainOptions
from ..data import SliceDataset
from ..errors import ConfigError
from ..networks import Discriminator, Generator
from ..schedule import Schedule


@dataclass(frozen=True)
class Precision:
    """How the step runs on this device: the autocast context and whether fp16 loss scaling is needed."""

    device: torch.device
    autocast_dtype: torch.dtype | None  # None: plain float32 (always on the CPU)

    @property
    def needs_scaler(self) -> bool:
        return self.autocast_dtype == torch.float16

    def autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.device.type == "cuda" else torch.contiguous_format


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``"auto"``: ``cuda:<local_rank>`` if CUDA is present, else the CPU; otherwise ``torch.device(name)``."""
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ConfigError("train.device", "train.device", f"unknown device {name!r}", "use auto, cpu or cuda") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device", "train.device", "CUDA requested but not available", "use auto or cpu")
    return device


def precision_for(device: torch.device, amp: bool) -> Precision:
    """bf16 autocast on CUDA where supported, else fp16 (with a GradScaler); float32 on the CPU."""
    if device.type != "cuda":
        return Precision(device, None)
    torch.backends.cuda.matmul.allow_tf32 = True  # TF32 is fine for GAN training and much faster
    torch.backends.cudnn.allow_tf32 = True
    if not amp:
        return Precision(device, None)
    return Precision(device, torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)


def architecture(model: ModelOptions, n_classes: int, image_channels: int) -> dict:
    """The keys that decide the networks' shapes; stored in checkpoints and checked on load."""
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


def make_optimizer(module: nn.Module, options: TrainOptions) -> torch.optim.Adam:
    return torch.optim.Adam(module.parameters(), lr=options.learning_rate, betas=tuple(options.betas))


def make_ema(generator: Generator) -> Generator:
    return copy.deepcopy(generator).eval().requires_grad_(False)


@torch.no_grad()
def update_ema(ema: nn.Module, generator: nn.Module, batch_size: int, half_life_images: int) -> None:
    """Move ``ema`` towards ``generator`` so that a weight halves its influence every ``half_life_images``."""
    keep = 0.5 ** (batch_size / half_life_images)
    for ema_param, param in zip(ema.parameters(), generator.parameters(), strict=True):
        ema_param.lerp_(param, 1.0 - keep)
    for ema_buffer, buffer in zip(ema.buffers(), generator.buffers(), strict=True):
        ema_buffer.copy_(buffer)


def schedule_for(options: TrainOptions) -> Schedule:
    """The schedule of the first ``options.stages`` entries of the per-stage lists."""
    stages = options.stages
    return Schedule(tuple(options.epochs_per_stage[:stages]), tuple(options.batch_sizes[:stages]),
                    tuple(options.critic_iterations[:stages]), options.fade_fraction)


def load_split(folder: Path, resolution: int, splits: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(images [N, C, s, s] float32, labels [N] int64)`` of the chosen ``Split`` rows of one level."""
    dataset = SliceDataset(folder, resolution, splits=splits)
    return dataset.images, dataset.targets
