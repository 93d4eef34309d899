"""Building blocks of the PACGAN networks (ProGAN style).

Shapes are written ``[B, C, H, W]``. Every block works with ``torch.channels_last`` inputs and under
``torch.autocast``: no layer creates tensors of a fixed dtype.

=============================  ======================================  ====================================
Block                          Input                                   Output
=============================  ======================================  ====================================
``EqualizedConv2d``            ``[B, C_in, H, W]``                     ``[B, C_out, H', W']`` (as Conv2d)
``EqualizedConvTranspose2d``   ``[B, C_in, 1, 1]``                     ``[B, C_out, k, k]``
``PixelNorm``                  ``[B, C, H, W]``                        same, unit mean square over C
``MinibatchStddev``            ``[B, C, H, W]``                        ``[B, C + 1, H, W]``
``ClassProjection``            ``[B, C, 1, 1]``, labels ``[B]``        ``[B]``
``GeneratorBlock``             ``[B, C_in, H, W]``                     ``[B, C_out, 2H, 2W]``
``per_image_noise``            z ``[B, Z]``, sides                      ``[B, 2, side, side]`` per side
``DiscriminatorBlock``         ``[B, C_in, H, W]``                     ``[B, C_out, H/2, W/2]``
=============================  ======================================  ====================================
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from . import ops
from .config import BILINEAR, NEAREST, PADDINGS, UPSAMPLINGS, ZEROS

LEAKY_SLOPE = 0.2


class _EqualizedWeight(nn.Module):
    """Equalized learning rate (Karras et al., 2018): weight ~ N(0, 1), bias 0 (or none, ``bias=False``), and the
    He constant ``sqrt(2 / fan_in)`` multiplied into the weight at every call.

    The reference multiplies the *input* by the constant; for a scalar ``c``, ``conv(c * x, W) =
    conv(x, c * W)``, so scaling the weight gives the same output and touches far fewer numbers. The layers
    get their operands from :meth:`operands`, which the speed benchmark's reference mode replaces.
    """

    def __init__(self, weight_shape: tuple[int, ...], out_channels: int, fan_in: int, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(weight_shape))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = math.sqrt(2.0 / fan_in)

    def scaled_weight(self) -> torch.Tensor:
        """The weight the layer actually applies (std ``sqrt(2 / fan_in)`` at initialization)."""
        return self.weight * self.scale

    def operands(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(input, weight)`` for the convolution, the He constant on the weight."""
        return x, self.scaled_weight()

    def extra_repr(self) -> str:
        return f"weight={tuple(self.weight.shape)}, scale={self.scale:.4g}"


