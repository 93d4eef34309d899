"""The custom-gradient convolution, LeakyReLU and pooling give PyTorch's values, first and second derivatives.

Cases are float64 (rounding cannot hide a wrong formula), then bf16 autocast (the casts happen as
autocast's would), then the whole critic loss with its gradient penalty.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from pacgan_lite import ops
from pacgan_lite.layers import LEAKY_SLOPE as SLOPE
from pacgan_lite.layers import AvgPool2d, EqualizedConv2d, LeakyReLU, use_custom_gradients
from pacgan_lite.losses import critic_loss
from pacgan_lite.networks import Discriminator

pytestmark = pytest.mark.usefixtures("single_thread")

CONV_CASES = [
    # batch, in channels, out channels, kernel, padding, side, bias, channels_last
    (3, 4, 5, 3, 1, 8, True, False),
    (3, 4, 5, 3, 1, 8, True, True),
    (3, 5, 5, 3, 1, 8, True, True),  # two convolutions in a row, with pooling between
    (2, 1, 6, 1, 0, 16, True, False),  # a from-image layer
    (2, 6, 7, 4, 0, 4, True, True),  # the critic's last 4x4 -> 1x1 layer
    (2, 3, 2, 3, 0, 7, False, False),
]


def conv_inputs(batch, c_in, c_out, kernel, side, bias, channels_last, dtype=torch.float64):
    rng = torch.Generator().manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(batch, c_in, side, side, generator=rng, dtype=dtype).contiguous(memory_format=fmt)
    w = torch.randn(c_out, c_in, kernel, kernel, generator=rng, dtype=dtype).contiguous(memory_format=fmt)
    b = torch.randn(c_out, generator=rng, dtype=dtype) if bias else None
    return [t.requires_grad_() if t is not None else None for t in (x, w, b)]


# (convolution, LeakyReLU, 2x2 average pooling)
CUSTOM = (ops.conv2d, ops.leaky_relu, ops.avg_pool2d)
TORCH = (lambda x, w, b, padding: F.conv2d(x, w, b, padding=padding), F.leaky_relu, lambda x: F.avg_pool2d(x, 2))


def two_layers(functions, x, w, b, padding):
    """conv -> LeakyReLU (-> pool) -> conv with the same weights when the shapes allow: a small critic,
    with a non-linear reduction over the batch (as the minibatch-stddev feature) so second derivatives
    reach every layer."""
    conv, leaky, pool = functions
    h = leaky(conv(x, w, b, padding), SLOPE)
    if h.shape[-1] % 2 == 0:
        h = pool(h)
    if h.shape[1] == x.shape[1] and w.shape[-1] == 3:
        h = leaky(conv(h, w, b, padding), SLOPE)
    return h.flatten(1).sum(1) * h.std(dim=0).mean() + h.pow(2).flatten(1).mean(1)


def derivatives(functions, x, w, b, padding):
    """Output, first derivatives of a weighted sum, and derivatives of a gradient penalty (double backward)."""
    params = [t for t in (x, w, b) if t is not None]
    out = two_layers(functions, x, w, b, padding)
    first = torch.autograd.grad((out * torch.arange(1.0, len(out) + 1, dtype=out.dtype)).sum(), params)
    out = two_layers(functions, x, w, b, padding)
    (grad_x,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    penalty = (grad_x.flatten(1).norm(dim=1) - 1).pow(2).mean()
    second = torch.autograd.grad(penalty, params, allow_unused=True, materialize_grads=True)
    return out.detach(), first, second


@pytest.mark.parametrize(("batch", "c_in", "c_out", "kernel", "padding", "side", "bias", "channels_last"), CONV_CASES)
def test_first_and_second_derivatives_equal_pytorchs(batch, c_in, c_out, kernel, padding, side, bias, channels_last):
    x, w, b = conv_inputs(batch, c_in, c_out, kernel, side, bias, channels_last)
    got = derivatives(CUSTOM, x, w, b, padding)
    want = derivatives(TORCH, x, w, b, padding)
    torch.testing.assert_close(got[0], want[0], rtol=1e-12, atol=1e-12)
    for got_grads, want_grads in zip(got[1:], want[1:], strict=True):
        for g, expected in zip(got_grads, want_grads, strict=True):
            assert g.shape == expected.shape
            torch.testing.assert_close(g, expected, rtol=1e-10, atol=1e-10)
    assert any(g.abs().sum() > 0 for g in want[2])  # the penalty's gradient is not trivially zero


def test_bfloat16_autocast_casts_as_autocast_does():
    x, w, b = conv_inputs(2, 4, 5, 3, 8, True, True, dtype=torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = ops.conv2d(x, w, b, 1)
        want = F.conv2d(x, w, b, padding=1)
    assert got.dtype == want.dtype == torch.bfloat16
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    got.float().pow(2).sum().backward()
    assert x.grad.dtype == w.grad.dtype == b.grad.dtype == torch.float32  # the casts carry the gradients back


def test_no_graph_calls_the_plain_functions():
    x, w, b = conv_inputs(2, 4, 5, 3, 8, True, False)
    with torch.no_grad():
        assert ops.conv2d(x, w, b, 1).grad_fn is None
        assert ops.leaky_relu(x, SLOPE).grad_fn is None
        assert ops.avg_pool2d(x).grad_fn is None


class WeightGradientCount(TorchDispatchMode):
    """Counts weight gradients computed by ``aten.convolution_backward``."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func._overloadpacket is torch.ops.aten.convolution_backward:
            self.count += bool(args[-1][1])
        return func(*args, **(kwargs or {}))


