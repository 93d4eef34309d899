"""From a folder of T1 volumes and a metadata CSV to the kit's training layout, in parallel.

``out_dir`` becomes a data set folder (see :mod:`pacgan_lite.data.layout`), ready for ``pacgan-lite
prepare --data out_dir``::

    Real{s}x{s}.nii.gz   s = 4..256, [W, H, 1, N], one image per kept volume and slice, in [-1, 1]
    labels.csv           ID, Label (CN 0, AD 1), Subject_ID, Age, Sex, Image_ID, File, Slice
    dataset.json         class names and how the slices were made
    qc.csv               per volume: similarity to the template, fitted pose, seconds, flags
    skipped.csv          file, field, reason, fix: bad inputs (with skip_bad) and QC-flagged volumes
    qc/<volume>.png      the slice over the template's contours
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..cohort.template import TEMPLATE_NOTICE
from ..data.layout import write_dataset
from ..errors import DataError, InputError
from .metadata import CLASS_NAMES, Problem, match_volumes
from .qc import qc_figure, qc_record
from .register import Registration, conform, register_to_mni
from .slices import DEFAULT_SLICE, scale_to_unit, slice_indices, slice_z_mm
from .volumes import header_problem, read_volume

QC_FOLDER = "qc"
SKIPPED_COLUMNS = ["file", "field", "reason", "fix"]


@dataclass
class VolumeResult:
    """One preprocessed volume: ``slices`` float32 [256, 256, K] in [-1, 1] (``[W, H]`` each, at the
    axial indices ``slice_numbers``), the registration, and the wall time of the whole step."""

    slices: np.ndarray
    slice_numbers: list[int]
    registration: Registration
    seconds: float


@dataclass
class PreprocessResult:
    """The data set folder, its qc.csv and skipped.csv tables, and each registered file's pose."""

    folder: Path
    qc: pd.DataFrame
    skipped: pd.DataFrame
    registrations: dict[str, Registration]

    @property
    def seconds_per_volume(self) -> float:
        """Mean registration wall time per volume (qc.csv ``seconds``; reading and resampling not included)."""
        return float(self.qc["seconds"].mean()) if len(self.qc) else float("nan")


def preprocess_one(path: str | Path, slice_index: int = DEFAULT_SLICE, n_slices: int = 1,
                   threads: int | None = None) -> VolumeResult:
    """Read, reorient, register (9 DOF) and slice one volume; ``result.seconds`` is its wall time (the
    number ``make bench`` reports per volume). Raises an InputError for an unusable file."""
    started = time.perf_counter()
    numbers = slice_indices(slice_index, n_slices)
    image = read_volume(path)
    registration = register_to_mni(image, threads=threads)
    planes = conform(image, registration.mni_to_head, numbers)
    try:
        slices = np.stack([scale_to_unit(planes[:, :, n]) for n in range(len(numbers))], axis=-1)
    except ValueError as err:
        raise InputError(path, "intensities", f"{err} after registration",
                         "check the QC figure; the volume may not cover the brain at this level") from err
    return VolumeResult(slices, numbers, registration, time.perf_counter() - started)


