"""The critic's coarse class view (``model.class_resolution``): which image the class heads read at each stage,
that the score never changes, where the class loss's gradients go, the option's check, the architecture dict."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pacgan_lite.architecture import architecture, build_networks
from pacgan_lite.config import ModelOptions, load_profile
from pacgan_lite.errors import ConfigError
from pacgan_lite.losses import CONDITIONINGS
from pacgan_lite.networks import Discriminator

pytestmark = pytest.mark.usefixtures("single_thread")

WIDTHS = {"base_channels": 8, "channel_factors": (1, 1, 1, 1 / 2)}  # channels 8, 8, 8, 4: 4 to 32 px
BATCH = 6


def critic(class_resolution: int = 0, conditioning: str = "tac") -> Discriminator:
    """A critic with the same weights whatever ``class_resolution`` (the option adds no parameter)."""
    torch.manual_seed(0)
    return Discriminator(conditioning=conditioning, aux_hidden=8, class_resolution=class_resolution, **WIDTHS)


def images(side: int, seed: int = 1) -> torch.Tensor:
    return torch.rand(BATCH, 1, side, side, generator=torch.Generator().manual_seed(seed)) * 2 - 1


VIEWS = [
    # class_resolution, stage, fade_alpha, the side the class heads read (None: the stage's own image)
    (0, 3, 1.0, None),  # the paper
    (8, 0, 1.0, None),  # at and below the view's side, the stage's own image
    (8, 1, 0.5, None),
    (8, 2, 0.5, 8),  # above it, the image pooled to 8 px, through the 8 px path (no fade-in)
    (8, 3, 1.0, 8),
    (4, 3, 0.5, 4),
    (16, 3, 1.0, 16),
    (32, 3, 1.0, None),
]


@pytest.mark.parametrize(("class_resolution", "stage", "fade_alpha", "view"), VIEWS)
def test_the_class_heads_read_the_view_and_the_score_the_whole_image(class_resolution, stage, fade_alpha, view):
    side = 4 * 2**stage
    x = images(side)
    score, logits, twin = critic(class_resolution)(x, stage, fade_alpha, twin=True)
    paper = critic()
    paper_score, paper_logits, paper_twin = paper(x, stage, fade_alpha, twin=True)
    assert torch.equal(score, paper_score)
    if view is None:
        expected_logits, expected_twin = paper_logits, paper_twin
    else:
        view_stage = {4: 0, 8: 1, 16: 2}[view]
        _, expected_logits, expected_twin = paper(F.avg_pool2d(x, side // view), view_stage, 1.0, twin=True)
        assert not torch.allclose(logits, paper_logits)
    assert torch.equal(logits, expected_logits) and torch.equal(twin, expected_twin)


@pytest.mark.parametrize("conditioning", CONDITIONINGS)
def test_output_shapes_with_a_coarse_view(conditioning):
    labels = torch.tensor([0, 1] * (BATCH // 2))
    outputs = critic(8, conditioning)(images(32), 3, 0.5, labels, twin=conditioning == "tac")
    assert [list(out.shape) for out in outputs] == [[BATCH], [BATCH, 2]] + ([[BATCH, 2]] if conditioning == "tac" else [])
    assert all(out.dtype == torch.float32 and torch.isfinite(out).all() for out in outputs)


def _gradient_norms(loss: torch.Tensor, D: Discriminator, x: torch.Tensor) -> dict[str, float]:
    modules = {"from_image 8 px": D.from_image[1], "from_image 32 px": D.from_image[3],
               "block 32 px": D.blocks[2], "block 8 px": D.blocks[0], "final": D.final}
    params = [p for module in modules.values() for p in module.parameters()]
    grads = torch.autograd.grad(loss, [*params, x], allow_unused=True)
    norms, start = {}, 0
    for name, module in modules.items():
        count = len(list(module.parameters()))
        norms[name] = sum(0.0 if g is None else g.abs().sum().item() for g in grads[start:start + count])
        start += count
    norms["image"] = grads[-1].abs().sum().item()
    return norms


def test_the_class_loss_trains_the_coarse_path_and_reaches_the_images():
    D = critic(8)
    x = images(32).requires_grad_(True)
    score, logits = D(x, 3, 1.0)
    class_grads = _gradient_norms(F.cross_entropy(logits, torch.tensor([0, 1] * 3)), D, x)
    assert class_grads["from_image 32 px"] == 0 and class_grads["block 32 px"] == 0
    assert min(class_grads[name] for name in ("from_image 8 px", "block 8 px", "final", "image")) > 0
    score_grads = _gradient_norms(score.mean(), D, x)
    assert score_grads["from_image 8 px"] == 0  # the score reads the whole image, as the paper's
    assert min(score_grads[name] for name in ("from_image 32 px", "block 32 px", "block 8 px", "image")) > 0


# ---------------------------------------------------------------------------------------------------- the option


@pytest.mark.parametrize("value", [3, 12, 64, -8])
def test_a_class_resolution_that_names_no_stage_is_refused(value):
    with pytest.raises(ConfigError) as err:
        load_profile("smoke", ["model.channel_factors=[1,1,1,1]", f"model.class_resolution={value}"])
    message = str(err.value)
    assert (f"model.class_resolution: must be 0 or a side of the critic's stages (4 to 32 px, a power of two), "
            f"got {value}") in message
    assert "Fix: give 0 (the stage's side) or, e.g., 8" in message


@pytest.mark.parametrize("value", [0, 4, 8, 32])
def test_every_side_of_a_stage_is_accepted(value):
    config = load_profile("smoke", ["model.channel_factors=[1,1,1,1]", f"model.class_resolution={value}"])
    assert config.model.class_resolution == value


@pytest.mark.parametrize("value", [6, 64])
def test_a_critic_built_directly_refuses_a_side_it_has_no_stage_for(value):
    with pytest.raises(ValueError, match=rf"class_resolution must be 0 or a side of the critic's stages \(4 to 32 "
                                         rf"px, a power of two\), got {value}"):
        critic(value)


def test_the_paper_profile_classifies_the_stages_own_image():
    assert load_profile("paper").model.class_resolution == 0


def test_the_architecture_records_the_class_resolution_and_rebuilds_it():
    arch = architecture(ModelOptions(class_resolution=8), n_classes=2, image_channels=1)
    assert arch["class_resolution"] == 8
    assert build_networks(arch)[1].class_resolution == 8
    del arch["class_resolution"]  # a checkpoint written before the option: the paper's view
    assert build_networks(arch)[1].class_resolution == 0
