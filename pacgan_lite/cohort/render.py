"""Render one axial session slice by pull-back sampling of the template: out(p) = template(phi(p)).

phi = A o exp(w): A is the residual 9-DOF registration error of the session (output plane -> template
mm) and w = A_lin^-1 v(A p) is the subject's velocity seen from the output frame, so that
exp(v) o A = A o exp(w). Integrating w on a grid aligned with the output plane keeps the slab thin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial.transform import Rotation
from skimage.transform import resize

from .deform import exp_velocity, random_velocity, smooth_noise
from .fields import MAP_NAMES, VELOCITY_SPACING_MM, SliceFields, slice_fields
from .grid import Grid, apply_affine, sample
from .head import head_intensity
from .params import CohortParams
from .subjects import (
    STREAM_SESSION_NOISE,
    STREAM_SUBJECT_FIELDS,
    SessionSpec,
    SubjectPlan,
    SubjectSpec,
    keyed_rng,
)

FIELD_OF_VIEW_PX = 256  # 1 mm pixels over a 256 mm field of view
WM_LEVEL = 0.87  # template WM intensity; the SNR refers to it
ROTATION_CENTRE_Y_MM = -18.0
VELOCITY_BOX_MM = ((-104.0, 104.0), (-142.0, 110.0))  # output-plane x, y range covering the whole head
HEAD_NOISE_SIGMA_MM = (12.0, 2.0)  # thickness noise, marrow texture
SULCAL_VARIATION_SIGMA_MM, SULCAL_VARIATION_MM = 8.0, 0.7  # smoothness and RMS of local sulcal opening


@dataclass(frozen=True)
class SubjectFields:
    """A subject's random template-space fields on ``SliceFields.coarse_grid`` (2 mm).

    Attributes:
        velocity: float32 [3, X, Y, Z] mm, v_rand plus the subject's (spatially varying) sulcal
            opening times v_cort.
        thickness_noise: float32 [2, X, Y, Z], unit-RMS noise for diploe and fat thickness.
        texture_noise: float32 [X, Y, Z], unit-RMS noise for the marrow texture.
    """

    velocity: np.ndarray
    thickness_noise: np.ndarray
    texture_noise: np.ndarray


def render_subject(plan: SubjectPlan, params: CohortParams) -> np.ndarray:
    """float32 [n_sessions, size, size] in [-1, 1]: every session of one subject."""
    fields = slice_fields(float(params.slice_z_mm))
    subject_random = subject_fields(fields, plan.subject, params.seed)
    return np.stack(
        [
            render_session(
                fields,
                plan.subject,
                subject_random,
                session,
                params.size,
                params.skull,
                keyed_rng(params.seed, STREAM_SESSION_NOISE, plan.subject.index, session.session),
            )
            for session in plan.sessions
        ]
    )


def subject_fields(fields: SliceFields, subject: SubjectSpec, seed: int) -> SubjectFields:
    """Draw the subject's random fields (same for all its sessions) from its keyed generator."""
    rng = keyed_rng(seed, STREAM_SUBJECT_FIELDS, subject.index)
    grid = fields.coarse_grid
    # Sulci open by a subject-specific, spatially varying amount, so the folding pattern differs.
    sulcal_opening = subject.sulcal_opening_mm + smooth_noise(
        rng, grid.shape, [(SULCAL_VARIATION_SIGMA_MM / VELOCITY_SPACING_MM, SULCAL_VARIATION_MM)], 1
    )
    velocity = random_velocity(rng, grid) + sulcal_opening * fields.cortical_velocity
    thickness_sigma, texture_sigma = (sigma / VELOCITY_SPACING_MM for sigma in HEAD_NOISE_SIGMA_MM)
    return SubjectFields(
        velocity=velocity.astype(np.float32),
        thickness_noise=smooth_noise(rng, grid.shape, [(thickness_sigma, 1.0)], 2),
        texture_noise=smooth_noise(rng, grid.shape, [(texture_sigma, 1.0)], 1)[0],
    )


