"""The critic's conditioning (``model.conditioning``): the heads each mode adds, which images train them, the
class terms of both losses, the architecture dict and checkpoints, the reference's refusal, the option's check.
(PACGAN's own losses to the last bit: test_losses.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from pacgan_lite.architecture import LATER_KEYS, architecture, build_networks
from pacgan_lite.checkpoint import CheckpointError, sampling_point, save_checkpoint
from pacgan_lite.config import KitConfig, ModelOptions, load_profile
from pacgan_lite.errors import ConfigError
from pacgan_lite.inference import load_model
from pacgan_lite.losses import CONDITIONINGS, LossWeights, critic_loss, generator_loss
from pacgan_lite.networks import Discriminator, Generator
from pacgan_lite.reference_checkpoint import export_reference, import_reference

pytestmark = pytest.mark.usefixtures("single_thread")

Z_DIM, STAGE, FADE_ALPHA, SIDE, BATCH = 8, 2, 0.5, 16, 6
WIDTHS = {"base_channels": 16, "channel_factors": (1, 1, 1 / 2)}  # channels 16, 16, 8
LABELS = torch.tensor([0, 1, 0, 1, 1, 0])
FIXTURES = Path(__file__).parent / "data" / "reference-fixtures"


def critic(conditioning: str, **options) -> Discriminator:
    torch.manual_seed(0)
    return Discriminator(conditioning=conditioning, aux_hidden=8, **WIDTHS, **options)


def images(seed: int) -> torch.Tensor:
    return torch.rand(BATCH, 1, SIDE, SIDE, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def generated(seed: int = 1) -> tuple[Generator, torch.Tensor]:
    """A generator and its images for ``LABELS``, still attached to its graph."""
    torch.manual_seed(seed)
    G = Generator(z_dim=Z_DIM, **WIDTHS)
    z = torch.randn(BATCH, Z_DIM, generator=torch.Generator().manual_seed(seed))
    return G, G(z, LABELS, STAGE, FADE_ALPHA)


# ---------------------------------------------------------------------------------------------------- the heads

HEADS = [
    # conditioning, the extra head, its parameter shapes
    ("acgan", None, []),
    ("acgan_real", None, []),
    ("tac", "twin_class_head", [(8, 16, 1, 1), (8,), (2, 8, 1, 1), (2,)]),
    ("projection", "class_projection", [(2, 16)]),
]


@pytest.mark.parametrize(("conditioning", "extra", "shapes"), HEADS)
def test_each_conditioning_adds_its_head_after_the_papers_layers(conditioning, extra, shapes):
    paper, D = critic("acgan").state_dict(), critic(conditioning)
    state = D.state_dict()
    # The paper's layers draw the same initial weights in every mode: the new head is built after them.
    assert all(torch.equal(state[name], tensor) for name, tensor in paper.items())
    added = {name: tensor for name, tensor in state.items() if name not in paper}
    assert [tuple(tensor.shape) for tensor in added.values()] == shapes
    assert all(name.startswith(f"{extra}.") for name in added)
    assert sum(D.parameters_per_stage()) == sum(p.numel() for p in D.parameters())


@pytest.mark.parametrize("conditioning", CONDITIONINGS)
def test_output_shapes(conditioning):
    D = critic(conditioning)
    score, logits = D(images(2), STAGE, FADE_ALPHA, labels=LABELS)
    assert score.shape == (BATCH,) and logits.shape == (BATCH, 2)
    if conditioning == "tac":
        *_, twin_logits = D(images(2), STAGE, FADE_ALPHA, labels=LABELS, twin=True)
        assert twin_logits.shape == (BATCH, 2)
    else:
        with pytest.raises(ValueError, match="twin logits need a critic with conditioning 'tac'"):
            D(images(2), STAGE, FADE_ALPHA, twin=True)


def test_the_projection_adds_the_class_embeddings_inner_product_with_the_features():
    D = critic("projection")
    features = []
    D.final.register_forward_hook(lambda _module, _args, out: features.append(out))
    real = images(2)
    score, logits = D(real, STAGE, FADE_ALPHA, labels=LABELS)
    x = features[-1]
    unconditional = D.adversarial_head(x).reshape(-1)
    inner = (x.flatten(1) * D.class_projection.scaled_weight()[LABELS]).sum(dim=1)
    torch.testing.assert_close(score, unconditional + inner)
    torch.testing.assert_close(D(real, STAGE, FADE_ALPHA)[0], unconditional)  # no labels: no class term
    other_score, other_logits = D(real, STAGE, FADE_ALPHA, labels=1 - LABELS)
    assert (other_score != score).all()  # the score depends on the label ...
    assert torch.equal(other_logits, logits)  # ... the classifier does not


@pytest.mark.parametrize("conditioning", ["acgan", "acgan_real", "tac"])
def test_other_critics_ignore_the_labels(conditioning):
    D = critic(conditioning)
    with_labels, without = D(images(2), STAGE, FADE_ALPHA, labels=LABELS), D(images(2), STAGE, FADE_ALPHA)
    assert all(torch.equal(a, b) for a, b in zip(with_labels, without, strict=True))


# ---------------------------------------------------------------------------------------------------- critic loss

TRAINED_BY = [
    # conditioning, head, gets gradient from real images, from generated images
    ("acgan", "class_head", True, True),
    ("acgan_real", "class_head", True, False),
    ("tac", "class_head", True, False),
    ("tac", "twin_class_head", False, True),
    ("projection", "class_head", True, False),
    ("projection", "class_projection", True, True),
    ("projection", "adversarial_head", True, True),
]


def head_gradient(D: Discriminator, head: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    D.zero_grad(set_to_none=True)
    loss, _ = critic_loss(D, real, fake, LABELS, STAGE, FADE_ALPHA, rng=torch.Generator().manual_seed(3),
                          conditioning=D.conditioning)
    loss.backward()
    return torch.cat([parameter.grad.flatten() for parameter in getattr(D, head).parameters()])


@pytest.mark.parametrize(("conditioning", "head", "from_real", "from_fake"), TRAINED_BY)
def test_which_images_train_each_head(conditioning, head, from_real, from_fake):
    """A head's gradient changes with the real (generated) images exactly when they reach it in the loss."""
    D = critic(conditioning)
    real, fake = images(2), generated()[1].detach()
    gradient = head_gradient(D, head, real, fake)
    assert gradient.abs().sum() > 0
    assert (not torch.equal(head_gradient(D, head, images(4), fake), gradient)) == from_real
    assert (not torch.equal(head_gradient(D, head, real, generated(5)[1].detach()), gradient)) == from_fake


