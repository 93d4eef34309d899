"""Each speed lever computes what the plain float32 path computes (issue: speed).

Levers: the equalized-LR constant on the weights instead of the inputs, no critic pass on real images in
the generator step, channels_last, bf16 autocast, the fused Adam. (The lazy gradient penalty is in
test_losses.py; the custom convolution, LeakyReLU and pooling gradients in test_ops.py.)
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from pacgan_lite.bench.reference import scale_equalized_inputs
from pacgan_lite.config import TrainOptions
from pacgan_lite.losses import critic_loss, generator_loss
from pacgan_lite.networks import Discriminator, Generator
from pacgan_lite.training import setup

Z_DIM, STAGE, FADE_ALPHA, SIDE, BATCH = 16, 3, 0.5, 32, 8


def networks() -> tuple[Generator, Discriminator]:
    torch.manual_seed(0)
    kwargs = {"base_channels": 32, "channel_factors": [1, 1, 0.5, 0.5]}
    return Generator(z_dim=Z_DIM, **kwargs), Discriminator(aux_hidden=8, **kwargs)


def batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    rng = torch.Generator().manual_seed(1)
    z = torch.randn(BATCH, Z_DIM, generator=rng)
    real = torch.rand(BATCH, 1, SIDE, SIDE, generator=rng) * 2 - 1
    return z, real, torch.randint(0, 2, (BATCH,), generator=rng)


def losses_and_gradients(G, D, z, real, labels, memory_format=torch.contiguous_format) -> tuple[dict, dict]:
    """Critic and generator losses of one batch and the gradients they give (no optimizer step)."""
    G, D = G.to(memory_format=memory_format), D.to(memory_format=memory_format)
    real = real.contiguous(memory_format=memory_format)
    fake = G(z, labels, STAGE, FADE_ALPHA)
    loss_D, _ = critic_loss(D, real, fake, labels, STAGE, FADE_ALPHA, rng=torch.Generator().manual_seed(2))
    grads_D = gradients(loss_D, D)
    loss_G, _ = generator_loss(D, fake, labels, STAGE, FADE_ALPHA)
    grads_G = gradients(loss_G, G)
    return {"critic": loss_D.detach(), "generator": loss_G.detach()}, {"D": grads_D, "G": grads_G}


def gradients(loss: torch.Tensor, net: torch.nn.Module, retain_graph: bool = False) -> tuple[torch.Tensor, ...]:
    """d loss / d parameters, zeros for the layers this stage does not use."""
    return torch.autograd.grad(loss, list(net.parameters()), retain_graph=retain_graph, allow_unused=True,
                               materialize_grads=True)


def flat(gradients) -> torch.Tensor:
    return torch.cat([g.float().flatten() for g in gradients])


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_weight_scaling_equals_the_references_input_scaling(memory_format):
    G, D = networks()
    z, real, labels = batch()
    losses, grads = losses_and_gradients(G, D, z, real, labels, memory_format)
    ref_losses, ref_grads = losses_and_gradients(scale_equalized_inputs(copy.deepcopy(G)),
                                                 scale_equalized_inputs(copy.deepcopy(D)), z, real, labels)
    for name in losses:
        torch.testing.assert_close(losses[name], ref_losses[name], rtol=1e-4, atol=1e-5)
    for name in grads:
        # The penalty's double backward sums many products, and float32 kernels order them differently from
        # one CPU to the next (AVX2 against AVX-512): an element's error scales with the gradient's size,
        # not its own, so the absolute tolerance is a thousandth of the largest gradient. A missing or
        # misplaced He constant scales a whole layer's gradient by a factor and fails it.
        expected = flat(ref_grads[name])
        torch.testing.assert_close(flat(grads[name]), expected, rtol=1e-3, atol=1e-3 * expected.abs().max().item())


def test_the_references_real_image_term_adds_nothing_to_the_generator_gradient():
    G, D = networks()
    z, real, labels = batch()
    fake = G(z, labels, STAGE, FADE_ALPHA)
    loss_G, _ = generator_loss(D, fake, labels, STAGE, FADE_ALPHA)
    _, logits_real = D(real, STAGE, FADE_ALPHA)
    redundant = F.cross_entropy(logits_real, labels)
    kit = gradients(loss_G, G, retain_graph=True)
    reference = gradients(loss_G + 2.0 * redundant, G)
    assert redundant.item() > 0.1  # the term is there, with a value; it just has no path to G
    torch.testing.assert_close(flat(kit), flat(reference), rtol=0, atol=0)


def relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    return ((got - want).norm() / want.norm()).item()


# Per network: (largest relative L2 error of the gradient vector, smallest cosine with float32).
BF16_GRADIENT_BOUNDS = {"G": (0.25, 0.98), "D": (0.35, 0.95)}


def test_bfloat16_autocast_stays_close_to_float32():
    """bf16 keeps 8 significant bits (relative rounding 2**-9 = 0.2% per operation). Losses stay within
    a few percent. Gradients go back through both networks, and rounding errors add up: measured at this
    initialization, 15% of the norm for G (cosine 0.99) and 21% for D (cosine 0.98), whose gradient
    carries the penalty's double backward; for the penalty alone the error is close to the difference between
    the float32 gradients of two minibatches (about 40%), i.e. of the order of the noise SGD already has.
    The bounds leave room over those measurements and fail for any real mistake (a missing term or a
    sign flip moves them by 100% or more). ``train.precision: float32`` turns autocast off."""
    G, D = networks()
    z, real, labels = batch()
    losses, grads = losses_and_gradients(G, D, z, real, labels)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low_losses, low_grads = losses_and_gradients(G, D, z, real, labels, torch.channels_last)
    for name in losses:
        assert abs(low_losses[name] - losses[name]) <= 0.05 * abs(losses[name]) + 0.02, name
    for name, (max_error, min_cosine) in BF16_GRADIENT_BOUNDS.items():
        got, want = flat(low_grads[name]), flat(grads[name])
        assert relative_error(got, want) < max_error, name
        assert F.cosine_similarity(got, want, dim=0) > min_cosine, name


@pytest.mark.parametrize(("device", "precision", "channels_last", "native_bf16", "dtype", "nhwc"), [
    ("cpu", "auto", None, True, torch.bfloat16, True),
    ("cpu", "auto", None, False, None, True),
    ("cpu", "float32", None, True, None, True),
    ("cpu", "float32", False, False, None, False),
    ("cpu", "bfloat16", None, False, torch.bfloat16, True),
    ("cpu", "bfloat16", False, True, torch.bfloat16, False),
    ("cpu", "float32", True, True, None, True),
    ("cpu", "float16", None, True, torch.float16, True),
])
def test_precision_choice(monkeypatch, device, precision, channels_last, native_bf16, dtype, nhwc):
    monkeypatch.setattr(setup, "cpu_has_native_bfloat16", lambda: native_bf16)
    chosen = setup.precision_for(torch.device(device), precision, channels_last)
    assert chosen.autocast_dtype == dtype
    assert chosen.channels_last == nhwc
    assert chosen.needs_scaler == (dtype == torch.float16)


def test_fused_adam_takes_the_per_tensor_loops_steps():
    """The kit's optimizer (fused on CPUs and CUDA) against torch's plain loop, over a few steps; the old
    optimizer state (saved by the loop) loads into the fused one."""
    _, D = networks()
    plain = copy.deepcopy(D)
    fused_opt = setup.make_optimizer(D, TrainOptions())
    plain_opt = torch.optim.Adam(plain.parameters(), lr=1e-3, betas=(0.5, 0.999), foreach=False)
    assert fused_opt.defaults["fused"]
    for step in range(3):
        for net in (D, plain):
            rng = torch.Generator().manual_seed(step)
            for p in net.parameters():
                p.grad = torch.randn(p.shape, generator=rng)
        for opt in (fused_opt, plain_opt):
            opt.step()
    torch.testing.assert_close(flat(D.parameters()), flat(plain.parameters()), rtol=1e-6, atol=1e-6)
    assert not torch.equal(flat(D.parameters()), flat(networks()[1].parameters()))  # they did move
    fused_opt.load_state_dict(plain_opt.state_dict())
    fused_opt.step()
