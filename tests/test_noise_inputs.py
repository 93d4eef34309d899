"""The generator's noise inputs (``model.noise_from``): which blocks have them, that a block adds what it
says, that the noise is a function of z alone (so images do not depend on the batch), and the option's
checks."""

from __future__ import annotations

import re

import pytest
import torch

from pacgan_lite.architecture import architecture, build_networks
from pacgan_lite.config import ModelOptions, load_profile
from pacgan_lite.errors import ConfigError
from pacgan_lite.layers import GeneratorBlock, per_image_noise
from pacgan_lite.networks import Generator

pytestmark = pytest.mark.usefixtures("single_thread")

FACTORS = (1, 1, 0.5, 0.5, 0.5)  # 5 stages: blocks make 8, 16, 32 and 64 px


def noisy_generator(noise_from: int, seed: int = 0) -> Generator:
    """A generator whose noise strengths are not zero (they start at zero), so the noise shows."""
    torch.manual_seed(seed)
    generator = Generator(base_channels=8, channel_factors=FACTORS, z_dim=6, noise_from=noise_from)
    with torch.no_grad():
        for block in generator.blocks:
            if block.noise_strength is not None:
                block.noise_strength.normal_()
    return generator


def latents(n: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(n, 6, generator=torch.Generator().manual_seed(seed)), torch.arange(n) % 2


@pytest.mark.parametrize(("noise_from", "sides", "noisy_blocks"), [
    (0, (), (False, False, False, False)),
    (8, (8, 16, 32, 64), (True, True, True, True)),
    (32, (32, 64), (False, False, True, True)),
    (64, (64,), (False, False, False, True)),
])
def test_noise_from_gives_noise_inputs_to_the_blocks_that_make_that_side_and_larger(noise_from, sides, noisy_blocks):
    generator = Generator(base_channels=8, channel_factors=FACTORS, z_dim=6, noise_from=noise_from)
    assert generator.noise_sides == sides
    assert tuple(block.noise_strength is not None for block in generator.blocks) == noisy_blocks
    for block, noisy in zip(generator.blocks, noisy_blocks, strict=True):
        if noisy:  # one strength per conv and channel, zero at the start
            assert block.noise_strength.shape == (2, block[1].weight.shape[0])
            assert not block.noise_strength.any()


def test_at_zero_strength_the_noise_changes_no_image():
    # Added to a trained network without noise, the option starts from the same images.
    torch.manual_seed(0)
    noisy = Generator(base_channels=8, channel_factors=FACTORS, z_dim=6, noise_from=8)
    plain = Generator(base_channels=8, channel_factors=FACTORS, z_dim=6)
    plain.load_state_dict({k: v for k, v in noisy.state_dict().items() if "noise_strength" not in k})
    z, labels = latents(4)
    with torch.no_grad():
        assert torch.equal(noisy(z, labels, 4, 0.5), plain(z, labels, 4, 0.5))


def test_a_noisy_block_computes_as_written_by_hand():
    torch.manual_seed(0)
    block = GeneratorBlock(4, 3, noise=True)
    with torch.no_grad():
        block.noise_strength.normal_()
    x, noise = torch.randn(2, 4, 5, 5), torch.randn(2, 2, 10, 10)
    upsample, conv1, act1, norm1, conv2, act2, norm2 = block
    hidden = norm1(act1(conv1(upsample(x)) + noise[:, :1] * block.noise_strength[0][None, :, None, None]))
    expected = norm2(act2(conv2(hidden) + noise[:, 1:] * block.noise_strength[1][None, :, None, None]))
    torch.testing.assert_close(block(x, noise), expected)


@pytest.mark.parametrize(("noisy", "noise", "message"), [
    (True, None, r"this block adds noise: pass noise \[B, 2, 2H, 2W\]"),
    (False, torch.zeros(1, 2, 8, 8), "this block has no noise inputs"),
])
def test_a_block_refuses_missing_or_unexpected_noise(noisy, noise, message):
    with pytest.raises(ValueError, match=message):
        GeneratorBlock(2, 2, noise=noisy)(torch.zeros(1, 2, 4, 4), noise)


def test_an_image_depends_on_its_z_not_on_its_batch():
    generator = noisy_generator(8)
    z, labels = latents(6)
    with torch.no_grad():
        whole = generator(z, labels, 4, 1.0)
        split = torch.cat([generator(z[:1], labels[:1], 4, 1.0), generator(z[1:], labels[1:], 4, 1.0)])
        reversed_batch = generator(z.flip(0), labels.flip(0), 4, 1.0).flip(0)
        again = generator(z, labels, 4, 1.0)
    torch.testing.assert_close(split, whole, atol=1e-4, rtol=1e-4)  # other batch sizes: other kernels
    torch.testing.assert_close(reversed_batch, whole, atol=1e-4, rtol=1e-4)
    assert torch.equal(again, whole)


def test_the_noise_is_what_changes_an_image_and_it_changes_with_z():
    generator = noisy_generator(8)
    z, labels = latents(2)
    with torch.no_grad():
        images = generator(z, labels, 4, 1.0)
        no_noise = noisy_generator(8)
        for block in no_noise.blocks:
            block.noise_strength.zero_()
        assert not torch.equal(images, no_noise(z, labels, 4, 1.0))
    first, second = per_image_noise(z, (16,))[0]
    assert not torch.equal(first, second)


def test_per_image_noise_is_standard_normal_and_a_lower_side_keeps_its_maps():
    z = torch.randn(64, 6, generator=torch.Generator().manual_seed(2))
    low, high = per_image_noise(z, (16, 32))
    assert low.shape == (64, 2, 16, 16) and high.shape == (64, 2, 32, 32)
    assert abs(high.mean().item()) < 0.01 and abs(high.std().item() - 1) < 0.01
    assert torch.equal(per_image_noise(z, (16,))[0], low)  # a block's maps stay when a stage is added


def test_gradients_reach_the_noise_strengths():
    generator = Generator(base_channels=8, channel_factors=FACTORS, z_dim=6, noise_from=16)
    z, labels = latents(3)
    generator(z, labels, 4, 0.5).square().mean().backward()
    for block in generator.blocks[1:]:  # the 16, 32 and 64 px blocks; zero strength still has a gradient
        assert block.noise_strength.grad is not None and block.noise_strength.grad.abs().sum() > 0


@pytest.mark.parametrize(("overrides", "message"), [
    (["model.noise_from=4"], "model.noise_from: must be 0 or a side the generator's blocks make (8 to 256 px"),
    (["model.noise_from=24"], "a power of two), got 24. Fix: give 0 (no noise inputs) or, e.g., 8"),
    (["model.noise_from=512"], "model.noise_from: must be 0 or a side the generator's blocks make"),
])
def test_a_noise_from_that_names_no_block_is_refused(overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_profile("smoke", overrides)


def test_a_generator_built_directly_refuses_a_negative_noise_from():
    with pytest.raises(ValueError, match=r"noise_from must be 0 or a side in px, got -8"):
        Generator(base_channels=8, channel_factors=FACTORS, z_dim=6, noise_from=-8)


def test_the_paper_profile_has_no_noise_inputs():
    assert load_profile("paper").model.noise_from == 0


def test_the_architecture_records_noise_from_and_rebuilds_it():
    arch = architecture(ModelOptions(noise_from=64), n_classes=2, image_channels=1)
    assert arch["noise_from"] == 64
    assert build_networks(arch)[0].noise_sides == (64, 128, 256)
    del arch["noise_from"]  # a checkpoint written before the option: no noise inputs
    assert build_networks(arch)[0].noise_sides == ()
