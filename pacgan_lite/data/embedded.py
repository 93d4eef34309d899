"""The embedded default data set: the synthetic AD/CN cohort, made on first use and cached under data/."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from .. import __version__
from ..cohort import CohortParams, make_cohort
from ..paths import data_root
from .layout import METADATA_FILE, read_metadata, write_dataset

TRUTH_FILE = "truth.csv"  # hidden ground truth (severity), kept apart from labels.csv on purpose


def hidden_severity(folder: str | Path, ids) -> np.ndarray | None:
    """``[N]`` float64: the hidden disease severity of the images ``ids [N]`` of a data ``folder`` of the
    embedded cohort (its truth file); None for a folder without one (a user's data)."""
    path = Path(folder) / TRUTH_FILE
    if not path.is_file():
        return None
    truth = pd.read_csv(path).set_index("ID")
    return truth.loc[ids, "Severity"].to_numpy(np.float64) if "Severity" in truth.columns else None
DESCRIPTION = (
    "Synthetic AD/CN cohort of axial T1 slices made from the ICBM152 2009a template (nilearn package data) "
    "with known ground truth; see pacgan_lite.cohort. Not real patients: do not compare its FID/KID with ADNI's."
)


def cohort_name(params: CohortParams) -> str:
    """A readable folder name for ``params``, plus a short hash when options beyond the main four differ."""
    name = f"embedded-n{params.n_subjects}-s{params.size}-seed{params.seed}-effect{params.effect:g}"
    defaults = dataclasses.asdict(CohortParams())
    rest = {k: v for k, v in dataclasses.asdict(params).items()
            if k not in ("n_subjects", "size", "seed", "effect") and v != defaults[k]}
    if rest:
        name += "-" + hashlib.sha1(json.dumps(rest, sort_keys=True).encode()).hexdigest()[:8]
    return name


def write_cohort(params: CohortParams, folder: str | Path, workers: int = 0, progress: bool = True,
                 overwrite: bool = False) -> Path:
    """Make the cohort for ``params`` and write it to ``folder`` in the reference layout (+ truth.csv)."""
    if Path(folder).exists() and not overwrite:  # fail before minutes of work, not after
        raise FileExistsError(f"{folder} already exists; choose another output folder or overwrite it")
    cohort = make_cohort(params, workers=workers or None, progress=progress)
    images = cohort.images.transpose(1, 2, 0)[:, :, None, :]  # [N, W, H] -> [W, H, 1, N]
    metadata = {"name": "embedded synthetic AD/CN cohort", "description": DESCRIPTION,
                "cohort_params": dataclasses.asdict(params), "generator_version": __version__}
    return write_dataset(folder, images, cohort.labels, cohort.class_names, metadata=metadata,
                         extra_tables={TRUTH_FILE: cohort.truth}, overwrite=overwrite)


def ensure_cohort(params: CohortParams, root: str | Path | None = None, workers: int = 0,
                  progress: bool = True) -> Path:
    """The cached cohort folder for ``params`` under ``<data>/cohorts/``, made first if missing or stale.

    A cache made by another version of the kit counts as stale: the generator may have changed.
    """
    folder = Path(root or data_root()) / "cohorts" / cohort_name(params)
    if (folder / METADATA_FILE).is_file():
        meta = read_metadata(folder)
        if meta.get("cohort_params") == dataclasses.asdict(params) and meta.get("generator_version") == __version__:
            return folder
    return write_cohort(params, folder, workers=workers, progress=progress, overwrite=True)
