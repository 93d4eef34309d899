"""The generator's x2 upsampling (``model.upsample``): nearest as before, bilinear against a hand-written
interpolation, the generator with each, and the option's check."""

from __future__ import annotations

import re

import pytest
import torch

from pacgan_lite.architecture import architecture, build_networks
from pacgan_lite.config import BILINEAR, NEAREST, UPSAMPLINGS, ModelOptions, load_profile
from pacgan_lite.errors import ConfigError
from pacgan_lite.layers import Upsample2x, upsample2x
from pacgan_lite.networks import Generator

pytestmark = pytest.mark.usefixtures("single_thread")


def bilinear_by_hand(image: torch.Tensor) -> torch.Tensor:
    """x2 bilinear of a ``[H, W]`` image with half-pixel centres: output pixel i samples input position
    ``(i + 0.5) / 2 - 0.5``, clamped to the image (edge pixels repeat)."""
    height, width = image.shape
    out = torch.empty(2 * height, 2 * width, dtype=torch.float64)
    for i in range(2 * height):
        for j in range(2 * width):
            y = min(max((i + 0.5) / 2 - 0.5, 0.0), height - 1)
            x = min(max((j + 0.5) / 2 - 0.5, 0.0), width - 1)
            y0, x0 = int(y), int(x)
            y1, x1 = min(y0 + 1, height - 1), min(x0 + 1, width - 1)
            wy, wx = y - y0, x - x0
            out[i, j] = ((1 - wy) * (1 - wx) * image[y0, x0] + (1 - wy) * wx * image[y0, x1]
                         + wy * (1 - wx) * image[y1, x0] + wy * wx * image[y1, x1])
    return out


def test_nearest_copies_each_pixel_into_a_two_by_two_block():
    image = torch.arange(12.0).reshape(1, 1, 3, 4)
    up = upsample2x(image, NEAREST)
    assert up.shape == (1, 1, 6, 8)
    assert torch.equal(up, image.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3))


