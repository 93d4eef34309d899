"""The reference PACGAN data layout: read it, check it, write it.

A data set is a folder with

- ``Real{s}x{s}.nii.gz`` for each resolution s (4, 8, ..., 256): one float array ``[W, H, C, N]`` in
  [-1, 1] (W = H = s, C = 1 grey or 3 colour, N images), as the reference code stores it;
- ``labels.csv`` with columns ``ID`` (index of the image along N), ``Label`` (integer class) and
  ``Subject_ID``; extra columns (Age, Sex, Session, Split, ...) are kept;
- ``dataset.json`` (optional, the kit's addition) with ``class_names`` (index = Label) and free metadata.
  Without it the classes are called ``class 0``, ``class 1``, ...

In memory the kit uses the NIfTI order ``[W, H, C, N]`` for numpy and ``[N, C, H, W]`` for torch
(:func:`nifti_to_nchw`). Axis W runs from the patient's right to left and H from posterior to anterior, so
``imshow(x[n, 0], origin="lower")`` shows a slice in the radiological convention, anterior up.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from .. import __version__
from ..atomic import atomic_directory
from ..errors import DataError
from .pyramid import build_pyramid

RESOLUTIONS = (4, 8, 16, 32, 64, 128, 256)
LABELS_FILE = "labels.csv"
METADATA_FILE = "dataset.json"
REQUIRED_COLUMNS = ("ID", "Label", "Subject_ID")
RANGE_TOLERANCE = 1e-3  # resampling and float64 -> float32 may overshoot [-1, 1] by rounding only
_NIFTI_NAME = re.compile(r"^Real(\d+)x(\d+)\.nii(\.gz)?$")


def nifti_name(size: int) -> str:
    """File name of one pyramid level, e.g. ``Real64x64.nii.gz``."""
    return f"Real{size}x{size}.nii.gz"


def pyramid_sizes(top: int) -> tuple[int, ...]:
    """The resolutions 4, 8, ..., ``top`` (``top`` a power of two in 4..256)."""
    if top not in RESOLUTIONS:
        raise ValueError(f"size must be one of {RESOLUTIONS}, got {top}")
    return tuple(s for s in RESOLUTIONS if s <= top)


def nifti_to_nchw(images: np.ndarray) -> np.ndarray:
    """``[W, H, C, N]`` (NIfTI order) -> ``[N, C, H, W]`` (torch order), as a view."""
    return images.transpose(3, 2, 1, 0)


def nchw_to_nifti(images: np.ndarray) -> np.ndarray:
    """``[N, C, H, W]`` (torch order) -> ``[W, H, C, N]`` (NIfTI order), as a view."""
    return images.transpose(3, 2, 1, 0)


@dataclass
class DatasetInfo:
    """What :func:`check_dataset` found in a folder."""

    folder: Path
    sizes: tuple[int, ...]
    n_images: int
    channels: int
    class_names: list[str]
    labels: pd.DataFrame

    @property
    def class_counts(self) -> dict[str, int]:
        counts = self.labels["Label"].value_counts()
        return {name: int(counts.get(k, 0)) for k, name in enumerate(self.class_names)}


# ----------------------------------------------------------------------------------------------- metadata


def read_metadata(folder: str | Path) -> dict:
    """``dataset.json`` as a dict (``{}`` when absent), with ``class_names`` checked if present."""
    path = Path(folder) / METADATA_FILE
    if not path.is_file():
        return {}
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DataError(path, "(whole file)", f"not valid JSON ({err})", "fix the JSON syntax") from err
    if not isinstance(meta, dict):
        raise DataError(path, "(whole file)", "must be a JSON object", 'write {"class_names": ["CN", "AD"]}')
    if "class_names" in meta:
        _check_class_names(meta["class_names"], path)
    return meta


def _check_class_names(names, path) -> None:
    fix = 'give at least two distinct names in label order, e.g. "class_names": ["CN", "AD"]'
    if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
        raise DataError(path, "class_names", f"must be a list of non-empty strings, got {names!r}", fix)
    if len(names) < 2 or len(set(names)) != len(names):
        raise DataError(path, "class_names", f"needs at least two distinct names, got {names!r}", fix)


def class_names_for(folder: str | Path, labels: pd.DataFrame | None = None) -> list[str]:
    """Class names from ``dataset.json``, else ``class 0 .. class K-1`` from the labels present."""
    meta = read_metadata(folder)
    if "class_names" in meta:
        return list(meta["class_names"])
    highest = None if labels is None else pd.to_numeric(labels["Label"], errors="coerce").max()
    n_classes = 2 if highest is None or pd.isna(highest) else max(2, int(highest) + 1)
    return [f"class {k}" for k in range(n_classes)]


# ------------------------------------------------------------------------------------------------- labels


def read_labels(folder: str | Path, class_names: list[str] | None = None, n_images: int | None = None):
    """Read and check ``labels.csv``; return it sorted by ``ID`` with ``Subject_ID`` as strings.

    Checks: the file exists and parses; no unnamed or duplicated columns; the required columns exist
    (with a hint when only their case or spacing is off); IDs are unique integers 0..N-1; labels are
    integers naming a class; subjects are given; at least two classes are present.
    """
    path = Path(folder) / LABELS_FILE
    if not path.is_file():
        raise DataError(path, "(file)", "not found", f"write {LABELS_FILE} with columns {', '.join(REQUIRED_COLUMNS)}")
    with path.open(newline="") as fh:
        header = next(csv.reader(fh), [])
    _check_header(header, path)
    try:
        labels = pd.read_csv(path, dtype={"Subject_ID": str})
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DataError(path, "(whole file)", f"cannot be parsed as CSV ({err})", "save it as plain comma-separated text") from err
    labels = _check_ids(labels, path, n_images)
    class_names = class_names or class_names_for(folder, labels)
    labels["Label"] = _check_label_values(labels, path, class_names)
    subjects = labels["Subject_ID"]
    if subjects.isna().any() or (subjects.astype(str).str.strip() == "").any():
        bad = labels.loc[subjects.isna() | (subjects.astype(str).str.strip() == ""), "ID"].tolist()[:5]
        raise DataError(path, "Subject_ID", f"missing for IDs {bad}", "give every image the ID of its subject (used for grouped splits)")
    labels["Subject_ID"] = subjects.astype(str)
    present = sorted(labels["Label"].unique())
    if len(present) < 2:
        name = class_names[present[0]] if present else "none"
        raise DataError(path, "Label", f"only one class is present ({name})",
                        "a class-conditional GAN needs images of at least two classes")
    return labels


def _check_header(header: list[str], path: Path) -> None:
    for name in header:
        if name.strip() == "" or name.startswith("Unnamed:"):
            raise DataError(path, repr(name), "unnamed column (a saved pandas index?)",
                            "save the table with index=False, or delete that column")
    duplicated = sorted({n for n in header if header.count(n) > 1})
    if duplicated:
        raise DataError(path, ", ".join(duplicated), "column appears more than once", "keep one column of each name")
    for required in REQUIRED_COLUMNS:
        if required in header:
            continue
        near = [n for n in header if n.strip().lower().replace(" ", "_") == required.lower()]
        hint = f"rename column {near[0]!r} to {required!r}" if near else f"add a column {required!r}"
        raise DataError(path, required, "required column is missing", hint)


def _check_ids(labels: pd.DataFrame, path: Path, n_images: int | None) -> pd.DataFrame:
    ids = pd.to_numeric(labels["ID"], errors="coerce")
    if ids.isna().any() or (ids != ids.round()).any():
        rows = labels.index[ids.isna() | (ids != ids.round())].tolist()[:5]
        raise DataError(path, "ID", f"not an integer in rows {rows}", "IDs are the 0-based positions of the images in the NIfTI files")
    ids = ids.astype(np.int64)
    duplicated = sorted(ids[ids.duplicated()].unique().tolist())
    if duplicated:
        raise DataError(path, "ID", f"duplicated IDs {duplicated[:10]}", "give each image one row with a unique ID")
    n = len(labels) if n_images is None else n_images
    outside = sorted(ids[(ids < 0) | (ids >= n)].tolist())
    if outside:
        raise DataError(path, "ID", f"IDs {outside[:10]} are out of range 0..{n - 1} (the NIfTI files hold {n} images)",
                        "IDs must index the images along the last NIfTI axis")
    if n_images is not None and len(labels) != n_images:
        raise DataError(path, "(rows)", f"{len(labels)} rows but the NIfTI files hold {n_images} images",
                        "give exactly one row per image")
    labels = labels.assign(ID=ids).sort_values("ID", kind="stable").reset_index(drop=True)
    return labels


def _check_label_values(labels: pd.DataFrame, path: Path, class_names: list[str]) -> pd.Series:
    values = pd.to_numeric(labels["Label"], errors="coerce")
    fix = f"use integers 0..{len(class_names) - 1} for {class_names}, or list more names in {METADATA_FILE}"
    if values.isna().any() or (values != values.round()).any():
        bad = labels.loc[values.isna() | (values != values.round()), "Label"].unique().tolist()[:5]
        raise DataError(path, "Label", f"not an integer class: {bad}", fix)
    values = values.astype(np.int64)
    unknown = sorted(values[(values < 0) | (values >= len(class_names))].unique().tolist())
    if unknown:
        raise DataError(path, "Label", f"labels {unknown} are not in the class list {class_names}", fix)
    return values


# ------------------------------------------------------------------------------------------------ images


def read_nifti(path: str | Path, size: int | None = None) -> np.ndarray:
    """Load one pyramid level as float32 ``[W, H, C, N]`` and check shape, values and range."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "(file)", "not found", "build the pyramid (pacgan-lite cohort / prepare) or fix the folder")
    try:
        images = np.asarray(nib.load(path).get_fdata(dtype=np.float32))
    except Exception as err:  # nibabel raises many types for corrupt or foreign files
        raise DataError(path, "(file)", f"cannot be read as NIfTI ({type(err).__name__}: {err})",
                        "re-create the file; it may be truncated or not a NIfTI") from err
    check_images(images, path, size)
    return images


