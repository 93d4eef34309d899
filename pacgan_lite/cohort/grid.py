"""Regular 3D grids in world millimetres and trilinear sampling on them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi


@dataclass(frozen=True)
class Grid:
    """A regular voxel grid: ``shape`` (X, Y, Z) and ``affine`` (4x4, voxel index -> world mm)."""

    affine: np.ndarray
    shape: tuple[int, int, int]

    @classmethod
    def axis_aligned(cls, start_mm, spacing_mm: float, shape) -> Grid:
        """Grid whose voxel (0, 0, 0) sits at ``start_mm`` (3,) with isotropic ``spacing_mm``."""
        affine = np.eye(4)
        affine[:3, :3] *= spacing_mm
        affine[:3, 3] = start_mm
        return cls(affine=affine, shape=tuple(int(n) for n in shape))

    def crop(self, lower, upper) -> Grid:
        """Sub-grid of voxels lower..upper-1 (each a 3-sequence of indices)."""
        lower = np.asarray(lower)
        affine = self.affine.copy()
        affine[:3, 3] = self.affine[:3, :3] @ lower + self.affine[:3, 3]
        return Grid(affine=affine, shape=tuple(int(n) for n in np.asarray(upper) - lower))

    def subsample(self, step: int) -> Grid:
        """Every ``step``-th voxel along each axis (the grid of ``volume[::step, ::step, ::step]``)."""
        affine = self.affine.copy()
        affine[:3, :3] *= step
        return Grid(affine=affine, shape=tuple(-(-n // step) for n in self.shape))

    def to_index(self, points_mm: np.ndarray) -> np.ndarray:
        """[..., 3] world mm -> [3, ...] continuous voxel indices (coordinate-first, as map_coordinates
        wants them). Written out per component: a (N, 3) @ (3, 3) matmul is several times slower."""
        inverse = np.linalg.inv(self.affine)
        dtype = np.float32 if points_mm.dtype == np.float32 else np.float64
        components = [points_mm[..., axis] for axis in range(3)]
        return np.stack(
            [
                sum(
                    dtype(inverse[row, axis]) * components[axis]
                    for axis in range(3)
                    if inverse[row, axis] != 0
                )
                + dtype(inverse[row, 3])
                for row in range(3)
            ]
        )

    def axis_coordinates(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """World mm along each axis (three 1-D arrays); only for grids without rotation."""
        if np.count_nonzero(self.affine[:3, :3] - np.diag(np.diag(self.affine[:3, :3]))):
            raise ValueError("axis_coordinates needs an axis-aligned grid")
        return tuple(self.affine[a, a] * np.arange(n) + self.affine[a, 3] for a, n in enumerate(self.shape))

    def world_points(self) -> np.ndarray:
        """float64 [X, Y, Z, 3]: world mm of every voxel centre."""
        index = np.stack(np.meshgrid(*[np.arange(n) for n in self.shape], indexing="ij"), axis=-1)
        return apply_affine(self.affine, index.astype(np.float64))


def apply_affine(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    """[..., 3] points mapped by a 4x4 affine, in the points' float dtype.

    Written out per component: a (N, 3) @ (3, 3) matmul is several times slower.
    """
    affine = affine.astype(points.dtype)
    return np.stack(
        [
            sum(affine[row, axis] * points[..., axis] for axis in range(3)) + affine[row, 3]
            for row in range(3)
        ],
        axis=-1,
    )


def sample(volume: np.ndarray, grid: Grid, points_mm: np.ndarray, cval: float | None = None) -> np.ndarray:
    """Trilinear samples of ``volume`` (on ``grid``) at ``points_mm``.

    Args:
        volume: [X, Y, Z] or channel-first [C, X, Y, Z] values on ``grid`` (channel-first keeps each
            channel contiguous, so map_coordinates does not copy it).
        grid: the grid of ``volume``.
        points_mm: [..., 3] world coordinates.
        cval: value outside the grid; None repeats the nearest edge voxel.

    Returns:
        float32 [...] or [..., C].
    """
    coords = grid.to_index(points_mm)
    mode, fill = ("nearest", 0.0) if cval is None else ("constant", cval)
    channels = volume[None] if volume.ndim == 3 else volume
    out = [
        ndi.map_coordinates(channel, coords, order=1, mode=mode, cval=fill, output=np.float32)
        for channel in channels
    ]
    return out[0] if volume.ndim == 3 else np.stack(out, axis=-1)
