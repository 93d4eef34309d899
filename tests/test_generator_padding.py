"""How the generator's 3x3 convolutions fill the border (``model.generator_padding``): each mode computes
torch's padded convolution, values and gradients, with the kit's custom gradients too; zeros is PACGAN's
computation unchanged; reflect and replicate give a position at the border no sign of it; the option reaches
every 3x3 conv of the generator and none of the critic; its checks."""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pacgan_lite.architecture import architecture, build_networks
from pacgan_lite.config import PADDINGS, ModelOptions, load_profile
from pacgan_lite.errors import ConfigError
from pacgan_lite.layers import EqualizedConv2d
from pacgan_lite.networks import Generator

pytestmark = pytest.mark.usefixtures("single_thread")

FACTORS = (1, 1, 0.5, 0.5)  # 4 stages: 4 to 32 px


def conv_and_torchs(padding_mode: str, custom_gradients: bool) -> tuple[EqualizedConv2d, nn.Conv2d]:
    """A kit conv and torch's ``nn.Conv2d`` with the same padding mode and the same applied weights."""
    torch.manual_seed(0)
    conv = EqualizedConv2d(3, 5, 3, padding=1, padding_mode=padding_mode)
    conv.custom_gradients = custom_gradients
    with torch.no_grad():
        conv.bias.normal_()
    reference = nn.Conv2d(3, 5, 3, padding=1, padding_mode=padding_mode)
    with torch.no_grad():
        reference.weight.copy_(conv.scaled_weight())
        reference.bias.copy_(conv.bias)
    return conv, reference


@pytest.mark.parametrize("custom_gradients", [True, False], ids=["custom-gradients", "autograd"])
@pytest.mark.parametrize("padding_mode", PADDINGS)
def test_a_conv_computes_torchs_padded_convolution_and_its_gradients(padding_mode, custom_gradients):
    conv, reference = conv_and_torchs(padding_mode, custom_gradients)
    x = torch.randn(2, 3, 6, 6, generator=torch.Generator().manual_seed(1))
    x_kit, x_ref = x.clone().requires_grad_(), x.clone().requires_grad_()
    out, out_ref = conv(x_kit), reference(x_ref)
    assert out.shape == (2, 5, 6, 6)
    torch.testing.assert_close(out, out_ref, rtol=1e-5, atol=1e-5)
    weights = torch.randn_like(out)
    (out * weights).sum().backward()
    (out_ref * weights).sum().backward()
    torch.testing.assert_close(x_kit.grad, x_ref.grad, rtol=1e-5, atol=1e-5)
    # The kit's raw weight carries the He constant: d/dw = scale * d/d(applied weight).
    torch.testing.assert_close(conv.weight.grad, reference.weight.grad * conv.scale, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(conv.bias.grad, reference.bias.grad, rtol=1e-5, atol=1e-5)


def test_zero_padding_is_pacgans_computation_to_the_last_bit():
    conv, _ = conv_and_torchs("zeros", custom_gradients=False)
    x = torch.randn(2, 3, 6, 6, generator=torch.Generator().manual_seed(1))
    assert torch.equal(conv(x), F.conv2d(x, conv.scaled_weight(), conv.bias, padding=1))


@pytest.mark.parametrize(("padding_mode", "border_differs"), [("zeros", True), ("reflect", False), ("replicate", False)])
def test_only_zero_padding_tells_a_conv_where_the_border_is(padding_mode, border_differs):
    # On a constant image every position sees the same 3x3 neighbourhood unless the padding differs from it.
    conv, _ = conv_and_torchs(padding_mode, custom_gradients=True)
    out = conv(torch.full((1, 3, 8, 8), 0.7))
    centre = out[:, :, 4, 4][:, :, None, None]
    assert (not torch.allclose(out, centre.expand_as(out), atol=1e-6)) == border_differs


@pytest.mark.parametrize("padding_mode", PADDINGS)
def test_the_option_reaches_every_3x3_conv_of_the_generator(padding_mode):
    generator = Generator(base_channels=8, channel_factors=FACTORS, z_dim=6, padding_mode=padding_mode)
    convs = [m for m in generator.modules() if isinstance(m, EqualizedConv2d)]
    assert {m.padding_mode for m in convs if m.padding} == {padding_mode}
    assert len([m for m in convs if m.padding]) == 1 + 2 * (len(FACTORS) - 1)  # the 4x4 block's, two per block
    images = generator(torch.randn(3, 6), torch.tensor([0, 1, 0]), 3, 0.5)
    assert images.shape == (3, 1, 32, 32)
    images.square().mean().backward()
    assert all(m.weight.grad is not None for m in convs if m.padding)


def test_the_critic_keeps_zero_padding():
    arch = architecture(ModelOptions(generator_padding="reflect", base_channels=8, channel_factors=FACTORS), 2, 1)
    _, critic = build_networks(arch)
    assert {m.padding_mode for m in critic.modules() if isinstance(m, EqualizedConv2d)} == {"zeros"}


def test_an_unknown_padding_is_refused():
    with pytest.raises(ConfigError, match=re.escape("model.generator_padding: unknown padding 'mirror'. Fix: use one "
                                                    "of zeros, reflect, replicate")):
        load_profile("smoke", ["model.generator_padding=mirror"])
    with pytest.raises(ValueError, match="padding_mode must be one of zeros, reflect, replicate, got 'mirror'"):
        EqualizedConv2d(3, 5, 3, padding=1, padding_mode="mirror")


def test_the_paper_profile_pads_with_zeros():
    assert load_profile("paper").model.generator_padding == "zeros"


def test_the_architecture_records_the_padding_and_rebuilds_it():
    arch = architecture(ModelOptions(generator_padding="reflect"), n_classes=2, image_channels=1)
    assert arch["generator_padding"] == "reflect"
    assert build_networks(arch)[0].initial[3].padding_mode == "reflect"
    del arch["generator_padding"]  # a checkpoint written before the option: zeros
    assert build_networks(arch)[0].initial[3].padding_mode == "zeros"
