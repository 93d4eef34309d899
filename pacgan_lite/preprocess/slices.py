"""The 256^3 1 mm "conformed" MNI grid, its axial slices, and the reference's per-image scaling.

Grid convention (the same as the synthetic cohort, :mod:`pacgan_lite.cohort.render`): voxel (a, b, k)
sits at MNI (x, y, z) = (127 - a, b - 145, k - 109) mm. Axis a runs from the patient's right to left, b
from posterior to anterior and k from inferior to superior (LAS, as after FLIRT to MNI152, ``conform``
and ``fslreorient2std``), so a slice ``[a, b]`` is already ``[W, H]`` in the data layer's convention.
PACGAN's "axial slice 127" is k = 127, i.e. MNI z = +18 mm: it cuts the bodies of the lateral ventricles.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError

CUBE = 256
DEFAULT_SLICE = 127
CONFORMED_AFFINE = np.array(
    [[-1.0, 0.0, 0.0, 127.0], [0.0, 1.0, 0.0, -145.0], [0.0, 0.0, 1.0, -109.0], [0.0, 0.0, 0.0, 1.0]]
)  # voxel (a, b, k) of the 256 cube -> MNI mm


def slice_indices(slice_index: int = DEFAULT_SLICE, n_slices: int = 1) -> list[int]:
    """The ``n_slices`` axial indices centred on ``slice_index`` (for even counts one more below).

    >>> slice_indices(127, 3)
    [126, 127, 128]
    """
    for name, value, low, high in (("slice", slice_index, 0, CUBE - 1), ("n_slices", n_slices, 1, 31)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or not low <= value <= high:
            raise InputError(None, name, f"must be an integer in {low}..{high}, got {value!r}",
                             "the default is slice 127 (MNI z = +18 mm) and 1 slice")
    first = slice_index - n_slices // 2
    if first < 0 or first + n_slices > CUBE:
        raise InputError(None, "n_slices", f"{n_slices} slices around {slice_index} leave the 0..{CUBE - 1} cube",
                         "choose fewer slices or a more central slice")
    return list(range(first, first + n_slices))


def slice_z_mm(slice_index: int) -> float:
    """MNI z (mm) of axial slice ``slice_index`` of the cube (127 -> +18)."""
    return float(CONFORMED_AFFINE[2, 2] * slice_index + CONFORMED_AFFINE[2, 3])


def scale_to_unit(image: np.ndarray) -> np.ndarray:
    """float32 image mapped to [-1, 1] as the reference does: (x - m/2) / (m/2), m = the image's maximum.

    Intensities are non-negative (MR magnitude), so background becomes -1 and the brightest pixel +1.
    """
    image = np.clip(np.asarray(image, dtype=np.float32), 0.0, None)
    half = float(image.max()) / 2.0
    if half <= 0.0:
        raise ValueError("the slice is empty (all zero): the volume does not reach this level")
    return (image - half) / half
