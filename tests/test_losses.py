"""WGAN-GP + ACGAN losses: terms, gradients, the paper's values to the last bit, augmentation, the gradient
penalty against slow and analytic references. (The other conditionings: test_conditioning.py.)"""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pacgan_lite.config import KitConfig, TrainOptions, validate_config
from pacgan_lite.errors import ConfigError
from pacgan_lite.losses import (
    MODE_SEEKING_EPSILON,
    LossWeights,
    class_diversity_ratios,
    critic_loss,
    generator_loss,
    gradient_penalty,
    mode_seeking_ratio,
    real_diversity_ratio,
)
from pacgan_lite.networks import Discriminator, Generator

pytestmark = pytest.mark.usefixtures("single_thread")

Z_DIM = 8
STAGE, FADE_ALPHA, SIDE, BATCH = 2, 0.5, 16, 6
CRITIC_TERMS = {"loss", "wasserstein", "gradient_penalty", "drift", "class_real", "class_fake", "score_real",
                "score_fake"}
GENERATOR_TERMS = {"loss", "score_fake", "class_fake"}


@pytest.fixture
def setup():
    """A small G and D (4..32 px), real images and labels at 16 px, and a forward through G."""
    torch.manual_seed(0)
    network = {"base_channels": 16, "channel_factors": (1, 1, 1 / 2, 1 / 4)}
    G, D = Generator(z_dim=Z_DIM, **network), Discriminator(**network)
    rng = torch.Generator().manual_seed(1)
    real = torch.rand(BATCH, 1, SIDE, SIDE, generator=rng) * 2 - 1
    labels = torch.tensor([0, 1, 0, 1, 1, 0])
    fake = G(torch.randn(BATCH, Z_DIM, generator=rng), labels, STAGE, FADE_ALPHA)
    return G, D, real, labels, fake


def nonzero_gradient(parameter: nn.Parameter) -> bool:
    return parameter.grad is not None and bool(torch.count_nonzero(parameter.grad))


# ---------------------------------------------------------------------------------------------------- weights


def test_paper_weights_map_to_reference_keys():
    # The published LAMBDA_GP, drift, LAMBDA_CLS_1, LAMBDA_CLS_2 = LAMBDA_CLS_1 / 2 and LAMBDA_CLS_1; no
    # mode-seeking term (its options as MSGAN's, unused).
    assert dataclasses.astuple(LossWeights()) == (10.0, 0.001, 4.0, 2.0, 4.0, 0.0, 1, False, False, 0.0)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"drift": -0.1}, "train.loss.drift: must be a finite number >= 0"),
        ({"class_real": float("nan")}, "train.loss.class_real: must be a finite number >= 0"),
        ({"gradient_penalty": float("inf")}, "train.loss.gradient_penalty: must be a finite number >= 0"),
        ({"class_fake": "2"}, "train.loss.class_fake: expected float"),
        ({"mode_seeking": -1.0}, "train.loss.mode_seeking: must be a finite number >= 0"),
        ({"mode_seeking_scale": 0}, "train.loss.mode_seeking_scale: must be an integer >= 1"),
        ({"mode_seeking_scale": 2.0}, "train.loss.mode_seeking_scale: expected int"),
        ({"mode_seeking_per_class": 1}, "train.loss.mode_seeking_per_class: expected bool"),
        ({"class_label_smoothing": 1.0}, r"train.loss.class_label_smoothing: must be in \[0, 1\), got 1.0"),
        ({"class_label_smoothing": -0.1}, r"train.loss.class_label_smoothing: must be in \[0, 1\)"),
        ({"class_label_smoothing": float("nan")}, r"train.loss.class_label_smoothing: must be in \[0, 1\)"),
    ],
)
def test_the_configuration_check_rejects_bad_weights(bad, message):
    with pytest.raises(ConfigError, match=message):
        validate_config(KitConfig(train=TrainOptions(loss=LossWeights(**bad))))


# ---------------------------------------------------------------------------------------------------- terms


