"""Structural maps derived from the template: brain outline, distances, ventricles, sharpened T1.

All maps live on (a z-range crop of) the 1 mm template grid, in MNI millimetres.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from .grid import Grid
from .template import load_template

# Where the lateral ventricles may lie (MNI mm); deep CSF outside this box is cisterns or fissures.
VENTRICLE_BOX_MM = {"x": (2.0, 30.0), "y": (-50.0, 35.0), "z": (-2.0, 34.0)}  # x is |x|
VENTRICLE_MIN_DEPTH_MM = 14.0
VENTRICLE_MIN_CSF = 0.2
VENTRICLE_MIN_VOLUME_MM3 = 300
HEAD_MARGIN_MM = 16  # padding in x and y around the template box (1 mm voxels)
OUTLINE_CLOSING_MM = 5  # closes sulci so the skull follows the brain's envelope, not its gyri
OUTLINE_SMOOTHING_MM = 3.0


@dataclass(frozen=True)
class TemplateAnatomy:
    """Template maps on ``grid`` (1 mm, axis-aligned), each float32 [X, Y, Z] unless noted.

    Attributes:
        t1_sharp: T1 in [0, ~1] with a mild unsharp mask (undoes some of the blur of averaging 152 brains).
        csf, gm, wm: tissue probabilities (CSF = clip(1 - GM - WM) inside the brain).
        brain_weight: soft brain mask in [0, 1]; 1 - brain_weight is filled by the procedural head.
        head_distance: signed distance (mm) to the closed brain outline, positive outside.
        ventricles: bool, the lateral ventricles (deep CSF inside ``VENTRICLE_BOX_MM``).
    """

    grid: Grid
    t1_sharp: np.ndarray
    csf: np.ndarray
    gm: np.ndarray
    wm: np.ndarray
    brain_weight: np.ndarray
    head_distance: np.ndarray
    ventricles: np.ndarray


@functools.lru_cache(maxsize=2)
def template_anatomy(z_range_mm: tuple[float, float] | None = None) -> TemplateAnatomy:
    """Derived maps over MNI z in ``z_range_mm`` (None: the whole template); cached per process, since
    they take seconds to derive and a slab is cheaper than the whole volume."""
    template = load_template()
    grid = Grid(affine=template.affine, shape=template.t1.shape)
    if not np.allclose(template.affine[:3, :3], np.eye(3)):
        raise ValueError("expected the 1 mm axis-aligned ICBM152 grid")
    lower, upper = np.zeros(3, int), np.array(grid.shape)
    if z_range_mm is not None:
        k_bounds = grid.to_index(np.array([[0.0, 0.0, z] for z in z_range_mm]))[2]
        lower[2] = max(0, int(np.floor(k_bounds.min())))
        upper[2] = min(grid.shape[2], int(np.ceil(k_bounds.max())) + 1)
    crop = tuple(slice(lo, hi) for lo, hi in zip(lower, upper, strict=True))
    # Pad x and y: the template box ends ~25 mm beyond the brain, closer than the outside of the scalp.
    pad = ((HEAD_MARGIN_MM, HEAD_MARGIN_MM), (HEAD_MARGIN_MM, HEAD_MARGIN_MM), (0, 0))
    grid = grid.crop(lower - [HEAD_MARGIN_MM, HEAD_MARGIN_MM, 0], upper + [HEAD_MARGIN_MM, HEAD_MARGIN_MM, 0])
    t1, gm, wm, csf = (
        np.pad(volume[crop], pad) for volume in (template.t1, template.gm, template.wm, template.csf)
    )

    brain = t1 > 0
    outline = closed_outline(brain)
    depth = coarse_distance(outline)
    # Outside the outline the shells need 1 mm accuracy; inside, only the sign and rough depth matter.
    head_distance = (ndi.distance_transform_edt(~outline) - depth).astype(np.float32)
    t1_sharp = np.where(brain, t1 + 0.5 * (t1 - ndi.gaussian_filter(t1, 1.0)), 0.0).astype(np.float32)
    return TemplateAnatomy(
        grid=grid,
        t1_sharp=t1_sharp,
        csf=csf,
        gm=gm,
        wm=wm,
        brain_weight=np.clip(ndi.gaussian_filter(brain.astype(np.float32), 0.5), 0.0, 1.0),
        head_distance=head_distance,
        ventricles=ventricle_mask(csf, depth, grid),
    )


def closed_outline(brain: np.ndarray) -> np.ndarray:
    """bool [X, Y, Z]: the envelope the skull follows: the brain mask closed by ~5 mm, hole-filled and
    smoothed (Gaussian 3 mm, threshold 0.3), which also fills the shallow midline notches."""
    pad = OUTLINE_CLOSING_MM + 1
    structure = ndi.generate_binary_structure(3, 1)
    closed = ndi.binary_closing(np.pad(brain, pad), structure, iterations=OUTLINE_CLOSING_MM)
    closed = ndi.binary_fill_holes(closed)[pad:-pad, pad:-pad, pad:-pad]
    return ndi.gaussian_filter(closed.astype(np.float32), OUTLINE_SMOOTHING_MM) > 0.3


def ventricle_mask(csf: np.ndarray, depth: np.ndarray, grid: Grid) -> np.ndarray:
    """bool [X, Y, Z]: CSF (> 0.2) deeper than 14 mm inside the brain outline (``depth``, mm), within the
    ventricle box, in connected components of at least 300 mm^3 (drops the midline fissure and small
    sulcal bits)."""
    box = np.ones(csf.shape, bool)
    for axis, (name, coordinate) in enumerate(zip("xyz", grid.axis_coordinates(), strict=True)):
        coordinate = np.abs(coordinate) if name == "x" else coordinate
        low, high = VENTRICLE_BOX_MM[name]
        inside = (coordinate >= low) & (coordinate <= high)
        box &= np.expand_dims(inside, [a for a in range(3) if a != axis])
    candidates = (csf > VENTRICLE_MIN_CSF) & box & (depth > VENTRICLE_MIN_DEPTH_MM)
    components, count = ndi.label(candidates)
    volumes = ndi.sum_labels(candidates, components, np.arange(1, count + 1))
    return np.isin(components, 1 + np.flatnonzero(volumes >= VENTRICLE_MIN_VOLUME_MM3))


def coarse_distance(mask: np.ndarray, step: int = 2) -> np.ndarray:
    """float32 [X, Y, Z]: distance (mm, 1 mm voxels) from each voxel inside ``mask`` to the nearest voxel
    outside it, computed on a ``step``-times coarser grid and repeated back (``step**3`` times fewer voxels; accurate
    to about ``step`` mm, used only for depth thresholds and weights)."""
    coarse = ndi.distance_transform_edt(mask[::step, ::step, ::step], sampling=step).astype(np.float32)
    for axis, n in enumerate(mask.shape):
        coarse = np.repeat(coarse, step, axis=axis).take(np.arange(n), axis=axis)
    return coarse
