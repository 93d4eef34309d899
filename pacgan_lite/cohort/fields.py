"""Template-space fields needed to render slices at one level, precomputed once per process.

``slice_fields(z)`` crops the template to a slab around MNI z, derives the structural maps and the two
atrophy velocity bases, and caches the result (a few seconds to build, over a hundred MB to hold).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .anatomy import template_anatomy
from .deform import cortical_velocity, ventricle_velocity
from .grid import Grid

# Half-thickness of the template slab: subject z offset (<= 6 mm) + tilt of the plane at the edge of
# the head (<= 6.25 deg over 130 mm, 14 mm) + displacements (<= 16 mm) + interpolation margin.
SLAB_HALF_MM = 38.0
MAP_NAMES = ("t1_sharp", "csf", "gm", "wm", "brain_weight", "head_distance")
VELOCITY_SPACING_MM = 2.0


@dataclass(frozen=True)
class SliceFields:
    """Template-space inputs of the renderer, on a slab around ``slice_z_mm``.

    Attributes:
        slice_z_mm: MNI z of the nominal slice.
        grid: the 1 mm slab grid of ``maps``.
        maps: float32 [6, X, Y, Z], channels named in ``MAP_NAMES``.
        coarse_grid: ``grid`` subsampled to 2 mm, the grid of the velocity fields.
        ventricle_velocity: float32 [3, X2, Y2, Z2], unit-peak v_vent (mm per mm of a_vent).
        cortical_velocity: float32 [3, X2, Y2, Z2], unit-scale v_cort (mm per mm of a_cort).
    """

    slice_z_mm: float
    grid: Grid
    maps: np.ndarray
    coarse_grid: Grid
    ventricle_velocity: np.ndarray
    cortical_velocity: np.ndarray


@functools.lru_cache(maxsize=2)
def slice_fields(slice_z_mm: float) -> SliceFields:
    """Precompute (and cache per process) the fields for slices at MNI z = ``slice_z_mm``."""
    anatomy = template_anatomy((slice_z_mm - SLAB_HALF_MM, slice_z_mm + SLAB_HALF_MM))
    step = round(VELOCITY_SPACING_MM)
    coarse = (slice(None), slice(None, None, step), slice(None, None, step), slice(None, None, step))
    return SliceFields(
        slice_z_mm=slice_z_mm,
        grid=anatomy.grid,
        maps=np.stack([getattr(anatomy, name) for name in MAP_NAMES]),
        coarse_grid=anatomy.grid.subsample(step),
        ventricle_velocity=np.ascontiguousarray(ventricle_velocity(anatomy)[coarse]),
        cortical_velocity=np.ascontiguousarray(cortical_velocity(anatomy)[coarse]),
    )