def check_images(images: np.ndarray, path: str | Path | None, size: int | None = None, first_index: int = 0) -> None:
    """Check a ``[W, H, C, N]`` array: 4-D, square, expected size, C in (1, 3), finite, within [-1, 1].

    ``first_index``: the position of ``images[..., 0]`` in the file, so a message names the file's images
    when a chunk of it is checked."""
    if images.ndim != 4:
        raise DataError(path, "shape", f"has {images.ndim} dimensions {images.shape}, expected 4: [W, H, C, N]",
                        "store images as [W, H, C, N], e.g. a stack of N grey slices as arr[:, :, None, :]")
    width, height, channels, _ = images.shape
    if width != height:
        raise DataError(path, "shape", f"images are {width}x{height}, expected square", "crop or pad to a square power of two")
    if size is not None and width != size:
        raise DataError(path, "shape", f"images are {width}x{height} but the file name says {size}x{size}",
                        "rebuild this pyramid level from the full-size images")
    if channels not in (1, 3):
        raise DataError(path, "shape", f"C = {channels} channels (axis 2), expected 1 or 3",
                        "store images as [W, H, C, N] with C = 1 (grey) or 3 (colour)")
    finite = np.isfinite(images)
    if not finite.all():
        bad = (first_index + np.unique(np.nonzero(~finite)[3])[:10]).tolist()
        raise DataError(path, "intensities", f"NaN or Inf in images {bad}", "remove or repair those images")
    low, high = float(images.min()), float(images.max())
    if low < -1 - RANGE_TOLERANCE or high > 1 + RANGE_TOLERANCE:
        outside = np.abs(images).reshape(-1, images.shape[3]).max(axis=0) > 1 + RANGE_TOLERANCE
        bad = (first_index + np.flatnonzero(outside)[:10]).tolist()
        raise DataError(path, "intensities", f"values span [{low:.3g}, {high:.3g}], outside [-1, 1] (images {bad})",
                        "scale each image as (x - max/2) / (max/2), as the reference preprocessing does")


