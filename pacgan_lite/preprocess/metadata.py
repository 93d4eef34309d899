"""Which volume is which subject: read the metadata CSV and pair each row with one NIfTI file.

Two formats are accepted:

- the ADNI collection export (``Image Data ID``, ``Subject``, ``Group``, ``Sex``, ``Age``); each file name
  holds its image ID as one token, e.g. ``ADNI_002_S_0295_MR_MPRAGE_br_raw_20060418_S13408_I45108.nii.gz``;
- the kit's simple format (``file``, ``subject``, ``label``, ``age``, ``sex``), ``file`` relative to the
  volumes folder.

Every problem is a :class:`Problem` naming the file, the field and the fix; :func:`match_volumes` raises
the first one as an InputError, or, with ``skip_bad``, returns them all so the run can go on without them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import InputError

CLASS_NAMES = ("CN", "AD")  # Label 0 = CN, 1 = AD, as in the reference labels.csv
SEXES = ("M", "F")
NIFTI_SUFFIXES = (".nii", ".nii.gz")
ADNI_COLUMNS = {"Image Data ID": "image_id", "Subject": "subject", "Group": "group", "Sex": "sex", "Age": "age"}
SIMPLE_COLUMNS = {"file": "file", "subject": "subject", "label": "group", "age": "age", "sex": "sex"}
_TOKEN_SPLIT = re.compile(r"[_.\-\s]+")


@dataclass(frozen=True)
class Problem:
    """One bad input: the message parts of an InputError, kept so a run can list it and go on."""

    path: Path
    field: str
    problem: str
    fix: str

    def error(self) -> InputError:
        return InputError(self.path, self.field, self.problem, self.fix)

    def as_row(self) -> dict:
        return {"file": str(self.path), "field": self.field, "reason": self.problem, "fix": self.fix}


def volume_files(volumes_dir: str | Path) -> list[Path]:
    """The ``.nii`` / ``.nii.gz`` files directly in ``volumes_dir``, sorted by name."""
    folder = Path(volumes_dir)
    if not folder.is_dir():
        raise InputError(folder, "(folder)", "not found", "point --volumes to the folder of T1 NIfTI volumes")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(NIFTI_SUFFIXES))
    if not files:
        raise InputError(folder, "(folder)", "holds no .nii or .nii.gz file", "put the T1 volumes directly in it")
    return files


def read_metadata_table(metadata_csv: str | Path) -> pd.DataFrame:
    """The CSV with columns renamed to image_id/file, subject, group, sex, age (strings, as written)."""
    path = Path(metadata_csv)
    if not path.is_file():
        raise InputError(path, "(file)", "not found", "give the ADNI collection CSV or a file,subject,label,age,sex table")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(path, "(whole file)", f"cannot be parsed as CSV ({err})",
                         "save it as plain comma-separated text") from err
    table.columns = [c.strip() for c in table.columns]
    for columns in (ADNI_COLUMNS, SIMPLE_COLUMNS):
        if set(columns) <= set(table.columns):
            return table[list(columns)].rename(columns=columns).apply(lambda c: c.str.strip())
    adni_missing = [c for c in ADNI_COLUMNS if c not in table.columns]
    raise InputError(path, ", ".join(adni_missing), "required column is missing",
                     f"export the ADNI collection CSV with columns {', '.join(ADNI_COLUMNS)}, "
                     f"or write the simple format with columns {', '.join(SIMPLE_COLUMNS)}")


def match_volumes(volumes_dir: str | Path, metadata_csv: str | Path) -> tuple[pd.DataFrame, list[Problem]]:
    """Pair files and metadata rows and check each row's values.

    Returns:
        ``(volumes, problems)``: one row per good volume (path, file, image_id, subject, label, group,
        age, sex), sorted by file name, and every problem found (a bad row or file is left out of
        ``volumes``).
    """
    csv_path = Path(metadata_csv)
    files = volume_files(volumes_dir)
    table = read_metadata_table(csv_path)
    key = "file" if "file" in table.columns else "image_id"
    names = {internal: column for column, internal in (SIMPLE_COLUMNS if key == "file" else ADNI_COLUMNS).items()}
    problems = []
    identity = table[key].map(_stem) if key == "file" else table[key]  # x.nii and x.nii.gz: one volume
    duplicated = identity[identity.duplicated(keep=False)]
    for value in sorted(set(duplicated)):
        problems.append(Problem(csv_path, names[key], f"{value!r} appears in {int((duplicated == value).sum())} rows",
                                "keep one row per image (remove the repeated rows)"))
    table = table[~identity.isin(set(duplicated))]
    rows_by_key = dict(zip(table[key], table.to_dict("records"), strict=True))
    if key == "file":
        by_stem = {_stem(name): row for name, row in rows_by_key.items()}
        row_of = {path: by_stem.get(_stem(path.name)) for path in files}
    else:
        row_of = {path: _row_for_tokens(path, rows_by_key, csv_path, problems) for path in files}
    found = {row[key] for row in row_of.values() if row is not None}
    unmatched_rows = [row for value, row in rows_by_key.items() if value not in found]
    _refuse_files_sharing_a_row(row_of, key, names, problems)
    for row in unmatched_rows:
        name = row.get("file") or row["image_id"]
        problems.append(Problem(csv_path, names[key], f"row for {name!r} has no volume in {volumes_dir}",
                                "add the volume to the folder or remove the row"))
    rows = []
    for path, row in row_of.items():
        if row is None:
            if not any(p.path == path for p in problems):
                problems.append(Problem(path, "(metadata row)", f"no row of {csv_path.name} names this volume",
                                        f"add a row for it to {csv_path.name}, or move the file out of the folder"))
            continue
        checked = _check_row(row, path, csv_path, names, problems)
        if checked is not None:
            rows.append({"path": path, "file": path.name, **checked})
    columns = ["path", "file", "image_id", "subject", "label", "group", "age", "sex"]
    return pd.DataFrame(rows, columns=columns), problems


def _refuse_files_sharing_a_row(row_of: dict, key: str, names: dict, problems: list[Problem]) -> None:
    """Two files for one row (a copy, a re-download, or x.nii beside x.nii.gz) would become two images of one
    scan: each gets a Problem and loses its row."""
    paths_of = {}
    for path, row in row_of.items():
        if row is not None:
            paths_of.setdefault(row[key], []).append(path)
    for value, paths in sorted(paths_of.items()):
        if len(paths) < 2:
            continue
        for path in paths:
            others = ", ".join(p.name for p in paths if p != path)
            if key == "file":
                problem, fix = (f"the row for {value!r} names this file and {others}",
                                "keep one file per row in the folder (x.nii and x.nii.gz count as one volume)")
            else:
                problem, fix = (f"{value} is also in the name of {others}",
                                "keep one file per image ID in the folder (a copy or a re-download?)")
            problems.append(Problem(path, names[key], problem, fix))
            row_of[path] = None


def _stem(name: str) -> str:
    """File name without its NIfTI suffix, so rows may name ``x.nii`` for a ``x.nii.gz`` file."""
    for suffix in (".nii.gz", ".nii"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _row_for_tokens(path: Path, ids: dict, csv_path: Path, problems: list[Problem]) -> dict | None:
    """The metadata row whose image ID is one token of the file name (None if none or several)."""
    tokens = set(_TOKEN_SPLIT.split(_stem(path.name)))
    hits = [image_id for image_id in ids if image_id in tokens]
    if len(hits) > 1:
        problems.append(Problem(path, "Image Data ID", f"the file name holds several image IDs {sorted(hits)}",
                                "rename the file so it names one image ID"))
        return None
    return ids[hits[0]] if hits else None


def _check_row(row: dict, path: Path, csv_path: Path, names: dict, problems: list[Problem]) -> dict | None:
    """The row with label (int), age (float) and sex (M/F) checked; None (and a Problem) if bad.
    ``names`` maps the kit's column names to the CSV's, so messages name the user's columns."""
    where = f"for {path.name}"
    group = row["group"]
    if group not in CLASS_NAMES:
        problems.append(Problem(csv_path, names["group"], f"unknown group label {group!r} {where}",
                                f"use one of {', '.join(CLASS_NAMES)} (leave other groups, e.g. MCI, out of the table)"))
        return None
    try:
        age = float(row["age"])
    except ValueError:
        age = float("nan")
    if not 0 < age < 130:
        problems.append(Problem(csv_path, names["age"], f"missing, not a number or outside 0-130 ({row['age']!r}) {where}",
                                "give the age at the scan in years; matching needs it"))
        return None
    sex = row["sex"].upper()
    if sex not in SEXES:
        problems.append(Problem(csv_path, names["sex"], f"missing or not M/F ({row['sex']!r}) {where}",
                                "give M or F; matching needs it"))
        return None
    if not row["subject"]:
        problems.append(Problem(csv_path, names["subject"], f"missing {where}",
                                "give the subject ID; the split keeps all images of a subject together"))
        return None
    return {"image_id": row.get("image_id") or _stem(path.name), "subject": row["subject"], "label": CLASS_NAMES.index(group),
            "group": group, "age": age, "sex": sex}
