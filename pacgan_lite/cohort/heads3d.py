"""3D mode: whole "raw" T1 head volumes in random 9-DOF poses, with exact ground truth, to exercise
registration to MNI space.

Each volume is the template brain plus the procedural skull and scalp in 3D, optionally warped by a
smooth random subject deformation whose affine part is removed (so the pose stays the exact best
affine fit), then posed, resampled on a voxel grid of a given orientation and voxel size, with a bias
field and Rician noise, stored as uint8 NIfTI.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from scipy.spatial.transform import Rotation
from tqdm.auto import tqdm

from .anatomy import TemplateAnatomy, template_anatomy
from .deform import exp_velocity, smooth_noise
from .grid import Grid, apply_affine, sample
from .head import head_intensity
from .subjects import HeadLayers, keyed_rng

STREAM_RAW_HEADS = 100
ORIENTATIONS = ("RAS", "LPS", "LAS", "ASL", "PIR")  # voxel axis directions, as nibabel axis codes
VOXEL_SIZES_MM = ((1.0, 1.0, 1.0), (1.0, 1.0, 1.3))  # the third voxel axis is the slice direction
HEAD_BOX_MM = ((-96.0, 96.0), (-136.0, 102.0), (-76.0, 112.0))  # MNI box that holds the whole head
SCALP_MM = 24.0  # thickest shell stack outside the brain outline (CSF, skull, temporalis, fat, skin)
FIELD_MARGIN_MM = 8.0
DEFORMATION_GRID_MM = 4.0
DEFORMATION_SIGMA_MM = 20.0
CHUNK_PLANES = 12
AIR_BEYOND_MM = 32.0  # no tissue this far outside the brain outline
_AXIS_OF = {"R": (0, 1.0), "L": (0, -1.0), "A": (1, 1.0), "P": (1, -1.0), "S": (2, 1.0), "I": (2, -1.0)}


def make_raw_heads(
    n_volumes: int,
    out_dir,
    seed: int = 0,
    max_rotation_deg: float = 12.0,
    max_translation_mm: float = 15.0,
    max_scale_change: float = 0.08,
    deform_mm: float = 1.5,
    progress: bool = True,
) -> pd.DataFrame:
    """Write ``raw_head_XXX.nii.gz`` volumes and ``poses.csv`` to ``out_dir``; return the poses table.

    Pose convention: ``mni_to_head = T(t) @ R @ S`` (4x4) maps a point's MNI world coordinates (mm,
    RAS, the template's space) to the raw head's world coordinates (mm, RAS, the space of the NIfTI
    affine). S = diag(scale_x, scale_y, scale_z) scales along the MNI axes, R = Rz @ Ry @ Rx rotates
    about the MNI origin by rot_x_deg, then rot_y_deg, then rot_z_deg (extrinsic x-y-z Euler angles,
    ``scipy.spatial.transform.Rotation.from_euler("xyz", ...)``), and T translates by
    (trans_x_mm, trans_y_mm, trans_z_mm). Hence the voxel of MNI point m is
    ``inv(nifti_affine) @ mni_to_head @ m``, and a 9-DOF registration of the raw head to MNI should
    recover ``head_to_mni = inv(mni_to_head)``. With ``deform_mm`` > 0 the anatomy is also warped
    non-linearly, with the affine part of that warp removed over the brain, so the pose remains the
    best affine fit.

    Volume ``index`` has the voxel orientation ``ORIENTATIONS[index % 5]`` (RAS, LPS, LAS, and axes
    reordered as ASL and PIR) and alternates between isotropic 1 mm voxels and 1 x 1 x 1.3 mm (the
    third voxel axis, the slice direction, is the long one), so every combination occurs by index 9.

    Args:
        n_volumes: number of volumes (>= 1).
        out_dir: output folder (created if needed).
        seed: the volumes are a deterministic function of seed and index.
        max_rotation_deg: rotations are uniform in +-this per axis.
        max_translation_mm: translations are uniform in +-this per axis.
        max_scale_change: scales are uniform in 1 +- this per axis.
        deform_mm: RMS per component of the random subject deformation (20 mm smooth); 0 for none.
        progress: show a tqdm progress bar.

    Returns:
        One row per file: file, orientation (nibabel axis codes of the voxel axes, e.g. "LPS"),
        voxel_i_mm, voxel_j_mm, voxel_k_mm (voxel size along the voxel axes), shape, rot_x_deg,
        rot_y_deg, rot_z_deg, trans_x_mm, trans_y_mm, trans_z_mm, scale_x, scale_y, scale_z,
        mni_to_head and head_to_mni (4x4 as JSON lists of rows), deform_mm, snr.
    """
    if isinstance(n_volumes, bool) or not isinstance(n_volumes, int) or n_volumes < 1:
        raise ValueError(f"n_volumes must be an integer >= 1, got {n_volumes!r}")
    for name, value, high in (
        ("max_rotation_deg", max_rotation_deg, 45.0),
        ("max_translation_mm", max_translation_mm, 50.0),
        ("max_scale_change", max_scale_change, 0.3),
        ("deform_mm", deform_mm, 5.0),
    ):
        if not 0.0 <= value <= high:
            raise ValueError(f"{name} must be in 0..{high}, got {value}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    anatomy = template_anatomy(None)
    brain_points = outline_points(anatomy)
    rows = []
    for index in tqdm(range(n_volumes), desc="raw heads", disable=not progress):
        rng = keyed_rng(seed, STREAM_RAW_HEADS, index)
        rotation = rng.uniform(-max_rotation_deg, max_rotation_deg, 3)
        translation = rng.uniform(-max_translation_mm, max_translation_mm, 3)
        scale = 1.0 + rng.uniform(-max_scale_change, max_scale_change, 3)
        mni_to_head = pose_matrix(rotation, translation, scale)
        orientation = ORIENTATIONS[index % len(ORIENTATIONS)]
        voxel_mm = VOXEL_SIZES_MM[(index // len(ORIENTATIONS) + index) % len(VOXEL_SIZES_MM)]
        grid = raw_grid(brain_points, mni_to_head, orientation, voxel_mm)
        snr = float(rng.uniform(25.0, 45.0))
        volume = render_head_volume(anatomy, grid, mni_to_head, rng, deform_mm, snr)
        name = f"raw_head_{index:03d}.nii.gz"
        image = nib.Nifti1Image(volume, grid.affine)
        image.set_qform(grid.affine, code=1)
        image.set_sform(grid.affine, code=1)
        image.header.set_xyzt_units("mm")
        nib.save(image, out_dir / name)
        rows.append(
            {
                "file": name,
                "orientation": "".join(nib.aff2axcodes(grid.affine)),
                **{f"voxel_{axis}_mm": size for axis, size in zip("ijk", voxel_mm, strict=True)},
                "shape": "x".join(str(n) for n in grid.shape),
                **{f"rot_{axis}_deg": float(v) for axis, v in zip("xyz", rotation, strict=True)},
                **{f"trans_{axis}_mm": float(v) for axis, v in zip("xyz", translation, strict=True)},
                **{f"scale_{axis}": float(v) for axis, v in zip("xyz", scale, strict=True)},
                "mni_to_head": json.dumps(mni_to_head.tolist()),
                "head_to_mni": json.dumps(np.linalg.inv(mni_to_head).tolist()),
                "deform_mm": deform_mm,
                "snr": snr,
            }
        )
    poses = pd.DataFrame(rows)
    poses.to_csv(out_dir / "poses.csv", index=False)
    return poses


def pose_matrix(rotation_deg, translation_mm, scale) -> np.ndarray:
    """4x4 ``T(translation) @ Rz @ Ry @ Rx @ diag(scale)``: MNI world mm -> head world mm."""
    matrix = np.eye(4)
    matrix[:3, :3] = Rotation.from_euler("xyz", rotation_deg, degrees=True).as_matrix() @ np.diag(scale)
    matrix[:3, 3] = translation_mm
    return matrix


def raw_grid(brain_points_mm: np.ndarray, mni_to_head: np.ndarray, orientation: str, voxel_mm) -> Grid:
    """Voxel grid (axes along ``orientation``, voxel sizes ``voxel_mm``) covering the posed head: the
    posed brain-outline points ``brain_points_mm`` [P, 3] (MNI) plus room for the scalp shells."""
    posed = apply_affine(mni_to_head, brain_points_mm)
    margin = SCALP_MM * float(np.abs(np.linalg.eigvals(mni_to_head[:3, :3])).max()) + FIELD_MARGIN_MM
    low, high = posed.min(axis=0) - margin, posed.max(axis=0) + margin
    affine = np.eye(4)
    affine[:3, :3] = 0.0
    shape = []
    for voxel_axis, (letter, size) in enumerate(zip(orientation, voxel_mm, strict=True)):
        world_axis, sign = _AXIS_OF[letter]
        affine[world_axis, voxel_axis] = sign * size
        affine[world_axis, 3] = low[world_axis] if sign > 0 else high[world_axis]
        shape.append(int(np.ceil((high[world_axis] - low[world_axis]) / size)) + 1)
    return Grid(affine=affine, shape=tuple(shape))


def outline_points(anatomy: TemplateAnatomy, step: int = 3) -> np.ndarray:
    """float64 [P, 3]: MNI mm of (every ``step``-th) voxel inside the closed brain outline."""
    inside = anatomy.head_distance[::step, ::step, ::step] <= 0
    return apply_affine(anatomy.grid.subsample(step).affine, np.argwhere(inside).astype(np.float64))


def render_head_volume(
    anatomy: TemplateAnatomy,
    grid: Grid,
    mni_to_head: np.ndarray,
    rng: np.random.Generator,
    deform_mm: float,
    snr: float,
) -> np.ndarray:
    """uint8 [grid.shape]: the posed head sampled on ``grid`` with bias field and Rician noise."""
    layers = HeadLayers.draw(rng, extra_axial_csf=float(rng.uniform(1.5, 3.0)))
    noise_grid = Grid.axis_aligned(
        [b[0] for b in HEAD_BOX_MM],
        DEFORMATION_GRID_MM,
        [round((b[1] - b[0]) / DEFORMATION_GRID_MM) + 1 for b in HEAD_BOX_MM],
    )
    thickness_noise = smooth_noise(rng, noise_grid.shape, [(12.0 / DEFORMATION_GRID_MM, 1.0)], 2)
    texture_noise = smooth_noise(rng, noise_grid.shape, [(1.0, 1.0)], 1)[0]
    displacement = subject_deformation(anatomy, noise_grid, rng, deform_mm) if deform_mm > 0 else None
    bias_coeffs = rng.uniform(-0.07, 0.07, 9)
    head_to_mni = np.linalg.inv(mni_to_head)
    reach = AIR_BEYOND_MM + (float(np.abs(displacement).max()) if displacement is not None else 0.0)
    volume = np.zeros(grid.shape, np.float32)
    for start in range(0, grid.shape[0], CHUNK_PLANES):
        stop = min(start + CHUNK_PLANES, grid.shape[0])
        index = np.stack(
            np.meshgrid(np.arange(start, stop), *[np.arange(n) for n in grid.shape[1:]], indexing="ij"),
            axis=-1,
        ).astype(np.float32)
        world = apply_affine(grid.affine, index)
        mni = apply_affine(head_to_mni, world)
        # Far from the brain there is only air: skip the expensive part there.
        near = sample(anatomy.head_distance, anatomy.grid, mni, cval=1e3) < reach
        points = mni[near]
        if displacement is not None:
            points = points + sample(displacement, noise_grid, points)
        chunk = np.zeros(near.shape, np.float32)
        chunk[near] = _head_intensity(anatomy, points, layers, noise_grid, thickness_noise, texture_noise)
        chunk[near] *= _bias(world[near], mni_to_head, bias_coeffs)
        volume[start:stop] = chunk
    sigma = 0.87 / snr
    noise = rng.standard_normal((2, *grid.shape), dtype=np.float32) * sigma
    volume = np.sqrt((volume + noise[0]) ** 2 + noise[1] ** 2)
    top = float(np.percentile(volume, 99.9)) * 1.05
    return np.round(np.clip(volume / top * 255.0, 0.0, 255.0)).astype(np.uint8)


def subject_deformation(anatomy: TemplateAnatomy, grid: Grid, rng: np.random.Generator, rms_mm: float):
    """float32 [3, X, Y, Z] mm on ``grid``: smooth diffeomorphic displacement whose least-squares affine
    part over the brain is removed (so it does not bias the pose)."""
    spacing = float(grid.affine[0, 0])
    velocity = smooth_noise(rng, grid.shape, [(DEFORMATION_SIGMA_MM / spacing, rms_mm)], 3)
    displacement = exp_velocity(velocity, spacing)
    points = grid.world_points().reshape(-1, 3)
    inside = sample(anatomy.head_distance, anatomy.grid, points, cval=1e3) <= 0
    design = np.c_[points, np.ones(len(points))]
    flat = displacement.reshape(3, -1).T
    coefficients, *_ = np.linalg.lstsq(design[inside], flat[inside], rcond=None)
    return np.ascontiguousarray(
        (flat - design @ coefficients).T.reshape(displacement.shape), dtype=np.float32
    )


def _head_intensity(anatomy, mni, layers, noise_grid, thickness_noise, texture_noise) -> np.ndarray:
    """float32 [P]: T1 intensity (WM ~0.87) at template points ``mni`` [P, 3]."""
    distance = sample(anatomy.head_distance, anatomy.grid, mni, cval=1e3)
    brain_weight = sample(anatomy.brain_weight, anatomy.grid, mni, cval=0.0)
    t1 = sample(anatomy.t1_sharp, anatomy.grid, mni, cval=0.0)
    head = head_intensity(
        distance,
        mni,
        layers,
        sample(thickness_noise, noise_grid, mni),
        sample(texture_noise, noise_grid, mni),
    )
    return brain_weight * t1 + (1.0 - brain_weight) * head


def _bias(world: np.ndarray, mni_to_head: np.ndarray, coeffs: np.ndarray) -> np.ndarray:
    """Smooth multiplicative bias (linear and quadratic terms, +-7 % each) over the head."""
    centre = mni_to_head[:3, 3]
    u = (world - centre) / 100.0
    x, y, z = np.moveaxis(u, -1, 0)
    terms = (x, y, z, x * x, y * y, z * z, x * y, y * z, x * z)
    return 1.0 + sum(c * t for c, t in zip(coeffs, terms, strict=True))