def test_the_penalty_pass_computes_no_weight_gradients():
    """``torch.autograd.grad(score, image)`` needs no weight gradient; a full backward needs them all.

    The weights are scaled, as the equalized layers pass them: torch cannot say whether a *leaf*'s gradient
    is wanted during ``autograd.grad``, so a leaf weight gets its gradient computed anyway."""
    x, w, b = conv_inputs(2, 4, 4, 3, 8, True, False)
    w, b = w * 1.5, b * 1.5
    with WeightGradientCount() as counter:
        torch.autograd.grad(two_layers(CUSTOM, x, w, b, 1).sum(), x)
    assert counter.count == 0
    with WeightGradientCount() as counter:
        two_layers(CUSTOM, x, w, b, 1).sum().backward()
    assert counter.count == 2


def critic_gradients(D, real, fake, labels):
    loss, _ = critic_loss(D, real, fake, labels, 2, 0.5, rng=torch.Generator().manual_seed(3))
    return loss.detach(), torch.autograd.grad(loss, list(D.parameters()), allow_unused=True, materialize_grads=True)


def critic_at_16_px():
    torch.manual_seed(0)
    D = Discriminator(base_channels=16, channel_factors=(1, 1, 0.5), aux_hidden=8)
    rng = torch.Generator().manual_seed(1)
    real, fake = (torch.rand(4, 1, 16, 16, generator=rng) * 2 - 1 for _ in range(2))
    return D, real, fake, torch.tensor([0, 1, 0, 1])


def flat(gradients) -> torch.Tensor:
    return torch.cat([g.flatten() for g in gradients])


def test_critic_loss_gradients_equal_pytorchs():
    """The critic loss with its penalty, custom gradients against PyTorch's, on the critic at 16 px, in
    float32: the same numbers up to the order of additions."""
    D, real, fake, labels = critic_at_16_px()
    loss, grads = critic_gradients(use_custom_gradients(D, True), real, fake, labels)
    plain_loss, plain_grads = critic_gradients(use_custom_gradients(D, False), real, fake, labels)
    torch.testing.assert_close(loss, plain_loss, rtol=1e-5, atol=1e-5)
    got, want = flat(grads), flat(plain_grads)
    assert ((got - want).norm() / want.norm()).item() < 1e-5


def test_critic_loss_gradients_in_bf16_are_as_close_to_float32_as_pytorchs():
    """Under bf16 autocast both backward passes round at every layer, the penalty's double backward most,
    and where they round depends on the CPU's kernels (AMX or AVX512-BF16): at this size each lies 10-20%
    from the float32 gradient. The custom one may differ from PyTorch's, but must not lie farther from
    float32 than PyTorch's own, give or take a few bf16 roundings (2**-8 relative each)."""
    D, real, fake, labels = critic_at_16_px()
    exact = flat(critic_gradients(use_custom_gradients(D, False), real, fake, labels)[1])
    errors = {}
    for custom in (True, False):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            grads = critic_gradients(use_custom_gradients(D, custom), real, fake, labels)[1]
        errors[custom] = ((flat(grads) - exact).norm() / exact.norm()).item()
    assert errors[True] <= errors[False] + 0.03, errors


def test_use_custom_gradients_switches_every_layer():
    D = Discriminator(base_channels=8, channel_factors=(1, 1), aux_hidden=4)
    switched = [m for m in D.modules() if isinstance(m, EqualizedConv2d | LeakyReLU | AvgPool2d)]
    assert switched and all(m.custom_gradients for m in switched)  # on by default
    use_custom_gradients(D, False)
    assert not any(m.custom_gradients for m in switched)


def test_leaky_relu_refuses_a_slope_that_breaks_the_mask():
    with pytest.raises(ValueError, match="negative_slope"):
        LeakyReLU(0.0)