def registration_affine(session: SessionSpec, slice_z_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """(L [3, 3], t [3]) with A(p) = L p + t mapping output-plane mm to template mm.

    A rotates (x, y, z Euler angles) and scales about (0, -18, slice_z) and then shifts.
    """
    linear = Rotation.from_euler("xyz", session.rotation_deg, degrees=True).as_matrix() @ np.diag(
        session.scale
    )
    centre = np.array([0.0, ROTATION_CENTRE_Y_MM, slice_z_mm])
    return linear, centre - linear @ centre + np.asarray(session.shift_mm)


def plane_points(render_px: int, slice_z_mm: float) -> np.ndarray:
    """float64 [R, R, 3]: MNI mm of the pixel centres of an R x R rendering of the 256 mm field of view.

    Pixel (a, b) of the 256 grid is (x, y) = (-1 - (a - 128), -17 + (b - 128)); an R grid has pixels
    of 256/R mm whose centres sit at a = (i + 0.5) * 256/R - 0.5.
    """
    pixel = FIELD_OF_VIEW_PX / render_px
    a = (np.arange(render_px) + 0.5) * pixel - 0.5
    x, y = np.meshgrid(127.0 - a, a - 145.0, indexing="ij")
    return np.stack([x, y, np.full_like(x, slice_z_mm)], axis=-1)


def render_size(size: int) -> int:
    """Rendering resolution for output ``size``: twice the output (at least 64, at most 256) so that the
    final anti-aliased resize does the averaging a 256 -> size pyramid step would do."""
    return min(FIELD_OF_VIEW_PX, max(2 * size, 64))


def render_session(
    fields: SliceFields,
    subject: SubjectSpec,
    subject_random: SubjectFields,
    session: SessionSpec,
    size: int,
    skull: bool,
    rng: np.random.Generator,
) -> np.ndarray:
    """float32 [size, size] in [-1, 1]: one session's slice, scaled per image as PACGAN does."""
    render_px = render_size(size)
    points = plane_points(render_px, fields.slice_z_mm)
    template_points = warp_points(fields, subject, subject_random, session, points)
    maps = dict(
        zip(MAP_NAMES, np.moveaxis(sample(fields.maps, fields.grid, template_points), -1, 0), strict=True)
    )
    csf_offset, gm_offset, wm_offset = session.tissue_offsets
    brain = (
        maps["t1_sharp"]
        + csf_offset * maps["csf"]
        + gm_offset * maps["gm"]
        + (wm_offset - session.wm_darkening) * maps["wm"]
    )
    head = 0.0
    if skull:
        thickness = sample(subject_random.thickness_noise, fields.coarse_grid, template_points)
        texture = sample(subject_random.texture_noise, fields.coarse_grid, template_points)
        head = head_intensity(maps["head_distance"], template_points, subject.head, thickness, texture)
    image = maps["brain_weight"] * brain + (1.0 - maps["brain_weight"]) * head
    image = acquire(image, points, session, rng)
    scaled = pacgan_scale(quantize_uint8(image, session.headroom))
    if render_px != size:
        scaled = resize(scaled, (size, size), order=1, anti_aliasing=True, preserve_range=True)
    return scaled.astype(np.float32)


def warp_points(
    fields: SliceFields,
    subject: SubjectSpec,
    subject_random: SubjectFields,
    session: SessionSpec,
    points: np.ndarray,
) -> np.ndarray:
    """[..., 3] template mm phi(p) = A(p + u(p)) for output-plane points ``points`` [..., 3]."""
    linear, offset = registration_affine(session, fields.slice_z_mm)
    velocity = template_velocity(fields, subject, subject_random, session)
    # The output-frame grid only needs to be as thick as the z displacements (the tilt mixes in up to
    # ~15 % of the in-plane speed), plus one voxel; rarer excursions read the slab's edge layer.
    speed_z = np.abs(velocity[2]) + 0.15 * np.sqrt(velocity[0] ** 2 + velocity[1] ** 2)
    peak_z = float(np.percentile(speed_z, 99.5))
    half_levels = int(np.ceil(min(peak_z + VELOCITY_SPACING_MM, 16.0) / VELOCITY_SPACING_MM))
    (x0, x1), (y0, y1) = VELOCITY_BOX_MM
    grid = Grid.axis_aligned(
        (x0, y0, fields.slice_z_mm - half_levels * VELOCITY_SPACING_MM),
        VELOCITY_SPACING_MM,
        (
            round((x1 - x0) / VELOCITY_SPACING_MM) + 1,
            round((y1 - y0) / VELOCITY_SPACING_MM) + 1,
            2 * half_levels + 1,
        ),
    )
    to_template = np.eye(4)
    to_template[:3, :3], to_template[:3, 3] = linear, offset
    velocity_here = sample(velocity, fields.coarse_grid, apply_affine(to_template, grid.world_points()))
    to_output = np.eye(4)
    to_output[:3, :3] = np.linalg.inv(linear)  # template-frame vectors -> output-frame vectors
    output_velocity = np.moveaxis(apply_affine(to_output, velocity_here), -1, 0)
    displacement = exp_velocity(np.ascontiguousarray(output_velocity), VELOCITY_SPACING_MM)
    return apply_affine(to_template, points + sample(displacement, grid, points))


def template_velocity(
    fields: SliceFields, subject: SubjectSpec, subject_random: SubjectFields, session: SessionSpec
) -> np.ndarray:
    """float32 [3, X, Y, Z] mm on the coarse template grid: v_rand + a_vent v_vent + a_cort v_cort.

    The ventricle term is (1 +- asymmetry) on the left/right side.
    """
    x = fields.coarse_grid.axis_coordinates()[0][:, None, None]
    side = 1.0 + subject.ventricle_asymmetry * np.tanh(x / 4.0)
    return (
        subject_random.velocity
        + (session.a_vent_mm * side).astype(np.float32) * fields.ventricle_velocity
        + np.float32(session.a_cort_mm) * fields.cortical_velocity
    )


def acquire(
    image: np.ndarray, points: np.ndarray, session: SessionSpec, rng: np.random.Generator
) -> np.ndarray:
    """Apply bias field, point-spread blur and spatially correlated Rician noise to an R x R image."""
    pixel_mm = FIELD_OF_VIEW_PX / image.shape[0]
    u = points[..., 0] / 128.0
    v = (points[..., 1] + 17.0) / 128.0
    bias = 1.0 + sum(
        c * term for c, term in zip(session.bias_coeffs, (u, v, u * u, v * v, u * v), strict=True)
    )
    image = ndi.gaussian_filter(image * bias, session.blur_mm / pixel_mm)
    # The noise is defined at 1 mm; on coarser pixels it is the block average, whose SD falls once the
    # pixel outgrows the noise's correlation area (4 pi corr^2).
    sigma = WM_LEVEL / session.snr * min(1.0, np.sqrt(4.0 * np.pi) * session.noise_corr_mm / pixel_mm)
    noise = smooth_noise(rng, image.shape, [(session.noise_corr_mm / pixel_mm, 1.0)], 2)
    return np.sqrt((image + sigma * noise[0]) ** 2 + (sigma * noise[1]) ** 2)


def quantize_uint8(image: np.ndarray, headroom: float) -> np.ndarray:
    """uint8 image as after FreeSurfer conform: 255 at ``headroom`` times the 99.9th percentile."""
    top = max(float(np.percentile(image, 99.9)) * headroom, 1e-6)
    return np.round(np.clip(image / top * 255.0, 0.0, 255.0)).astype(np.uint8)


def pacgan_scale(image: np.ndarray) -> np.ndarray:
    """PACGAN's per-image scaling x' = (x - m/2) / (m/2), m = the image maximum: 0 -> -1, m -> +1."""
    half = max(float(image.max()), 1.0) / 2.0
    return (image.astype(np.float32) - half) / half