def available_sizes(folder: str | Path) -> tuple[int, ...]:
    """Resolutions for which a ``Real{s}x{s}.nii(.gz)`` file exists, ascending. Uncompressed files count, so
    that reading their level says to compress them (:func:`_level_path`)."""
    sizes = []
    for path in Path(folder).iterdir():
        match = _NIFTI_NAME.match(path.name)
        if match and match.group(1) == match.group(2):
            sizes.append(int(match.group(1)))
    return tuple(sorted(sizes))


def _level_path(folder: str | Path, size: int) -> Path:
    """The file of one level, ``Real{s}x{s}.nii.gz``. The layout, the reference PACGAN and every reader use the
    compressed name only, so an uncompressed ``Real{s}x{s}.nii`` is refused by name rather than skipped."""
    path = Path(folder) / nifti_name(size)
    plain = path.with_suffix("")
    if plain.is_file() and path.is_file():
        raise DataError(plain, "(file)", f"lies beside {path.name}, which is the file the kit reads",
                        f"delete {plain.name}, or compress it over the other (gzip -f {plain.name})")
    if plain.is_file():
        raise DataError(plain, "(file)", f"is not compressed; the data layout names this level {path.name}",
                        f"compress it (gzip {plain.name})")
    return path


def load_level(folder: str | Path, size: int) -> tuple[np.ndarray, pd.DataFrame, list[str]]:
    """One checked level: images ``[W, H, C, N]``, labels (sorted by ID) and class names."""
    folder = Path(folder)
    images = read_nifti(_level_path(folder, size), size)
    labels = read_labels(folder, n_images=images.shape[3])
    return images, labels, class_names_for(folder, labels)


