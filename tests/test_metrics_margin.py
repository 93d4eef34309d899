"""The margin metric: tissue in the image's outer frame and bright specks in its corners."""

from __future__ import annotations

import pytest
import torch

from pacgan_lite.metrics import EvaluationContext, EvaluationSets, compute_metrics
from pacgan_lite.metrics.margin import corner_size, frame_width, has_bright_corner, touches_frame

SIDE = 128


def centred_heads(n: int, radius: float = 0.7) -> torch.Tensor:
    """``[n, 1, 128, 128]`` bright disks of ``radius`` (a fraction of the half side) on air (-1), with air noise."""
    grid = torch.linspace(-1, 1, SIDE)
    distance = torch.hypot(*torch.meshgrid(grid, grid, indexing="ij"))
    images = torch.where(distance < radius, 0.6, -1.0).expand(n, 1, SIDE, SIDE).clone()
    return images + 0.1 * torch.randn(images.shape, generator=torch.Generator().manual_seed(0))


def with_pixel(row: int, column: int, value: float = 0.5) -> torch.Tensor:
    """One centred head with pixel (row, column) set to ``value``."""
    image = centred_heads(1)
    image[0, 0, row, column] = value
    return image


@pytest.mark.parametrize(("side", "width", "corner"), [(4, 1, 1), (32, 1, 1), (64, 1, 3), (128, 2, 6), (256, 4, 12)])
def test_frame_and_corner_scale_with_the_side(side, width, corner):
    assert (frame_width(side), corner_size(side)) == (width, corner)


@pytest.mark.parametrize(
    ("image", "in_frame", "in_corner"),
    [
        (centred_heads(1), False, False),
        (centred_heads(1, radius=1.05), True, False),  # a head the frame cuts, away from the corners
        (centred_heads(1, radius=1.5), True, True),
        (with_pixel(1, 64), True, False),  # inside the 2-pixel frame, mid side
        (with_pixel(2, 64), False, False),  # just inside the frame
        (with_pixel(4, 4), False, True),  # a corner speck off the frame
        (with_pixel(123, 122), False, True),
        (with_pixel(6, 6), False, False),  # just outside the 6 x 6 corner square
        (with_pixel(0, 127, value=0.0), False, False),  # the threshold itself is not tissue
        (with_pixel(0, 127, value=0.01), True, True),
    ],
    ids=["centred", "cut by the frame", "filling the image", "frame pixel", "inside the frame", "corner speck",
         "other corner", "outside the corner", "at the threshold", "above the threshold"],
)
def test_flags_of_single_images(image, in_frame, in_corner):
    assert touches_frame(image, 2).tolist() == [in_frame]
    assert has_bright_corner(image, 6).tolist() == [in_corner]


def test_shares_per_set_and_class_against_every_real_image():
    real_labels = torch.arange(2).repeat(10)
    train, held_out = centred_heads(16), centred_heads(4)
    held_out[0, 0, 0, 64] = 0.5  # one real image of class CN touches the frame
    fake = torch.cat([centred_heads(3), with_pixel(3, 3), with_pixel(1, 64), with_pixel(123, 125)])
    fake_labels = torch.tensor([0, 0, 0, 0, 1, 1])  # CN: one corner speck in 4; AD: one of each in 2
    sets = EvaluationSets(train, real_labels[:16], held_out, real_labels[16:], fake, fake_labels, ["CN", "AD"],
                          held_out="val")
    result = compute_metrics(EvaluationContext(sets), ["margin"])["margin"]
    assert (result["frame_pixels"], result["corner_pixels"]) == (2, 6)
    assert result["touching_frame"]["overall"] == {"real": pytest.approx(1 / 20), "fake": pytest.approx(1 / 6)}
    assert result["touching_frame"]["per_class"]["CN"] == {"real": pytest.approx(1 / 10), "fake": 0.0}
    assert result["touching_frame"]["per_class"]["AD"] == {"real": 0.0, "fake": 0.5}
    assert result["bright_corner"]["overall"] == {"real": 0.0, "fake": pytest.approx(2 / 6)}
    assert result["bright_corner"]["per_class"]["CN"]["fake"] == 0.25
    assert result["real_reference_images"]["sets"] == {"train": 16, "val": 4}