def test_critic_terms_are_present_finite_detached_and_weighted_as_documented(setup):
    _, D, real, labels, fake = setup
    loss, terms = critic_loss(D, real, fake, labels, STAGE, FADE_ALPHA)
    assert set(terms) == CRITIC_TERMS
    for name, value in terms.items():
        assert value.ndim == 0 and torch.isfinite(value) and not value.requires_grad, name
    assert terms["class_real"] > 0 and terms["class_fake"] > 0 and terms["gradient_penalty"] > 0
    torch.testing.assert_close(terms["wasserstein"], terms["score_fake"] - terms["score_real"])
    expected = (terms["wasserstein"] + 10 * terms["gradient_penalty"] + 0.001 * terms["drift"]
                + 4 * terms["class_real"] + 2 * terms["class_fake"])
    torch.testing.assert_close(loss.detach(), expected)
    torch.testing.assert_close(terms["loss"], loss.detach())


def test_generator_terms_are_present_finite_and_weighted_as_documented(setup):
    _, D, _, labels, fake = setup
    loss, terms = generator_loss(D, fake, labels, STAGE, FADE_ALPHA)
    assert set(terms) == GENERATOR_TERMS
    for name, value in terms.items():
        assert value.ndim == 0 and torch.isfinite(value) and not value.requires_grad, name
    assert terms["class_fake"] > 0
    torch.testing.assert_close(loss.detach(), -terms["score_fake"] + 4 * terms["class_fake"])


# ---------------------------------------------------------------------------------------------------- gradients


def test_generator_class_loss_reaches_the_embedding_and_convs(setup):
    G, D, _, labels, fake = setup
    with_class, _ = generator_loss(D, fake, labels, STAGE, FADE_ALPHA)
    without_class, _ = generator_loss(D, fake, labels, STAGE, FADE_ALPHA,
                                      dataclasses.replace(LossWeights(), class_generator=0.0))
    (with_class - without_class).backward()  # 4 * CE(fake) alone
    assert nonzero_gradient(G.embedding.weight)
    assert nonzero_gradient(G.initial[1].weight)  # the transposed conv
    assert nonzero_gradient(G.blocks[1][1].weight)
    assert nonzero_gradient(G.to_image[STAGE].weight)


def test_critic_class_loss_reaches_the_class_head_and_not_the_generator(setup):
    G, D, real, labels, fake = setup
    loss, _ = critic_loss(D, real, fake, labels, STAGE, FADE_ALPHA)
    loss.backward()
    for parameter in D.class_head.parameters():
        assert nonzero_gradient(parameter)
    assert all(p.grad is None for p in G.parameters())  # fake is detached by contract


def test_without_class_weights_the_class_head_gets_no_gradient(setup):
    _, D, real, labels, fake = setup
    weights = dataclasses.replace(LossWeights(), class_real=0.0, class_fake=0.0)
    critic_loss(D, real, fake, labels, STAGE, FADE_ALPHA, weights)[0].backward()
    assert not any(nonzero_gradient(p) for p in D.class_head.parameters())
    assert nonzero_gradient(D.adversarial_head.weight)


class CallCounter:
    """Records the images of every critic forward."""

    def __init__(self, module: nn.Module):
        self.inputs = []
        module.register_forward_hook(lambda _module, args, _output: self.inputs.append(args[0]))


def test_generator_loss_runs_the_critic_once_on_fakes_only(setup):
    _, D, _, labels, fake = setup
    calls = CallCounter(D)
    generator_loss(D, fake, labels, STAGE, FADE_ALPHA)
    assert len(calls.inputs) == 1 and calls.inputs[0] is fake


@pytest.mark.parametrize(("interval", "step", "forwards", "has_penalty", "penalty_weight"),
                         [(1, 0, 3, True, 10.0), (1, 5, 3, True, 10.0), (4, 0, 3, True, 40.0), (4, 1, 2, False, 0.0),
                          (4, 8, 3, True, 40.0)])
def test_lazy_gradient_penalty(setup, interval, step, forwards, has_penalty, penalty_weight):
    _, D, real, labels, fake = setup
    calls = CallCounter(D)
    loss, terms = critic_loss(D, real, fake, labels, STAGE, FADE_ALPHA, rng=torch.Generator().manual_seed(3),
                              gradient_penalty_interval=interval, critic_step=step)
    assert len(calls.inputs) == forwards
    assert ("gradient_penalty" in terms) == has_penalty
    without_penalty = (terms["wasserstein"] + 0.001 * terms["drift"] + 4 * terms["class_real"]
                       + 2 * terms["class_fake"])
    penalty = penalty_weight * terms.get("gradient_penalty", torch.tensor(0.0))
    torch.testing.assert_close(loss.detach() - without_penalty, penalty)


