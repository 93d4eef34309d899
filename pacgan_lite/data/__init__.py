"""Data layer: the reference layout, the pyramid, matching, splitting, the embedded cohort, torch access."""

from .dataset import SliceDataset
from .layout import (
    RESOLUTIONS,
    DatasetInfo,
    check_dataset,
    load_level,
    nchw_to_nifti,
    nifti_name,
    nifti_to_nchw,
    read_labels,
    read_nifti,
    write_dataset,
    write_levels,
)
from .matching import MatchResult, balance_tests, match_age_sex, subject_table
from .pyramid import build_pyramid, downsample
from .split import assign_splits, check_disjoint_subjects, split_summary

__all__ = [
    "RESOLUTIONS",
    "DatasetInfo",
    "MatchResult",
    "SliceDataset",
    "assign_splits",
    "balance_tests",
    "build_pyramid",
    "check_dataset",
    "check_disjoint_subjects",
    "downsample",
    "load_level",
    "match_age_sex",
    "nchw_to_nifti",
    "nifti_name",
    "nifti_to_nchw",
    "read_labels",
    "read_nifti",
    "split_summary",
    "subject_table",
    "write_dataset",
    "write_levels",
]
