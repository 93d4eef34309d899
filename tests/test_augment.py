"""DiffAugment: each transform computes what it claims, differentiably, from its own seeded generator; the
classifiers' jitter."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from pacgan_lite.augment import (
    BACKGROUND,
    DiffAugment,
    cut_out,
    flip,
    jitter,
    make_augment,
    make_class_augment,
    pixels,
    scale_contrast,
    shift_brightness,
    translate,
)
from pacgan_lite.config import AUGMENT_TRANSFORMS, ClassifierOptions, TrainOptions, load_profile
from pacgan_lite.errors import ConfigError

STRENGTHS = {"translation": 0.125, "cutout": 0.5, "brightness": 0.5, "contrast": 0.5}


def _augment(policy, seed=0, **strengths) -> DiffAugment:
    return DiffAugment(policy, torch.Generator().manual_seed(seed), **{**STRENGTHS, **strengths})


def _images(batch=6, side=16, seed=1) -> torch.Tensor:
    """``[batch, 1, side, side]`` in [-1, 1], different per image."""
    return torch.rand(batch, 1, side, side, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.mark.parametrize("policy", [(), ("translation",), AUGMENT_TRANSFORMS])
@pytest.mark.parametrize("shape", [(1, 1, 4, 4), (5, 3, 16, 16)])
def test_shape_and_dtype_are_kept(policy, shape):
    images = torch.rand(shape, dtype=torch.float64) * 2 - 1
    out = _augment(policy)(images)
    assert out.shape == images.shape and out.dtype == images.dtype


def test_an_empty_policy_is_the_identity_and_draws_nothing():
    generator = torch.Generator().manual_seed(0)
    state = generator.get_state()
    images = _images()
    assert DiffAugment((), generator, **STRENGTHS)(images) is images
    assert torch.equal(generator.get_state(), state)


def test_transforms_apply_in_a_fixed_order_whatever_the_order_of_the_policy():
    images = _images()
    listed = _augment(("contrast", "cutout", "translation", "brightness"))(images)
    ordered = _augment(("translation", "cutout", "brightness", "contrast"))(images)
    assert torch.equal(listed, ordered)


def test_unknown_transform_names_are_refused_with_the_valid_ones():
    with pytest.raises(ConfigError, match=r"policy: unknown transform\(s\) \['rotate'\]\. Fix: use any of flip, "):
        _augment(("translation", "rotate"))


# ------------------------------------------------------------------------------------------- what each computes


@pytest.mark.parametrize(("shift", "moved_to"), [((0, 0), (5, 9)), ((2, -3), (7, 6)), ((-5, 6), (0, 15))])
def test_translation_moves_content_by_the_shift_and_fills_background(shift, moved_to):
    images = torch.zeros(1, 1, 16, 16)
    images[0, 0, 5, 9] = 1.0
    out = translate(images, torch.tensor([shift]))
    assert out[0, 0].argmax().item() == moved_to[0] * 16 + moved_to[1]
    uncovered = torch.ones(16, 16, dtype=torch.bool)
    uncovered[max(shift[0], 0):16 + min(shift[0], 0), max(shift[1], 0):16 + min(shift[1], 0)] = False
    assert (out[0, 0][uncovered] == BACKGROUND).all() and (out[0, 0][~uncovered] >= 0).all()


def test_drawn_translations_are_the_shifts_applied_and_span_the_range():
    augment = _augment(("translation",))
    draws = augment.draw(400, 16)["translation"]
    reach = pixels(STRENGTHS["translation"], 16)
    assert reach == 2 and set(draws.flatten().tolist()) == set(range(-reach, reach + 1))
    images = torch.zeros(3, 1, 16, 16)
    images[:, 0, 8, 8] = 1.0
    out = _augment(("translation",), seed=5)(images)
    shifts = _augment(("translation",), seed=5).draw(3, 16)["translation"]
    for image, (dy, dx) in zip(out, shifts.tolist(), strict=True):
        assert image[0, 8 + dy, 8 + dx] == 1.0


@pytest.mark.parametrize(("centre", "size", "cut"), [((8, 8), 8, 64), ((0, 0), 8, 16), ((15, 3), 5, 15), ((4, 4), 1, 1)])
def test_cutout_sets_the_square_inside_the_image_to_background(centre, size, cut):
    images = torch.ones(1, 2, 16, 16)
    out = cut_out(images, torch.tensor([centre]), size)
    top, left = centre[0] - size // 2, centre[1] - size // 2
    square = torch.zeros(16, 16, dtype=torch.bool)
    square[max(top, 0):top + size, max(left, 0):left + size] = True
    assert int(square.sum()) == cut
    assert (out[0, :, square] == BACKGROUND).all() and (out[0, :, ~square] == 1.0).all()


def test_flip_mirrors_left_right_only_the_chosen_images():
    images = _images(batch=2)
    out = flip(images, torch.tensor([True, False]))
    assert torch.equal(out[0], images[0].flip(-1)) and torch.equal(out[1], images[1])


@pytest.mark.parametrize("policy", [("translation", "cutout", "brightness", "contrast"), ("flip",)])
def test_left_right_order_is_reversed_only_when_flip_is_asked(policy):
    """Rows rise left to right; every transform but flip keeps that order among the non-background pixels."""
    images = torch.linspace(0.1, 1.0, 16).expand(64, 1, 16, 16).clone()
    out = _augment(policy)(images)
    reversed_images = 0
    for image in out[:, 0]:
        rows = [row[row > image.min()] for row in image]
        steps = torch.cat([row.diff() for row in rows if len(row) > 1])
        assert (steps > 0).all() or (steps < 0).all()
        reversed_images += bool((steps < 0).all())
    assert (reversed_images > 10) == ("flip" in policy)


@pytest.mark.parametrize(("policy", "strength"), [(("brightness",), 0.5), (("brightness",), 0.1),
                                                  (("contrast",), 0.5), (("contrast",), 0.2)])
def test_brightness_and_contrast_stay_in_their_stated_ranges(policy, strength):
    images = _images(batch=200)
    out = _augment(policy, **{policy[0]: strength})(images)
    mean = images.mean(dim=(1, 2, 3))
    if policy == ("brightness",):  # a constant shift per image, |shift| <= strength
        shift = (out - images).flatten(1)
        assert torch.allclose(shift, shift[:, :1].expand_as(shift), atol=1e-6)
        assert shift.abs().max() <= strength and shift.abs().max() > 0.8 * strength
        assert out.min() >= -1 - strength and out.max() <= 1 + strength
    else:  # the mean kept, deviations scaled by one factor in [1 - strength, 1 + strength]
        factor = ((out - mean[:, None, None, None]) / (images - mean[:, None, None, None])).flatten(1)
        assert torch.allclose(out.mean(dim=(1, 2, 3)), mean, atol=1e-6)
        assert torch.allclose(factor, factor.median(dim=1, keepdim=True).values.expand_as(factor), atol=1e-3)
        assert factor.min() >= 1 - strength - 1e-4 and factor.max() <= 1 + strength + 1e-4
        assert factor.max() - factor.min() > 1.6 * strength


@pytest.mark.parametrize("policy", [("flip",), ("translation",), ("cutout",), ("flip", "translation", "cutout")])
def test_geometric_transforms_only_move_pixels_or_insert_background(policy):
    images = _images()
    out = _augment(policy)(images)
    for image, augmented in zip(images, out, strict=True):
        allowed = torch.cat([image.flatten(), torch.tensor([BACKGROUND])])
        assert torch.isin(augmented, allowed).all()


def test_brightness_and_contrast_functions_compute_their_formulas():
    images = torch.tensor([[[[-1.0, 0.0], [0.5, 1.0]]]])  # mean 0.125
    assert torch.allclose(shift_brightness(images, torch.tensor([0.25])), images + 0.25)
    assert torch.allclose(scale_contrast(images, torch.tensor([2.0])), (images - 0.125) * 2 + 0.125)


# ------------------------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("policy", [(name,) for name in AUGMENT_TRANSFORMS] + [AUGMENT_TRANSFORMS])
def test_gradients_flow_through_every_transform(policy):
    images = (torch.rand(3, 2, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) * 2 - 1)
    images.requires_grad_(True)
    # a fresh generator of the same seed per call: gradcheck's perturbed calls see the same draws
    assert torch.autograd.gradcheck(lambda x: _augment(policy, seed=3)(x), (images,))
    _augment(policy, seed=3)(images).sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


# ------------------------------------------------------------------------------------------- randomness


def test_each_image_and_each_call_gets_its_own_draw():
    augment = _augment(AUGMENT_TRANSFORMS)
    images = _images(batch=1).expand(8, 1, 16, 16)
    first, second = augment(images), augment(images)
    assert all(not torch.equal(first[0], first[i]) for i in range(1, 8))
    assert all(not torch.equal(first[i], second[i]) for i in range(8))


def test_the_generator_state_decides_the_result():
    """What an exact resume relies on: the same state, the same draws; the checkpoint saves the state."""
    images = _images()
    assert torch.equal(_augment(AUGMENT_TRANSFORMS, seed=7)(images), _augment(AUGMENT_TRANSFORMS, seed=7)(images))
    augment = _augment(AUGMENT_TRANSFORMS, seed=7)
    augment(images)
    state = augment.generator.get_state()
    after_one = augment(images)
    augment.generator.set_state(state)
    assert torch.equal(augment(images), after_one)
    assert not torch.equal(_augment(AUGMENT_TRANSFORMS, seed=8)(images), _augment(AUGMENT_TRANSFORMS, seed=7)(images))


# ------------------------------------------------------------------------------------------- options


def test_make_augment_is_none_by_default_and_takes_the_strengths_of_the_options():
    generator = torch.Generator()
    assert make_augment(TrainOptions(), generator) is None
    options = TrainOptions(augment=("cutout", "translation"), augment_translation=0.25, augment_cutout=0.3,
                           augment_brightness=0.2, augment_contrast=0.1)
    augment = make_augment(options, generator)
    assert augment.policy == ("translation", "cutout") and augment.generator is generator
    assert (augment.translation, augment.cutout, augment.brightness, augment.contrast) == (0.25, 0.3, 0.2, 0.1)


def test_augmentation_options_load_from_overrides():
    config = load_profile("smoke", ["train.augment=[translation, cutout]", "train.augment_translation=0.25"])
    assert config.train.augment == ("translation", "cutout") and config.train.augment_translation == 0.25


@pytest.mark.parametrize(("overrides", "option", "message"), [
    (["train.augment=[translation, rotate]"], "train.augment",
     "unknown transform(s) 'rotate'. Fix: use any of flip, translation, cutout, brightness, contrast, or [] for none"),
    (["train.augment=[cutout, cutout]"], "train.augment", "names a transform twice"),
    (["train.augment_translation=0"], "train.augment_translation", "must be in (0, 0.5], got 0.0"),
    (["train.augment_translation=0.75"], "train.augment_translation", "must be in (0, 0.5], got 0.75"),
    (["train.augment_cutout=1.5"], "train.augment_cutout", "must be in (0, 1], got 1.5"),
    (["train.augment_brightness=-0.1"], "train.augment_brightness", "must be in (0, 1]"),
    (["train.augment_contrast=.nan"], "train.augment_contrast", "must be in (0, 1], got nan"),
    (["train.augment=translation"], "train.augment", "expected a list"),
])
def test_bad_augmentation_options_name_the_option_once(overrides, option, message):
    with pytest.raises(ConfigError) as err:
        load_profile("smoke", overrides)
    assert str(err.value).count(option) == 1 and f"{option}: " in str(err.value), str(err.value)
    assert message in str(err.value)


# ---------------------------------------------------------------------------------------------------- jitter

NO_JITTER = ClassifierOptions(augment_rotation_degrees=0, augment_scale=0, augment_translation=0,
                              augment_brightness=0, augment_contrast=0)


def test_jitter_of_zero_strength_is_the_identity():
    images = _images(side=32)
    torch.testing.assert_close(jitter(images, NO_JITTER, torch.Generator().manual_seed(0)), images)


@pytest.mark.parametrize(("strengths", "expected"), [
    ({"augment_brightness": 0.5}, lambda image: image + 0.5),
    ({"augment_contrast": 0.5}, lambda image: (image - image.mean()) * 1.5 + image.mean()),
    # 90 degrees maps pixel centres onto pixel centres, so bilinear sampling reads them exactly
    ({"augment_rotation_degrees": 90.0}, lambda image: torch.rot90(image, 1, dims=(-2, -1))),
], ids=["brightness", "contrast", "rotation"])
def test_jitter_applies_each_draw_as_claimed(monkeypatch, strengths, expected):
    # Every draw at the top of its range, so that the transform is known exactly.
    image = _images(batch=1, side=32)
    monkeypatch.setattr(torch, "rand", lambda n, generator=None, device=None: torch.ones(n, device=device))
    options = dataclasses.replace(NO_JITTER, **strengths)
    torch.testing.assert_close(jitter(image, options, torch.Generator()), expected(image))


def test_jitter_shifts_by_whole_pixels_and_fills_the_uncovered_border_with_background(monkeypatch):
    # Both shifts a quarter of the side (8 px at 32 px): the content moves up and left, air comes in.
    image = _images(batch=1, side=32)
    monkeypatch.setattr(torch, "rand", lambda n, generator=None, device=None: torch.ones(n, device=device))
    moved = jitter(image, dataclasses.replace(NO_JITTER, augment_translation=0.25), torch.Generator())
    torch.testing.assert_close(moved[..., :24, :24], image[..., 8:, 8:])
    assert (moved[..., 24:, :] == BACKGROUND).all() and (moved[..., :, 24:] == BACKGROUND).all()


def test_jitter_keeps_shape_and_dtype_and_draws_per_image():
    images = _images(batch=5, side=32).double()
    out = jitter(images, ClassifierOptions(augment_rotation_degrees=30), torch.Generator().manual_seed(0))
    assert out.shape == images.shape and out.dtype == images.dtype
    assert not torch.equal(out[0], out[1] - images[1] + images[0])  # each image its own draw
    air = jitter(torch.full((1, 1, 16, 16), BACKGROUND), ClassifierOptions(augment_rotation_degrees=30),
                 torch.Generator().manual_seed(0))
    # the affine brings in air where it uncovers the border; then one brightness shift of at most 0.1
    assert torch.allclose(air, air.flatten()[0]) and abs(air.flatten()[0] - BACKGROUND) <= 0.1


def test_the_class_augment_is_off_by_default_and_jitters_with_the_plain_classifiers_strengths():
    generator = torch.Generator().manual_seed(0)
    assert make_class_augment(TrainOptions(), generator) is None
    class_augment = make_class_augment(TrainOptions(class_augment=True), generator)
    images = _images(side=32)
    torch.testing.assert_close(class_augment(images),
                               jitter(images, ClassifierOptions(), torch.Generator().manual_seed(0)))