def test_lazy_interval_must_be_positive(setup):
    _, D, real, labels, fake = setup
    with pytest.raises(ValueError, match="gradient_penalty_interval must be >= 1"):
        critic_loss(D, real, fake, labels, STAGE, FADE_ALPHA, gradient_penalty_interval=0)


# ---------------------------------------------------------------------------------------------------- mode seeking


def batch_of(*rows: list[float]) -> torch.Tensor:
    """``[len(rows), 1, 1, len(row)]`` images whose pixels are the rows."""
    return torch.tensor(rows).reshape(len(rows), 1, 1, -1)


@pytest.mark.parametrize(
    ("images", "z", "labels", "expected"),
    [
        # one pair per class: |1-0| / |2-0| and mean(|0.5-0|, |0.5-0|) / mean(|1-0|, |-1-0|)
        (batch_of([0, 0], [1, 1], [0, 0], [0.5, 0.5]), [[0, 0], [2, 2], [0, 0], [1, -1]], [0, 0, 1, 1],
         (0.5 + 0.5) / 2),
        # the pairs (0, 2) and (1, 3): the first has no image difference; mean(1, 2) / mean(2, 2)
        (batch_of([0, 0], [1, 1], [0, 0], [0, 3]), [[0, 0], [2, 2], [1, 1], [0, 0]], [0, 1, 0, 1],
         (0 + 1.5 / 2) / 2),
        # three images of one class: the pairs (0, 1), (0, 2), (1, 2)
        (batch_of([0], [1], [3]), [[0], [1], [0.5]], [1, 1, 1], (1 / 1 + 3 / 0.5 + 2 / 0.5) / 3),
    ],
    ids=["a-pair-per-class", "classes-interleaved", "three-of-one-class"],
)
def test_the_diversity_ratio_averages_same_class_pairs(images, z, labels, expected):
    ratio = mode_seeking_ratio(images, torch.tensor(z, dtype=torch.float32), torch.tensor(labels))
    assert ratio.item() == pytest.approx(expected)


@pytest.mark.parametrize(
    ("images", "z", "labels", "expected"),
    [
        # the cases above, per class: 1 / 2 for class 0, 0.5 / 1 for class 1
        (batch_of([0, 0], [1, 1], [0, 0], [0.5, 0.5]), [[0, 0], [2, 2], [0, 0], [1, -1]], [0, 0, 1, 1],
         {0: 0.5, 1: 0.5}),
        # the pair (0, 2) of class 0 has no image difference; the pair (1, 3) of class 1: 1.5 / 2
        (batch_of([0, 0], [1, 1], [0, 0], [0, 3]), [[0, 0], [2, 2], [1, 1], [0, 0]], [0, 1, 0, 1],
         {0: 0.0, 1: 0.75}),
        # a class with one image has no pair and no ratio
        (batch_of([0], [1], [3], [7]), [[0], [1], [0.5], [9]], [1, 1, 1, 0], {1: (1 / 1 + 3 / 0.5 + 2 / 0.5) / 3}),
        # real images (no z): the pair distance over E|z_i - z_j| = 2 / sqrt(pi)
        (batch_of([0, 0], [1, 1], [0, 0], [0.5, 0.5]), None, [0, 0, 1, 1],
         {0: 1 / (2 / math.pi**0.5), 1: 0.5 / (2 / math.pi**0.5)}),
    ],
    ids=["a-pair-per-class", "classes-interleaved", "a-class-without-a-pair", "real-images"],
)
def test_the_class_diversity_ratios_average_each_class_pairs(images, z, labels, expected):
    z = None if z is None else torch.tensor(z, dtype=torch.float32)
    ratios = class_diversity_ratios(images, z, torch.tensor(labels))
    assert {k: v.item() for k, v in ratios.items()} == pytest.approx(expected)
    assert class_diversity_ratios(batch_of([0], [1]), torch.zeros(2, 3), torch.tensor([0, 1])) == {}