def preprocess(
    volumes_dir: str | Path,
    metadata_csv: str | Path,
    out_dir: str | Path,
    slice_index: int = DEFAULT_SLICE,
    n_slices: int = 1,
    skip_bad: bool = False,
    workers: int | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> PreprocessResult:
    """Preprocess every volume of ``volumes_dir`` described in ``metadata_csv`` into ``out_dir``.

    Bad inputs raise an InputError naming the file, field and fix. Those found in the metadata and the
    headers (unreadable or non-3D NIfTI, no orientation in the header, a volume without a metadata row, a
    row without a volume, duplicate IDs, unknown groups, missing age, sex or subject) stop the run before
    any registration starts; those found while reading the data or registering (non-finite or empty data,
    a failed registration) stop it then. With ``skip_bad`` they are written to skipped.csv and the run
    goes on with the good volumes. Volumes whose registration is flagged by QC (see
    :mod:`~pacgan_lite.preprocess.qc`) are always left out of the data set and listed in skipped.csv.

    Args:
        slice_index: axial index in the 256 cube (127 = MNI z +18 mm, PACGAN's slice).
        n_slices: slices per volume centred on ``slice_index``; each becomes one image (same subject).
        workers: parallel processes (default: all cores, at most one per volume).
    """
    numbers = slice_indices(slice_index, n_slices)
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:  # found now, not after every registration
        raise FileExistsError(f"{out_dir} already exists; choose another output folder or pass overwrite=True")
    volumes, problems = match_volumes(volumes_dir, metadata_csv)
    header_problems = {path: header_problem(path) for path in volumes["path"]}
    problems += [p for p in header_problems.values() if p is not None]
    readable = np.array([header_problems[p] is None for p in volumes["path"]], dtype=bool)
    volumes = volumes.loc[readable].reset_index(drop=True)
    if problems and not skip_bad:
        raise problems[0].error()
    results, more_problems = _run_all(list(volumes["path"]), slice_index, n_slices, workers, progress, skip_bad)
    problems += more_problems
    if not results:
        raise DataError(Path(volumes_dir), "(volumes)", f"no volume could be preprocessed ({len(problems)} bad "
                        f"inputs, the first: {problems[0].error()})", "fix the inputs, then run again")
    qc = pd.DataFrame([qc_record(path.name, r.registration) for path, r in results.items()])
    for path, flags in zip(results, qc["flags"], strict=True):
        if flags:
            problems.append(Problem(path, "QC", flags, f"look at {QC_FOLDER}/{_figure_name(path)}; fix the input "
                                    "(orientation, a non-T1 scan) or remove the volume"))
    flagged = {p.path for p in problems if p.field == "QC"}
    kept = volumes[volumes["path"].isin(set(results) - flagged)]
    if kept.empty:
        raise DataError(Path(volumes_dir), "(volumes)", "every volume was flagged by QC",
                        "check the inputs (T1 heads, orientation in the NIfTI header)")
    images, labels = _stack(kept, results, numbers)
    skipped = pd.DataFrame([p.as_row() for p in problems], columns=SKIPPED_COLUMNS)
    metadata = {"made_by": "pacgan-lite preprocess", "slice_index": slice_index, "slice_z_mm": slice_z_mm(slice_index),
                "n_slices": n_slices, "registration": "9-DOF (rotation, translation, per-axis scale) to ICBM152 "
                "2009a, Mattes MI, SimpleITK; trilinear resampling to the 256^3 1 mm cube",
                "template_notice": TEMPLATE_NOTICE}
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    # The figures are drawn first, beside the output, and moved in once the data set is written: a failure
    # in either leaves no output folder behind (the layout itself is written all or nothing).
    with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=f".{out_dir.name}.qc-") as scratch:
        figures_dir = Path(scratch) / QC_FOLDER
        figures_dir.mkdir()
        for path, result in results.items():
            record = qc.loc[qc["file"] == path.name].iloc[0].to_dict()
            fig = qc_figure(result.slices[:, :, n_slices // 2], slice_index, path.name, record)
            fig.savefig(figures_dir / _figure_name(path))
            plt.close(fig)
        write_dataset(out_dir, images, labels, list(CLASS_NAMES), metadata=metadata,
                      extra_tables={"qc.csv": qc, "skipped.csv": skipped}, overwrite=overwrite)
        os.replace(figures_dir, out_dir / QC_FOLDER)
    return PreprocessResult(out_dir, qc, skipped, {path.name: r.registration for path, r in results.items()})


def _figure_name(path: Path) -> str:
    return path.name.removesuffix(".gz").removesuffix(".nii") + ".png"


def _run_all(paths, slice_index, n_slices, workers, progress, skip_bad) -> tuple[dict, list[Problem]]:
    """``{path: VolumeResult}`` for the volumes that worked, and a Problem for each that did not."""
    workers = min(workers or os.cpu_count() or 1, max(len(paths), 1))
    threads = max(1, (os.cpu_count() or 1) // workers)
    results, problems = {}, []

    def keep(path, outcome):
        if isinstance(outcome, InputError):
            if not skip_bad:
                raise outcome
            problems.append(Problem(path, outcome.field, outcome.problem, outcome.fix))
        else:
            results[path] = outcome

    with tqdm(total=len(paths), desc="preprocess", unit="vol", disable=not progress) as bar:
        if workers == 1:
            for path in paths:
                keep(path, _try_one(path, slice_index, n_slices, threads))
                bar.update()
        else:
            # spawn: ITK's and OpenMP's thread pools do not survive a fork
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(workers, mp_context=context) as pool:
                futures = {pool.submit(_try_one, p, slice_index, n_slices, threads): p for p in paths}
                try:
                    for future in as_completed(futures):
                        keep(futures[future], future.result())
                        bar.update()
                except BaseException:
                    pool.shutdown(cancel_futures=True)  # stop now, not after every queued registration
                    raise
    return {p: results[p] for p in paths if p in results}, problems


def _try_one(path, slice_index, n_slices, threads) -> VolumeResult | InputError:
    """:func:`preprocess_one`, returning a bad-input error instead of raising it (so it crosses processes).

    A registration that fails inside ITK or the linear algebra (a partial field of view, an empty or
    wrongly oriented volume) is a problem of that volume too, named as such.
    """
    try:
        return preprocess_one(path, slice_index, n_slices, threads)
    except InputError as err:
        return err
    except (RuntimeError, np.linalg.LinAlgError) as err:
        return InputError(path, "registration", f"failed ({type(err).__name__}: {str(err).strip().splitlines()[-1]})",
                          "look at the volume (a T1 head, whole brain in the field of view, orientation in the "
                          "header) or remove it")


def _stack(kept: pd.DataFrame, results: dict, numbers: list[int]) -> tuple[np.ndarray, pd.DataFrame]:
    """Images [256, 256, 1, N] and labels, one per kept volume and slice, in file order."""
    images, rows = [], []
    for volume in kept.itertuples():
        slices = results[volume.path].slices
        for n, number in enumerate(numbers):
            images.append(slices[:, :, n])
            rows.append({"ID": len(rows), "Label": volume.label, "Subject_ID": volume.subject, "Age": volume.age,
                         "Sex": volume.sex, "Image_ID": volume.image_id, "File": volume.file, "Slice": number})
    return np.stack(images, axis=-1)[:, :, None, :], pd.DataFrame(rows)
