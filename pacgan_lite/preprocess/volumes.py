"""Read a T1 NIfTI volume of any orientation and voxel size, reoriented to RAS+ voxel axes.

Reorienting (as ``fslreorient2std`` does) only permutes and flips voxel axes and updates the affine: the
world (scanner) coordinates of every voxel stay the same, so no intensity is resampled here.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from .metadata import Problem

_READ_FIX = "re-export the volume as NIfTI-1 (.nii or .nii.gz); the file may be truncated or another format"


def header_problem(path: Path) -> Problem | None:
    """A Problem if ``path`` is not a readable NIfTI of one 3D volume (header only: fast), else None."""
    try:
        image = nib.load(path)
    except Exception as err:  # nibabel raises many types for corrupt or foreign files
        return Problem(path, "(file)", f"cannot be read as NIfTI ({type(err).__name__}: {err})", _READ_FIX)
    shape = image.shape
    if not (len(shape) == 3 or (len(shape) == 4 and shape[3] == 1)) or min(shape[:3], default=0) < 2:
        return Problem(path, "shape", f"is {shape}, not one 3D volume",
                       "give one 3D T1 volume per file (split 4D series, keep the T1 frame)")
    header = image.header
    if "sform_code" in header and int(header["sform_code"]) == 0 and int(header["qform_code"]) == 0:
        # nibabel then guesses an orientation; a wrong left-right guess mirrors the brain, and the
        # nearly symmetric template would not flag it in QC.
        return Problem(path, "sform_code/qform_code", "both are 0: the header does not say how the voxels lie "
                       "in the head", "re-export the volume from DICOM (e.g. dcm2niix) so the header holds "
                       "its orientation")
    linear = image.affine[:3, :3]
    if not np.isfinite(image.affine).all() or abs(np.linalg.det(linear)) < 1e-6:
        return Problem(path, "affine", "is not finite or is singular (zero voxel size)",
                       "re-export the volume from DICOM so the header holds its voxel size and orientation")
    return None


def read_volume(path: str | Path) -> nib.Nifti1Image:
    """The volume as float32 ``[I, J, K]`` with RAS+ voxel axes (i grows towards the patient's right, j
    towards anterior, k towards superior; :func:`nibabel.as_closest_canonical`), world mm unchanged.

    Raises an InputError if the file is not a readable, finite, non-empty 3D NIfTI.
    """
    path = Path(path)
    problem = header_problem(path)
    if problem is not None:
        raise problem.error()
    image = nib.as_closest_canonical(nib.load(path))
    try:
        data = np.asarray(image.get_fdata(dtype=np.float32)).reshape(image.shape[:3])
    except Exception as err:  # truncated data only fail when read
        raise Problem(path, "(file)", f"image data cannot be read ({type(err).__name__}: {err})", _READ_FIX).error() from err
    if not np.isfinite(data).all() or data.max() <= data.min():
        raise Problem(path, "intensities", "NaN/Inf values or a constant image",
                      "check the export; a T1 volume has finite, varying intensities").error()
    return nib.Nifti1Image(data, image.affine)