def test_the_per_class_mode_seeking_term_pushes_the_class_less_varied_than_its_real_images(setup):
    """Class 0 is generated less varied than its real images, class 1 more: over both classes the batch is
    more varied than the real one, so the pooled cap stops the reward; per class, class 0 is still pushed."""
    _, D, _, _, _ = setup
    labels = torch.tensor([0, 0, 1, 1])
    z = torch.randn(4, Z_DIM, generator=torch.Generator().manual_seed(3))
    fake = torch.tensor([0.0, 0.1, -1.0, 1.0]).reshape(4, 1, 1, 1).expand(4, 1, SIDE, SIDE).clone().requires_grad_()
    real = torch.tensor([-0.5, 0.5, 0.0, 0.0]).reshape(4, 1, 1, 1).expand(4, 1, SIDE, SIDE)
    pooled = dataclasses.replace(LossWeights(), mode_seeking=1.0, mode_seeking_up_to_real=True)
    per_class = dataclasses.replace(pooled, mode_seeking_per_class=True)
    fake_ratios, real_ratios = class_diversity_ratios(fake, z, labels), class_diversity_ratios(real, None, labels)
    assert fake_ratios[0] < real_ratios[0] and fake_ratios[1] > real_ratios[1]
    assert mode_seeking_ratio(fake, z, labels) > real_diversity_ratio(real, labels)  # the pooled cap binds

    for weights, pushed in ((pooled, ()), (per_class, (0, 1))):
        plain, _ = generator_loss(D, fake, labels, STAGE, FADE_ALPHA)
        loss, terms = generator_loss(D, fake, labels, STAGE, FADE_ALPHA, weights, z=z, real=real)
        assert terms["mode_seeking"] == mode_seeking_ratio(fake, z, labels)  # the logged ratio stays pooled
        (term_gradient,) = torch.autograd.grad(loss - plain, fake)
        moved = [i for i in range(4) if term_gradient[i].abs().max() > 1e-3]
        assert tuple(moved) == pushed, weights
    # per class: the mean over the classes of 1 / (the class's ratio, capped at its real one, + epsilon)
    capped = [fake_ratios[0].detach(), real_ratios[1]]
    expected = plain.detach() + sum(1 / (ratio + MODE_SEEKING_EPSILON) for ratio in capped) / 2
    loss, _ = generator_loss(D, fake, labels, STAGE, FADE_ALPHA, per_class, z=z, real=real)
    torch.testing.assert_close(loss.detach(), expected)


def speckle_and_shift(side: int) -> torch.Tensor:
    """Three ``[1, side, side]`` images of one class: zeros, a +-1 checkerboard (pixel noise) and 0.5 (a change
    of the whole image)."""
    rows, cols = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    checkerboard = ((rows + cols) % 2 * 2 - 1).float()
    return torch.stack([torch.zeros(side, side), checkerboard, torch.full((side, side), 0.5)])[:, None]


@pytest.mark.parametrize(
    ("side", "scale", "image_distances"),
    [
        # pixel by pixel: (zeros, checkerboard) 1, (zeros, 0.5) 0.5, (checkerboard, 0.5) mean(1.5, 0.5) = 1
        (8, 1, (1, 0.5, 1)),
        # pooled by 2: the checkerboard averages to 0, so only the change of the whole image counts
        (8, 2, (0, 0.5, 0.5)),
        # at 8 px the factor 4 is cut to 2, which leaves 4 x 4 pixels
        (8, 4, (0, 0.5, 0.5)),
        # at 4 px there is nothing to pool
        (4, 4, (1, 0.5, 1)),
    ],
    ids=["pixels", "pooled", "pooled-to-4-px", "4-px-not-pooled"],
)
def test_the_pooled_diversity_ratio_ignores_pixel_noise(side, scale, image_distances):
    z = torch.eye(3)  # every pair of z differs by 2/3 on average
    ratio = mode_seeking_ratio(speckle_and_shift(side), z, torch.zeros(3, dtype=torch.int64), scale)
    assert ratio.item() == pytest.approx(sum(image_distances) / 3 / (2 / 3))


def test_the_pooling_factor_must_be_positive():
    with pytest.raises(ValueError, match="scale must be an integer >= 1"):
        mode_seeking_ratio(speckle_and_shift(8), torch.eye(3), torch.zeros(3, dtype=torch.int64), 0)


