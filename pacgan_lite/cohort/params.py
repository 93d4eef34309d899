"""CohortParams: the user-facing knobs of the synthetic AD/CN cohort, validated on construction."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from ..schedule import is_resolution

MIN_SIZE, MAX_SIZE = 4, 256
SLICE_Z_RANGE_MM = (-20.0, 60.0)
MAX_EFFECT = 4.0
MAX_SESSIONS = 10


class CohortParamsError(ValueError):
    """A bad :class:`CohortParams` value: the field, what is wrong with it and how to fix it."""

    def __init__(self, field: str, problem: str, fix: str):
        self.field, self.problem, self.fix = field, problem, fix
        super().__init__(f"{field} {problem}. Fix: {fix}")

    def __reduce__(self):
        return self.__class__, (self.field, self.problem, self.fix)


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

    Raises:
        CohortParamsError: a value out of its range or of the wrong type (a ``ValueError`` naming the field).
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
            raise CohortParamsError("n_subjects", f"must be >= 2 (at least one CN and one AD), got "
                                    f"{self.n_subjects}", "give at least 2 subjects")
        _require_int("size", self.size)
        if not (MIN_SIZE <= self.size <= MAX_SIZE and is_resolution(self.size)):
            sizes = [MIN_SIZE * 2**k for k in range(int(math.log2(MAX_SIZE // MIN_SIZE)) + 1)]
            raise CohortParamsError("size", f"must be a power of two in {MIN_SIZE}..{MAX_SIZE}, got {self.size}",
                                    f"choose one of {', '.join(map(str, sizes))}")
        _require_int("seed", self.seed)
        if self.seed < 0:
            raise CohortParamsError("seed", f"must be >= 0, got {self.seed}", "give a non-negative integer")
        _require_real("effect", self.effect)
        if not 0.0 <= self.effect <= MAX_EFFECT:
            raise CohortParamsError("effect", f"must be in 0..{MAX_EFFECT}, got {self.effect}",
                                    f"give a value from 0 (no atrophy signal) to {MAX_EFFECT}")
        _require_real("slice_z_mm", self.slice_z_mm)
        low, high = SLICE_Z_RANGE_MM
        if not low <= self.slice_z_mm <= high:
            raise CohortParamsError("slice_z_mm", f"must be in {low}..{high} mm (MNI z), got {self.slice_z_mm}",
                                    "give an MNI z in that range")
        for name in ("age_mismatch", "skull"):
            if not isinstance(getattr(self, name), bool):
                raise CohortParamsError(name, f"must be True or False, got {getattr(self, name)!r}", "give a bool")
        _require_int("max_sessions", self.max_sessions)
        if not 1 <= self.max_sessions <= MAX_SESSIONS:
            raise CohortParamsError("max_sessions", f"must be in 1..{MAX_SESSIONS}, got {self.max_sessions}",
                                    f"give 1 to {MAX_SESSIONS} sessions")


def _require_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise CohortParamsError(name, f"must be an integer, got {value!r}", "give a whole number")


def _require_real(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise CohortParamsError(name, f"must be a finite number, got {value!r}", "give a finite number")
