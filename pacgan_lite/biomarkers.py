"""Image biomarkers for axial slices in PACGAN's layout (256 mm field of view, MNI-registered, z = +18 mm).

Pixel (a, b) of a 256 image is MNI (x, y) = (-1 - (a - 128), -17 + (b - 128)); an S x S image has
pixels of 256/S mm over the same field of view. Intensities are in [-1, 1] (background -1).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

FIELD_OF_VIEW_MM = 256.0
# Region of interest around the lateral ventricle bodies at z = +18 mm, with room for enlargement and
# misregistration (MNI mm); components must also touch the core, which excludes the midline fissure
# and cisterns in front of and behind the ventricles.
VENTRICLE_ROI_MM = {"x": (-38.0, 38.0), "y": (-62.0, 32.0)}
VENTRICLE_CORE_MM = {"x": (-22.0, 22.0), "y": (-35.0, 15.0)}
SMOOTHING_MM = 1.0
WM_PERCENTILE = 90.0  # the region is mostly white matter
CSF_PERCENTILE = 1.0  # the ventricles fill well over 1 % of the region
MAX_THRESHOLD_OF_WM = 0.7  # never call grey matter (~0.75 of WM on T1) CSF, even without ventricles
MIN_COMPONENT_MM2 = 4.0


def pixel_coordinates_mm(size: int) -> tuple[np.ndarray, np.ndarray]:
    """MNI x (along axis 0) and y (along axis 1) of the pixel centres of a ``size`` image, in mm."""
    pixel = FIELD_OF_VIEW_MM / size
    a = (np.arange(size) + 0.5) * pixel - 0.5  # pixel centres in 1 mm (256-grid) index units
    return 127.0 - a, a - 145.0


def ventricle_area(images: np.ndarray) -> np.ndarray:
    """Area (mm^2) of the lateral ventricles in axial T1 slices at the level of the ventricle bodies.

    Method, per image (no training, no fixed intensities):

    1. map [-1, 1] to [0, 1] and smooth with a Gaussian of sigma 1 mm;
    2. take the region of interest MNI |x| <= 38 mm, -62 <= y <= 32 mm around the ventricle bodies
       (converted to pixels for the image size); it is mostly white matter, caudate and ventricles;
    3. white-matter level = 90th percentile and CSF level = 1st percentile of the smoothed
       intensity in that region;
    4. CSF-like pixels = smoothed intensity below the midpoint of the two levels, capped at 0.7 x the
       white-matter level (grey matter is ~0.75 of it), so global scaling, contrast and moderate bias
       do not matter;
    5. keep 8-connected components of CSF-like pixels inside the region that have at least 4 mm^2
       and touch the core |x| <= 22 mm, -35 <= y <= 15 mm (this drops the interhemispheric fissure
       and cisterns that enter the region from the front and back);
    6. area = number of kept pixels x (256/S)^2 mm^2.

    Works on the cohort's images and on GAN samples of any size S (coarse sizes, e.g. S < 32, give
    only rough areas).

    Args:
        images: [N, S, S] or [S, S], intensities in [-1, 1], orientation as the cohort (LAS).

    Returns:
        float64 [N] (or a 0-d array for one image): ventricle area in mm^2.
    """
    images = np.asarray(images, dtype=np.float64)
    if images.ndim not in (2, 3) or images.shape[-1] != images.shape[-2]:
        raise ValueError(f"images must be [N, S, S] or [S, S], got shape {images.shape}")
    size = images.shape[-1]
    pixel_mm = FIELD_OF_VIEW_MM / size
    x, y = pixel_coordinates_mm(size)
    roi = _box(x, y, VENTRICLE_ROI_MM)
    core = _box(x, y, VENTRICLE_CORE_MM)
    min_pixels = MIN_COMPONENT_MM2 / pixel_mm**2
    areas = [
        _ventricle_pixels(image, roi, core, pixel_mm, min_pixels) * pixel_mm**2
        for image in images.reshape(-1, size, size)
    ]
    return np.asarray(areas, dtype=np.float64).reshape(images.shape[:-2])


def _box(x: np.ndarray, y: np.ndarray, box: dict) -> np.ndarray:
    inside_x = (x >= box["x"][0]) & (x <= box["x"][1])
    inside_y = (y >= box["y"][0]) & (y <= box["y"][1])
    return inside_x[:, None] & inside_y[None, :]


def _ventricle_pixels(image, roi, core, pixel_mm: float, min_pixels: float) -> int:
    smooth = ndi.gaussian_filter((image + 1.0) / 2.0, SMOOTHING_MM / pixel_mm)
    csf_level, wm_level = np.percentile(smooth[roi], [CSF_PERCENTILE, WM_PERCENTILE])
    threshold = min(0.5 * (csf_level + wm_level), MAX_THRESHOLD_OF_WM * wm_level)
    dark = (smooth < threshold) & roi
    components, count = ndi.label(dark, structure=np.ones((3, 3)))
    if count == 0:
        return 0
    index = np.arange(1, count + 1)
    sizes = ndi.sum_labels(dark, components, index)
    touches_core = ndi.maximum(core, components, index) > 0
    keep = index[(sizes >= min_pixels) & touches_core]
    return int(np.isin(components, keep).sum())