@pytest.mark.parametrize(("scale", "image_distances"), [(1, (1, 0.5, 1)), (2, (0, 0.5, 0.5))], ids=["pixels", "pooled"])
def test_the_real_diversity_ratio_divides_by_the_expected_z_distance(scale, image_distances):
    ratio = real_diversity_ratio(speckle_and_shift(8), torch.zeros(3, dtype=torch.int64), scale)
    assert ratio.item() == pytest.approx(sum(image_distances) / 3 / (2 / math.pi**0.5))
    assert real_diversity_ratio(speckle_and_shift(8)[:2], torch.tensor([0, 1])) is None


@pytest.mark.parametrize("real_scale", [0.0, 0.5, 10.0], ids=["real-all-alike", "real-less-varied", "real-more-varied"])
def test_the_mode_seeking_reward_stops_at_the_real_diversity(setup, real_scale):
    G, D, _, labels, _ = setup
    z = torch.randn(BATCH, Z_DIM, generator=torch.Generator().manual_seed(5))
    fake = G(z, labels, STAGE, FADE_ALPHA)
    ratio = mode_seeking_ratio(fake, z, labels)
    real = real_scale * fake.detach()  # the generated images' pair distances, scaled
    capped = dataclasses.replace(LossWeights(), mode_seeking=1.0, mode_seeking_up_to_real=True)
    loss, terms = generator_loss(D, fake, labels, STAGE, FADE_ALPHA, capped, z=z, real=real)
    uncapped, _ = generator_loss(D, fake, labels, STAGE, FADE_ALPHA, dataclasses.replace(capped, mode_seeking_up_to_real=False), z=z)
    assert terms["mode_seeking"] == ratio
    plain, _ = generator_loss(D, fake, labels, STAGE, FADE_ALPHA)
    (term_gradient,) = torch.autograd.grad(loss - plain, fake)
    if real_scale < 1:  # the generated batch is already more varied than the real one: no reward
        assert terms["mode_seeking_real"] < ratio and term_gradient.abs().max() < 1e-6  # rounding only
    else:
        assert terms["mode_seeking_real"] >= ratio and torch.equal(loss, uncapped) and term_gradient.abs().max() > 1e-3


def test_the_capped_mode_seeking_term_needs_the_real_images(setup):
    G, D, _, labels, _ = setup
    z = torch.randn(BATCH, Z_DIM)
    capped = dataclasses.replace(LossWeights(), mode_seeking=1.0, mode_seeking_up_to_real=True)
    with pytest.raises(ValueError, match="needs the real images"):
        generator_loss(D, G(z, labels, STAGE, FADE_ALPHA), labels, STAGE, FADE_ALPHA, capped, z=z)


def test_the_diversity_ratio_of_a_batch_without_a_same_class_pair_is_none():
    assert mode_seeking_ratio(batch_of([0], [1]), torch.zeros(2, 3), torch.tensor([0, 1])) is None


def test_the_mode_seeking_term_is_weighted_as_documented_and_rewards_diverse_images(setup):
    G, D, _, labels, _ = setup
    z = torch.randn(BATCH, Z_DIM, generator=torch.Generator().manual_seed(5))
    fake = G(z, labels, STAGE, FADE_ALPHA)
    weights = dataclasses.replace(LossWeights(), mode_seeking=2.0)
    loss, terms = generator_loss(D, fake, labels, STAGE, FADE_ALPHA, weights, z=z)
    plain, plain_terms = generator_loss(D, fake, labels, STAGE, FADE_ALPHA)
    assert set(terms) == GENERATOR_TERMS | {"mode_seeking"} and set(plain_terms) == GENERATOR_TERMS
    ratio = mode_seeking_ratio(fake, z, labels)
    assert terms["mode_seeking"] == ratio and 0 < ratio.item() < 1
    torch.testing.assert_close(loss.detach(), plain.detach() + 2.0 / (ratio.detach() + MODE_SEEKING_EPSILON))
    # The term's gradient moves the images of a class apart: one small step along it raises the ratio.
    (term_gradient,) = torch.autograd.grad(loss - plain, fake)
    assert mode_seeking_ratio(fake - 0.1 * term_gradient, z, labels) > ratio


