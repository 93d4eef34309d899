"""Generator and critic: shapes per stage, fade-in, parameter counts, minibatch-stddev, equalized LR."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from pacgan_lite.config import ModelOptions, load_profile
from pacgan_lite.errors import ConfigError
from pacgan_lite.layers import EqualizedConv2d, EqualizedConvTranspose2d, MinibatchStddev, PixelNorm
from pacgan_lite.networks import Discriminator, Generator, stage_channels

pytestmark = pytest.mark.usefixtures("single_thread")

Z_DIM = 8
SMALL = {"base_channels": 16, "channel_factors": (1, 1, 1 / 2, 1 / 4)}  # 4..32 px, channels 16, 16, 8, 4


def small_pair(n_classes: int = 2, image_channels: int = 1, **overrides) -> tuple[Generator, Discriminator]:
    torch.manual_seed(0)
    kwargs = {**SMALL, "n_classes": n_classes, "image_channels": image_channels, **overrides}
    return Generator(z_dim=Z_DIM, **kwargs), Discriminator(**kwargs)


def inputs(batch: int, n_classes: int = 2, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    rng = torch.Generator().manual_seed(seed)
    return torch.randn(batch, Z_DIM, generator=rng), torch.randint(0, n_classes, (batch,), generator=rng)


def real_images(batch: int, side: int, channels: int = 1, seed: int = 2) -> torch.Tensor:
    return torch.rand(batch, channels, side, side, generator=torch.Generator().manual_seed(seed)) * 2 - 1


# ---------------------------------------------------------------------------------------------------- shapes

SHAPE_CASES = [
    # n_classes, image_channels, stage, fade_alpha, expected image shape
    (2, 1, 0, 1.0, (3, 1, 4, 4)),
    (2, 1, 1, 0.5, (3, 1, 8, 8)),
    (2, 1, 2, 0.0, (3, 1, 16, 16)),
    (2, 1, 3, 0.7, (3, 1, 32, 32)),
    (3, 1, 2, 0.5, (3, 1, 16, 16)),
    (2, 3, 0, 1.0, (3, 3, 4, 4)),
    (3, 3, 3, 0.2, (3, 3, 32, 32)),
]


@pytest.mark.parametrize(("n_classes", "image_channels", "stage", "fade_alpha", "expected"), SHAPE_CASES)
def test_output_shapes(n_classes, image_channels, stage, fade_alpha, expected):
    G, D = small_pair(n_classes, image_channels)
    z, labels = inputs(3, n_classes)
    images = G(z, labels, stage, fade_alpha)
    assert images.shape == expected
    assert torch.isfinite(images).all() and images.abs().max() <= 1
    score, logits = D(images, stage, fade_alpha)
    assert score.shape == (3,) and logits.shape == (3, n_classes)


def test_full_seven_stages_reach_256():
    torch.manual_seed(0)
    G = Generator(z_dim=Z_DIM, base_channels=32)  # channels 32, 32, 16, 8, 4, 2, 1
    D = Discriminator(base_channels=32)
    assert G.n_stages == D.n_stages == 7
    z, labels = inputs(2)
    images = G(z, labels, stage=6, fade_alpha=0.5)
    assert images.shape == (2, 1, 256, 256)
    score, logits = D(images, stage=6, fade_alpha=0.5)
    assert score.shape == (2,) and logits.shape == (2, 2)


@pytest.mark.parametrize(
    ("base_channels", "factors", "min_channels", "expected"),
    [(512, ModelOptions.channel_factors, 0, (512, 512, 256, 128, 64, 32, 16)),
     (512, ModelOptions.channel_factors, 16, (512, 512, 256, 128, 64, 32, 16)),  # a floor below every stage
     (32, ModelOptions.channel_factors, 0, (32, 32, 16, 8, 4, 2, 1)),
     (32, ModelOptions.channel_factors, 4, (32, 32, 16, 8, 4, 4, 4)),
     (64, ModelOptions.channel_factors, 8, (64, 64, 32, 16, 8, 8, 8)),
     (16, ModelOptions.channel_factors, 1, (16, 16, 8, 4, 2, 1, 1)),  # int(0.5) = 0 raised to 1
     (16, (1, 0.5), 0, (16, 8)), (16, (1, 0.5), 32, (32, 32))],
)
def test_stage_channels(base_channels, factors, min_channels, expected):
    assert stage_channels(base_channels, factors, min_channels) == expected


def test_both_networks_take_the_channel_floor():
    G, D = small_pair(min_channels=8)  # channels 16, 16, 8, 8 instead of 16, 16, 8, 4
    assert G.to_image[3].weight.shape == (1, 8, 1, 1) and D.from_image[3][0].weight.shape == (8, 1, 1, 1)
    z, labels = inputs(2)
    assert D(G(z, labels, 3, 0.5), 3, 0.5)[1].shape == (2, 2)


def test_a_negative_channel_floor_is_a_config_error():
    with pytest.raises(ConfigError, match=r"^override: model.min_channels: must be at least 0, got -1\. Fix: give 0"):
        load_profile("smoke", ["model.min_channels=-1"])


def test_labels_change_the_image():
    G, _ = small_pair()
    z, _ = inputs(1)
    assert not torch.allclose(G(z, torch.tensor([0]), 2, 1.0), G(z, torch.tensor([1]), 2, 1.0))


# ---------------------------------------------------------------------------------------------------- fade-in


def generator_paths(G: Generator, z: torch.Tensor, labels: torch.Tensor, stage: int):
    """(new, previous) to-image outputs at ``stage``, computed module by module."""
    x = G.initial(torch.cat([z, G.embedding(labels)], dim=1)[:, :, None, None])
    for block in G.blocks[: stage - 1]:
        x = block(x)
    new = G.to_image[stage](G.blocks[stage - 1](x))
    previous = G.to_image[stage - 1](F.interpolate(x, scale_factor=2, mode="nearest"))
    return new, previous


def discriminator_paths(D: Discriminator, images: torch.Tensor, stage: int):
    """(new, previous) features entering the stage-(s-1) blocks, computed module by module."""
    new = D.blocks[stage - 1](D.from_image[stage](images))
    previous = D.from_image[stage - 1](F.avg_pool2d(images, 2))
    return new, previous


def discriminator_rest(D: Discriminator, x: torch.Tensor, stage: int):
    for block in reversed(D.blocks[: stage - 1]):
        x = block(x)
    x = D.final(x)
    return D.adversarial_head(x).reshape(-1), D.class_head(x).flatten(1)


FADE_CASES = [(1, 0.0), (1, 1.0), (2, 0.0), (2, 0.35), (3, 1.0), (3, 0.8)]


@pytest.mark.parametrize(("stage", "fade_alpha"), FADE_CASES)
def test_generator_fade_in_blends_the_two_paths(stage, fade_alpha):
    G, _ = small_pair()
    z, labels = inputs(4)
    new, previous = generator_paths(G, z, labels, stage)
    expected = torch.tanh(fade_alpha * new + (1 - fade_alpha) * previous)
    torch.testing.assert_close(G(z, labels, stage, fade_alpha), expected, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize(("stage", "fade_alpha"), FADE_CASES)
def test_discriminator_fade_in_blends_the_two_paths(stage, fade_alpha):
    _, D = small_pair()
    images = real_images(4, 4 * 2**stage)
    new, previous = discriminator_paths(D, images, stage)
    expected = discriminator_rest(D, fade_alpha * new + (1 - fade_alpha) * previous, stage)
    for got, want in zip(D(images, stage, fade_alpha), expected, strict=True):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("stage", [1, 2, 3])
def test_fade_alpha_zero_is_the_previous_stage(stage):
    # At fade_alpha = 0 the new block is invisible: G gives the upsampled image of the previous stage at
    # full weight, and D scores the pooled image as the previous stage would.
    G, D = small_pair()
    z, labels = inputs(4)
    torch.testing.assert_close(
        G(z, labels, stage, 0.0), F.interpolate(G(z, labels, stage - 1, 1.0), scale_factor=2, mode="nearest")
    )
    images = real_images(4, 4 * 2**stage)
    for got, want in zip(D(images, stage, 0.0), D(F.avg_pool2d(images, 2), stage - 1, 1.0), strict=True):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_fade_alpha_one_ignores_the_previous_layer():
    G, D = small_pair()
    z, labels = inputs(4)
    images = real_images(4, 16)
    before_g, before_d = G(z, labels, 2, 1.0), D(images, 2, 1.0)
    with torch.no_grad():
        G.to_image[1].weight.mul_(3.0)
        D.from_image[1][0].weight.mul_(3.0)
    torch.testing.assert_close(G(z, labels, 2, 1.0), before_g)
    for got, want in zip(D(images, 2, 1.0), before_d, strict=True):
        torch.testing.assert_close(got, want)


# ---------------------------------------------------------------------------------------------------- parameter counts


def test_parameter_counts_with_paper_numbers():
    # Equal to the reference's: the equalized transposed conv adds no parameter and the class
    # head has n_classes = 2 outputs. The class head is 512*150+150 + 150*2+2 = 77,252.
    G, D = Generator(), Discriminator()
    assert G.parameters_per_stage() == [6_579_719, 4_720_129, 1_770_241, 442_753, 110_785, 27_745, 6_961]
    assert D.parameters_per_stage() == [6_638_021, 4_720_640, 3_540_480, 885_504, 221_568, 55_488, 13_920]
    assert sum(p.numel() for p in G.parameters()) == sum(G.parameters_per_stage()) == 13_658_333
    assert sum(p.numel() for p in D.parameters()) == sum(D.parameters_per_stage()) == 16_075_621


@pytest.mark.parametrize(("n_classes", "extra"), [(2, 0), (3, 151), (5, 453)])
def test_class_head_grows_with_n_classes(n_classes, extra):
    _, D2 = small_pair(2)
    _, D = small_pair(n_classes)
    assert sum(D.parameters_per_stage()) - sum(D2.parameters_per_stage()) == extra


# ---------------------------------------------------------------------------------------------------- minibatch-stddev


def trained_critic() -> tuple[Discriminator, torch.Tensor]:
    """A small critic whose running stddev has seen a few training batches, and 64 images at 16 px."""
    _, D = small_pair()
    with torch.no_grad():
        for seed in range(3):
            D(real_images(16, 16, seed=10 + seed), 2, 0.5)
    return D.eval(), real_images(64, 16)


@pytest.mark.parametrize("batch_size", [1, 7, 64])
def test_eval_scores_do_not_depend_on_the_batch(batch_size):
    D, images = trained_critic()
    with torch.no_grad():
        whole = D(images, 2, 0.5)
        parts = [D(chunk, 2, 0.5) for chunk in images.split(batch_size)]
    for got, want in zip((torch.cat(p) for p in zip(*parts, strict=True)), whole, strict=True):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


def test_training_scores_do_depend_on_the_batch():
    # Guards the test above: in training mode the feature is the batch statistic.
    D, images = trained_critic()
    D.train()
    with torch.no_grad():
        assert not torch.allclose(D(images, 2, 0.5)[0][:1], D(images[:1], 2, 0.5)[0])


def test_training_batch_of_one_is_finite():
    G, D = small_pair()
    z, labels = inputs(1)
    score, logits = D(G(z, labels, 2, 0.5), 2, 0.5)
    (score.sum() + logits.sum()).backward()
    assert torch.isfinite(score).all() and torch.isfinite(logits).all()
    assert all(torch.isfinite(p.grad).all() for p in G.parameters() if p.grad is not None)


def test_running_stddev_first_batch_sets_then_momentum_moves():
    layer = MinibatchStddev(momentum=0.25)
    first, second = torch.randn(5, 3, 4, 4), 2 * torch.randn(6, 3, 4, 4)

    def batch_stddev(x):
        return torch.sqrt(x.var(dim=0, correction=0) + 1e-8).mean()

    out = layer(first)
    assert out.shape == (5, 4, 4, 4)
    torch.testing.assert_close(out[:, 3], batch_stddev(first).expand(5, 4, 4))
    torch.testing.assert_close(layer.running_stddev, batch_stddev(first))
    layer(second)
    torch.testing.assert_close(layer.running_stddev, 0.75 * batch_stddev(first) + 0.25 * batch_stddev(second))
    assert {"running_stddev", "num_batches_tracked"} <= set(layer.state_dict())
    layer.eval()
    torch.testing.assert_close(layer(first[:1])[0, 3], layer.running_stddev.expand(4, 4))


# ---------------------------------------------------------------------------------------------------- layers


@pytest.mark.parametrize(
    ("layer", "fan_in"),
    [(EqualizedConv2d(64, 32, 3, padding=1), 64 * 9), (EqualizedConv2d(128, 16, 1), 128),
     (EqualizedConvTranspose2d(515, 64, 4), 515 * 16)],
)
def test_equalized_weight_has_he_std_at_init(layer, fan_in):
    assert layer.scale == pytest.approx(math.sqrt(2 / fan_in))
    assert layer.weight.std().item() == pytest.approx(1.0, rel=0.05)
    assert layer.scaled_weight().std().item() == pytest.approx(math.sqrt(2 / fan_in), rel=0.05)
    assert torch.count_nonzero(layer.bias) == 0


def test_equalized_conv_equals_scaling_the_input():
    # The reference scales the activation; scaling the weight must give the same output.
    torch.manual_seed(0)
    layer = EqualizedConv2d(6, 5, 3, padding=1)
    torch.nn.init.normal_(layer.bias)
    x = torch.randn(2, 6, 8, 8)
    torch.testing.assert_close(layer(x), F.conv2d(x * layer.scale, layer.weight, layer.bias, padding=1))


def test_equalized_transposed_conv_maps_1x1_to_kxk():
    layer = EqualizedConvTranspose2d(10, 7, 4)
    assert layer(torch.randn(3, 10, 1, 1)).shape == (3, 7, 4, 4)


def test_pixel_norm_gives_unit_mean_square():
    out = PixelNorm()(torch.randn(2, 9, 3, 3) * 5)
    torch.testing.assert_close(out.pow(2).mean(dim=1), torch.ones(2, 3, 3))


def test_gradient_reaches_every_parameter_on_the_active_path():
    G, D = small_pair()
    z, labels = inputs(4)
    score, logits = D(G(z, labels, 2, 0.5), 2, 0.5)
    (score.mean() + logits.square().mean()).backward()
    # Stage 2 with fade uses blocks 0-1, to-image 1-2 and from-image 1-2; stage 3 and to/from-image 0 stay idle.
    idle = ("blocks.2.", "to_image.0.", "to_image.3.", "from_image.0.", "from_image.3.")
    for name, parameter in [*G.named_parameters(), *D.named_parameters()]:
        has_gradient = parameter.grad is not None and torch.count_nonzero(parameter.grad) > 0
        assert has_gradient != name.startswith(idle), name


# ---------------------------------------------------------------------------------------------------- formats


def test_channels_last_gives_the_same_output():
    G, D = small_pair()
    z, labels = inputs(4)
    images = real_images(4, 16)
    expected_g, expected_d = G(z, labels, 2, 0.5), D(images, 2, 0.5)
    G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    torch.testing.assert_close(G(z, labels, 2, 0.5), expected_g, atol=1e-5, rtol=1e-5)
    for got, want in zip(D(images.to(memory_format=torch.channels_last), 2, 0.5), expected_d, strict=True):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("fade_alpha", [0.5, 1.0])
def test_channels_last_critic_computes_one_channel_images_in_channels_last(fade_alpha):
    """A [B, 1, H, W] batch keeps NCHW strides through ``.contiguous(memory_format=channels_last)`` (it is
    already "contiguous" in both layouts); the critic still runs its from-image layers (both of the
    fade-in) in NHWC, with the same result."""
    _, D = small_pair()
    images = real_images(4, 16).contiguous(memory_format=torch.channels_last)
    assert images.stride(1) != 1  # torch kept the NCHW strides: the case the critic handles
    expected = D(images, 2, fade_alpha)
    D = D.to(memory_format=torch.channels_last)
    layouts = []
    for stage in (1, 2):
        D.from_image[stage].register_forward_hook(
            lambda module, args, out: layouts.append(out.is_contiguous(memory_format=torch.channels_last)))
    for got, want in zip(D(images, 2, fade_alpha), expected, strict=True):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    assert layouts == [True] * (2 if fade_alpha < 1 else 1)


def test_autocast_runs_in_lower_precision():
    G, D = small_pair()
    z, labels = inputs(4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        images = G(z, labels, 2, 0.5)
        score, logits = D(images, 2, 0.5)
    assert images.dtype == torch.bfloat16
    for out in (images, score, logits):
        assert torch.isfinite(out.float()).all()
    torch.testing.assert_close(images.float(), G(z, labels, 2, 0.5), atol=0.1, rtol=0)


# ---------------------------------------------------------------------------------------------------- validation

Z, LABELS = inputs(2)

BAD_CALLS = [
    ("G stage too high", lambda G, D: G(Z, LABELS, 4, 1.0), "stage must be in 0..3"),
    ("G negative stage", lambda G, D: G(Z, LABELS, -1, 1.0), "stage must be in 0..3"),
    ("G fade above 1", lambda G, D: G(Z, LABELS, 1, 1.5), r"fade_alpha must be in \[0, 1\]"),
    ("G fade below 0", lambda G, D: G(Z, LABELS, 1, -0.1), r"fade_alpha must be in \[0, 1\]"),
    ("G fade NaN", lambda G, D: G(Z, LABELS, 1, float("nan")), r"fade_alpha must be in \[0, 1\]"),
    ("label too high", lambda G, D: G(Z, torch.tensor([0, 2]), 1, 1.0), r"labels must be in 0..1"),
    ("negative label", lambda G, D: G(Z, torch.tensor([-1, 0]), 1, 1.0), r"labels must be in 0..1"),
    ("float labels", lambda G, D: G(Z, LABELS.float(), 1, 1.0), "labels must be int64"),
    ("labels batch", lambda G, D: G(Z, LABELS[:1], 1, 1.0), r"labels must have shape \[2\]"),
    ("z size", lambda G, D: G(torch.randn(2, Z_DIM + 1), LABELS, 1, 1.0), rf"z must have shape \[B, {Z_DIM}\]"),
    ("z rank", lambda G, D: G(torch.randn(2, Z_DIM, 1, 1), LABELS, 1, 1.0), rf"z must have shape \[B, {Z_DIM}\]"),
    ("D image size", lambda G, D: D(real_images(2, 16), 1, 1.0), r"images must have shape \[B, 1, 8, 8\] at stage 1"),
    ("D channels", lambda G, D: D(real_images(2, 8, channels=3), 1, 1.0), r"images must have shape \[B, 1, 8, 8\]"),
    ("D stage", lambda G, D: D(real_images(2, 64), 4, 1.0), "stage must be in 0..3"),
    ("D fade", lambda G, D: D(real_images(2, 8), 1, 2.0), r"fade_alpha must be in \[0, 1\]"),
    ("one class", lambda G, D: Generator(n_classes=1), "n_classes must be at least 2"),
    ("D one class", lambda G, D: Discriminator(n_classes=1), "n_classes must be at least 2"),
    ("zero channels", lambda G, D: Generator(base_channels=16), r"every stage needs at least 1 channel \(raise min"),
    ("no stages", lambda G, D: Discriminator(channel_factors=()), "at least one entry"),
    ("z_dim", lambda G, D: Generator(z_dim=0), "must be positive"),
    ("momentum", lambda G, D: MinibatchStddev(momentum=0.0), r"momentum must be in \(0, 1\]"),
    ("projection labels", lambda G, D: Discriminator(**SMALL, conditioning="projection")(
        real_images(2, 8), 1, 1.0, labels=LABELS[:1]), r"labels must have shape \[2\] to match the images"),
]


@pytest.mark.parametrize(("call", "match"), [case[1:] for case in BAD_CALLS], ids=[case[0] for case in BAD_CALLS])
def test_bad_arguments_raise_clear_errors(call, match):
    G, D = small_pair()
    with pytest.raises(ValueError, match=match):
        call(G, D)
