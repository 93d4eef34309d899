"""Inference with a trained checkpoint: generate images, classify images, interpolate between classes,
switch the generator's noise inputs off.

Files follow the reference layout: images as one NIfTI ``[W, H, C, N]`` in [-1, 1], labels as a CSV with
``ID`` and ``Label``. Generation and classification stream in batches: 10,000 generated images at 256 px
pass through a memory-mapped temporary array on disk, so memory stays at a few batches.

Usage::

    from pacgan_lite.inference import classify, generate

    generate("runs/00003-teaching-val", per_class=[100, 100], out="synthetic/Generated.nii.gz")
    classify("runs/00003-teaching-val", "synthetic/Generated.nii.gz",
             labels="synthetic/labels_syn.csv", out="synthetic/predictions.csv")

A run folder stands for its last stage's selected weights; any checkpoint file of a run can be given instead.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import torch
from torch.func import functional_call

from .architecture import build_networks
from .atomic import atomic_path, write_json
from .checkpoint import CheckpointError, load_checkpoint
from .data.layout import check_images, nchw_to_nifti, nifti_to_nchw
from .devices import resolve_device
from .errors import DataError, InputError
from .run_folder import RunFolder
from .sampling import critic_probabilities, latent_vectors
from .schedule import resolution, stage_of

LABELS_FILE = "labels_syn.csv"


@dataclass
class LoadedModel:
    """A checkpoint ready for inference (both networks in eval mode, on ``device``).

    Attributes:
        generator: the EMA generator if the run kept one, else the trained generator.
        discriminator: the critic; its class head is the classifier.
        stage, fade_alpha: where the checkpoint's weights make their images (stored in the checkpoint; the
            images are ``resolution`` px).
        class_names: names indexed by label, from the training data's metadata.
        architecture: the network shape keys stored in the checkpoint.
    """

    path: Path
    generator: torch.nn.Module
    discriminator: torch.nn.Module
    stage: int
    fade_alpha: float
    class_names: list[str]
    architecture: dict
    device: torch.device

    @property
    def resolution(self) -> int:
        return resolution(self.stage)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)


def load_model(checkpoint: str | Path, device: str = "cpu", expect: dict | None = None) -> LoadedModel:
    """Load a kit checkpoint for inference (safely: ``torch.load(weights_only=True)``).

    Args:
        checkpoint: a run folder (its last stage's selected weights) or a checkpoint file of a run.
        device: "cpu", "cuda", or "auto".
        expect: architecture keys the checkpoint must have (e.g. ``{"n_classes": 2}``); each mismatch is
            named in the error.

    Raises:
        CheckpointError: not a kit checkpoint, another architecture, or weights that do not fit it.
    """
    path = checkpoint_file(checkpoint)
    payload = load_checkpoint(path, expect)
    architecture = payload["architecture"]
    generator, discriminator = networks_of(payload, path)
    sampling = payload["sampling"]
    device = resolve_device(device, option="device")
    return LoadedModel(path, generator.to(device).eval(), discriminator.to(device).eval(), sampling["stage"],
                       sampling["fade_alpha"], list(payload["class_names"]), architecture, device)


def checkpoint_file(checkpoint: str | Path) -> Path:
    """``checkpoint`` itself, or for a run folder its last stage's selected weights."""
    path = Path(checkpoint)
    return RunFolder(path).final_checkpoint() if path.is_dir() else path


def networks_of(payload: dict, path: Path) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The generator to sample from (the EMA one where the run kept it) and the critic of a loaded checkpoint
    ``payload`` (read from ``path``, named in the error), in training mode on the CPU."""
    generator, discriminator = build_networks(payload["architecture"])
    try:
        generator.load_state_dict(payload["generator_ema"] or payload["generator"])
        discriminator.load_state_dict(payload["discriminator"])
    except RuntimeError as err:
        raise CheckpointError(path, "generator/discriminator", "the weights do not fit the architecture stored "
                              f"with them ({str(err).splitlines()[0]})", "the file is damaged or was edited; "
                              "use another checkpoint of the run") from err
    return generator, discriminator


# ------------------------------------------------------------------------------------------------ generation


def balanced_labels(per_class: Sequence[int], n_classes: int) -> torch.Tensor:
    """``[sum(per_class)]`` labels: ``per_class[k]`` of class k (one number = that many of every class)."""
    counts = list(per_class) * n_classes if len(per_class) == 1 else list(per_class)
    if len(counts) != n_classes or any(count < 0 for count in counts) or sum(counts) == 0:
        raise InputError("per_class", "per_class", f"expected one count or {n_classes} non-negative counts "
                         f"(one per class), got {list(per_class)}", f"e.g. --per-class 100 or --per-class "
                         f"{' '.join(['100'] * n_classes)}")
    return torch.arange(n_classes).repeat_interleave(torch.tensor(counts))


@torch.no_grad()
def iter_samples(model: LoadedModel, labels: torch.Tensor, seed: int, batch_size: int) -> Iterator[torch.Tensor]:
    """Generated images ``[b, C, s, s]`` (CPU) for ``labels [N]``, batch after batch, at the model's
    resolution (for another resolution, see :func:`model_for_size`).

    All latent vectors are drawn first from one seeded generator (:func:`pacgan_lite.sampling.latent_vectors`,
    as training and evaluation draw them), so an image depends only on the seed and its position, not on the
    batch size.
    """
    z = latent_vectors(len(labels), model.generator.z_dim, seed)
    for z_batch, label_batch in zip(z.split(batch_size), labels.split(batch_size), strict=True):
        yield model.generator(z_batch.to(model.device), label_batch.to(model.device), model.stage,
                              model.fade_alpha).float().cpu()


def model_for_size(model: LoadedModel, size: int | None) -> LoadedModel:
    """The model that makes ``size`` px images: ``model`` itself at its resolution (or for None), else the
    weights selected at that stage of the same run (that stage's best checkpoint in the run folder of
    ``model.path``).

    A later checkpoint cannot simply stop at a lower stage: that stage's to-image layer stops learning once
    the next resolution has faded in, while the blocks it reads keep changing, so its images would be wrong.

    Raises:
        InputError: ``size`` is not a resolution of the run up to this checkpoint, or its checkpoint is
            not beside this one (or the run skipped that stage: 0 epochs, no checkpoint).
    """
    if size is None or size == model.resolution:
        return model
    sizes = [resolution(s) for s in range(model.stage)]
    if size not in sizes:
        raise InputError(model.path, "size", f"{size} px is not a resolution this checkpoint was trained "
                         f"for (it reached {model.resolution} px)", f"use one of {sizes + [model.resolution]}, "
                         "or a checkpoint of a run trained to that size")
    sibling = RunFolder.of_checkpoint(model.path).checkpoint(sizes.index(size))
    if not sibling.is_file():
        raise InputError(model.path, "size", f"{size} px needs the weights selected at that stage "
                         f"({sibling.name}), which are not beside this checkpoint (a run that skipped the stage, "
                         "with 0 epochs, has none)",
                         f"give that checkpoint of the run, or generate at {model.resolution} px")
    return load_model(sibling, str(model.device))


@dataclass
class Generated:
    """Where :func:`generate` wrote its files."""

    images: Path
    labels: Path
    n_images: int
    class_names: list[str]


def generate(checkpoint: str | Path, per_class: Sequence[int], out: str | Path, size: int | None = None,
             seed: int = 0, batch_size: int = 64, device: str = "auto") -> Generated:
    """Write generated images as one NIfTI ``[W, H, C, N]`` in [-1, 1] and ``labels_syn.csv`` beside it.

    Args:
        checkpoint: a run folder (its last stage's selected weights) or a checkpoint file of a run.
        per_class: images per class (one number for every class, or one per class; reference:
            ``N_IMAGES_GENERATED``).
        out: the NIfTI file to write, e.g. ``synthetic/Generated256x256.nii.gz``.
        size: the side in pixels (None: the checkpoint's resolution); a lower stage's resolution uses that
            stage's selected weights from the same run folder (see :func:`model_for_size`).
        seed: seeds the latent vectors; the same seed gives the same images at any batch size.
        batch_size: images per forward pass.
        device: "auto" uses CUDA when present.

    Images are written in label order (all of class 0, then class 1, ...); ``labels_syn.csv`` has
    columns ``ID`` (position along N) and ``Label``.
    """
    return write_generated(model_for_size(load_model(checkpoint, device), size), per_class, out, seed, batch_size)


def write_generated(model: LoadedModel, per_class: Sequence[int], out: str | Path, seed: int = 0,
                    batch_size: int = 64) -> Generated:
    """:func:`generate` for a loaded model, at its resolution."""
    labels = balanced_labels(per_class, model.n_classes)
    out = Path(out)
    side, channels = model.resolution, model.architecture["image_channels"]
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".generate-") as scratch:
        # A Fortran-ordered memmap is the NIfTI order on disk: each generated image is one contiguous block.
        images = np.lib.format.open_memmap(Path(scratch) / "images.npy", mode="w+", dtype=np.float32,
                                           shape=(side, side, channels, len(labels)), fortran_order=True)
        start = 0
        for batch in iter_samples(model, labels, seed, batch_size):
            images[..., start:start + len(batch)] = nchw_to_nifti(batch.numpy())
            start += len(batch)
        images.flush()
        with atomic_path(out) as tmp:
            nib.save(nib.Nifti1Image(images, np.eye(4)), tmp)
        del images
    labels_path = out.parent / LABELS_FILE
    with atomic_path(labels_path) as tmp:
        pd.DataFrame({"ID": np.arange(len(labels)), "Label": labels.numpy()}).to_csv(tmp, index=False)
    return Generated(out, labels_path, len(labels), model.class_names)


def generate_medigan(model_file: str | Path, num_samples: int = 20, output_path: str | Path | None = None,
                     save_images: bool = True, condition: int | None = None, seed: int = 0,
                     **kwargs) -> list[np.ndarray] | Generated:
    """medigan's ``generate(model_file, num_samples, output_path, save_images, ...)`` contract.

    ``condition`` is a class index (all images of that class) or None (``num_samples`` split evenly over
    the classes, the first classes taking the remainder). With ``save_images`` the images go to
    ``output_path`` (a folder) as ``Generated{s}x{s}.nii.gz`` plus ``labels_syn.csv``; without it a list
    of ``[W, H]`` (or ``[W, H, C]``) arrays is returned. Keyword arguments ``size``, ``batch_size`` and
    ``device`` are those of :func:`generate`.
    """
    unknown = sorted(set(kwargs) - {"size", "batch_size", "device"})
    if unknown:
        raise TypeError(f"generate_medigan() got unexpected keyword arguments {unknown}")
    model = load_model(model_file, kwargs.get("device", "cpu"))
    if condition is None:
        share, remainder = divmod(num_samples, model.n_classes)
        per_class = [share + (k < remainder) for k in range(model.n_classes)]
    else:
        if not 0 <= condition < model.n_classes:
            raise InputError(model_file, "condition", f"class {condition} does not exist "
                             f"({model.class_names})", f"use 0..{model.n_classes - 1} or None")
        per_class = [num_samples if k == condition else 0 for k in range(model.n_classes)]
    model = model_for_size(model, kwargs.get("size"))
    batch_size = kwargs.get("batch_size", 64)
    if save_images:
        name = f"Generated{model.resolution}x{model.resolution}.nii.gz"
        return write_generated(model, per_class, Path(output_path or ".") / name, seed, batch_size)
    labels = balanced_labels(per_class, model.n_classes)
    images = [nchw_to_nifti(image[None].numpy())[..., 0] for batch in
              iter_samples(model, labels, seed, batch_size) for image in batch]
    return [image[:, :, 0] if image.shape[2] == 1 else image for image in images]


# ----------------------------------------------------------------------------------------- classification


def iter_nifti_batches(path: str | Path, batch_size: int) -> tuple[tuple[int, ...], Iterator[np.ndarray]]:
    """The shape ``[W, H, C, N]`` of a NIfTI file and an iterator over its images in batches (each checked
    with :func:`pacgan_lite.data.layout.check_images`), reading the file once from start to end."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "(file)", "not found", "give the path of a .nii or .nii.gz file")
    try:
        image = nib.load(path, keep_file_open=True)
        shape = tuple(image.shape)
    except Exception as err:  # nibabel raises many types for corrupt or foreign files
        raise DataError(path, "(file)", f"cannot be read as NIfTI ({type(err).__name__}: {err})",
                        "re-create the file; it may be truncated or not a NIfTI") from err
    if len(shape) != 4 or shape[3] == 0:
        raise DataError(path, "shape", f"has shape {shape}, expected 4 dimensions [W, H, C, N] with N >= 1",
                        "store images as [W, H, C, N], as pacgan-lite generate writes them")

    def batches() -> Iterator[np.ndarray]:
        for start in range(0, shape[3], batch_size):
            try:
                chunk = np.asarray(image.dataobj[..., start:start + batch_size], dtype=np.float32)
            except Exception as err:
                raise DataError(path, "(file)", f"cannot be read past image {start} ({type(err).__name__}: "
                                f"{err})", "re-create the file; it may be truncated") from err
            check_images(chunk, path, first_index=start)
            yield chunk

    return shape, batches()


def read_image_labels(path: str | Path, n_images: int, class_names: list[str]) -> torch.Tensor:
    """``[N]`` labels from a CSV with ``ID`` and ``Label`` (``labels_syn.csv`` or a data set's
    ``labels.csv``), ordered by ID, checked against the image count and the checkpoint's classes."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "(file)", "not found", "give the labels CSV (columns ID, Label)")
    table = pd.read_csv(path)
    missing = [column for column in ("ID", "Label") if column not in table.columns]
    if missing:
        raise DataError(path, ", ".join(missing), "required column is missing", "give columns ID and Label")
    if sorted(table["ID"].tolist()) != list(range(n_images)):
        raise DataError(path, "ID", f"IDs do not number the {n_images} images 0..{n_images - 1}",
                        "give one row per image along the NIfTI's last axis")
    labels = table.sort_values("ID")["Label"].to_numpy()
    unknown = sorted(set(labels.tolist()) - set(range(len(class_names))))
    if unknown:
        raise DataError(path, "Label", f"labels {unknown} do not exist in the checkpoint, which has "
                        f"{len(class_names)} classes {class_names}", "use the checkpoint of a model trained "
                        "on these classes, or relabel to its classes")
    return torch.from_numpy(labels.astype(np.int64))


@dataclass
class Classification:
    """What :func:`classify` produced: per-image probabilities, and the metrics when labels were given."""

    predictions: pd.DataFrame
    metrics: dict | None
    path: Path | None


def classify(checkpoint: str | Path, images: str | Path, labels: str | Path | None = None,
             out: str | Path | None = None, batch_size: int = 64, device: str = "auto") -> Classification:
    """Classify every image of a NIfTI ``[W, H, C, N]`` with the checkpoint's critic.

    Writes ``out`` (CSV: ``ID``, ``p_<class>`` per class, ``Predicted``, ``Predicted_name`` and, with labels,
    ``Label``) and, with labels, ``<out stem>.metrics.json`` with the metrics of
    :func:`pacgan_lite.metrics.classifier.classification_report`.

    Raises:
        DataError: images at another size or channel count than the checkpoint's, a corrupt file, or
            labels that do not fit the images or the checkpoint's classes.
    """
    from .metrics.classifier import classification_report

    model = load_model(checkpoint, device)
    shape, batches = iter_nifti_batches(images, batch_size)
    expected = (model.resolution, model.resolution, model.architecture["image_channels"])
    if shape[:3] != expected:
        raise DataError(images, "shape", f"images are {shape[0]}x{shape[1]} with {shape[2]} channel(s), but the "
                        f"checkpoint classifies {expected[0]}x{expected[1]} images with {expected[2]} "
                        "channel(s)", f"resample the images to {expected[0]} px, or use a checkpoint trained "
                        f"to {shape[0]} px")
    true_labels = None if labels is None else read_image_labels(labels, shape[3], model.class_names)
    probabilities = torch.cat([
        critic_probabilities(model.discriminator, torch.tensor(nifti_to_nchw(chunk)),
                             model.stage, model.fade_alpha, batch_size, model.device) for chunk in batches])
    table = pd.DataFrame({"ID": np.arange(shape[3])})
    for k, name in enumerate(model.class_names):
        table[f"p_{name}"] = probabilities[:, k].numpy()
    table["Predicted"] = probabilities.argmax(dim=1).numpy()
    table["Predicted_name"] = [model.class_names[k] for k in table["Predicted"]]
    metrics = None
    if true_labels is not None:
        table["Label"] = true_labels.numpy()
        metrics = classification_report(probabilities, true_labels, model.class_names)
    if out is not None:
        out = Path(out)
        with atomic_path(out) as tmp:
            table.to_csv(tmp, index=False)
        if metrics is not None:
            write_json(out.with_name(out.stem + ".metrics.json"), {"checkpoint": str(model.path),
                                                                   "images": str(images), **metrics})
    return Classification(table, metrics, out)


# ------------------------------------------------------------------------------------------ interpolation


@torch.no_grad()
def interpolate_classes(model: LoadedModel, z: torch.Tensor, first: int, last: int, steps: int) -> torch.Tensor:
    """Images ``[steps, C, s, s]`` for one latent vector ``z [z_dim]`` while the class embedding moves in
    a straight line from class ``first`` to class ``last`` (the generator's own embedding table, with the
    row of class ``first`` replaced by each blend, is passed in through ``torch.func.functional_call``)."""
    table = model.generator.embedding.weight
    frames = []
    for t in torch.linspace(0, 1, steps):
        blended = table.clone()
        blended[first] = (1 - t) * table[first] + t * table[last]
        frames.append(functional_call(model.generator, {"embedding.weight": blended},
                                      (z[None].to(model.device), torch.tensor([first], device=model.device),
                                       model.stage, model.fade_alpha)).float().cpu())
    return torch.cat(frames)


# ------------------------------------------------------------------------------------------- noise inputs


def noise_sides(model: LoadedModel) -> list[int]:
    """The sides (px), up to the model's resolution, whose generator blocks add noise inputs (none without
    ``model.noise_from``)."""
    return [side for side in model.generator.noise_sides if side <= model.resolution]


@torch.no_grad()
def generate_with_noise_off(model: LoadedModel, z: torch.Tensor, labels: torch.Tensor,
                            sides: Sequence[int] | None = None) -> torch.Tensor:
    """Images ``[N, C, s, s]`` (CPU) for ``z [N, z_dim]`` and ``labels [N]`` with the noise inputs of the blocks
    that make ``sides`` (px; None: every block that has them) switched off.

    Those blocks' learned noise strengths are replaced by zeros through ``torch.func.functional_call``, so the
    model itself is not changed. The same z with the noise on and off tells what the noise draws from what
    the generator draws from z and the class.

    Raises:
        InputError: a side whose block adds no noise (the model's are :func:`noise_sides`).
    """
    have = noise_sides(model)
    sides = have if sides is None else list(sides)
    missing = sorted(set(sides) - set(have))
    if missing:
        raise InputError(model.path, "sides", f"the blocks that make {missing} px add no noise (this model's "
                         f"noise inputs: {have or 'none, it was trained with model.noise_from 0'})",
                         f"choose among {have}" if have else "train with model.noise_from to have noise inputs")
    names = [f"blocks.{stage_of(side) - 1}.noise_strength" for side in sides]  # block i - 1 makes stage i
    zeros = {name: torch.zeros_like(model.generator.get_parameter(name)) for name in names}
    return functional_call(model.generator, zeros, (z.to(model.device), labels.to(model.device), model.stage,
                                                     model.fade_alpha)).float().cpu()


def describe(model: LoadedModel) -> str:
    """One line about a loaded checkpoint, for logs and notebooks."""
    return json.dumps({"checkpoint": model.path.name, "resolution": model.resolution, "stage": model.stage,
                       "fade_alpha": round(model.fade_alpha, 4), "classes": model.class_names})