def test_the_mode_seeking_term_needs_z_and_skips_a_batch_without_pairs(setup):
    _, D, _, _, fake = setup
    weights = dataclasses.replace(LossWeights(), mode_seeking=1.0)
    with pytest.raises(ValueError, match="needs the latent vectors z"):
        generator_loss(D, fake, torch.tensor([0, 1, 0, 1, 1, 0]), STAGE, FADE_ALPHA, weights)
    two = fake[:2]
    loss, terms = generator_loss(D, two, torch.tensor([0, 1]), STAGE, FADE_ALPHA, weights, z=torch.zeros(2, Z_DIM))
    plain, _ = generator_loss(D, two, torch.tensor([0, 1]), STAGE, FADE_ALPHA)
    assert "mode_seeking" not in terms and torch.equal(loss, plain)


# ---------------------------------------------------------------------------------------------------- paper's values

# The losses of a fixed tiny case (see paper_case) as the kit computed them before the conditioning options
# existed, written with float.hex(): PACGAN's losses must stay the same to the last bit. (The critic's heads
# return float32 whatever the network's dtype, so in float64 most terms still have float32 precision.)
# Measured on one thread of an x86-64 CPU (AVX-512) with torch 2.13: the float32 values depend on the
# convolution kernels (a second thread, or torch without oneDNN, changes their last bits), the float64 ones
# did not in either case. So float64 is compared to the last bit, and float32, whose last bits belong to
# the machine's kernels rather than to the kit's code, to within a few units in the last place.
PAPER_LOSSES = {
    torch.float32: {
        "critic_class_fake": "0x1.4f4e1a0000000p-1",
        "critic_class_real": "0x1.6a6f200000000p-1",
        "critic_drift": "0x1.8609000000000p-9",
        "critic_gradient_penalty": "0x1.827e840000000p-1",
        "critic_loss": "0x1.761bc40000000p+3",
        "critic_score_fake": "0x1.711ea60000000p-5",
        "critic_score_real": "0x1.69fd3a0000000p-5",
        "critic_wasserstein": "0x1.c85b000000000p-11",
        "generator_class_fake": "0x1.4f4e1a0000000p-1",
        "generator_loss": "0x1.4989a00000000p+1",
        "generator_score_fake": "0x1.711ea60000000p-5",
    },
    torch.float64: {
        "critic_class_fake": "0x1.6a595e0000000p-1",
        "critic_class_real": "0x1.6303d60000000p-1",
        "critic_drift": "0x1.7d28620000000p-9",
        "critic_gradient_penalty": "0x1.97d0ba24b226ap-1",
        "critic_loss": "0x1.841e1956ef582p+3",
        "critic_score_fake": "0x1.0bad8c0000000p-6",
        "critic_score_real": "0x1.56592a0000000p-5",
        "critic_wasserstein": "-0x1.a104c80000000p-6",
        "generator_class_fake": "0x1.6a595e0000000p-1",
        "generator_loss": "0x1.6842020000000p+1",
        "generator_score_fake": "0x1.0bad8c0000000p-6",
    },
}


def paper_case(dtype: torch.dtype, **loss_options) -> dict[str, float]:
    """Every term of both losses for a seeded 3-stage pair (8 channels) and batch of 4 at 16 px, mid fade-in."""
    torch.manual_seed(0)
    widths = {"base_channels": 8, "channel_factors": (1, 1, 0.5)}
    G, D = Generator(z_dim=8, **widths).to(dtype), Discriminator(aux_hidden=4, **widths).to(dtype)
    rng = torch.Generator().manual_seed(1)
    real = torch.rand(4, 1, 16, 16, generator=rng, dtype=dtype) * 2 - 1
    labels = torch.tensor([0, 1, 1, 0])
    fake = G(torch.randn(4, 8, generator=rng, dtype=dtype), labels, 2, 0.5)
    _, critic = critic_loss(D, real, fake, labels, 2, 0.5, rng=torch.Generator().manual_seed(3), **loss_options)
    _, generator = generator_loss(D, fake, labels, 2, 0.5, **loss_options)
    return ({f"critic_{name}": value.item() for name, value in critic.items()}
            | {f"generator_{name}": value.item() for name, value in generator.items()})