# Weights of the class terms of the critic loss per conditioning (besides class_real x "class_real").
CRITIC_FAKE_TERM = {"acgan": ("class_fake", 2.0), "acgan_real": None, "tac": ("twin_fake", 2.0), "projection": None}


@pytest.mark.parametrize("conditioning", CONDITIONINGS)
def test_critic_loss_is_weighted_as_documented(conditioning):
    D = critic(conditioning)
    loss, terms = critic_loss(D, images(2), generated()[1], LABELS, STAGE, FADE_ALPHA, conditioning=conditioning)
    fake_term = CRITIC_FAKE_TERM[conditioning]
    expected_terms = {"loss", "wasserstein", "gradient_penalty", "drift", "class_real", "class_fake", "score_real",
                      "score_fake"} | ({"twin_fake"} if conditioning == "tac" else set())
    assert set(terms) == expected_terms
    expected = (terms["wasserstein"] + 10 * terms["gradient_penalty"] + 0.001 * terms["drift"]
                + 4 * terms["class_real"] + (fake_term[1] * terms[fake_term[0]] if fake_term else 0))
    torch.testing.assert_close(loss.detach(), expected)


def smoothed_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, eps: float) -> torch.Tensor:
    """Two classes: the label's target 1 - eps / 2, the other's eps / 2."""
    targets = torch.where(F.one_hot(labels, 2).bool(), 1 - eps / 2, eps / 2)
    return -(targets * logits.log_softmax(1)).sum(1).mean()


