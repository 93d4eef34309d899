"""9-DOF linear registration of a T1 volume to the MNI152 template (SimpleITK), as FSL ``flirt -dof 9``.

The model is the cohort's pose convention (:func:`pacgan_lite.cohort.heads3d.make_raw_heads`):
``mni_to_head = T(t) @ R @ S`` maps MNI mm (RAS) to the volume's world mm (RAS), S = diag(scale) along
the MNI axes, R = Rz @ Ry @ Rx (extrinsic x-y-z Euler angles). ITK's ComposeScaleSkewVersor3DTransform
with its three skew parameters frozen has exactly this matrix R @ S (ITK's ScaleVersor3DTransform does
not: it adds the scale to the rotation matrix instead of multiplying).

Why these choices:

- fixed image = the template, moving image = the head, so the metric is sampled on the template's grid
  inside a mask of the (slightly dilated) brain: the skull and neck of a real head, absent from nilearn's
  brain-extracted template, then cannot pull the scale outwards;
- Mattes mutual information: T1 contrast differs between scanners and the template;
- 2 mm: the images are smoothed and resampled to 2 mm once, then registered at 4 and 2 mm (a 1 mm level
  changes the pose by well under the 1 mm voxel while costing about 8x more); the final resampling of
  the original volume at 1 mm is done once, trilinear, by :func:`conform`.
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass

import nibabel as nib
import numpy as np
import SimpleITK as sitk
from scipy import ndimage as ndi
from scipy.spatial.transform import Rotation

from ..cohort.template import load_template
from .slices import CONFORMED_AFFINE, CUBE

REGISTRATION_MM = 2.0
SHRINK_FACTORS = (2, 1)  # levels at 4 and 2 mm
MASK_DILATION_MM = 4  # brain mask margin: keeps the brain/CSF edge, which drives the fit
HISTOGRAM_BINS = 32
SAMPLING_FRACTION = 0.2  # of the masked template voxels; fixed seed, so results are reproducible
SAMPLING_SEED = 1
MAX_ITERATIONS = 200
_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])  # ITK's physical space is LPS; NIfTI world space is RAS


@dataclass(frozen=True)
class Registration:
    """The fitted pose of one volume (see the module docstring for the convention).

    Attributes:
        mni_to_head: float64 [4, 4], MNI mm -> the volume's world mm (RAS).
        rotation_deg: (x, y, z) extrinsic Euler angles of R, degrees.
        translation_mm: (x, y, z) translation, mm.
        scale: (x, y, z) scale along the MNI axes (1 = template size).
        similarity: Pearson correlation of the registered volume with the template inside the template's
            brain (2 mm grid); about 0.9 for a good fit of a T1 head, much lower after a failure.
        iterations: optimizer iterations at the last level.
        seconds: wall time of the registration.
    """

    mni_to_head: np.ndarray
    rotation_deg: tuple[float, float, float]
    translation_mm: tuple[float, float, float]
    scale: tuple[float, float, float]
    similarity: float
    iterations: int
    seconds: float


def decompose(mni_to_head: np.ndarray) -> tuple[tuple, tuple, tuple]:
    """``(rotation_deg, translation_mm, scale)`` of a ``T @ R @ S`` matrix (the inverse of
    :func:`pacgan_lite.cohort.heads3d.pose_matrix`)."""
    linear = mni_to_head[:3, :3]
    scale = np.linalg.norm(linear, axis=0)
    rotation = Rotation.from_matrix(linear / scale).as_euler("xyz", degrees=True)
    return tuple(map(float, rotation)), tuple(map(float, mni_to_head[:3, 3])), tuple(map(float, scale))


def to_sitk(volume: np.ndarray, affine: np.ndarray) -> sitk.Image:
    """A float32 SimpleITK image of ``volume`` [I, J, K] whose physical space is the NIfTI world (in LPS)."""
    image = sitk.GetImageFromArray(np.ascontiguousarray(np.asarray(volume, np.float32).transpose(2, 1, 0)))
    linear = _RAS_TO_LPS @ affine[:3, :3]
    spacing = np.linalg.norm(linear, axis=0)
    image.SetSpacing(spacing.tolist())
    image.SetOrigin((_RAS_TO_LPS @ affine[:3, 3]).tolist())
    image.SetDirection((linear / spacing).ravel().tolist())
    return image


def resample_isotropic(image: sitk.Image, spacing_mm: float) -> sitk.Image:
    """``image`` Gaussian-smoothed (so each axis ends at ``spacing_mm`` resolution) and resampled on a
    grid of ``spacing_mm`` voxels with the same origin and axes."""
    sigmas = [np.sqrt(max(spacing_mm**2 - s**2, 0.0)) / 2.355 for s in image.GetSpacing()]  # FWHM -> sigma
    smooth = sitk.SmoothingRecursiveGaussian(image, sigmas) if max(sigmas) > 0 else image
    size = [int(np.ceil(n * s / spacing_mm)) for n, s in zip(image.GetSize(), image.GetSpacing(), strict=True)]
    return sitk.Resample(smooth, size, sitk.Transform(), sitk.sitkLinear, image.GetOrigin(), [spacing_mm] * 3,
                         image.GetDirection(), 0.0, sitk.sitkFloat32)


@dataclass(frozen=True)
class TemplateTarget:
    """The fixed side of every registration."""

    image: sitk.Image  # template T1 at REGISTRATION_MM
    mask: sitk.Image  # dilated brain, uint8, same grid
    brain: np.ndarray  # bool [K, J, I] (ITK array order): the brain itself, for the similarity
    centre_lps: np.ndarray  # the template's centre of mass, LPS mm


@functools.lru_cache(maxsize=1)
def template_target() -> TemplateTarget:
    """The template prepared for registration, once per process (cached: it takes a moment)."""
    template = load_template()
    brain = template.t1 > 0
    mask = ndi.binary_dilation(brain, iterations=MASK_DILATION_MM)
    image = resample_isotropic(to_sitk(template.t1, template.affine), REGISTRATION_MM)
    mask_image = resample_isotropic(to_sitk(mask, template.affine), REGISTRATION_MM) > 0.5
    brain_array = sitk.GetArrayFromImage(resample_isotropic(to_sitk(brain, template.affine), REGISTRATION_MM)) > 0.5
    return TemplateTarget(image, sitk.Cast(mask_image, sitk.sitkUInt8), brain_array,
                   _RAS_TO_LPS @ _centre_of_mass(template.t1, template.affine))


def _centre_of_mass(volume: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """World mm (RAS) of the intensity centre of mass of ``volume``."""
    index = np.array(ndi.center_of_mass(np.clip(volume, 0.0, None)))
    return affine[:3, :3] @ index + affine[:3, 3]


def register_to_mni(image: nib.Nifti1Image, threads: int | None = None) -> Registration:
    """Fit the 9-DOF pose of ``image`` (a 3D T1 volume, any orientation and voxel size) to MNI152.

    The start aligns the centres of mass (head and template brain differ by a few mm there, well within
    the optimizer's reach); rotations start at 0, which suits heads tilted by up to about 20 degrees.
    ``threads``: ITK threads (default: all cores; give 1 per process when running volumes in parallel).
    """
    started = time.perf_counter()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads or os.cpu_count() or 1)
    target = template_target()
    volume = np.asarray(image.dataobj, dtype=np.float32)
    moving = resample_isotropic(to_sitk(volume, image.affine), REGISTRATION_MM)
    transform = sitk.ComposeScaleSkewVersor3DTransform()
    transform.SetCenter(target.centre_lps.tolist())
    transform.SetTranslation((_RAS_TO_LPS @ _centre_of_mass(volume, image.affine) - target.centre_lps).tolist())
    # A composite wrapper: SimpleITK 2.5 cannot return a bare ComposeScaleSkewVersor3DTransform from Execute.
    composite = sitk.CompositeTransform([transform])
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(HISTOGRAM_BINS)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(SAMPLING_FRACTION, SAMPLING_SEED)
    method.SetMetricFixedMask(target.mask)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(learningRate=2.0, minStep=1e-4, numberOfIterations=MAX_ITERATIONS,
                                                   relaxationFactor=0.5, gradientMagnitudeTolerance=1e-8)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetOptimizerWeights([1.0] * 9 + [0.0] * 3)  # versor, translation, scale; skew stays 0
    method.SetShrinkFactorsPerLevel(list(SHRINK_FACTORS))
    method.SetSmoothingSigmasPerLevel([(f - 1) * REGISTRATION_MM / 2 for f in SHRINK_FACTORS])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    method.SetInitialTransform(composite, inPlace=True)
    fitted = method.Execute(target.image, moving)
    mni_to_head = _ras_matrix(np.array(fitted.GetParameters()), target.centre_lps)
    registered = sitk.GetArrayFromImage(sitk.Resample(moving, target.image, fitted, sitk.sitkLinear, 0.0))
    similarity = float(np.corrcoef(registered[target.brain], sitk.GetArrayFromImage(target.image)[target.brain])[0, 1])
    rotation, translation, scale = decompose(mni_to_head)
    return Registration(mni_to_head, rotation, translation, scale, similarity, int(method.GetOptimizerIteration()),
                        time.perf_counter() - started)


def _ras_matrix(parameters: np.ndarray, centre_lps: np.ndarray) -> np.ndarray:
    """MNI -> head (RAS, 4x4) from ITK's parameters (versor xyz, translation, scale, skew) and centre:
    p_head = M (p - c) + c + t in LPS, M = R(versor) @ diag(scale)."""
    versor = parameters[:3]
    rotation = Rotation.from_quat(np.r_[versor, np.sqrt(max(0.0, 1.0 - versor @ versor))]).as_matrix()
    linear = rotation @ np.diag(parameters[6:9])
    offset = centre_lps + parameters[3:6] - linear @ centre_lps
    matrix = np.eye(4)
    matrix[:3, :3] = _RAS_TO_LPS @ linear @ _RAS_TO_LPS
    matrix[:3, 3] = _RAS_TO_LPS @ offset
    return matrix


def conform(image: nib.Nifti1Image, mni_to_head: np.ndarray, slices: list[int] | None = None) -> np.ndarray:
    """float32 [256, 256, K]: ``image`` resampled once, trilinear, on the 1 mm cube
    (:data:`~pacgan_lite.preprocess.slices.CONFORMED_AFFINE`), at axial ``slices`` (default: all 256).

    Trilinear sampling is point by point, so the slices equal those of the full cube; the pipeline
    resamples only the slices it keeps.
    """
    slices = list(range(CUBE)) if slices is None else list(slices)
    volume = np.asarray(image.dataobj, dtype=np.float32)
    cube_to_voxel = np.linalg.inv(image.affine) @ mni_to_head @ CONFORMED_AFFINE
    out = np.empty((CUBE, CUBE, len(slices)), np.float32)
    for n, k in enumerate(slices):
        offset = cube_to_voxel[:3, :3] @ np.array([0.0, 0.0, k]) + cube_to_voxel[:3, 3]
        plane = ndi.affine_transform(volume, cube_to_voxel[:3, :3], offset=offset, output_shape=(CUBE, CUBE, 1),
                                     order=1, mode="constant", cval=0.0, output=np.float32)
        out[:, :, n] = plane[:, :, 0]
    return out