@pytest.mark.parametrize("dtype", PAPER_LOSSES)
@pytest.mark.parametrize("loss_options", [{}, {"conditioning": "acgan", "augment": None}], ids=["defaults", "explicit"])
def test_the_papers_losses_are_unchanged_to_the_last_bit(dtype, loss_options):
    expected = {name: float.fromhex(value) for name, value in PAPER_LOSSES[dtype].items()}
    if dtype == torch.float64:
        assert paper_case(dtype, **loss_options) == expected
    else:
        # The Wasserstein term is the difference of the two scores, so its rounding error is that of the
        # scores, not a fraction of its own (small) value.
        scale = {name: abs(value) for name, value in expected.items()}
        scale["critic_wasserstein"] = scale["critic_score_fake"] + scale["critic_score_real"]
        obtained = paper_case(dtype, **loss_options)
        assert obtained.keys() == expected.keys()
        for name, value in expected.items():
            assert obtained[name] == pytest.approx(value, rel=0, abs=1e-6 * scale[name]), name


# ---------------------------------------------------------------------------------------------------- augmentation


def mirrored(images: torch.Tensor) -> torch.Tensor:
    return images.flip(-1)


def test_the_critic_loss_augments_real_fake_and_the_penalty_mixes_the_augmented_images(setup):
    _, D, real, labels, fake = setup
    calls = CallCounter(D)
    critic_loss(D, real, fake, labels, STAGE, FADE_ALPHA, rng=torch.Generator().manual_seed(3), augment=mirrored)
    weight = torch.rand((BATCH, 1, 1, 1), generator=torch.Generator().manual_seed(3))
    expected = [real.flip(-1), fake.flip(-1), weight * real.flip(-1) + (1 - weight) * fake.flip(-1)]
    assert len(calls.inputs) == len(expected)
    for seen, want in zip(calls.inputs, expected, strict=True):
        torch.testing.assert_close(seen, want, rtol=0, atol=0)


def test_the_class_augment_feeds_the_class_head_only_in_a_second_forward(setup):
    _, D, real, labels, fake = setup
    plain_loss, plain = critic_loss(D, real, fake, labels, STAGE, FADE_ALPHA, rng=torch.Generator().manual_seed(3))
    calls = CallCounter(D)
    loss, terms = critic_loss(D, real, fake, labels, STAGE, FADE_ALPHA, rng=torch.Generator().manual_seed(3),
                              class_augment=mirrored)
    assert calls.inputs[0] is real
    torch.testing.assert_close(calls.inputs[1], real.flip(-1), rtol=0, atol=0)
    assert len(calls.inputs) == 4  # real, its mirrored class view, fake, the penalty's mix of real and fake
    _, logits = D(real.flip(-1), STAGE, FADE_ALPHA)
    assert terms["class_real"].item() == F.cross_entropy(logits, labels).item() != plain["class_real"].item()
    for name in ("score_real", "score_fake", "drift", "gradient_penalty", "class_fake"):
        assert terms[name].item() == plain[name].item(), name
    assert (loss - plain_loss).item() == pytest.approx(4 * (terms["class_real"] - plain["class_real"]).item(),
                                                       abs=1e-5)


def test_the_generator_loss_augments_and_its_gradient_flows_through_the_augmentation(setup):
    G, D, _, labels, fake = setup
    loss, terms = generator_loss(D, fake, labels, STAGE, FADE_ALPHA, augment=mirrored)
    augmented = gradients(loss, G)
    loss_of_mirrored, terms_of_mirrored = generator_loss(D, fake.flip(-1), labels, STAGE, FADE_ALPHA)
    assert {name: value.item() for name, value in terms.items()} == {
        name: value.item() for name, value in terms_of_mirrored.items()}
    assert torch.equal(augmented, gradients(loss_of_mirrored, G))
    assert augmented.abs().sum() > 0
    plain, _ = generator_loss(D, fake, labels, STAGE, FADE_ALPHA)
    assert not torch.equal(augmented, gradients(plain, G))


def gradients(loss: torch.Tensor, net: nn.Module) -> torch.Tensor:
    """d loss / d every parameter, flattened (zeros where a layer is unused), the graph kept."""
    grads = torch.autograd.grad(loss, list(net.parameters()), retain_graph=True, allow_unused=True,
                                materialize_grads=True)
    return torch.cat([g.flatten() for g in grads])


# ---------------------------------------------------------------------------------------------------- gradient penalty