@pytest.mark.parametrize("conditioning", CONDITIONINGS)
def test_label_smoothing_softens_every_class_target_of_the_critic_and_none_of_the_generator(conditioning):
    D, real, (_, fake) = critic(conditioning), images(2), generated()
    weights = LossWeights(class_label_smoothing=0.2)
    _, terms = critic_loss(D, real, fake, LABELS, STAGE, FADE_ALPHA, weights, conditioning=conditioning)
    _, logits_real = D(real, STAGE, FADE_ALPHA, labels=LABELS)
    _, logits_fake, *twin = D(fake, STAGE, FADE_ALPHA, labels=LABELS, twin=conditioning == "tac")
    torch.testing.assert_close(terms["class_real"], smoothed_cross_entropy(logits_real, LABELS, 0.2).detach())
    torch.testing.assert_close(terms["class_fake"], smoothed_cross_entropy(logits_fake, LABELS, 0.2).detach())
    if twin:
        torch.testing.assert_close(terms["twin_fake"], smoothed_cross_entropy(twin[0], LABELS, 0.2).detach())
    _, generator_terms = generator_loss(D, fake, LABELS, STAGE, FADE_ALPHA, weights, conditioning=conditioning)
    plain = LossWeights()
    _, unsmoothed = generator_loss(D, fake, LABELS, STAGE, FADE_ALPHA, plain, conditioning=conditioning)
    assert generator_terms.keys() == unsmoothed.keys()
    for name, value in generator_terms.items():
        torch.testing.assert_close(value, unsmoothed[name], rtol=0, atol=0)


# ---------------------------------------------------------------------------------------------------- generator loss

GENERATOR_CLASS_TERM = {
    "acgan": lambda terms: terms["class_fake"],
    "acgan_real": lambda terms: terms["class_fake"],
    "tac": lambda terms: terms["class_fake"] - terms["twin_fake"],
    "projection": lambda terms: 0.0,
}


@pytest.mark.parametrize("conditioning", CONDITIONINGS)
def test_generator_loss_is_weighted_as_documented(conditioning):
    D = critic(conditioning)
    _, fake = generated()
    loss, terms = generator_loss(D, fake, LABELS, STAGE, FADE_ALPHA, conditioning=conditioning)
    assert set(terms) == {"loss", "score_fake", "class_fake"} | ({"twin_fake"} if conditioning == "tac" else set())
    torch.testing.assert_close(loss.detach(), -terms["score_fake"] + 4 * GENERATOR_CLASS_TERM[conditioning](terms))


def test_tac_generator_term_is_the_difference_of_the_two_heads():
    D = critic("tac")
    _, fake = generated()
    _, terms = generator_loss(D, fake, LABELS, STAGE, FADE_ALPHA, conditioning="tac")
    _, logits, twin_logits = D(fake, STAGE, FADE_ALPHA, twin=True)
    torch.testing.assert_close(terms["class_fake"], F.cross_entropy(logits, LABELS).detach())
    torch.testing.assert_close(terms["twin_fake"], F.cross_entropy(twin_logits, LABELS).detach())


@pytest.mark.parametrize("loss", [critic_loss, generator_loss])
def test_an_unknown_conditioning_is_refused(loss):
    D = critic("acgan")
    arguments = (images(2), images(3), LABELS) if loss is critic_loss else (images(3), LABELS)
    with pytest.raises(ValueError, match="conditioning must be one of acgan, acgan_real, tac, projection"):
        loss(D, *arguments, STAGE, FADE_ALPHA, conditioning="hinge")


def test_an_unknown_conditioning_is_refused_by_the_critic():
    with pytest.raises(ValueError, match="conditioning must be one of"):
        Discriminator(conditioning="hinge")


# ---------------------------------------------------------------------------------------------------- checkpoints


def model(**options) -> ModelOptions:
    return ModelOptions(z_dim=Z_DIM, aux_hidden=150, base_channels=8, channel_factors=(1.0, 1.0), **options)


def kit_checkpoint(path: Path, arch: dict) -> Path:
    torch.manual_seed(0)
    generator, discriminator = build_networks(arch)
    return save_checkpoint(path, {"architecture": arch, "class_names": ["CN", "AD"],
                                  "options": KitConfig().to_dict(), "sampling": sampling_point(1, 8, 1.0),
                                  "generator": generator.state_dict(), "discriminator": discriminator.state_dict(),
                                  "generator_ema": None})