def check_dataset(folder: str | Path, sizes: tuple[int, ...] | None = None) -> DatasetInfo:
    """Check a whole data set folder and describe it.

    ``sizes`` defaults to every level present. All levels must agree in N and C, and ``labels.csv``
    must describe exactly those N images.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, "(folder)", "not found", "point to a folder with Real{s}x{s}.nii.gz files and labels.csv")
    sizes = tuple(sizes) if sizes is not None else available_sizes(folder)
    if not sizes:
        raise DataError(folder, "Real{s}x{s}.nii.gz", "no pyramid files found",
                        "write one NIfTI per resolution, e.g. Real4x4.nii.gz ... Real256x256.nii.gz")
    reference_shape = None
    for size in sizes:
        images = read_nifti(_level_path(folder, size), size)
        n_and_c = (images.shape[3], images.shape[2])
        if reference_shape is None:
            reference_shape = (size, n_and_c)
        elif n_and_c != reference_shape[1]:
            raise DataError(folder / nifti_name(size), "shape",
                            f"{n_and_c[0]} images with {n_and_c[1]} channels, but {nifti_name(reference_shape[0])} "
                            f"has {reference_shape[1][0]} images with {reference_shape[1][1]} channels",
                            "rebuild all pyramid levels from the same full-size images")
    n_images, channels = reference_shape[1]
    labels = read_labels(folder, n_images=n_images)
    return DatasetInfo(folder, sizes, n_images, channels, class_names_for(folder, labels), labels)


# ------------------------------------------------------------------------------------------------ writing


def write_dataset(
    folder: str | Path,
    images: np.ndarray,
    labels: pd.DataFrame,
    class_names: list[str],
    sizes: tuple[int, ...] | None = None,
    metadata: dict | None = None,
    extra_tables: dict[str, pd.DataFrame] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a data set in the reference layout, all or nothing, building the pyramid from ``images``.

    Args:
        images: float ``[W, H, C, N]`` in [-1, 1] at the top resolution ``W``.
        labels: one row per image with at least ``ID`` (0..N-1), ``Label`` and ``Subject_ID``.
        class_names: names in label order (stored in ``dataset.json``).
        sizes: levels to write (default 4..W); each is resized from the top level with anti-aliasing.
        metadata: more entries for ``dataset.json``.
        extra_tables: more CSV files, e.g. ``{"truth.csv": df}``.
    """
    images = np.asarray(images, dtype=np.float32)
    check_images(images, Path(folder) / nifti_name(images.shape[0]))
    sizes = pyramid_sizes(images.shape[0]) if sizes is None else tuple(sizes)
    return write_levels(folder, build_pyramid(images, sizes), labels, class_names, metadata, extra_tables, overwrite)


def write_levels(
    folder: str | Path,
    levels: dict[int, np.ndarray],
    labels: pd.DataFrame,
    class_names: list[str],
    metadata: dict | None = None,
    extra_tables: dict[str, pd.DataFrame] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ready-made pyramid levels ``{size: [size, size, C, N]}`` plus labels, all or nothing."""
    folder = Path(folder)
    n_images = {level.shape[3] for level in levels.values()}
    for size, level in levels.items():
        check_images(level, folder / nifti_name(size), size)
    if len(n_images) != 1:
        raise DataError(folder, "shape", f"pyramid levels hold different numbers of images {sorted(n_images)}",
                        "build every level from the same images")
    _check_class_names(list(class_names), folder / METADATA_FILE)
    missing = [c for c in REQUIRED_COLUMNS if c not in labels.columns]
    if missing:
        raise DataError(folder / LABELS_FILE, ", ".join(missing), "required column is missing", "add it before writing")
    if sorted(labels["ID"].tolist()) != list(range(n_images.pop())):
        raise DataError(folder / LABELS_FILE, "ID", "IDs do not number the images 0..N-1",
                        "renumber the IDs to match the image order")
    meta = {**(metadata or {}), "class_names": list(class_names), "pacgan_lite_version": __version__}
    with atomic_directory(folder, overwrite=overwrite) as tmp:
        for size, level in sorted(levels.items()):
            nib.save(nib.Nifti1Image(np.asarray(level, dtype=np.float32), np.eye(4)), tmp / nifti_name(size))
        labels.sort_values("ID").to_csv(tmp / LABELS_FILE, index=False)
        (tmp / METADATA_FILE).write_text(json.dumps(meta, indent=2, default=str) + "\n")
        for name, table in (extra_tables or {}).items():
            table.to_csv(tmp / name, index=False)
    return folder
