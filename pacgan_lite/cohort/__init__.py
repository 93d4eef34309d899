"""Synthetic AD/CN cohort of 256 mm axial T1 slices made offline from the ICBM152 2009a template.

Subjects are smooth diffeomorphic warps of the template with age- and disease-driven ventricle
enlargement and cortical atrophy, a procedural skull and scalp, MR acquisition effects and PACGAN's
per-image scaling; the hidden disease severity is kept as ground truth.
"""

from .generate import Cohort, make_cohort, separability
from .heads3d import make_raw_heads
from .params import CohortParams

__all__ = ["Cohort", "CohortParams", "make_cohort", "make_raw_heads", "separability"]