@pytest.mark.parametrize("conditioning", CONDITIONINGS)
def test_a_checkpoint_rebuilds_the_critic_of_its_conditioning(tmp_path, conditioning):
    arch = architecture(model(conditioning=conditioning), n_classes=2, image_channels=1)
    assert arch["conditioning"] == conditioning
    written = build_networks(arch)[1]
    loaded = load_model(kit_checkpoint(tmp_path / "kit.pt", arch)).discriminator
    assert loaded.conditioning == conditioning
    assert loaded.state_dict().keys() == written.state_dict().keys()


def test_a_checkpoint_without_the_later_keys_was_trained_as_the_paper():
    arch = architecture(model(), n_classes=2, image_channels=1)
    older = {key: value for key, value in arch.items() if key not in LATER_KEYS}
    torch.manual_seed(0)
    G, D = build_networks(older)
    torch.manual_seed(0)
    G_now, D_now = build_networks(arch)
    assert D.conditioning == "acgan" and D.final[0].group_size == 0
    for old, now in ((G, G_now), (D, D_now)):
        assert all(torch.equal(a, b) for a, b in zip(old.state_dict().values(), now.state_dict().values(), strict=True))


REFUSED_EXPORTS = [
    # model options the reference cannot hold, the architecture key named
    ({"conditioning": "acgan_real"}, "architecture.conditioning: is 'acgan_real'"),
    ({"conditioning": "tac"}, "architecture.conditioning: is 'tac'"),
    ({"conditioning": "projection"}, "architecture.conditioning: is 'projection'"),
    ({"mbstd_group_size": 4}, "architecture.mbstd_group_size: is 4"),
    ({"min_channels": 16}, r"architecture.min_channels: is 16, which widens stages to \[16, 16\]"),
    ({"upsample": "bilinear"}, "architecture.upsample: is 'bilinear'"),
    ({"bilinear_from": 8}, "architecture.bilinear_from: is 8"),
    ({"noise_from": 8}, "architecture.noise_from: is 8"),
    ({"generator_padding": "reflect"}, "architecture.generator_padding: is 'reflect'"),
    ({"class_resolution": 4}, "architecture.class_resolution: is 4"),
]


@pytest.mark.parametrize(("options", "message"), REFUSED_EXPORTS)
def test_export_refuses_a_critic_the_reference_does_not_have(tmp_path, options, message):
    checkpoint = kit_checkpoint(tmp_path / "kit.pt", architecture(model(**options), 2, 1))
    with pytest.raises(CheckpointError, match=message):
        export_reference(checkpoint, tmp_path / "exported")


@pytest.mark.parametrize("options", [{}, {"min_channels": 8}], ids=["paper", "floor that widens nothing"])
def test_export_takes_the_papers_critic(tmp_path, options):
    checkpoint = kit_checkpoint(tmp_path / "kit.pt", architecture(model(**options), 2, 1))
    assert (export_reference(checkpoint, tmp_path / "exported") / "PACGAN_8x8" / "discriminator_best.pt").is_file()


def test_an_imported_reference_model_is_an_acgan(tmp_path):
    out = import_reference(FIXTURES / "small-cpu", FIXTURES / "small-cpu" / "config.json", tmp_path / "kit.pt",
                           stddev=0.5)
    loaded = load_model(out)
    assert loaded.architecture["conditioning"] == "acgan" and loaded.discriminator.conditioning == "acgan"


# ---------------------------------------------------------------------------------------------------- the option


def test_an_unknown_conditioning_is_a_config_error():
    with pytest.raises(ConfigError) as err:
        load_profile("smoke", ["model.conditioning=hinge"])
    message = str(err.value)
    assert message.startswith("override: model.conditioning: unknown conditioning 'hinge'")
    assert message.count("model.conditioning") == 1
    assert "Fix: use one of acgan, acgan_real, tac, projection" in message


@pytest.mark.parametrize("conditioning", CONDITIONINGS)
def test_every_conditioning_is_accepted(conditioning):
    assert load_profile("smoke", [f"model.conditioning={conditioning}"]).model.conditioning == conditioning
