"""Kit checkpoints: tensors and plain containers only, readable with ``torch.load(weights_only=True)``.

A checkpoint is one dict::

    format, format_version, package_version
    architecture      {n_classes, image_channels, z_dim, embedding_dim, base_channels, channel_factors,
                      min_channels, aux_hidden, conditioning, mbstd_group_size} (keys a file predates get
                      the paper's values on load)
    class_names       ["CN", "AD"]
    options           the resolved KitConfig as plain data
    sampling          {stage, resolution, fade_alpha}: where the stored weights make their images
    generator, discriminator, generator_ema (or None)        state dicts
    optimizer_generator, optimizer_discriminator, scalers    state dicts
    position          {stage, epoch, images_seen, fade_alpha, critic_steps}: where training resumes
    selection         best-epoch bookkeeping of the current stage and the selected epoch of finished stages
    rng               torch CPU, CUDA, numpy, python ``random``, the permutation and noise generators
    imported_from     only in a model imported from the reference's files: their paths, the reference's
                      epoch and how the critic's stored minibatch-stddev value was set (no optimizer,
                      position, selection or rng entries: such a file is for inference, not for a resume)

``sampling`` and ``position`` differ after a stage ends: stage s's best checkpoint holds its selected
weights while training resumes at the start of stage s + 1. Version 1 files, which had no ``sampling``,
are upgraded on load. Files are written through :func:`pacgan_lite.atomic.atomic_path`, so a crash never
leaves half a file under the final name.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path

import torch

from . import __version__
from .architecture import complete_architecture
from .atomic import atomic_path
from .errors import InputError
from .schedule import resolution

FORMAT = "pacgan-lite-checkpoint"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
ZIP_MAGIC = b"PK\x03\x04"  # torch.save writes a zip archive
USE_A_RUN_CHECKPOINT = "use a checkpoint that pacgan-lite wrote into a run folder (the last one or a stage's best)"


class CheckpointError(InputError):
    """A file that is not a kit checkpoint, or one that does not fit the networks being built."""


def cpu_copy(value):
    """A deep copy of ``value`` with every tensor cloned to the CPU (never a view of live weights)."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {key: cpu_copy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(cpu_copy(item) for item in value)
    return value


def sampling_point(stage: int, resolution: int, fade_alpha: float) -> dict:
    """The ``sampling`` entry of a checkpoint: the stage, its image side and the fade-in weight."""
    return {"stage": int(stage), "resolution": int(resolution), "fade_alpha": float(fade_alpha)}


def save_checkpoint(path: str | Path, payload: dict) -> Path:
    """Write ``payload`` (see the module docstring) atomically, stamped with the format and version."""
    path = Path(path)
    stamped = {"format": FORMAT, "format_version": FORMAT_VERSION, "package_version": __version__,
               **cpu_copy(payload)}
    with atomic_path(path) as tmp:
        torch.save(stamped, tmp)
    return path


def read_weights_only(path: str | Path, error: type[InputError] | None = None) -> object:
    """``torch.load(path, weights_only=True)`` on the CPU, every failure turned into ``error`` (default
    :class:`CheckpointError`) naming the file, what is wrong with it and the fix.

    Damaged files (empty, cut off, not a PyTorch archive) and files holding pickled code each get their own
    message; the kit never offers to load a file with ``weights_only=False``.
    """
    error = error or CheckpointError
    path = Path(path)
    if not path.is_file():
        raise error(path, "(file)", "no such file", "give the path of a .pt file")
    size = path.stat().st_size
    with open(path, "rb") as file:
        head = file.read(len(ZIP_MAGIC))
    if size == 0:
        raise error(path, "(file)", "is empty (0 bytes): its writing was cut off or the copy failed",
                    f"copy the file again, or {USE_A_RUN_CHECKPOINT}")
    if head != ZIP_MAGIC:
        raise error(path, "(file)", "is not a PyTorch checkpoint (torch.save writes a zip archive; this file "
                    "does not start like one)", f"check the path; {USE_A_RUN_CHECKPOINT}")
    if not zipfile.is_zipfile(path):
        raise error(path, "(file)", f"is truncated or damaged ({size} bytes, the archive's directory at its end "
                    "is missing)", f"copy the file again, or {USE_A_RUN_CHECKPOINT} (a run keeps one per stage)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(err))
        what = f"pickled code ({found.group(1)})" if found else "objects other than tensors and plain containers"
        raise error(path, "(file)", f"holds {what}, which the safe loader refuses: loading it could run code",
                    f"{USE_A_RUN_CHECKPOINT}; files with pickled code are never loaded") from None
    except (RuntimeError, EOFError, ValueError, KeyError, OSError) as err:
        first_line = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise error(path, "(file)", f"cannot be read as a PyTorch checkpoint ({first_line})",
                    f"copy the file again, or {USE_A_RUN_CHECKPOINT}") from None


def load_checkpoint(path: str | Path, architecture: dict | None = None) -> dict:
    """Read a kit checkpoint safely (``weights_only=True``), check it and upgrade an older version.

    Args:
        path: a file written by :func:`save_checkpoint`.
        architecture: if given, the networks it must fit; each differing key is named in the error.

    Raises:
        CheckpointError: the file is missing, damaged, not a kit checkpoint (e.g. a foreign pickle), of an
            unknown format version, or made for another architecture or class count.
    """
    path = Path(path)
    payload = read_weights_only(path)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(path, "format", "not a pacgan-lite checkpoint", USE_A_RUN_CHECKPOINT)
    version = payload.get("format_version")
    if version not in READABLE_VERSIONS:
        raise CheckpointError(path, "format_version", f"is {version}, this kit reads versions "
                              f"{', '.join(map(str, READABLE_VERSIONS))}",
                              f"use pacgan-lite {payload.get('package_version')} to read it")
    if version == 1:
        payload = upgrade_version_1(payload)
    if "architecture" in payload:  # keys newer than the file get the paper's values
        payload["architecture"] = complete_architecture(payload["architecture"])
    if architecture is not None:
        mismatches = [f"{key}: checkpoint {payload['architecture'].get(key)!r}, expected {value!r}"
                      for key, value in architecture.items() if payload["architecture"].get(key) != value]
        if mismatches:
            raise CheckpointError(path, "architecture", "does not match the networks being built ("
                                  + "; ".join(mismatches) + ")",
                                  "use the profile and data the checkpoint was trained with (see options in it)")
    return payload


def upgrade_version_1(payload: dict) -> dict:
    """A version 1 payload as version 2: its ``sampling`` entry worked out from the position and selection.

    A version 1 best checkpoint was written after its stage ended, when the position already pointed at the
    start of the next stage: its weights are the selected epoch's, whose fade-in weight follows from the
    schedule (linear over ``fade_fraction`` of the stage's epochs). Any other file samples where it stands.
    """
    position = payload["position"]
    finished = [record for record in payload["selection"]["stages"] if record["stage"] == position["stage"] - 1]
    if position["epoch"] > 0 or not finished:
        stage, fade_alpha = position["stage"], float(position["fade_alpha"])
    else:
        stage = finished[0]["stage"]
        train = payload["options"]["train"]
        fade_alpha = 1.0 if stage == 0 else min(
            1.0, finished[0]["selected_epoch"] / (train["fade_fraction"] * train["epochs_per_stage"][stage]))
    return {**payload, "format_version": FORMAT_VERSION, "sampling": sampling_point(stage, resolution(stage), fade_alpha)}
