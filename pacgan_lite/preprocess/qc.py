"""Quality control of a registration: one record per volume, flags for suspicious fits, and a figure.

A failed 9-DOF fit shows as a low similarity to the template (a head rotated or shifted by more than a
few mm, or a scan that is not a T1 head) or as an implausible scale (an adult head differs from MNI152
by well under 20 % per axis). Good fits of the kit's synthetic heads reach a similarity of 0.85-0.89;
the flags catch clear failures, and the figure lets a person judge the rest.
"""

from __future__ import annotations

import functools

import matplotlib.pyplot as plt
import nibabel as nib
import numpy as np

from ..cohort.template import load_template
from ..plots import show_slice
from .register import Registration, conform
from .slices import slice_z_mm

MIN_SIMILARITY = 0.7
SCALE_RANGE = (0.8, 1.25)
CONTOUR_LEVELS = (0.1, 0.77)  # template T1 (0..1): brain outline; grey/white matter boundary


def qc_flags(registration: Registration) -> list[str]:
    """Why a registration looks wrong (an empty list when it looks fine)."""
    flags = []
    if not registration.similarity >= MIN_SIMILARITY:
        flags.append(f"similarity {registration.similarity:.2f} < {MIN_SIMILARITY}")
    low, high = SCALE_RANGE
    for axis, scale in zip("xyz", registration.scale, strict=True):
        if not low <= scale <= high:
            flags.append(f"scale_{axis} {scale:.2f} outside {low}..{high}")
    return flags


def qc_record(file: str, registration: Registration) -> dict:
    """One qc.csv row: the fitted parameters (the cohort's pose convention), similarity, time and flags."""
    return {
        "file": file,
        "similarity": round(registration.similarity, 4),
        **{f"rot_{a}_deg": round(v, 3) for a, v in zip("xyz", registration.rotation_deg, strict=True)},
        **{f"trans_{a}_mm": round(v, 3) for a, v in zip("xyz", registration.translation_mm, strict=True)},
        **{f"scale_{a}": round(v, 5) for a, v in zip("xyz", registration.scale, strict=True)},
        "iterations": registration.iterations,
        "seconds": round(registration.seconds, 2),
        "flags": "; ".join(qc_flags(registration)),
    }


@functools.lru_cache(maxsize=4)
def template_slice(slice_index: int) -> np.ndarray:
    """float32 [256, 256]: the template T1 (0..1) on axial slice ``slice_index`` of the cube."""
    template = load_template()
    return conform(nib.Nifti1Image(template.t1, template.affine), np.eye(4), [slice_index])[:, :, 0]


def draw_qc(ax, image: np.ndarray, slice_index: int, title: str | None = None) -> None:
    """``image`` [W, H] in [-1, 1] (a registered slice) with the template's outline and grey/white
    boundary drawn over it: after a good fit they follow the brain's edge and its white matter."""
    show_slice(ax, image, title)
    ax.contour(template_slice(slice_index).T, levels=CONTOUR_LEVELS, colors=["tab:red", "gold"],
               linewidths=0.7, origin="lower")


def qc_figure(image: np.ndarray, slice_index: int, file: str, record: dict) -> plt.Figure:
    """One volume's QC figure: its slice with the template contours and its fitted parameters."""
    fig, ax = plt.subplots(figsize=(3.4, 3.8))
    flags = record["flags"] or "no flags"
    draw_qc(ax, image, slice_index, f"{file}\nslice {slice_index} (z = {slice_z_mm(slice_index):+g} mm)")
    ax.text(0.5, -0.04, f"similarity {record['similarity']:.2f}; {flags}", transform=ax.transAxes,
            ha="center", va="top", fontsize=7)
    fig.tight_layout()
    return fig
