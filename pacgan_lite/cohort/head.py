"""Procedural head around the brain outline: extra-axial CSF, skull (inner table, diploe, outer table),
temporalis muscle, scalp fat and skin, as T1-weighted intensities (WM is about 0.87).

The shells follow the signed distance to the un-atrophied brain outline, so their thickness is fixed
per subject; smooth per-subject noise fields vary the thicknesses and the marrow texture.
"""

from __future__ import annotations

import numpy as np

from .subjects import HeadLayers

# T1-weighted intensity of each shell, inside out (the last one, air, is 0).
EXTRA_AXIAL_CSF, BONE, MARROW, MUSCLE, FAT, SKIN = 0.24, 0.07, 0.62, 0.42, 1.05, 0.6
EDGE_MM = 0.35  # width of the soft transition between shells
HEAD_CENTRE_Y_MM = -15.0
TEMPORALIS_TOP_Z_MM = 45.0  # the superior temporal line, roughly


def temporal_weight(points_mm: np.ndarray) -> np.ndarray:
    """float32 [...]: 1 over the temporal fossa (lateral, below the superior temporal line), 0 elsewhere.

    ``points_mm`` [..., 3] are template (MNI) coordinates.
    """
    x, y, z = np.moveaxis(points_mm, -1, 0)
    angle = np.arctan2(y - HEAD_CENTRE_Y_MM, np.abs(x))  # 0 lateral, +pi/2 anterior
    lateral = np.exp(-0.5 * ((angle - 0.05) / 0.38) ** 2)
    below_line = 1.0 / (1.0 + np.exp((z - TEMPORALIS_TOP_Z_MM) / 5.0))
    return (lateral * below_line).astype(np.float32)


def head_intensity(
    distance_mm: np.ndarray,
    points_mm: np.ndarray,
    layers: HeadLayers,
    thickness_noise: np.ndarray,
    texture_noise: np.ndarray,
) -> np.ndarray:
    """T1 intensity of the procedural head.

    Args:
        distance_mm: [...] signed distance to the closed brain outline (positive outside).
        points_mm: [..., 3] template coordinates (for the temporalis and the thin temporal squama).
        layers: the subject's shell thicknesses.
        thickness_noise: [..., 2] smooth unit-RMS noise that varies diploe and fat thickness.
        texture_noise: [...] finer unit-RMS noise for the marrow texture.

    Returns:
        float32 [...]: intensity; extra-axial CSF inside the outline, 0 (air) beyond the skin.
    """
    temporal = temporal_weight(points_mm)
    diploe_noise, fat_noise = np.moveaxis(np.clip(thickness_noise, -1.5, 1.5), -1, 0)
    thickness = [
        layers.extra_axial_csf,
        layers.inner_table,
        layers.diploe * (1.0 + 0.4 * diploe_noise) * (1.0 - 0.75 * temporal),  # temporal squama is thin
        layers.outer_table,
        layers.temporalis * temporal,
        layers.fat * (1.0 + 0.3 * fat_noise) * (1.0 - 0.5 * temporal),
        layers.skin,
    ]
    values = [EXTRA_AXIAL_CSF, BONE, MARROW * (1.0 + 0.12 * texture_noise), BONE, MUSCLE, FAT, SKIN, 0.0]
    intensity = np.full(distance_mm.shape, EXTRA_AXIAL_CSF, np.float32)
    boundary = np.zeros(distance_mm.shape, np.float32)
    for inner_value, outer_value, width in zip(values[:-1], values[1:], thickness, strict=True):
        boundary = boundary + width
        step = 0.5 * (1.0 + np.tanh((distance_mm - boundary) / EDGE_MM))
        intensity += (outer_value - inner_value) * step
    return intensity