class EqualizedConv2d(_EqualizedWeight):
    """Conv2d with equalized learning rate; ``fan_in = in_channels * kernel_size**2``.

    Args:
        in_channels: C_in.
        out_channels: C_out.
        kernel_size: square kernel side k.
        padding: pixels added on each side (1 keeps the size of a 3x3 convolution).
        padding_mode: what they hold, one of :data:`~pacgan_lite.config.PADDINGS`: zeros (ProGAN, PACGAN), or
            the border mirrored (reflect) or repeated (replicate), which tell a position at the border
            nothing about where the border is.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, padding: int = 0,
                 padding_mode: str = ZEROS):
        super().__init__((out_channels, in_channels, kernel_size, kernel_size), out_channels,
                         in_channels * kernel_size**2)
        if padding_mode not in PADDINGS:
            raise ValueError(f"padding_mode must be one of {', '.join(PADDINGS)}, got {padding_mode!r}")
        self.padding, self.padding_mode = padding, padding_mode
        self.custom_gradients = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, weight = self.operands(x)
        padding = self.padding
        if padding and self.padding_mode != ZEROS:
            x, padding = F.pad(x, (padding,) * 4, mode=self.padding_mode), 0
        if self.custom_gradients:
            return ops.conv2d(x, weight, self.bias, padding)
        return F.conv2d(x, weight, self.bias, padding=padding)


class EqualizedConvTranspose2d(_EqualizedWeight):
    """Transposed conv (stride 1, no padding) with equalized LR: ``[B, C_in, 1, 1]`` -> ``[B, C_out, k, k]``.

    It projects the latent vector to the first k x k feature map. ``fan_in = in_channels * k**2``, the
    same rule as :class:`EqualizedConv2d`; it equals the constant of the original PGGAN's dense 4x4
    layer (gain ``sqrt(2) / 4`` over ``z_dim`` inputs).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
        super().__init__((in_channels, out_channels, kernel_size, kernel_size), out_channels,
                         in_channels * kernel_size**2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, weight = self.operands(x)
        return F.conv_transpose2d(x, weight, self.bias)


class LeakyReLU(nn.Module):
    """``nn.LeakyReLU(negative_slope)``, with the backward of :mod:`pacgan_lite.ops` unless
    ``custom_gradients`` is off. Any shape."""

    def __init__(self, negative_slope: float = LEAKY_SLOPE):
        super().__init__()
        if negative_slope <= 0:
            raise ValueError(f"negative_slope must be > 0, got {negative_slope}")
        self.negative_slope = negative_slope
        self.custom_gradients = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.custom_gradients:
            return ops.leaky_relu(x, self.negative_slope)
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class AvgPool2d(nn.Module):
    """2x2 average pooling, with the backward of :mod:`pacgan_lite.ops` unless ``custom_gradients`` is off.

    ``[B, C, H, W]`` -> ``[B, C, H/2, W/2]``."""

    def __init__(self):
        super().__init__()
        self.custom_gradients = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ops.avg_pool2d(x) if self.custom_gradients else F.avg_pool2d(x, 2)


class PixelNorm(nn.Module):
    """``x / sqrt(mean over channels of x**2 + 1e-8)``, per sample and position: ``[B, C, ...]`` -> same."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # sum / C, not mean: mean's backward materializes the broadcast gradient in NCHW, and a
        # channels_last x then meets it in a mixed-layout product, a slow path on CPUs.
        return x * torch.rsqrt(x.pow(2).sum(dim=1, keepdim=True) / x.shape[1] + 1e-8)


class MinibatchStddev(nn.Module):
    """Appends the mean std of the features over a group of images as a map: ``[B, C, H, W]`` -> ``[B, C + 1, H, W]``.

    In training mode the feature of an image is its group's ``mean over (C, H, W) of sqrt(var over the group +
    1e-8)``, with the biased variance, so a group of one gives ``1e-4`` instead of the reference's NaN.

    * ``group_size = 0`` (PACGAN): one group, the whole batch; every image gets the same value.
    * ``group_size = k > 0`` (ProGAN uses 4): groups of k images in batch order, each image getting its group's
      value. A batch that k does not divide (the last batch of an epoch) gives its ``B mod k`` leftover images
      to the last group, so no group has fewer than k images (ProGAN requires the batch to be divisible by k;
      the trainer's last batch often is not); a batch of at most k images is one group, as ProGAN's
      ``min(k, B)``. ProGAN puts image i in group ``i mod (B / k)``, the kit groups neighbours: the batches are
      shuffled, so the groups are alike.

    A running average of the mean of the images' values is kept in the buffer ``running_stddev`` (the first
    batch sets it, later batches move it by ``momentum``, as BatchNorm does with its statistics). In eval mode
    the feature is the running value, so a prediction does not depend on the other images in the batch. With
    groups, the running value is the statistic of a group of k (smaller than that of a whole batch: the biased
    variance of n images is ``(n - 1) / n`` of the true one on average), which is what the critic was trained
    with.

    The running value averages every batch the critic saw in training mode (real, generated and the
    gradient-penalty mixes). The default momentum of 0.01 spans about a hundred batches, so it does
    not follow the last few batches too closely.

    Args:
        momentum: weight of the newest batch in the running average, in (0, 1].
        group_size: images per group; 0 for the whole batch, else at least 2 (a group of one has no spread).
    """

    def __init__(self, momentum: float = 0.01, group_size: int = 0):
        super().__init__()
        if not 0.0 < momentum <= 1.0:
            raise ValueError(f"momentum must be in (0, 1], got {momentum}")
        if group_size < 0 or group_size == 1:
            raise ValueError(f"group_size must be 0 (the whole batch) or at least 2, got {group_size}")
        self.momentum, self.group_size = momentum, group_size
        self.register_buffer("running_stddev", torch.zeros(()))
        self.register_buffer("num_batches_tracked", torch.zeros((), dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            stddev = self.batch_stddev(x)
            with torch.no_grad():
                # A tensor weight (1 for the first batch) avoids reading the counter on the host.
                weight = torch.where(self.num_batches_tracked == 0, 1.0, self.momentum)
                self.running_stddev.lerp_(stddev.detach().mean().to(self.running_stddev.dtype), weight)
                self.num_batches_tracked.add_(1)
        else:
            stddev = self.running_stddev
        if stddev.ndim:  # one value per image
            stddev = stddev[:, None, None, None]
        feature = stddev.to(x.dtype).expand(x.shape[0], 1, *x.shape[2:])
        return torch.cat([x, feature], dim=1)

    def batch_stddev(self, x: torch.Tensor) -> torch.Tensor:
        """The training-mode statistic of ``x [B, C, H, W]``: a scalar for one group, else ``[B]`` (each image's
        group's value). At least float32 whatever the autocast dtype: it is a few numbers, precision is free."""
        x = x.to(torch.promote_types(x.dtype, torch.float32))
        batch, k = x.shape[0], self.group_size
        if k == 0 or batch <= k:
            return torch.sqrt(x.var(dim=0, correction=0) + 1e-8).mean()
        even = (batch // k - 1) * k  # images in the groups before the last; the last has k to 2k - 1
        groups = x[:even].unflatten(0, (-1, k))
        per_group = torch.sqrt(groups.var(dim=1, correction=0) + 1e-8).mean(dim=(1, 2, 3))
        last = torch.sqrt(x[even:].var(dim=0, correction=0) + 1e-8).mean()
        return torch.cat([per_group.repeat_interleave(k), last.expand(batch - even)])

    def extra_repr(self) -> str:
        return f"momentum={self.momentum}, group_size={self.group_size}"


class ClassProjection(_EqualizedWeight):
    """The projection discriminator's class term (Miyato and Koyama, 2018): ``<embedding[label], features>``.

    One learned vector per class, as long as the features, with the equalized learning rate of the heads it is
    added to (weight ~ N(0, 1) times ``sqrt(2 / channels)``) and no bias.

    Args:
        n_classes: number of classes.
        channels: C, the length of the feature vector.
    """

    def __init__(self, n_classes: int, channels: int):
        super().__init__((n_classes, channels), n_classes, channels, bias=False)

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """``features [B, C, 1, 1]`` and ``labels [B]`` (class indices) -> ``[B]``."""
        features, weight = self.operands(features.flatten(1))
        return (features * weight[labels]).sum(dim=1)


def upsample2x(x: torch.Tensor, mode: str = NEAREST) -> torch.Tensor:
    """``[B, C, H, W]`` -> ``[B, C, 2H, 2W]``, ``mode`` one of :data:`~pacgan_lite.config.UPSAMPLINGS`
    (bilinear with half-pixel centres, ``align_corners=False``)."""
    _check_upsampling(mode)
    if mode == BILINEAR:
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    return F.interpolate(x, scale_factor=2, mode=NEAREST)


def _check_upsampling(mode: str) -> None:
    if mode not in UPSAMPLINGS:
        raise ValueError(f"upsampling must be one of {', '.join(UPSAMPLINGS)}, got {mode!r}")


class Upsample2x(nn.Module):
    """:func:`upsample2x` as a layer: ``[B, C, H, W]`` -> ``[B, C, 2H, 2W]``."""

    def __init__(self, mode: str = NEAREST):
        super().__init__()
        _check_upsampling(mode)  # an unknown mode fails here, not at the first forward
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upsample2x(x, self.mode)

    def extra_repr(self) -> str:
        return f"mode={self.mode}"


class GeneratorBlock(nn.Sequential):
    """x2 upsampling (nearest as ProGAN, or bilinear), then two 3x3 equalized convs, each followed by
    LeakyReLU(0.2) and PixelNorm.

    With ``noise`` (StyleGAN's noise inputs), each conv's output gains per-pixel noise, one map for all
    channels, scaled per channel by ``noise_strength [2, out_channels]`` (learned, zero at the start):
    fine detail that differs from image to image need not be drawn from z through every block.

    ``padding_mode``: how the convs fill the border (see :class:`EqualizedConv2d`).

    ``[B, in_channels, H, W]`` (and, with noise, ``noise [B, 2, 2H, 2W]``) -> ``[B, out_channels, 2H, 2W]``.
    """

    def __init__(self, in_channels: int, out_channels: int, upsample: str = NEAREST, noise: bool = False,
                 padding_mode: str = ZEROS):
        super().__init__(
            Upsample2x(upsample),
            EqualizedConv2d(in_channels, out_channels, 3, 1, padding_mode), LeakyReLU(), PixelNorm(),
            EqualizedConv2d(out_channels, out_channels, 3, 1, padding_mode), LeakyReLU(), PixelNorm(),
        )
        self.noise_strength = nn.Parameter(torch.zeros(2, out_channels)) if noise else None

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        if self.noise_strength is None:
            if noise is not None:
                raise ValueError("this block has no noise inputs; build it with noise=True")
            return super().forward(x)
        if noise is None:
            raise ValueError("this block adds noise: pass noise [B, 2, 2H, 2W] (see per_image_noise)")
        upsample, conv1, act1, norm1, conv2, act2, norm2 = self
        x = conv1(upsample(x)) + self._scaled(noise, 0, x.dtype)
        x = conv2(norm1(act1(x))) + self._scaled(noise, 1, x.dtype)
        return norm2(act2(x))

    def _scaled(self, noise: torch.Tensor, index: int, dtype: torch.dtype) -> torch.Tensor:
        return noise[:, index : index + 1].to(dtype) * self.noise_strength[index].to(dtype)[None, :, None, None]


def per_image_noise(z: torch.Tensor, sides: Sequence[int]) -> list[torch.Tensor]:
    """Standard normal noise maps ``[B, 2, side, side]`` for each side in ``sides``, a function of each row of
    ``z [B, Z]`` alone.

    Each image's maps are drawn from a generator seeded by a hash of its latent vector's bytes, so an image
    stays a function of (z, label): the same z gives the same image in any batch, and sampling, resume and
    evaluation stay exact. Drawn on the CPU in the order of ``sides``, so a block's maps do not change
    when a higher stage is added.
    """
    maps = [[] for _ in sides]
    for row in z.detach().float().cpu():
        digest = hashlib.blake2b(row.numpy().tobytes(), digest_size=8).digest()
        rng = torch.Generator().manual_seed(int.from_bytes(digest, "little") >> 1)
        for per_side, side in zip(maps, sides, strict=True):
            per_side.append(torch.randn(2, side, side, generator=rng))
    return [torch.stack(per_side).to(z.device) for per_side in maps]


class DiscriminatorBlock(nn.Sequential):
    """Two 3x3 equalized convs, each followed by LeakyReLU(0.2), then 2x2 average pooling.

    ``[B, in_channels, H, W]`` -> ``[B, out_channels, H/2, W/2]``.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(
            EqualizedConv2d(in_channels, out_channels, 3, padding=1), LeakyReLU(),
            EqualizedConv2d(out_channels, out_channels, 3, padding=1), LeakyReLU(),
            AvgPool2d(),
        )


def use_custom_gradients(module: nn.Module, enabled: bool = True) -> nn.Module:
    """Turn the backward passes of :mod:`pacgan_lite.ops` on or off (``train.custom_gradients``) in every
    convolution, LeakyReLU and pooling of ``module``; off, PyTorch's own run (the benchmark's reference)."""
    for layer in module.modules():
        if isinstance(layer, EqualizedConv2d | LeakyReLU | AvgPool2d):
            layer.custom_gradients = enabled
    return module


def count_parameters(*modules: nn.Module) -> int:
    """Number of scalar parameters in ``modules`` together."""
    return sum(p.numel() for module in modules for p in module.parameters())
