"""CohortParams: the user-facing knobs of the synthetic AD/CN cohort, validated on construction."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

MIN_SIZE, MAX_SIZE = 4, 256
SLICE_Z_RANGE_MM = (-20.0, 60.0)
MAX_EFFECT = 4.0
MAX_SESSIONS = 10


@dataclass(frozen=True)
class CohortParams:
    """Parameters of :func:`pacgan_lite.cohort.make_cohort`.

    Attributes:
        n_subjects: number of subjects, half CN and half AD (an odd count gives one more CN); >= 2.
        size: output image side in pixels, a power of two in 4..256. The field of view is always 256 mm,
            so a pixel is 256/size mm.
        seed: non-negative integer; the cohort is a deterministic function of all parameters.
        effect: scales the disease-related atrophy, 0..4; 0 removes the class signal from atrophy.
        slice_z_mm: MNI z of the axial slice, -20..60 mm; +18 mm is PACGAN's "axial slice 127".
        age_mismatch: True draws AD ages N(73.5, 8) and CN ages N(76.5, 5.5) (AD younger, as in ADNI
            before matching); False draws both from N(75, 6.5).
        skull: render skull, scalp and temporalis around the brain; False gives a skull-stripped look.
        max_sessions: each subject has 1..max_sessions sessions one year apart, max_sessions in 1..10.
    """

    n_subjects: int = 200
    size: int = 256
    seed: int = 0
    effect: float = 1.0
    slice_z_mm: float = 18.0
    age_mismatch: bool = True
    skull: bool = True
    max_sessions: int = 3

    def __post_init__(self) -> None:
        _require_int("n_subjects", self.n_subjects)
        if self.n_subjects < 2:
            raise ValueError(f"n_subjects must be >= 2 (at least one CN and one AD), got {self.n_subjects}")
        _require_int("size", self.size)
        if not (MIN_SIZE <= self.size <= MAX_SIZE and self.size & (self.size - 1) == 0):
            raise ValueError(f"size must be a power of two in {MIN_SIZE}..{MAX_SIZE}, got {self.size}")
        _require_int("seed", self.seed)
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        _require_real("effect", self.effect)
        if not 0.0 <= self.effect <= MAX_EFFECT:
            raise ValueError(f"effect must be in 0..{MAX_EFFECT}, got {self.effect}")
        _require_real("slice_z_mm", self.slice_z_mm)
        low, high = SLICE_Z_RANGE_MM
        if not low <= self.slice_z_mm <= high:
            raise ValueError(f"slice_z_mm must be in {low}..{high} mm (MNI z), got {self.slice_z_mm}")
        for name in ("age_mismatch", "skull"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        _require_int("max_sessions", self.max_sessions)
        if not 1 <= self.max_sessions <= MAX_SESSIONS:
            raise ValueError(f"max_sessions must be in 1..{MAX_SESSIONS}, got {self.max_sessions}")


def _require_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")


def _require_real(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
