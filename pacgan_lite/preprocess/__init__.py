"""Real T1 volumes in: reorientation, 9-DOF registration to MNI152, the 256^3 cube, slice 127, metadata.

``preprocess(volumes_dir, metadata_csv, out_dir)`` (and ``pacgan-lite preprocess``) turns a folder of raw
T1 NIfTI volumes plus a metadata CSV (the ADNI collection export, or ``file,subject,label,age,sex``) into the
kit's training layout; ``preprocess_one(path)``
does one volume and reports its wall time.
"""

from .metadata import CLASS_NAMES, match_volumes
from .pipeline import PreprocessResult, VolumeResult, preprocess, preprocess_one
from .qc import qc_flags, qc_record
from .register import Registration, conform, decompose, register_to_mni
from .slices import CONFORMED_AFFINE, DEFAULT_SLICE, scale_to_unit, slice_indices, slice_z_mm
from .volumes import read_volume

__all__ = [
    "CLASS_NAMES",
    "CONFORMED_AFFINE",
    "DEFAULT_SLICE",
    "PreprocessResult",
    "Registration",
    "VolumeResult",
    "conform",
    "decompose",
    "match_volumes",
    "preprocess",
    "preprocess_one",
    "qc_flags",
    "qc_record",
    "read_volume",
    "register_to_mni",
    "scale_to_unit",
    "slice_indices",
    "slice_z_mm",
]
