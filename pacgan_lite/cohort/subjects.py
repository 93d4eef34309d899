"""Draw the cohort design: subjects (demographics, hidden severity, anatomy scalars) and their sessions.

Everything here is a scalar drawn from seeded generators; the images are rendered elsewhere. Each
subject and session has its own generator keyed by (seed, stream, subject index[, session]), so a
subject's draws do not depend on how the work is split between processes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .params import CohortParams

# Streams of np.random.SeedSequence(seed, spawn_key=(stream, ...)).
STREAM_LABELS, STREAM_SUBJECT, STREAM_SESSION, STREAM_SUBJECT_FIELDS, STREAM_SESSION_NOISE = range(5)

AGE_RANGE = (55.0, 92.0)  # baseline age; later sessions add one year each
FEMALE_FRACTION = {0: 0.52, 1: 0.45}
VENTRICLE_MM_PER_SEVERITY = 3.8  # a_vent added per unit of severity at effect 1
CORTEX_MM_PER_SEVERITY = 1.6  # a_cort added per unit of severity at effect 1


@dataclass(frozen=True)
class HeadLayers:
    """Thicknesses (mm) of the procedural tissue shells around the brain outline, fixed per subject."""

    extra_axial_csf: float
    inner_table: float
    diploe: float
    outer_table: float
    temporalis: float
    fat: float
    skin: float

    @classmethod
    def draw(cls, rng: np.random.Generator, extra_axial_csf: float) -> HeadLayers:
        """Random shells around a given extra-axial CSF width (the callers draw that width first)."""
        return cls(
            extra_axial_csf=extra_axial_csf,
            inner_table=float(rng.uniform(1.2, 2.0)),
            diploe=float(rng.uniform(1.5, 4.0)),
            outer_table=float(rng.uniform(1.2, 2.0)),
            temporalis=float(rng.uniform(3.0, 8.0)),
            fat=float(rng.uniform(2.0, 5.0)),
            skin=float(rng.uniform(1.2, 2.2)),
        )


@dataclass(frozen=True)
class SubjectSpec:
    """Per-subject scalars, fixed across sessions.

    ``group`` is one of "healthy" (CN, severity 0), "preclinical" (CN with hidden severity > 0),
    "typical_ad" and "atypical_ad" (AD label without an AD-like atrophy pattern).
    """

    index: int
    subject_id: str
    label: int
    sex: str
    baseline_age: float
    group: str
    baseline_severity: float
    progression_per_year: float
    ventricle_scale: float  # log-normal factor on the age-related ventricle enlargement
    cortex_scale: float  # log-normal factor on the age-related cortical atrophy
    ventricle_asymmetry: float  # +x (left) ventricle enlarges by (1 + asymmetry), right by (1 - asymmetry)
    sulcal_opening_mm: float  # subject-specific sulcal width, added to the cortical atrophy field
    z_offset_mm: float  # where this subject's anatomy sits relative to the nominal slice level
    head: HeadLayers


@dataclass(frozen=True)
class SessionSpec:
    """Per-session scalars: the disease state at that visit and the acquisition/registration nuisance.

    ``rotation_deg`` (about x, y, z), ``scale`` and ``shift_mm`` are the residual 9-DOF registration
    error; ``blur_mm`` is the Gaussian sigma of the point-spread blur; ``snr`` is WM signal over the
    noise sigma; ``noise_corr_mm`` the correlation length of the noise; ``headroom`` the factor between
    the image's 99.9th percentile and the uint8 maximum (as in FreeSurfer conform).
    """

    session: int
    age: float
    severity: float
    a_vent_mm: float
    a_cort_mm: float
    rotation_deg: tuple[float, float, float]
    scale: tuple[float, float, float]
    shift_mm: tuple[float, float, float]
    tissue_offsets: tuple[float, float, float]  # added to CSF, GM, WM intensity (WM is about 0.87)
    wm_darkening: float
    bias_coeffs: tuple[float, ...]  # multiplicative bias terms x, y, x^2, y^2, xy over the field of view
    blur_mm: float
    snr: float
    noise_corr_mm: float
    headroom: float


@dataclass(frozen=True)
class SubjectPlan:
    """One subject and its sessions (1..max_sessions, one year apart)."""

    subject: SubjectSpec
    sessions: tuple[SessionSpec, ...]


def keyed_rng(seed: int, *key: int) -> np.random.Generator:
    """Generator for one (stream, subject[, session]) key; independent of every other key."""
    return np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=key))


def atrophy_amplitudes(
    age: float, male: bool, severity: float, effect: float, ventricle_scale: float, cortex_scale: float
) -> tuple[float, float]:
    """Ventricle and cortical atrophy amplitudes (mm) at one session.

    The template comes from young adults, so age alone enlarges the ventricles of elderly controls;
    men have 10 % larger ventricles; the disease adds ``effect * severity`` times a fixed gain.
    """
    age_years = max(age - 25.0, 0.0) / 50.0
    a_vent = 2.6 * age_years**1.6 * (1.10 if male else 1.0) * ventricle_scale
    a_cort = 0.7 * age_years**1.3 * cortex_scale
    return (
        a_vent + effect * VENTRICLE_MM_PER_SEVERITY * severity,
        a_cort + effect * CORTEX_MM_PER_SEVERITY * severity,
    )


def plan_cohort(params: CohortParams) -> list[SubjectPlan]:
    """Draw every subject and session of the cohort; deterministic for ``params``."""
    n_cn = (params.n_subjects + 1) // 2
    labels = np.r_[np.zeros(n_cn, int), np.ones(params.n_subjects - n_cn, int)]
    labels = keyed_rng(params.seed, STREAM_LABELS).permutation(labels)
    plans = []
    for index, label in enumerate(labels):
        subject = _draw_subject(index, int(label), params)
        n_sessions = int(keyed_rng(params.seed, STREAM_SESSION, index).integers(1, params.max_sessions + 1))
        sessions = tuple(
            _draw_session(subject, number, params, keyed_rng(params.seed, STREAM_SESSION, index, number))
            for number in range(1, n_sessions + 1)
        )
        plans.append(SubjectPlan(subject=subject, sessions=sessions))
    return plans


def with_severity(plan: SubjectPlan, severity: float, effect: float) -> SubjectPlan:
    """Copy of ``plan`` with the hidden severity fixed at every session and the amplitudes recomputed."""
    subject = plan.subject
    sessions = tuple(
        dataclasses.replace(
            session,
            severity=severity,
            **dict(
                zip(
                    ("a_vent_mm", "a_cort_mm"),
                    atrophy_amplitudes(
                        session.age,
                        subject.sex == "M",
                        severity,
                        effect,
                        subject.ventricle_scale,
                        subject.cortex_scale,
                    ),
                    strict=True,
                )
            ),
        )
        for session in plan.sessions
    )
    return SubjectPlan(subject=dataclasses.replace(subject, baseline_severity=severity), sessions=sessions)


def _draw_subject(index: int, label: int, params: CohortParams) -> SubjectSpec:
    rng = keyed_rng(params.seed, STREAM_SUBJECT, index)
    sex = "F" if rng.random() < FEMALE_FRACTION[label] else "M"
    if params.age_mismatch:
        mean, sd = (73.5, 8.0) if label == 1 else (76.5, 5.5)
    else:
        mean, sd = 75.0, 6.5
    age = float(np.clip(rng.normal(mean, sd), *AGE_RANGE))
    group, severity, progression = _draw_severity(label, rng)
    head = HeadLayers.draw(rng, extra_axial_csf=float(rng.uniform(0.8, 1.8) + 0.03 * (age - 60.0)))
    return SubjectSpec(
        index=index,
        subject_id=f"S{index:04d}",
        label=label,
        sex=sex,
        baseline_age=age,
        group=group,
        baseline_severity=severity,
        progression_per_year=progression,
        ventricle_scale=float(rng.lognormal(0.0, 0.35)),
        cortex_scale=float(rng.lognormal(0.0, 0.30)),
        ventricle_asymmetry=float(rng.uniform(-0.15, 0.15)),
        sulcal_opening_mm=float(rng.normal(0.0, 0.4)),
        z_offset_mm=float(np.clip(rng.normal(0.0, 2.0), -6.0, 6.0)),
        head=head,
    )


def _draw_severity(label: int, rng: np.random.Generator) -> tuple[str, float, float]:
    """(group, baseline severity, severity gained per year).

    CN: 70 % severity 0, 30 % preclinical |N(0, 0.35)|. AD: 90 % N(0.95, 0.4) floored at 0.05, 10 %
    |N(0, 0.25)| (labelled AD without the atrophy pattern). Typical AD progresses 0.25/y, slower when
    mild; preclinical and atypical cases 0.06/y.
    """
    slow = 0.06 * rng.lognormal(0.0, 0.2)
    if label == 0:
        if rng.random() < 0.7:
            return "healthy", 0.0, 0.0
        return "preclinical", float(abs(rng.normal(0.0, 0.35))), float(slow)
    if rng.random() < 0.9:
        severity = max(0.05, float(rng.normal(0.95, 0.4)))
        return "typical_ad", severity, float(0.25 * min(1.0, severity / 0.8) * rng.lognormal(0.0, 0.2))
    return "atypical_ad", float(abs(rng.normal(0.0, 0.25))), float(slow)


def _truncated_normal(rng: np.random.Generator, sd, size: int) -> np.ndarray:
    """N(0, sd) clipped at 2.5 SD, so the render slab has a bounded thickness."""
    sd = np.asarray(sd, dtype=float)
    return np.clip(rng.normal(0.0, 1.0, size), -2.5, 2.5) * sd


def _draw_session(subject: SubjectSpec, number: int, params: CohortParams, rng) -> SessionSpec:
    age = subject.baseline_age + (number - 1)
    severity = subject.baseline_severity + subject.progression_per_year * (number - 1)
    a_vent, a_cort = atrophy_amplitudes(
        age, subject.sex == "M", severity, params.effect, subject.ventricle_scale, subject.cortex_scale
    )
    shift = _truncated_normal(rng, (1.0, 1.5, 0.5), 3) + (0.0, 0.0, subject.z_offset_mm)
    return SessionSpec(
        session=number,
        age=float(age),
        severity=float(severity),
        a_vent_mm=float(a_vent),
        a_cort_mm=float(a_cort),
        rotation_deg=tuple(float(v) for v in _truncated_normal(rng, (2.5, 1.5, 1.5), 3)),
        scale=tuple(float(v) for v in 1.0 + _truncated_normal(rng, 0.02, 3)),
        shift_mm=tuple(float(v) for v in shift),
        tissue_offsets=tuple(float(v) for v in _truncated_normal(rng, (0.03, 0.03, 0.02), 3)),
        wm_darkening=float(0.003 * max(age - 60.0, 0.0)),
        bias_coeffs=tuple(float(v) for v in rng.uniform(-0.07, 0.07, 5)),
        blur_mm=float(rng.uniform(0.2, 0.6)),
        snr=float(rng.uniform(18.0, 40.0)),
        noise_corr_mm=float(rng.uniform(0.5, 0.9)),
        headroom=float(rng.uniform(1.0, 1.1)),
    )
