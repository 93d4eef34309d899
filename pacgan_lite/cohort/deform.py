"""Smooth invertible deformations: stationary velocity fields (SVF), their exponential by scaling and
squaring, random subject fields and the two atrophy fields.

Convention: a displacement u (mm) defines the pull-back map phi(p) = p + u(p); an image warped by phi
is ``out(p) = template(phi(p))``. A velocity that points towards a structure therefore enlarges it.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft
from scipy import ndimage as ndi

from .anatomy import TemplateAnatomy, coarse_distance
from .grid import Grid

SUBJECT_FIELD_SCALES_MM = ((14.0, 2.2), (5.0, 1.2))  # (Gaussian sigma, RMS per component) of v_rand
VENTRICLE_SMOOTHING_MM = 3.0
CORTEX_SMOOTHING_MM = 1.5
CORTEX_TAPER_OUTSIDE_MM = 3.0  # the cortical field vanishes this far outside the brain: the skull stays
VENTRICLE_EXCLUSION_MM = (5.0, 13.0)  # the cortical field fades in between these distances from ventricles
MAX_STEP_VOXELS = 0.5  # scaling and squaring starts from displacements below half a grid voxel
MIN_SQUARINGS = 3


def smooth_noise(rng: np.random.Generator, shape, scales, channels: int) -> np.ndarray:
    """float32 [channels, *shape]: Gaussian random field with one term per scale.

    Args:
        shape: grid shape (any dimension).
        scales: sequence of (sigma_voxels, rms): each term is independent white noise smoothed by a
            Gaussian of that sigma and scaled to that expected RMS.
        channels: number of independent fields.

    Filtering happens in the Fourier domain, where the expected variance of each term is known exactly;
    the field is drawn on a slightly larger FFT-friendly grid and cropped.
    """
    fast_shape = tuple(scipy.fft.next_fast_len(int(n), real=True) for n in shape)
    axes = tuple(range(1, len(shape) + 1))
    spectrum = 0.0
    for sigma, rms in scales:
        transfer = 1.0
        variance = 1.0
        for axis, n in enumerate(fast_shape):
            f = scipy.fft.rfftfreq(n) if axis == len(shape) - 1 else scipy.fft.fftfreq(n)
            gain = np.exp(-2.0 * (np.pi * sigma * f) ** 2)
            transfer = transfer * np.expand_dims(gain, [a for a in range(len(shape)) if a != axis])
            variance *= np.mean(np.exp(-4.0 * (np.pi * sigma * scipy.fft.fftfreq(n)) ** 2))
        noise = rng.standard_normal((channels, *fast_shape), dtype=np.float32)
        spectrum = spectrum + scipy.fft.rfftn(noise, axes=axes) * (
            transfer * (rms / np.sqrt(variance))
        ).astype(np.float32)
    field = scipy.fft.irfftn(spectrum, s=fast_shape, axes=axes)
    return np.ascontiguousarray(field[(slice(None), *(slice(0, n) for n in shape))], dtype=np.float32)


def random_velocity(rng: np.random.Generator, grid: Grid) -> np.ndarray:
    """float32 [3, X, Y, Z] (mm): a subject's random velocity on ``grid`` (isotropic spacing).

    Sum of smooth noise at two scales (``SUBJECT_FIELD_SCALES_MM``): the 14 mm part changes head and
    brain shape, the 5 mm part perturbs the gyral pattern.
    """
    spacing = float(abs(grid.affine[0, 0]))
    scales = [(sigma_mm / spacing, rms_mm) for sigma_mm, rms_mm in SUBJECT_FIELD_SCALES_MM]
    return smooth_noise(rng, grid.shape, scales, 3)


def exp_velocity(velocity: np.ndarray, spacing_mm: float) -> np.ndarray:
    """Displacement (mm) of exp(velocity) by scaling and squaring: the time-1 flow of an SVF.

    Args:
        velocity: float32 [3, X, Y, Z] mm on an axis-aligned grid with isotropic ``spacing_mm``;
            component order x, y, z along the grid axes.

    Returns:
        float32 [3, X, Y, Z]: displacement u with phi(p) = p + u(p), a diffeomorphism. The number of
        squarings adapts to the peak speed so each starting step is below half a voxel.
    """
    peak = float(np.sqrt((velocity**2).sum(axis=0)).max())
    squarings = max(MIN_SQUARINGS, math.ceil(math.log2(max(peak / (MAX_STEP_VOXELS * spacing_mm), 1.0))))
    displacement = velocity / 2.0**squarings
    index = np.indices(velocity.shape[1:], dtype=np.float32)
    for _ in range(squarings):
        coords = index + displacement / spacing_mm
        displacement = displacement + np.stack(
            [ndi.map_coordinates(d, coords, order=1, mode="nearest", output=np.float32) for d in displacement]
        )
    return displacement


def ventricle_velocity(anatomy: TemplateAnatomy) -> np.ndarray:
    """float32 [3, X, Y, Z]: unit-peak field pointing into the lateral ventricles (v_vent).

    Gradient of the ventricles' CSF map smoothed by 3 mm: pulling samples towards the ventricles enlarges
    them and compresses the caudate and periventricular white matter.
    """
    soft = ndi.gaussian_filter(np.where(anatomy.ventricles, anatomy.csf, 0.0), VENTRICLE_SMOOTHING_MM)
    gradient = np.stack(np.gradient(soft))
    return (gradient / np.sqrt((gradient**2).sum(axis=0)).max()).astype(np.float32)


def cortical_velocity(anatomy: TemplateAnatomy) -> np.ndarray:
    """float32 [3, X, Y, Z]: field pointing into sulcal and surface CSF, weighted to the cortex (v_cort).

    Gradient of the smoothed non-tissue map 1 - GM - WM, scaled so its 99th percentile inside the
    outline is 1 and clipped there. It fades to zero within 3 mm outside the brain outline (so the skull
    does not move with atrophy) and near the ventricles (left to v_vent). Sulci widen, the cortex thins
    and the brain pulls away from the skull.
    """
    non_tissue = ndi.gaussian_filter(1.0 - anatomy.gm - anatomy.wm, CORTEX_SMOOTHING_MM)
    gradient = np.stack(np.gradient(non_tissue)).astype(np.float32)
    magnitude = np.sqrt((gradient**2).sum(axis=0))
    inside = anatomy.head_distance <= 0
    unit = np.percentile(magnitude[inside], 99)
    gradient *= 1.0 / np.maximum(unit, magnitude)
    near, far = VENTRICLE_EXCLUSION_MM
    ventricle_distance = coarse_distance(~anatomy.ventricles)
    weight = np.clip((ventricle_distance - near) / (far - near), 0.0, 1.0)
    weight *= np.clip(1.0 - anatomy.head_distance / CORTEX_TAPER_OUTSIDE_MM, 0.0, 1.0)
    return gradient * weight