def slow_gradient_penalty(D, real, fake, stage, fade_alpha, seed):
    """One image at a time, with the same interpolation weights."""
    interpolation_weight = torch.rand((real.shape[0], 1, 1, 1), generator=torch.Generator().manual_seed(seed))
    penalties = []
    for i in range(real.shape[0]):
        mixed = (interpolation_weight[i] * real[i] + (1 - interpolation_weight[i]) * fake[i]).detach()[None]
        mixed.requires_grad_(True)
        (gradient,) = torch.autograd.grad(D(mixed, stage, fade_alpha)[0].sum(), mixed)
        penalties.append((gradient.norm() - 1) ** 2)
    return torch.stack(penalties).mean()


@pytest.mark.parametrize(("stage", "fade_alpha"), [(0, 1.0), (2, 0.5), (3, 0.2)])
def test_gradient_penalty_equals_a_per_sample_loop(stage, fade_alpha):
    # In eval mode the critic treats each image alone, so the batched penalty must equal the loop.
    torch.manual_seed(0)
    D = Discriminator(base_channels=16, channel_factors=(1, 1, 1 / 2, 1 / 4))
    side = 4 * 2**stage
    rng = torch.Generator().manual_seed(5)
    real, fake = torch.rand(2, BATCH, 1, side, side, generator=rng) * 2 - 1
    with torch.no_grad():
        D(real, stage, fade_alpha)  # one training batch sets the running stddev
    D.eval()
    penalty = gradient_penalty(D, real, fake, stage, fade_alpha, rng=torch.Generator().manual_seed(7))
    expected = slow_gradient_penalty(D, real, fake, stage, fade_alpha, seed=7)
    torch.testing.assert_close(penalty, expected, atol=1e-5, rtol=1e-5)


def test_gradient_penalty_is_differentiable_and_seeded(setup):
    _, D, real, _, fake = setup
    first = gradient_penalty(D, real, fake, STAGE, FADE_ALPHA, rng=torch.Generator().manual_seed(4))
    again = gradient_penalty(D, real, fake, STAGE, FADE_ALPHA, rng=torch.Generator().manual_seed(4))
    torch.testing.assert_close(first, again)
    first.backward()
    assert nonzero_gradient(D.from_image[STAGE][0].weight)


class LinearCritic(nn.Module):
    """``score = gain * <w, x>`` with ``||w|| = 1``: the gradient norm is ``gain`` everywhere."""

    def __init__(self, side: int, gain: float):
        super().__init__()
        direction = torch.randn(side * side, generator=torch.Generator().manual_seed(0))
        self.weight = nn.Parameter(gain * direction / direction.norm())

    def forward(self, images, stage, fade_alpha, labels=None):
        return images.flatten(1) @ self.weight, images.new_zeros(images.shape[0], 2)


@pytest.mark.parametrize(("gain", "expected"), [(1.0, 0.0), (3.0, 4.0), (0.5, 0.25), (0.0, 1.0)])
def test_gradient_penalty_of_a_linear_critic(gain, expected):
    critic = LinearCritic(8, gain)
    real, fake = torch.randn(2, 5, 1, 8, 8)
    penalty = gradient_penalty(critic, real, fake, 1, 1.0)
    assert penalty.item() == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(("conditioning", "twin"), [("acgan", False), ("tac", True)])
def test_the_penalty_forward_returns_every_head_the_critic_step_trains(setup, conditioning, twin):
    # It is the last forward before backward, whose outputs tell DDP which parameters are used; the twin
    # logits it adds are ignored, so the penalty is the same number.
    _, _, real, labels, fake = setup
    D = Discriminator(base_channels=16, channel_factors=(1, 1, 1 / 2, 1 / 4), conditioning=conditioning)
    asked = []
    D.register_forward_pre_hook(lambda _module, _args, kwargs: asked.append(kwargs.get("twin", False)),
                                with_kwargs=True)
    critic_loss(D, real, fake, labels, STAGE, FADE_ALPHA, conditioning=conditioning)
    assert asked[-1] == twin
    with_twin, without = (gradient_penalty(D, real, fake, STAGE, FADE_ALPHA, torch.Generator().manual_seed(5),
                                           labels, twin=asks) for asks in (twin, False))
    assert torch.equal(with_twin, without)


def test_gradient_penalty_rejects_mismatched_shapes(setup):
    _, D, real, _, fake = setup
    with pytest.raises(ValueError, match="same shape"):
        gradient_penalty(D, real, fake[:2], STAGE, FADE_ALPHA)
