"""Tests of the ventricle-area biomarker on images with a known answer."""

import numpy as np
import pytest

from pacgan_lite.biomarkers import pixel_coordinates_mm, ventricle_area


def phantom(size: int, radius_mm: float, centre_mm=(-12.0, -10.0), brain=0.6, csf=-0.5) -> np.ndarray:
    """[size, size] image: background -1, a 70 mm "brain" disk, a dark disk of ``radius_mm`` at MNI
    ``centre_mm`` (x, y), all in the cohort's orientation."""
    x, y = pixel_coordinates_mm(size)
    xx, yy = np.meshgrid(x, y, indexing="ij")
    image = np.full((size, size), -1.0)
    image[xx**2 + (yy + 17.0) ** 2 <= 70.0**2] = brain
    image[(xx - centre_mm[0]) ** 2 + (yy - centre_mm[1]) ** 2 <= radius_mm**2] = csf
    return image


@pytest.mark.parametrize(
    ("size", "radius_mm", "rel_tol"),
    [(256, 6.0, 0.08), (256, 12.0, 0.05), (128, 10.0, 0.08), (64, 14.0, 0.1)],
)
def test_disk_area_is_recovered(size, radius_mm, rel_tol):
    area = ventricle_area(phantom(size, radius_mm))
    assert area.shape == ()
    assert area == pytest.approx(np.pi * radius_mm**2, rel=rel_tol)


@pytest.mark.parametrize(
    ("description", "image_kwargs", "noise_sd"),
    [
        ("darker overall", {"brain": 0.0, "csf": -0.75}, 0.0),
        ("noisy", {}, 0.06),
        ("brighter CSF", {"csf": -0.3}, 0.0),
    ],
)
def test_area_does_not_depend_on_exact_intensities(description, image_kwargs, noise_sd):
    rng = np.random.default_rng(0)
    image = phantom(128, 12.0, **image_kwargs) + noise_sd * rng.standard_normal((128, 128))
    assert ventricle_area(image) == pytest.approx(np.pi * 12.0**2, rel=0.1), description


def test_dark_spots_away_from_the_ventricles_are_ignored():
    assert ventricle_area(phantom(128, 8.0, centre_mm=(50.0, 40.0))) == 0.0
    assert ventricle_area(phantom(128, 0.0)) == 0.0


@pytest.mark.parametrize(
    ("shape", "expected"),
    [((128, 128), ()), ((3, 128, 128), (3,)), ((1, 32, 32), (1,))],
)
def test_output_shape(shape, expected):
    images = np.broadcast_to(phantom(shape[-1], 12.0), shape)
    areas = ventricle_area(images)
    assert areas.shape == expected
    assert np.all(areas > 0)


@pytest.mark.parametrize("shape", [(128,), (2, 64, 32), (1, 1, 8, 8)])
def test_bad_shapes_are_rejected(shape):
    with pytest.raises(ValueError, match="images must be"):
        ventricle_area(np.zeros(shape))
