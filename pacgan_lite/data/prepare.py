"""From a source data set to the training layout: age/sex matching, grouped split, train/ and test/.

The result is a folder like the reference's ``ADNI_train`` / ``ADNI_test``::

    <prepared>/train/   Real{s}x{s}.nii.gz, labels.csv (Split = train | val, Source_ID), dataset.json
    <prepared>/test/    the same for the test images
    <prepared>/split.csv, balance.csv, pairs.csv, prepare.json

Matching and the split are cheap and deterministic, so they are always recomputed; the folders are written
only when missing, made with other options or made from other source data.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .. import __version__
from ..atomic import atomic_path, write_json
from ..config import EMBEDDED, KitConfig
from ..errors import ConfigError, DataError
from ..paths import data_root, resolve
from .embedded import TRUTH_FILE, ensure_cohort
from .layout import (
    LABELS_FILE,
    METADATA_FILE,
    RESOLUTIONS,
    DatasetInfo,
    check_dataset,
    nifti_name,
    read_metadata,
    read_nifti,
    write_levels,
)
from .matching import MatchResult, match_age_sex
from .split import assign_splits, check_disjoint_subjects, split_summary

PREPARE_FILE = "prepare.json"


@dataclass
class PreparedData:
    """Where the prepared sets are, and how they were made."""

    source: DatasetInfo
    folder: Path
    labels: pd.DataFrame  # kept images of the source, with a Split column
    summary: pd.DataFrame  # images/subjects per set and class
    matching: MatchResult | None

    @property
    def train(self) -> Path:
        return self.folder / "train"

    @property
    def test(self) -> Path:
        return self.folder / "test"


def source_folder(config: KitConfig) -> Path:
    """The source data set: the cached embedded cohort, or the folder named in ``data.source``."""
    if config.data.source == "embedded":
        return ensure_cohort(config.cohort, root=data_root(config.data.root), workers=config.data.workers,
                             progress=config.data.progress)
    return resolve(config.data.source)


def _options_key(config: KitConfig, source: Path) -> dict:
    return {"source": str(source), "matching": dataclasses.asdict(config.matching),
            "split": dataclasses.asdict(config.split)}


def _source_fingerprint(folder: Path) -> str:
    """A hash of the contents of the files ``prepare`` reads from the source, so a data set rebuilt in place
    is prepared again. Hashing costs a fraction of the check that reads every level anyway."""
    digest = hashlib.sha1()
    for name in (*(nifti_name(size) for size in RESOLUTIONS), LABELS_FILE, METADATA_FILE, TRUTH_FILE):
        path = folder / name
        if path.is_file():
            with path.open("rb") as fh:
                digest.update(f"{name}:{hashlib.file_digest(fh, 'sha1').hexdigest()}\n".encode())
    return digest.hexdigest()


def prepare(config: KitConfig, out: str | Path | None = None) -> PreparedData:
    """Match, split and write ``train/`` and ``test/`` for ``config`` (see the module docstring)."""
    source_dir = source_folder(config)
    # Taken before the source is read: if it changes meanwhile, the record names the older data and the
    # next prepare writes the folder again.
    fingerprint = _source_fingerprint(source_dir)
    source = check_dataset(source_dir)
    try:
        labels, matching = _match_and_split(source.labels, config)
    except DataError as err:
        if err.path is not None:
            raise
        raise DataError(source.folder / LABELS_FILE, err.field, err.problem, err.fix) from err
    options = _options_key(config, source.folder)
    # The folder name leaves the fingerprint out, so changed source data replace their prepared folder
    # instead of piling up copies.
    digest = hashlib.sha1(json.dumps(options, sort_keys=True).encode()).hexdigest()[:8]
    folder = Path(out) if out else data_root(config.data.root) / "prepared" / f"{source.folder.name}-{digest}"
    record_path = folder / PREPARE_FILE
    record = json.loads(record_path.read_text()) if record_path.is_file() else {}
    if record.get("options") != options or record.get("source_fingerprint") != fingerprint:
        _write_prepared(folder, source, labels, matching, options, fingerprint)
    return PreparedData(source, folder, labels, split_summary(labels, labels["Split"], source.class_names), matching)


def _match_and_split(labels: pd.DataFrame, config: KitConfig) -> tuple[pd.DataFrame, MatchResult | None]:
    matching = None
    if config.matching.enabled:
        matching = match_age_sex(labels, caliper_years=config.matching.caliper_years)
        labels = matching.labels
    split = assign_splits(labels, config.split.test_fraction, config.split.val_fraction, config.split.seed)
    check_disjoint_subjects(labels, split)
    return labels.assign(Split=split.to_numpy()), matching


def _write_prepared(folder: Path, source: DatasetInfo, labels: pd.DataFrame, matching: MatchResult | None,
                    options: dict, fingerprint: str) -> None:
    """Write the folder in place (``out`` may hold other files, so it is not replaced as a whole). The record
    goes first and comes back last, so a folder left half-rewritten by a crash is never taken as complete."""
    (folder / PREPARE_FILE).unlink(missing_ok=True)
    levels = {size: read_nifti(source.folder / nifti_name(size), size) for size in source.sizes}
    truth_path = source.folder / TRUTH_FILE
    truth = pd.read_csv(truth_path) if truth_path.is_file() else None
    metadata = {k: v for k, v in read_metadata(source.folder).items() if k not in ("class_names", "pacgan_lite_version")}
    for part, members in (("train", labels[labels["Split"] != "test"]), ("test", labels[labels["Split"] == "test"])):
        source_ids = members["ID"].to_numpy()
        subset = members.rename(columns={"ID": "Source_ID"}).reset_index(drop=True)
        subset.insert(0, "ID", np.arange(len(subset)))
        extra = {}
        if truth is not None:
            part_truth = truth.set_index("ID").loc[source_ids].reset_index().rename(columns={"ID": "Source_ID"})
            part_truth.insert(0, "ID", np.arange(len(part_truth)))
            extra[TRUTH_FILE] = part_truth
        write_levels(folder / part, {s: level[..., source_ids] for s, level in levels.items()}, subset,
                     source.class_names, metadata={**metadata, "part": part}, extra_tables=extra, overwrite=True)
    _write_csv(folder / "split.csv", labels[["ID", "Subject_ID", "Label", "Split"]].rename(columns={"ID": "Source_ID"}))
    if matching is None:
        for name in ("balance.csv", "pairs.csv"):
            (folder / name).unlink(missing_ok=True)  # left by an earlier run with matching
    else:
        _write_csv(folder / "balance.csv", matching.balance)
        _write_csv(folder / "pairs.csv", matching.pairs)
    counts = labels.groupby(["Split", "Label"]).size().rename("images").reset_index().to_dict("records")
    write_json(folder / PREPARE_FILE, sort_keys=True, payload={"options": options, "source_fingerprint": fingerprint,
                                                              "pacgan_lite_version": __version__, "counts": counts})


def _write_csv(path: Path, table: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)

def prepared_options(folder: str | Path) -> dict[str, object]:
    """The options a prepared folder's data were made with, as dotted keys, for a run's record:
    ``data.source``, ``matching.*`` and ``split.*`` from its prepare.json, and ``cohort.*`` from its
    train/dataset.json for the embedded cohort. A folder that :func:`prepare` did not write is its own source
    (so it is not taken for the embedded cohort).

    Raises:
        DataError: prepare.json is not a record of :func:`prepare`.
    """
    folder = Path(folder)
    record = folder / PREPARE_FILE
    if not record.is_file():
        return {"data.source": str(folder)}
    try:
        made = json.loads(record.read_text())["options"]
        options = {f"{section}.{key}": value for section in ("matching", "split") for key, value in made[section].items()}
        source = made["source"]
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise DataError(record, "options", f"not a record of pacgan-lite prepare ({err!r})",
                        "prepare the folder again with pacgan-lite prepare") from None
    cohort = read_metadata(folder / "train").get("cohort_params")
    if cohort is None:
        return {**options, "data.source": source}
    return {**options, "data.source": EMBEDDED, **{f"cohort.{key}": value for key, value in cohort.items()}}


def refuse_options_unlike(config: KitConfig, made_with: dict[str, object], folder: str | Path, source: str) -> None:
    """Raise a ConfigError naming ``source`` where ``config`` contradicts the options ``made_with``
    (:func:`prepared_options`) that the prepared ``folder`` was made with."""
    for option, value in made_with.items():
        chosen = functools.reduce(getattr, option.split("."), config)
        if chosen != value:
            raise ConfigError(source, option, f"is {chosen!r}, but the prepared folder {folder} was made with "
                              f"{value!r}", "leave it out, or give the source data set to prepare it with this value")

