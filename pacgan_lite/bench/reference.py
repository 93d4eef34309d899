"""The reference implementation's sequence of computations for one training iteration, for the benchmark.

What the reference does that the kit's :class:`~pacgan_lite.training.step.TrainingStep` does not (the
mathematics is the same; ``tests/test_bench.py`` checks the generator gradients agree):

* every equalized layer scales its *input* by the He constant (:func:`scale_equalized_inputs`);
* the critic-step fakes are generated with autograd recording, then detached;
* the generator loss adds ``class_fake`` x CE(D(real)), a term with no gradient for the generator that costs
  a critic forward and backward, and the critic is not frozen, so that backward also fills its gradients;
* float32 only, contiguous (NCHW) tensors, a plain (non-fused) Adam;
* PyTorch's own backward of convolution and LeakyReLU (see :mod:`pacgan_lite.ops`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..layers import EqualizedConv2d, EqualizedConvTranspose2d
from ..losses import LossWeights, critic_loss, generator_loss
from ..schedule import SchedulePoint


def _input_scaled_operands(layer, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x * layer.scale, layer.weight


def scale_equalized_inputs(module: torch.nn.Module) -> torch.nn.Module:
    """Make every equalized layer of ``module`` multiply its input by the He constant, as the reference does,
    instead of its weight (the same function, computed in the reference's order)."""
    for layer in module.modules():
        if isinstance(layer, EqualizedConv2d | EqualizedConvTranspose2d):
            layer.operands = _input_scaled_operands.__get__(layer)
    return module


def reference_iteration(G, D, opt_G, opt_D, real: torch.Tensor, labels: torch.Tensor, point: SchedulePoint,
                        weights: LossWeights, noise_rng: torch.Generator) -> torch.Tensor:
    """One batch as the reference trains it: ``critic_iterations`` critic updates, then a generator update.

    Args:
        G, D: networks with input-scaled equalized layers.
        real: ``[B, C, s, s]`` images; labels: ``[B]``.
        point: the schedule point (stage, fade_alpha, critic iterations).

    Returns:
        The generator loss as the reference logs it (detached).
    """
    stage, fade_alpha = point.stage, point.fade_alpha
    for _ in range(point.critic_iterations):
        fake = G(_z(G, labels, noise_rng), labels, stage, fade_alpha)
        loss_D, _ = critic_loss(D, real, fake, labels, stage, fade_alpha, weights, rng=noise_rng)
        opt_D.zero_grad()
        loss_D.backward()
        opt_D.step()
    z = _z(G, labels, noise_rng)
    fake = G(z, labels, stage, fade_alpha)
    loss_G, _ = generator_loss(D, fake, labels, stage, fade_alpha, weights, z=z, real=real)
    _, logits_real = D(real, stage, fade_alpha)
    loss_G = loss_G + weights.class_fake * F.cross_entropy(logits_real, labels)
    opt_G.zero_grad()
    loss_G.backward()
    opt_G.step()
    return loss_G.detach()


def _z(G, labels: torch.Tensor, noise_rng: torch.Generator) -> torch.Tensor:
    return torch.randn(len(labels), G.z_dim, device=labels.device, generator=noise_rng)
