"""PACGAN generator and critic: a progressive-growing GAN (ProGAN) with an auxiliary classifier (ACGAN).

Both networks hold every resolution from the start; ``stage`` selects how many are used and
``fade_alpha`` blends the newest one in. Stage ``s`` works at ``4 * 2**s`` pixels.

==========  ==========  ======================================  =========================================
stage       resolution  Generator(z [B, z_dim], labels [B])     Discriminator(images)
==========  ==========  ======================================  =========================================
0           4           ``[B, image_channels, 4, 4]``           ``[B]`` score, ``[B, n_classes]`` logits
1           8           ``[B, image_channels, 8, 8]``           same
6           256         ``[B, image_channels, 256, 256]``       same
==========  ==========  ======================================  =========================================

The widths default to :class:`~pacgan_lite.config.ModelOptions`, the paper's settings: then the generator
has 13,658,333 parameters and the critic 16,075,621, the same as the reference code (equalizing the first
transposed conv adds no parameter, and the class head has ``n_classes`` = 2 outputs). The critic's
conditioning (``model.conditioning``, see :mod:`pacgan_lite.losses`) may add a twin class head (``tac``) or
a class embedding for the score (``projection``).
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .config import BILINEAR, ModelOptions
from .layers import (
    AvgPool2d,
    ClassProjection,
    DiscriminatorBlock,
    EqualizedConv2d,
    EqualizedConvTranspose2d,
    GeneratorBlock,
    LeakyReLU,
    MinibatchStddev,
    PixelNorm,
    count_parameters,
    per_image_noise,
    upsample2x,
)
from .losses import CONDITIONINGS, PROJECTION, TAC
from .schedule import is_resolution, resolution, stage_of


def stage_channels(base_channels: int, channel_factors: Sequence[float],
                   min_channels: int = ModelOptions.min_channels) -> tuple[int, ...]:
    """Feature channels per stage, ``max(min_channels, int(base_channels * factor))``: (512, 512, 256, ..., 16)
    for the paper (no floor). The floor keeps the high-resolution stages of a narrow network from getting
    one or two channels."""
    if len(channel_factors) < 1:
        raise ValueError("channel_factors must have at least one entry (one per stage)")
    channels = tuple(max(min_channels, int(base_channels * factor)) for factor in channel_factors)
    if min(channels) < 1:
        raise ValueError(f"base_channels={base_channels} with channel_factors={tuple(channel_factors)} gives "
                         f"channels {channels}; every stage needs at least 1 channel (raise min_channels)")
    return channels


def _check_stage(stage: int, fade_alpha: float, n_stages: int) -> tuple[int, float]:
    stage = operator.index(stage)
    if not 0 <= stage < n_stages:
        raise ValueError(f"stage must be in 0..{n_stages - 1} for this network, got {stage}")
    fade_alpha = float(fade_alpha)
    if not 0.0 <= fade_alpha <= 1.0:
        raise ValueError(f"fade_alpha must be in [0, 1], got {fade_alpha}")
    return stage, fade_alpha


def _check_class_count(n_classes: int) -> None:
    if n_classes < 2:
        raise ValueError(f"n_classes must be at least 2, got {n_classes}")


class Generator(nn.Module):
    """Class-conditional progressive generator.

    z is joined with a learned class embedding and PixelNorm-ed as one vector (as the reference: the
    embedding is rescaled together with z). The 4x4 block is a transposed conv 1x1 -> 4x4 and a 3x3 conv;
    each later block doubles the resolution. One 1x1 to-image layer per resolution.

    Departure from the reference: the first transposed conv uses the equalized learning rate like every
    other layer (the reference leaves it a plain ``ConvTranspose2d``); the parameter count is unchanged.

    Args:
        n_classes: number of classes (CN, AD for the paper).
        z_dim: length of the latent vector.
        embedding_dim: length of the class embedding joined to z.
        base_channels: channels at 4x4 for factor 1.
        channel_factors: one factor per stage; stage i has ``int(base_channels * channel_factors[i])``
            channels, so the number of stages is ``len(channel_factors)``.
        image_channels: 1 for MR slices, 3 for RGB.
        min_channels: floor on every stage's channels (see :func:`stage_channels`); 0: none.
        upsample: the x2 upsampling of every block (below ``bilinear_from``) and of its fade-in's previous
            image, one of :data:`~pacgan_lite.config.UPSAMPLINGS`.
        bilinear_from: the blocks that make this side (px) or a larger one, and their fade-ins, upsample
            bilinearly whatever ``upsample`` says; 0: none. The low blocks keep nearest upsampling, whose
            sharp blocks lay out the anatomy, and the high ones lose its row and column streaks.
        noise_from: the blocks that make this side (px) or a larger one add per-pixel noise after each conv
            (see :class:`~pacgan_lite.layers.GeneratorBlock`), drawn from z by
            :func:`~pacgan_lite.layers.per_image_noise`; 0: none (PACGAN).
        padding_mode: how every 3x3 conv fills the border, one of :data:`~pacgan_lite.config.PADDINGS`:
            zeros (PACGAN) mark the border, from which a narrow generator draws bright specks in the corners;
            reflect or replicate do not.

    Examples::

        G = Generator(base_channels=32)
        images = G(torch.randn(8, 512), torch.randint(0, 2, (8,)), stage=2, fade_alpha=0.3)  # [8, 1, 16, 16]
    """

    def __init__(
        self,
        n_classes: int = 2,
        z_dim: int = ModelOptions.z_dim,
        embedding_dim: int = ModelOptions.embedding_dim,
        base_channels: int = ModelOptions.base_channels,
        channel_factors: Sequence[float] = ModelOptions.channel_factors,
        image_channels: int = 1,
        min_channels: int = ModelOptions.min_channels,
        upsample: str = ModelOptions.upsample,
        bilinear_from: int = ModelOptions.bilinear_from,
        noise_from: int = ModelOptions.noise_from,
        padding_mode: str = ModelOptions.generator_padding,
    ):
        super().__init__()
        _check_class_count(n_classes)
        if z_dim < 1 or embedding_dim < 1 or image_channels < 1:
            raise ValueError(f"z_dim, embedding_dim and image_channels must be positive, got {z_dim}, "
                             f"{embedding_dim}, {image_channels}")
        channels = stage_channels(base_channels, channel_factors, min_channels)
        self.n_classes, self.z_dim, self.image_channels = n_classes, z_dim, image_channels
        self.n_stages = len(channels)
        self.embedding = nn.Embedding(n_classes, embedding_dim)
        self.initial = nn.Sequential(
            PixelNorm(),
            EqualizedConvTranspose2d(z_dim + embedding_dim, channels[0], 4), LeakyReLU(),
            EqualizedConv2d(channels[0], channels[0], 3, 1, padding_mode), LeakyReLU(), PixelNorm(),
        )
        for name, side in (("bilinear_from", bilinear_from), ("noise_from", noise_from)):
            if side < 0:
                raise ValueError(f"{name} must be 0 or a side in px, got {side}")
        self.upsample = upsample
        # The upsampling of block i (stage i, side 4 * 2**i), which its fade-in's previous image also takes.
        self.block_upsampling = tuple(BILINEAR if bilinear_from and resolution(i) >= bilinear_from else upsample
                                      for i in range(1, len(channels)))
        self.noise_sides = tuple(resolution(i) for i in range(1, len(channels))
                                 if noise_from and resolution(i) >= noise_from)
        self.blocks = nn.ModuleList(GeneratorBlock(channels[i - 1], channels[i], self.block_upsampling[i - 1],
                                                   noise=resolution(i) in self.noise_sides,
                                                   padding_mode=padding_mode)
                                    for i in range(1, len(channels)))
        self.to_image = nn.ModuleList(EqualizedConv2d(c, image_channels, 1) for c in channels)

    def forward(self, z: torch.Tensor, labels: torch.Tensor, stage: int, fade_alpha: float) -> torch.Tensor:
        """Images for latent vectors and class labels.

        Args:
            z: ``[B, z_dim]`` latent vectors, usually N(0, I).
            labels: ``[B]`` int64 (or int32) class indices in ``0..n_classes-1``.
            stage: 0..n_stages-1; the output side is ``4 * 2**stage``.
            fade_alpha: in [0, 1]; weight of the newest block (unused at stage 0).

        Returns:
            ``[B, image_channels, 4 * 2**stage, 4 * 2**stage]`` in (-1, 1): ``tanh(fade_alpha * new +
            (1 - fade_alpha) * upsample(previous))``, the tanh after the blend as in the reference.
        """
        stage, fade_alpha = _check_stage(stage, fade_alpha, self.n_stages)
        self._check_inputs(z, labels)
        x = self.initial(torch.cat([z, self.embedding(labels).to(z.dtype)], dim=1)[:, :, None, None])
        if stage == 0:
            return torch.tanh(self.to_image[0](x))
        noise_sides = [side for side in self.noise_sides if side <= resolution(stage)]
        noise = dict(zip(noise_sides, per_image_noise(z, noise_sides), strict=True))
        for i, block in enumerate(self.blocks[: stage - 1], start=1):
            x = block(x, noise.get(resolution(i)))
        new = self.to_image[stage](self.blocks[stage - 1](x, noise.get(resolution(stage))))
        if fade_alpha == 1.0:  # the fade-in is over: the previous path has weight 0
            return torch.tanh(new)
        # Upsampling after the 1x1 to-image equals to-image after upsampling, on one channel instead of many.
        previous = upsample2x(self.to_image[stage - 1](x), self.block_upsampling[stage - 1])
        return torch.tanh(fade_alpha * new + (1.0 - fade_alpha) * previous)

    def _check_inputs(self, z: torch.Tensor, labels: torch.Tensor) -> None:
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape [B, {self.z_dim}], got {list(z.shape)}")
        if labels.shape != (z.shape[0],):
            raise ValueError(f"labels must have shape [{z.shape[0]}] to match z, got {list(labels.shape)}")
        if labels.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"labels must be int64 class indices, got {labels.dtype}")
        # On a GPU this check would make the host wait for the device at every step; there an out-of-range
        # label fails in the embedding lookup instead.
        if labels.device.type == "cpu" and ((labels < 0) | (labels >= self.n_classes)).any():
            raise ValueError(f"labels must be in 0..{self.n_classes - 1}, got {labels.unique().tolist()}")

    def parameters_per_stage(self) -> list[int]:
        """Parameters that each stage adds: stage 0 counts the embedding, the 4x4 block and its to-image layer;
        stage s > 0 counts block s and its to-image layer. The list sums to the total."""
        return [count_parameters(self.embedding, self.initial, self.to_image[0])] + [
            count_parameters(block, to_image)
            for block, to_image in zip(self.blocks, self.to_image[1:], strict=True)
        ]


class Discriminator(nn.Module):
    """Progressive critic with an auxiliary classifier; the class is not an input of the paper's critic (ACGAN).

    Each resolution has a 1x1 from-image layer (+ LeakyReLU) and a block that halves the resolution; the
    channels mirror the generator's. The 4x4 block adds the minibatch-stddev feature, then a 3x3 conv and a
    4x4 valid conv to 1x1. Two heads read the resulting ``channels[0]``-vector: the adversarial score (1x1
    conv to 1, no sigmoid: a WGAN critic) and the class logits.

    The conditioning adds, on the same vector: for ``tac``, a twin class head of the class head's shape (the
    losses train it on generated images); for ``projection``, a class embedding whose inner product with the
    vector is added to the score (:class:`~pacgan_lite.layers.ClassProjection`), the class then being an input
    of the score. The class head stays in every mode: it is the classifier.

    ``class_resolution`` (a side in px; 0, the paper: the stage's side) gives the class heads a coarse view:
    at the stages above that side they read the vector of the image average-pooled to it, through that
    side's from-image layer and the blocks below, the path they read at that side's own stage; the score
    still reads the full image. The class difference that the critic reads best at a low stage (the size of
    the ventricles is plain at 8 px) then stays the one it classifies by, and the finer blocks, which the
    training slices are too few to teach a class, only score realism.

    Departures from the reference: the class head has ``n_classes`` outputs (the reference hard-codes 2),
    and the minibatch-stddev feature does not depend on the batch in eval mode (see
    :class:`~pacgan_lite.layers.MinibatchStddev`). The class head stays linear, ``channels[0] -> aux_hidden
    -> n_classes`` with no non-linearity between, as in the paper (512 -> 150 -> 2).

    Args:
        n_classes: number of classes, at least 2.
        base_channels: channels at 4x4 for factor 1.
        channel_factors: one factor per stage, as for :class:`Generator` (use the same for both).
        image_channels: 1 for MR slices, 3 for RGB.
        aux_hidden: width of the hidden layer of the class head.
        min_channels: floor on every stage's channels, as for :class:`Generator`.
        conditioning: one of :data:`~pacgan_lite.losses.CONDITIONINGS` (see :mod:`pacgan_lite.losses`).
        mbstd_group_size: images per minibatch-stddev group; 0: the whole batch.
        class_resolution: side (px) of the class heads' view above that side's stage; 0: the stage's side.

    Examples::

        D = Discriminator(base_channels=32)
        score, logits = D(torch.rand(8, 1, 16, 16) * 2 - 1, stage=2, fade_alpha=1.0)  # [8], [8, 2]
    """

    def __init__(
        self,
        n_classes: int = 2,
        base_channels: int = ModelOptions.base_channels,
        channel_factors: Sequence[float] = ModelOptions.channel_factors,
        image_channels: int = 1,
        aux_hidden: int = ModelOptions.aux_hidden,
        min_channels: int = ModelOptions.min_channels,
        conditioning: str = ModelOptions.conditioning,
        mbstd_group_size: int = ModelOptions.mbstd_group_size,
        class_resolution: int = ModelOptions.class_resolution,
    ):
        super().__init__()
        _check_class_count(n_classes)
        if image_channels < 1 or aux_hidden < 1:
            raise ValueError(f"image_channels and aux_hidden must be positive, got {image_channels}, {aux_hidden}")
        if conditioning not in CONDITIONINGS:
            raise ValueError(f"conditioning must be one of {', '.join(CONDITIONINGS)}, got {conditioning!r}")
        channels = stage_channels(base_channels, channel_factors, min_channels)
        if class_resolution and not (is_resolution(class_resolution)
                                     and class_resolution <= resolution(len(channels) - 1)):
            raise ValueError(f"class_resolution must be 0 or a side of the critic's stages (4 to "
                             f"{resolution(len(channels) - 1)} px, a power of two), got {class_resolution}")
        self.n_classes, self.image_channels, self.conditioning = n_classes, image_channels, conditioning
        self.class_resolution = class_resolution
        self.n_stages = len(channels)
        self.from_image = nn.ModuleList(
            nn.Sequential(EqualizedConv2d(image_channels, c, 1), LeakyReLU()) for c in channels
        )
        self.blocks = nn.ModuleList(
            DiscriminatorBlock(channels[i], channels[i - 1]) for i in range(1, len(channels))
        )
        self.final = nn.Sequential(
            MinibatchStddev(group_size=mbstd_group_size),
            EqualizedConv2d(channels[0] + 1, channels[0], 3, padding=1), LeakyReLU(),
            EqualizedConv2d(channels[0], channels[0], 4), LeakyReLU(),
        )
        self.downsample = AvgPool2d()  # the image for the previous from-image layer during the fade-in
        self.adversarial_head = EqualizedConv2d(channels[0], 1, 1)
        self.class_head = _class_head(channels[0], aux_hidden, n_classes)
        # Built after the paper's layers, so that an acgan critic draws the same initial weights as before.
        self.twin_class_head = _class_head(channels[0], aux_hidden, n_classes) if conditioning == TAC else None
        self.class_projection = ClassProjection(n_classes, channels[0]) if conditioning == PROJECTION else None

    def forward(self, images: torch.Tensor, stage: int, fade_alpha: float, labels: torch.Tensor | None = None,
                *, twin: bool = False) -> tuple[torch.Tensor, ...]:
        """Critic score and class logits (and the twin head's logits when asked).

        Args:
            images: ``[B, image_channels, s, s]`` with ``s = 4 * 2**stage``, values in [-1, 1].
            stage: 0..n_stages-1.
            fade_alpha: in [0, 1]; weight of the newest block against the pooled image through the previous
                from-image layer (unused at stage 0).
            labels: ``[B]`` class indices, the input of a projection critic's score; other critics ignore
                them, and without them a projection critic's score lacks its class term (the class logits
                never depend on them).
            twin: also return the twin head's logits (a ``tac`` critic only).

        Above ``class_resolution``'s stage the logits are those of the images average-pooled to that side.

        Returns:
            ``(adversarial_score [B], class_logits [B, n_classes])``, and ``twin_logits [B, n_classes]`` third
            with ``twin``; softmax the logits for probabilities.
        """
        stage, fade_alpha = _check_stage(stage, fade_alpha, self.n_stages)
        side = resolution(stage)
        if images.ndim != 4 or tuple(images.shape[1:]) != (self.image_channels, side, side):
            raise ValueError(f"images must have shape [B, {self.image_channels}, {side}, {side}] "
                             f"at stage {stage}, got {list(images.shape)}")
        if twin and self.twin_class_head is None:
            raise ValueError(f"twin logits need a critic with conditioning {TAC!r}, this one is {self.conditioning!r}")
        images = self._match_layout(images)
        x = self._vector(images, stage, fade_alpha)
        # float32 heads whatever the autocast dtype: the losses average and compare these numbers.
        score = self.adversarial_head(x).reshape(-1).float()
        if self.class_projection is not None and labels is not None:
            if labels.shape != score.shape:
                raise ValueError(f"labels must have shape [{len(score)}] to match the images, got {list(labels.shape)}")
            score = score + self.class_projection(x, labels).float()
        if self.class_resolution and side > self.class_resolution:
            coarse = F.avg_pool2d(images, side // self.class_resolution)
            x = self._vector(coarse, stage_of(self.class_resolution), 1.0)
        outputs = (score, self.class_head(x).flatten(1).float())
        if twin:
            return (*outputs, self.twin_class_head(x).flatten(1).float())
        return outputs

    def _vector(self, images: torch.Tensor, stage: int, fade_alpha: float) -> torch.Tensor:
        """The ``[B, channels[0], 1, 1]`` vector the heads read, of ``images`` at ``stage``'s side."""
        x = self.from_image[stage](images)
        if stage > 0:
            x = self.blocks[stage - 1](x)
            if fade_alpha < 1.0:  # during the fade-in; afterwards the previous path has weight 0
                previous = self.from_image[stage - 1](self.downsample(images))
                x = fade_alpha * x + (1.0 - fade_alpha) * previous
            for block in reversed(self.blocks[: stage - 1]):
                x = block(x)
        return self.final(x)

    def _match_layout(self, images: torch.Tensor) -> torch.Tensor:
        """``images`` with NHWC strides when the critic's weights are channels_last.

        A one-channel batch has the same memory in NCHW and NHWC, and torch reads it as NCHW, so the
        from-image layers of a channels_last critic would compute in NCHW, and the gradients after them
        would mix layouts (measured at 64 px on a CPU: 2x slower convolutions, 10x slower LeakyReLU
        backward there). The copy is one channel, small next to the features."""
        if (images.shape[1] == 1 and images.stride(1) != 1
                and self.final[1].weight.is_contiguous(memory_format=torch.channels_last)):
            return images.clone(memory_format=torch.channels_last)
        return images

    def parameters_per_stage(self) -> list[int]:
        """Parameters that each stage adds: stage 0 counts the 4x4 from-image layer, the final block and the
        heads (with the conditioning's); stage s > 0 counts block s and its from-image layer. The list sums to
        the total."""
        heads = [head for head in (self.adversarial_head, self.class_head, self.twin_class_head,
                                   self.class_projection) if head is not None]
        return [count_parameters(self.from_image[0], self.final, *heads)] + [
            count_parameters(block, from_image)
            for block, from_image in zip(self.blocks, self.from_image[1:], strict=True)
        ]


def _class_head(channels: int, hidden: int, n_classes: int) -> nn.Sequential:
    """Linear class logits of the critic's ``[B, channels, 1, 1]`` vector: ``channels -> hidden -> n_classes``."""
    return nn.Sequential(EqualizedConv2d(channels, hidden, 1), EqualizedConv2d(hidden, n_classes, 1))