def test_bilinear_interpolates_as_written_by_hand():
    image = torch.randn(5, 7, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    torch.testing.assert_close(upsample2x(image[None, None], BILINEAR)[0, 0], bilinear_by_hand(image))


def test_bilinear_keeps_no_two_by_two_blocks():
    # What the option is for: nearest leaves every 2x2 block constant, which the next convolutions can turn
    # into row and column streaks; bilinear leaves a smooth ramp.
    image = torch.randn(1, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    blocks = {mode: upsample2x(image, mode).unfold(2, 2, 2).unfold(3, 2, 2).flatten(-2).std(-1) for mode in UPSAMPLINGS}
    assert blocks[NEAREST].abs().max() == 0
    assert (blocks[BILINEAR] > 0).all()


def test_an_unknown_upsampling_is_refused():
    with pytest.raises(ValueError, match="upsampling must be one of nearest, bilinear, got 'bicubic'"):
        Upsample2x("bicubic")
    with pytest.raises(ConfigError) as err:
        load_profile("smoke", ["model.upsample=bicubic"])
    assert str(err.value) == ("override: model.upsample: unknown upsampling 'bicubic'. "
                              "Fix: use one of nearest, bilinear")


@pytest.mark.parametrize(("stage", "fade_alpha"), [(0, 1.0), (1, 0.3), (2, 0.5), (2, 1.0)])
def test_the_generator_upsamples_every_block_and_the_fade_in_with_its_mode(stage, fade_alpha):
    torch.manual_seed(0)
    nearest = Generator(base_channels=8, channel_factors=(1, 1, 0.5), z_dim=6)
    torch.manual_seed(0)
    bilinear = Generator(base_channels=8, channel_factors=(1, 1, 0.5), z_dim=6, upsample=BILINEAR)
    assert all(torch.equal(a, b) for a, b in zip(nearest.state_dict().values(), bilinear.state_dict().values(),
                                                    strict=True))  # the option adds no weight
    z, labels = torch.randn(4, 6), torch.tensor([0, 1, 0, 1])
    z.requires_grad_(True)
    images = bilinear(z, labels, stage, fade_alpha)
    assert images.shape == (4, 1, 4 * 2**stage, 4 * 2**stage)
    images.square().sum().backward()
    assert z.grad.abs().sum() > 0 and all(p.grad is not None for p in bilinear.to_image[stage].parameters())
    # By hand: the blocks with bilinear upsampling, the previous stage's image upsampled bilinearly.
    with torch.no_grad():
        x = bilinear.initial(torch.cat([z, bilinear.embedding(labels)], 1)[:, :, None, None])
        if stage == 0:
            expected = torch.tanh(bilinear.to_image[0](x))
        else:
            for block in bilinear.blocks[: stage - 1]:
                x = block(x)
            new = bilinear.to_image[stage](bilinear.blocks[stage - 1](x))
            previous = torch.nn.functional.interpolate(bilinear.to_image[stage - 1](x), scale_factor=2,
                                                       mode="bilinear", align_corners=False)
            expected = torch.tanh(fade_alpha * new + (1 - fade_alpha) * previous)
        torch.testing.assert_close(images, expected)
        same = torch.allclose(nearest(z, labels, stage, fade_alpha), images)
    assert same == (stage == 0)  # the 4x4 stage has no upsampling


def test_the_architecture_records_the_upsampling_and_rebuilds_it():
    arch = architecture(ModelOptions(upsample=BILINEAR), n_classes=2, image_channels=1)
    assert arch["upsample"] == BILINEAR
    generator, _ = build_networks(arch)
    assert generator.upsample == BILINEAR and generator.blocks[0][0].mode == BILINEAR
    del arch["upsample"]  # a checkpoint written before the option was trained with nearest
    assert build_networks(arch)[0].upsample == NEAREST


def test_the_paper_profile_upsamples_by_nearest():
    assert load_profile("paper").model.upsample == NEAREST


# ----------------------------------------------------------------------------- model.bilinear_from

FACTORS = (1, 1, 0.5, 0.5, 0.5)  # 5 stages: blocks make 8, 16, 32 and 64 px


@pytest.mark.parametrize(("bilinear_from", "modes"), [
    (0, (NEAREST, NEAREST, NEAREST, NEAREST)),
    (8, (BILINEAR, BILINEAR, BILINEAR, BILINEAR)),
    (32, (NEAREST, NEAREST, BILINEAR, BILINEAR)),
    (64, (NEAREST, NEAREST, NEAREST, BILINEAR)),
])
def test_bilinear_from_switches_the_blocks_that_make_that_side_and_larger(bilinear_from, modes):
    generator = Generator(base_channels=8, channel_factors=FACTORS, z_dim=6, bilinear_from=bilinear_from)
    assert generator.block_upsampling == modes
    assert tuple(block[0].mode for block in generator.blocks) == modes


@pytest.mark.parametrize(("stage", "fade_alpha", "same_as"), [
    (1, 0.5, NEAREST),  # the 8 px block and its fade-in upsample by nearest
    (2, 0.5, NEAREST),
    (3, 1.0, None),  # nearest up to 16 px, then bilinear: like neither
    (3, 0.0, None),  # at alpha 0, the 16 px image (by nearest blocks) upsampled bilinearly
])
def test_a_generator_with_bilinear_from_computes_its_blocks_and_fade_in_by_hand(stage, fade_alpha, same_as):
    torch.manual_seed(0)
    mixed = Generator(base_channels=8, channel_factors=FACTORS, z_dim=6, bilinear_from=32)
    networks = {}
    for mode in UPSAMPLINGS:
        networks[mode] = Generator(base_channels=8, channel_factors=FACTORS, z_dim=6, upsample=mode)
        networks[mode].load_state_dict(mixed.state_dict())  # the option adds no weight
    z, labels = torch.randn(4, 6, generator=torch.Generator().manual_seed(1)), torch.tensor([0, 1, 0, 1])
    with torch.no_grad():
        images = mixed(z, labels, stage, fade_alpha)
        outputs = {mode: net(z, labels, stage, fade_alpha) for mode, net in networks.items()}
        # By hand: blocks 1-2 from the nearest generator, block 3 from the bilinear one.
        x = networks[NEAREST].initial(torch.cat([z, mixed.embedding(labels)], 1)[:, :, None, None])
        for index in range(stage - 1):
            x = networks[NEAREST if index < 2 else BILINEAR].blocks[index](x)
        mode = NEAREST if stage < 3 else BILINEAR
        new = mixed.to_image[stage](networks[mode].blocks[stage - 1](x))
        previous = upsample2x(mixed.to_image[stage - 1](x), mode)
    torch.testing.assert_close(images, torch.tanh(fade_alpha * new + (1 - fade_alpha) * previous))
    for mode, output in outputs.items():
        assert torch.equal(output, images) == (mode == same_as)


@pytest.mark.parametrize(("overrides", "message"), [
    # the smoke profile's generator has 7 stages (channel_factors), its blocks make 8 to 256 px
    (["model.bilinear_from=4"], "model.bilinear_from: must be 0 or a side the generator's blocks make (8 to 256 px"),
    (["model.bilinear_from=24"], "a power of two), got 24. Fix: give 0 (no block) or, e.g., 64"),
    (["model.bilinear_from=512"], "model.bilinear_from: must be 0 or a side the generator's blocks make"),
])
def test_a_bilinear_from_that_names_no_block_is_refused(overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_profile("smoke", overrides)


def test_a_generator_built_directly_refuses_a_negative_bilinear_from():
    with pytest.raises(ValueError, match=r"bilinear_from must be 0 or a side in px, got -8"):
        Generator(base_channels=8, channel_factors=FACTORS, z_dim=6, bilinear_from=-8)


def test_the_architecture_records_bilinear_from_and_rebuilds_it():
    arch = architecture(ModelOptions(bilinear_from=64), n_classes=2, image_channels=1)
    assert arch["bilinear_from"] == 64
    assert build_networks(arch)[0].block_upsampling == (NEAREST,) * 3 + (BILINEAR,) * 3  # 8-32 px, 64-256 px
    del arch["bilinear_from"]  # a checkpoint written before the option: every block by nearest
    assert set(build_networks(arch)[0].block_upsampling) == {NEAREST}
