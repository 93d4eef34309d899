"""Load the ICBM152 2009a nonlinear-symmetric template that ships inside the nilearn wheel.

The files are read by path, without importing nilearn: its fetchers download data and
``import nilearn.datasets`` alone takes over a second. Nothing here touches the network.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

TEMPLATE_FILES = {
    "t1": "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
    "gm": "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
    "wm": "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz",
}

# Attribution to copy next to anything derived from the template (the MNI/McGill notice asks for it).
TEMPLATE_NOTICE = (
    "ICBM 2009a nonlinear symmetric template: Copyright (C) 1993-2004 Louis Collins, McConnell Brain "
    "Imaging Centre, Montreal Neurological Institute, McGill University."
)


@dataclass(frozen=True)
class Template:
    """The brain-extracted ICBM152 2009a template on its native grid (197x233x189, 1 mm, RAS).

    Attributes:
        t1: float32 [X, Y, Z], T1 intensity scaled to [0, 1] (0 outside the brain; WM is about 0.87).
        gm: float32 [X, Y, Z], grey-matter probability in [0, 1].
        wm: float32 [X, Y, Z], white-matter probability in [0, 1].
        affine: float64 [4, 4], voxel index -> MNI world mm.
    """

    t1: np.ndarray
    gm: np.ndarray
    wm: np.ndarray
    affine: np.ndarray

    @property
    def csf(self) -> np.ndarray:
        """float32 [X, Y, Z]: CSF probability, clip(1 - GM - WM) inside the brain and 0 outside it."""
        return np.where(self.t1 > 0, np.clip(1.0 - self.gm - self.wm, 0.0, 1.0), 0.0).astype(np.float32)


def template_dir() -> Path:
    """Folder of nilearn's bundled data files; raises FileNotFoundError with the fix if nilearn is absent."""
    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"The ICBM152 template file {TEMPLATE_FILES['t1']} ships with nilearn, which is not "
            "installed. Fix: pip install nilearn"
        )
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data"


def template_path(kind: str) -> Path:
    """Path of one template file; kind is "t1", "gm" or "wm". Raises FileNotFoundError if it is missing."""
    path = template_dir() / TEMPLATE_FILES[kind]
    if not path.is_file():
        raise FileNotFoundError(
            f"Template file {path} is missing from the installed nilearn. "
            "Fix: pip install --force-reinstall nilearn"
        )
    return path


@functools.lru_cache(maxsize=1)
def load_template() -> Template:
    """Load T1, GM and WM maps once per process and cache them."""
    images = {kind: nib.load(template_path(kind)) for kind in TEMPLATE_FILES}
    affine = images["t1"].affine
    for kind, image in images.items():
        if image.shape != images["t1"].shape or not np.allclose(image.affine, affine):
            raise ValueError(f"Template file {TEMPLATE_FILES[kind]} does not share the T1 grid")
    maps = {kind: np.asarray(image.dataobj, dtype=np.float32) / 255.0 for kind, image in images.items()}
    return Template(t1=maps["t1"], gm=maps["gm"], wm=maps["wm"], affine=np.asarray(affine, dtype=np.float64))
