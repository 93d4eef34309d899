"""What the loop builds before it starts: precision, optimizers, EMA, schedule and stage data.

The networks come from :mod:`pacgan_lite.architecture` and the device from :mod:`pacgan_lite.devices`,
which inference shares.
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..config import TrainOptions
from ..data import SliceDataset
from ..networks import Generator
from ..schedule import Schedule


@dataclass(frozen=True)
class Precision:
    """How the step runs on this device: autocast dtype, loss scaling and memory layout."""

    device: torch.device
    autocast_dtype: torch.dtype | None  # None: plain float32
    channels_last: bool = False

    @property
    def needs_scaler(self) -> bool:
        return self.autocast_dtype == torch.float16

    def autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format


def cpu_has_native_bfloat16() -> bool:
    """Whether this CPU computes bf16 in hardware (AMX or AVX512-BF16): only then is bf16 faster than fp32."""
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return torch.backends.mkldnn.is_available() and any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def precision_for(device: torch.device, precision: str = "auto", channels_last: bool | None = None) -> Precision:
    """The autocast dtype and memory layout of a run (``train.precision``, ``train.channels_last``).

    ``"auto"`` picks bf16 autocast where the hardware computes it natively (CUDA with bf16, or a CPU with
    AMX / AVX512-BF16), fp16 with loss scaling on older GPUs, and plain float32 on other CPUs. bf16 keeps
    float32's exponent range, so no loss scaling is needed; tests bound its difference from float32.
    ``channels_last=None`` is the kit's choice, the NHWC layout on every device: oneDNN's bf16 convolutions
    prefer it, and in float32 on a CPU it is as fast for wide layers and faster for the narrow
    high-resolution layers of a small network (README, Speed).
    """
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True  # TF32 is fine for GAN training and much faster
        torch.backends.cudnn.allow_tf32 = True
    if precision == "auto":
        if device.type == "cuda":
            precision = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        else:
            precision = "bfloat16" if cpu_has_native_bfloat16() else "float32"
    dtype = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}[precision]
    return Precision(device, dtype, True if channels_last is None else channels_last)


def make_optimizer(module: nn.Module, options: TrainOptions) -> torch.optim.Adam:
    """Adam with the run's settings; the fused kernel (one pass over all parameters) on CUDA and CPUs.

    The same update as the per-tensor loop, in a fraction of its time for the paper's many small tensors."""
    fused = next(module.parameters()).device.type in ("cuda", "cpu")
    return torch.optim.Adam(module.parameters(), lr=options.learning_rate, betas=tuple(options.betas),
                            fused=fused or None)


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
