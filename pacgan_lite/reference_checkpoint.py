"""Convert between the reference PACGAN checkpoints and the kit's, both ways.

The reference implementation saves, per resolution, ``PACGAN_{s}x{s}/generator_best.pt`` and
``discriminator_best.pt``: each a ``torch.save`` of ``{epoch, model_state_dict, optimizer_state_dict}`` (plus
``scaler_state_dict`` for a CUDA run), keys prefixed ``module.`` for a multi-GPU run. Its ``config.json``
gives the architecture (read by :mod:`pacgan_lite.reference_config`, never evaluated).

Usage::

    import_reference("PACGAN/data/models", "PACGAN/Training/config.json", "pacgan-adni.pt",
                     stddev_images="data/ADNI_test/Real256x256.nii.gz")
    export_reference("runs/00003-teaching-val", "exported")  # exported/PACGAN_128x128/...

How the state dicts correspond, with ``n`` stages (``n = len(FACTORS)``; reference key, then kit key):

==================================  ======================================  ==================================
reference                           kit                                     note
==================================  ======================================  ==================================
G ``label_embedding``               G ``embedding``
G ``initial_block.1``               G ``initial.1``                         plain in the reference, see below
G ``initial_block.3``               G ``initial.3``
G ``prog_blocks.i.conv1/conv2``     G ``blocks.i.1`` / ``blocks.i.4``
G ``last_layer.i``                  G ``to_image.i``                        ``initial_layer`` = ``last_layer.0``
D ``prog_blocks.j.conv1/conv2``     D ``blocks.{n-2-j}.0`` / ``.2``         the reference lists them from the
                                                                            highest resolution down
D ``from_img.j``                    D ``from_image.{n-1-j}.0``              ``from_img4`` = ``from_img.{n-1}``
D ``final_block.0`` / ``.2``        D ``final.1`` / ``final.3``
D ``adv_layer``                     D ``adversarial_head``
D ``aux_FC1`` / ``aux_layer``       D ``class_head.0`` / ``class_head.1``   the reference always has 2 classes
==================================  ======================================  ==================================

An equalized layer stores ``<name>.bias`` and ``<name>.conv.weight`` in the reference and ``weight``,
``bias`` in the kit; both keep the weight without the He constant (the reference scales the layer's input,
the kit the weight, at run time), so the values are copied unchanged. The one exception is the generator's
first layer, a plain transposed convolution in the reference and an equalized one in the kit: the kit stores
``reference weight / scale``, chosen so that the weight the kit applies (``weight * scale`` in float32) is
the reference's. That holds exactly wherever float32 allows: exporting any kit checkpoint and importing it
again gives the same applied weights, but about one in ten reference values has no float32 ``w`` with
``w * scale`` equal to it, so a reference file comes back from import and export with some values of that
one layer 1 unit in the last place (1e-7 relative) away. Layers registered twice in the reference
(``initial_layer``, ``from_img4``) appear under both keys, which must hold the same values.

The critic's minibatch-stddev feature: in the reference it is always the statistic of the batch at hand
(the unbiased standard deviation over the batch of every feature, averaged), so a classification depends on
the images that share the batch, and one image alone gives NaN. The kit uses, in evaluation mode, a stored
value (``running_stddev`` of :class:`~pacgan_lite.layers.MinibatchStddev`), so that ``classify`` does not
depend on the batch. The reference never kept such a value; the importer estimates it as the mean of the
reference's statistic over batches of the reference's training batch size at that resolution
(``BATCH_SIZES``), in order of preference:

* ``stddev_images``: a NIfTI of real images at the checkpoint's resolution (e.g. the training or test
  ``Real256x256.nii.gz``), shuffled with ``seed`` so that batches mix the classes as training batches did.
  Closest to what the critic saw on real images in training; recommended before classifying.
* ``stddev``: a number, used as it is (for example the value recorded by an earlier import).
* neither: batches that the imported generator makes (balanced classes, seeded). Needs no data; matches the
  real-image value to the extent that the generator matches the real images.

So the kit's probabilities are those the reference would give for a batch whose statistic equals the
estimate: close to the reference's predictions for typical training-sized batches, never dependent on which
images are classified together. To reproduce the reference's batch-dependent numbers exactly (e.g. its
``Discriminator.py``, which puts all images in one batch), run the critic inside
:func:`reference_batch_stddev`. The value and how it was obtained are recorded in the checkpoint under
``imported_from["stddev"]``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .architecture import architecture as architecture_of
from .architecture import build_networks, complete_architecture
from .atomic import atomic_path, write_json
from .checkpoint import (
    FORMAT,
    CheckpointError,
    load_checkpoint,
    read_weights_only,
    sampling_point,
    save_checkpoint,
)
from .config import NEAREST, ZEROS, KitConfig, ModelOptions, load_profile
from .data.layout import nifti_to_nchw
from .devices import resolve_device
from .errors import DataError, InputError
from .inference import checkpoint_file, iter_nifti_batches, networks_of
from .layers import MinibatchStddev
from .losses import ACGAN
from .networks import Discriminator, Generator, stage_channels
from .reference_config import read_reference_config, reference_keys_in_errors
from .sampling import latent_vectors
from .schedule import is_resolution, resolution, stage_of

GENERATOR_FILE = "generator_best.pt"
DISCRIMINATOR_FILE = "discriminator_best.pt"
RESOLUTION_FOLDER = re.compile(r"PACGAN_(\d+)x\1")
DATA_PARALLEL_PREFIX = "module."
REFERENCE_CLASS_NAMES = ("CN", "AD")  # the reference's labels: 0 = CN, 1 = AD
REFERENCE_CLASSES = 2  # the reference's class head has 2 outputs whatever CLASS_SIZE says
REFERENCE_AUX_HIDDEN = 150  # hard-coded width of the reference's class head
REFERENCE_DEVICE = "'cuda' if torch.cuda.is_available() else 'cpu'"  # its default, a Python expression it evaluates
STDDEV_GENERATED_BATCHES = 8  # batches of generated images for the estimate when no real images are given
# At most this many batches of real images: each batch's value averages thousands of features, so more
# batches change the estimate little and cost minutes at 256 px on a CPU.
STDDEV_MAX_IMAGE_BATCHES = 32
REFERENCE_FIX = ("give the reference's own generator_best.pt and discriminator_best.pt (from its "
                 "PACGAN_{s}x{s} folder); copy them again if they were cut off")

# How a reference layer's tensors are named and stored: [(reference suffix, kit suffix)], in the reference's order.
EMBEDDING = (("weight", "weight"),)
PLAIN = (("weight", "weight"), ("bias", "bias"))  # the generator's first layer: a plain ConvTranspose2d
EQUALIZED = (("bias", "bias"), ("conv.weight", "weight"))
# A key that only a generator (or only a critic) of the reference has: tells the two files apart.
MARKER = {"generator": "label_embedding.weight", "discriminator": "adv_layer.bias"}


def generator_layers(n_stages: int) -> list[tuple[str, str, tuple]]:
    """``(reference layer, kit layer, kind)`` of the generator, in the reference's state-dict order."""
    return [("label_embedding", "embedding", EMBEDDING), ("initial_block.1", "initial.1", PLAIN),
            ("initial_block.3", "initial.3", EQUALIZED), ("initial_layer", "to_image.0", EQUALIZED),
            *[(f"prog_blocks.{i}.{conv}", f"blocks.{i}.{index}", EQUALIZED)
              for i in range(n_stages - 1) for conv, index in (("conv1", 1), ("conv2", 4))],
            *[(f"last_layer.{i}", f"to_image.{i}", EQUALIZED) for i in range(n_stages)]]


def discriminator_layers(n_stages: int) -> list[tuple[str, str, tuple]]:
    """``(reference layer, kit layer, kind)`` of the critic, in the reference's state-dict order."""
    return [*[(f"prog_blocks.{j}.{conv}", f"blocks.{n_stages - 2 - j}.{index}", EQUALIZED)
              for j in range(n_stages - 1) for conv, index in (("conv1", 0), ("conv2", 2))],
            *[(f"from_img.{j}", f"from_image.{n_stages - 1 - j}.0", EQUALIZED) for j in range(n_stages)],
            ("from_img4", "from_image.0.0", EQUALIZED), ("final_block.0", "final.1", EQUALIZED),
            ("final_block.2", "final.3", EQUALIZED), ("adv_layer", "adversarial_head", EQUALIZED),
            ("aux_FC1", "class_head.0", EQUALIZED), ("aux_layer", "class_head.1", EQUALIZED)]


def key_pairs(layers: list[tuple[str, str, tuple]]) -> list[tuple[str, str, bool]]:
    """``(reference key, kit key, is the plain weight)`` for every tensor, in the reference's order."""
    return [(f"{reference}.{reference_suffix}", f"{kit}.{kit_suffix}", kind is PLAIN and kit_suffix == "weight")
            for reference, kit, kind in layers for reference_suffix, kit_suffix in kind]


# ----------------------------------------------------------------------------------------------- import


@dataclass
class ReferenceModel:
    """Reference checkpoints read into kit networks.

    Attributes:
        generator, discriminator: the kit networks holding the reference's weights (the critic's stored
            minibatch-stddev value not set yet).
        architecture: the kit's architecture dict.
        stage: the stage of the checkpoints' resolution.
        options: the kit options with the reference config's values.
        epoch: the ``epoch`` stored in the generator file.
        files: ``{"generator": path, "discriminator": path, "config": path}``.
    """

    generator: Generator
    discriminator: Discriminator
    architecture: dict
    stage: int
    options: KitConfig
    epoch: int
    files: dict[str, Path]


def import_reference(checkpoints: str | Path | Sequence[str | Path], config: str | Path, out: str | Path,
                     class_names: Sequence[str] = REFERENCE_CLASS_NAMES, stddev: float | None = None,
                     stddev_images: str | Path | None = None, seed: int = 0, device: str = "auto") -> Path:
    """Write a kit checkpoint holding the reference's trained networks; ``pacgan-lite generate``, ``classify``
    and ``evaluate --checkpoint`` read it as any checkpoint (it holds no training state to resume from).

    Args:
        checkpoints: a ``PACGAN_{s}x{s}`` folder, the folder holding those (the highest resolution is taken),
            or the two files ``(generator_best.pt, discriminator_best.pt)``. The images are made at ``s`` px
            (from the folder's name; the last stage of ``FACTORS`` when the files lie elsewhere), with
            fade_alpha 1 as the reference's tools make them.
        config: the reference's ``config.json`` the weights were trained with.
        out: the kit checkpoint to write.
        class_names: names of labels 0 and 1 (the reference: CN, AD).
        stddev, stddev_images: how the critic's minibatch-stddev value is set (see the module docstring);
            at most one of them; neither: estimated from generated images.
        seed: seeds the shuffling of ``stddev_images`` or the generated images.
        device: where the stddev estimate runs: "auto" uses CUDA when present.

    Raises:
        CheckpointError: a file that is unreadable, not a reference checkpoint, the other network's file, or
            whose keys or shapes do not fit the architecture of ``config``.
        ConfigError, DataError: a bad config.json, class names or ``stddev_images``.
    """
    if stddev is not None and stddev_images is not None:
        raise InputError(None, "stddev", "both a value and images were given", "give one of stddev and stddev_images")
    if len(class_names) != REFERENCE_CLASSES or len(set(class_names)) != REFERENCE_CLASSES:
        raise InputError(None, "class_names", f"got {list(class_names)}; the reference's networks have 2 classes",
                         "give two different names, label 0 first (the reference: CN AD)")
    model = read_reference(checkpoints, config)
    if stddev is not None:
        if not (math.isfinite(stddev) and stddev > 0):
            raise InputError(None, "stddev", f"must be a positive number, got {stddev}",
                             "give a value from an earlier import, or leave it out to estimate it")
        record = {"source": "given", "value": float(stddev), "batches": 1}
    else:
        record = estimate_stddev(model, stddev_images, seed, resolve_device(device, option="device"))
    set_stored_stddev(model.discriminator, record["value"], record["batches"])
    payload = {"architecture": model.architecture, "class_names": list(class_names),
               "options": model.options.to_dict(),
               "sampling": sampling_point(model.stage, resolution(model.stage), 1.0),
               "generator": model.generator.state_dict(), "discriminator": model.discriminator.state_dict(),
               "generator_ema": None,
               "imported_from": {**{name: str(path.resolve()) for name, path in model.files.items()},
                                 "epoch": model.epoch,
                                 "stddev": record}}
    return save_checkpoint(out, payload)


def read_reference(checkpoints: str | Path | Sequence[str | Path], config: str | Path) -> ReferenceModel:
    """The reference's generator and critic as kit networks (see :func:`import_reference` for the arguments)."""
    generator_path, discriminator_path, side = reference_files(checkpoints)
    config = Path(config)
    reference = read_reference_config(config, allow_unknown=True)  # only the architecture keys matter here
    classes = reference.data_checks.get("n_classes", REFERENCE_CLASSES)
    if classes != REFERENCE_CLASSES:
        raise InputError(config, "CLASS_SIZE", f"is {classes}; the reference's class head always has 2 outputs, "
                         "so only 2-class models are trained correctly", "give a 2-class model's config.json")
    n_stages = len(reference.overrides.get("model.channel_factors", ModelOptions.channel_factors))
    stage = n_stages - 1 if side is None else _stage_of(side, n_stages, generator_path.parent, config)
    # The paper's options (the reference's defaults for keys the file lacks) with the file's values.
    with reference_keys_in_errors(reference, config):
        options = load_profile("paper", {"train.stages": stage + 1}, layers=[(config, reference.overrides)])
    architecture = architecture_of(options.model, REFERENCE_CLASSES, reference.data_checks.get("image_channels", 1))
    generator, discriminator = build_networks(architecture)
    generator_file = read_reference_file(generator_path, "generator")
    discriminator_file = read_reference_file(discriminator_path, "discriminator")
    described = describe_architecture(architecture, config)
    load_reference_state(generator, generator_layers(n_stages), generator_file["model_state_dict"],
                         generator_path, described)
    load_reference_state(discriminator, discriminator_layers(n_stages), discriminator_file["model_state_dict"],
                         discriminator_path, described)
    return ReferenceModel(generator, discriminator, architecture, stage, options,
                          int(generator_file.get("epoch", 0)),
                          {"generator": generator_path, "discriminator": discriminator_path, "config": config})


def reference_files(checkpoints: str | Path | Sequence[str | Path]) -> tuple[Path, Path, int | None]:
    """``(generator file, discriminator file, side in px or None)`` from a folder or the two files."""
    if not isinstance(checkpoints, str | Path):
        paths = [Path(path) for path in checkpoints]
        if len(paths) == 1:
            return reference_files(paths[0])
        if len(paths) != 2:
            raise CheckpointError(None, "checkpoints", f"got {len(paths)} paths",
                                  f"give one folder, or two files: {GENERATOR_FILE} then {DISCRIMINATOR_FILE}")
        match = RESOLUTION_FOLDER.fullmatch(paths[0].parent.name)
        return paths[0], paths[1], int(match.group(1)) if match else None
    folder = Path(checkpoints)
    if not folder.exists():
        raise CheckpointError(folder, "checkpoints", "no such file or folder",
                              "give the reference's model folder, one of its PACGAN_{s}x{s} folders or both files")
    if folder.is_file():
        raise CheckpointError(folder, "checkpoints", "is one file; the generator and the critic are needed",
                              f"give its PACGAN_{{s}}x{{s}} folder, or both {GENERATOR_FILE} and {DISCRIMINATOR_FILE}")
    if not (folder / GENERATOR_FILE).is_file():
        sides = [int(match.group(1)) for child in folder.iterdir()
                 if (match := RESOLUTION_FOLDER.fullmatch(child.name)) and (child / GENERATOR_FILE).is_file()]
        if not sides:
            raise CheckpointError(folder, "(folder)", f"holds neither {GENERATOR_FILE} nor PACGAN_{{s}}x{{s}} folders "
                                  "with one", "give the reference's model folder or one of its PACGAN_{s}x{s} folders")
        folder = folder / f"PACGAN_{max(sides)}x{max(sides)}"
    match = RESOLUTION_FOLDER.fullmatch(folder.name)
    return folder / GENERATOR_FILE, folder / DISCRIMINATOR_FILE, int(match.group(1)) if match else None


def _stage_of(side: int, n_stages: int, folder: Path, config: Path) -> int:
    """The stage whose resolution is ``side`` px, checked against the network's stages."""
    if not (is_resolution(side) and stage_of(side) < n_stages):
        raise CheckpointError(folder, "resolution", f"the folder is for {side} px, but FACTORS in {config} gives "
                              f"{n_stages} stages ({resolution(0)} to {resolution(n_stages - 1)} px)",
                              "give the config.json these weights were trained with")
    return stage_of(side)


def describe_architecture(architecture: dict, config: Path) -> str:
    """The reference config values behind ``architecture``, for error messages."""
    return (f"{config} gives IN_CHANNELS={architecture['base_channels']}, FACTORS={architecture['channel_factors']}, "
            f"Z_DIM={architecture['z_dim']}, EMBEDDING_DIM={architecture['embedding_dim']}, "
            f"IMAGE_CHANNELS={architecture['image_channels']}")


def read_reference_file(path: Path, role: str) -> dict:
    """A reference checkpoint dict, read weights-only, its ``model_state_dict`` without ``module.`` prefixes.

    ``role`` is "generator" or "discriminator"; the other network's file is refused by name."""
    try:
        raw = read_weights_only(path)
    except CheckpointError as err:  # the same problem, with the fix for reference files
        raise CheckpointError(err.path, err.field, err.problem, REFERENCE_FIX) from None
    if isinstance(raw, dict) and raw.get("format") == FORMAT:
        raise CheckpointError(path, "format", "is a pacgan-lite checkpoint already, not a reference one",
                              "use it directly with pacgan-lite generate or classify")
    if not isinstance(raw, dict) or not isinstance(raw.get("model_state_dict"), dict):
        raise CheckpointError(path, "model_state_dict", "missing: not a reference PACGAN checkpoint (a dict of "
                              "epoch, model_state_dict, optimizer_state_dict)", REFERENCE_FIX)
    state = {key.removeprefix(DATA_PARALLEL_PREFIX): value for key, value in raw["model_state_dict"].items()}
    if len(state) != len(raw["model_state_dict"]):
        raise CheckpointError(path, "model_state_dict", "holds keys both with and without the 'module.' prefix",
                              REFERENCE_FIX)
    other = "discriminator" if role == "generator" else "generator"
    if MARKER[other] in state and MARKER[role] not in state:
        raise CheckpointError(path, "model_state_dict", f"holds a {other} (it has {MARKER[other]}), but was given "
                              f"as the {role}", f"give {GENERATOR_FILE} as the generator and {DISCRIMINATOR_FILE} "
                              "as the discriminator")
    return {**raw, "model_state_dict": state}


def load_reference_state(network: nn.Module, layers: list[tuple[str, str, tuple]], state: dict, path: Path,
                         described: str) -> None:
    """Load a reference state dict into a kit ``network``, checking keys, shapes and duplicated layers.

    Raises:
        CheckpointError: naming every missing or unexpected key, every shape that differs, or a duplicated
            layer whose two copies differ.
    """
    pairs = key_pairs(layers)
    expected = {reference for reference, _, _ in pairs}
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    if missing or unexpected:
        found = "; ".join(f"{what}: {', '.join(sorted(keys))}" for what, keys in
                          (("missing", missing), ("unexpected", unexpected)) if keys)
        raise CheckpointError(path, "model_state_dict", f"keys do not fit the architecture ({found}); {described}",
                              "give the config.json these weights were trained with (FACTORS sets the number of "
                              "stages), or an unedited reference checkpoint")
    kit_state = network.state_dict()
    converted: dict[str, torch.Tensor] = {}
    first_key: dict[str, str] = {}
    wrong_shapes = []
    for reference, kit, plain in pairs:
        value = state[reference]
        target = kit_state[kit]
        if not isinstance(value, torch.Tensor) or value.shape != target.shape:
            shape = list(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            wrong_shapes.append(f"{reference} is {shape}, expected {list(target.shape)}")
            continue
        value = value.to(target.dtype)
        if kit in converted:  # a layer the reference registered twice: both copies must agree
            if not torch.equal(value, state[first_key[kit]].to(target.dtype)):
                raise CheckpointError(path, reference, f"differs from {first_key[kit]}, which is the same layer in "
                                      "the reference", "the file was edited; give an unedited reference checkpoint")
            continue
        first_key[kit] = reference
        converted[kit] = unscaled_weight(value, network.get_submodule(kit.rsplit(".", 1)[0]).scale) if plain else value
    if wrong_shapes:
        raise CheckpointError(path, "model_state_dict", "shapes do not fit the architecture "
                              f"({'; '.join(wrong_shapes)}); {described}",
                              "give the config.json these weights were trained with")
    network.load_state_dict({**kit_state, **converted})


def unscaled_weight(applied: torch.Tensor, scale: float) -> torch.Tensor:
    """The float32 ``w`` whose ``w * scale`` (as the kit's equalized layer computes it) equals ``applied``, for
    every element where one exists; elsewhere the nearest.

    ``applied / scale`` is such a ``w`` almost always; the rounding of the division can miss it by one unit in
    the last place, so the neighbours are tried."""
    weight = applied / scale
    for direction in (math.inf, -math.inf):
        neighbour = torch.nextafter(weight, torch.full_like(weight, direction))
        weight = torch.where((weight * scale != applied) & (neighbour * scale == applied), neighbour, weight)
    return weight


# --------------------------------------------------------------------------------- minibatch stddev value


@contextmanager
def reference_batch_stddev(discriminator: nn.Module) -> Iterator[list[float]]:
    """Within the block, the critic's minibatch-stddev feature is the reference's: the unbiased standard
    deviation over the batch of every feature, averaged (NaN for a batch of one), whatever the mode.

    Yields the list of the values used, one per forward pass. The critic's stored value is not changed (in
    training mode the kit's own running average still updates, so use eval mode)."""
    values: list[float] = []

    def batch_statistic(module: nn.Module, inputs: tuple[torch.Tensor], output: torch.Tensor) -> torch.Tensor:
        features = inputs[0]
        stddev = features.float().std(dim=0).mean()
        values.append(stddev.item())
        return torch.cat([features, stddev.to(features.dtype).expand(features.shape[0], 1, *features.shape[2:])],
                         dim=1)

    handle = _stddev_layer(discriminator).register_forward_hook(batch_statistic)
    try:
        yield values
    finally:
        handle.remove()


@torch.no_grad()
def estimate_stddev(model: ReferenceModel, images: str | Path | None, seed: int,
                    device: torch.device) -> dict:
    """The critic's stored minibatch-stddev value for ``model`` (see the module docstring): the mean of the
    reference's statistic over batches of real ``images`` (a NIfTI ``[W, H, C, N]``; at most
    :data:`STDDEV_MAX_IMAGE_BATCHES` batches), or of generated images when None, computed on ``device``
    (the networks are back on the CPU afterwards). Returns the record kept in the checkpoint:
    ``{source, seed, value, batches, batch_size[, images]}``."""
    batch_size = model.options.train.batch_sizes[model.stage]
    model.generator.to(device)
    model.discriminator.to(device)
    if images is None:
        batches = generated_batches(model.generator, model.stage, batch_size, STDDEV_GENERATED_BATCHES, seed,
                                    device)
        record = {"source": "generated", "seed": seed}
    else:
        batches = image_batches(images, resolution(model.stage), model.architecture["image_channels"], batch_size,
                                seed)[:STDDEV_MAX_IMAGE_BATCHES]
        record = {"source": "images", "images": str(images), "seed": seed}
    was_training = model.discriminator.training
    model.discriminator.eval()
    with reference_batch_stddev(model.discriminator) as values:
        for batch in batches:
            model.discriminator(batch.to(device), model.stage, 1.0)
    model.discriminator.train(was_training)
    model.generator.cpu()
    model.discriminator.cpu()
    return {**record, "value": sum(values) / len(values), "batches": len(values), "batch_size": batch_size}


def generated_batches(generator: Generator, stage: int, batch_size: int, n_batches: int, seed: int,
                      device: torch.device) -> Iterator[torch.Tensor]:
    """``n_batches`` batches ``[batch_size, C, s, s]`` of generated images on ``device`` (where ``generator``
    is), the classes alternating."""
    z = latent_vectors(batch_size * n_batches, generator.z_dim, seed).to(device)
    labels = (torch.arange(len(z)) % generator.n_classes).to(device)
    was_training = generator.training
    generator.eval()
    for z_batch, label_batch in zip(z.split(batch_size), labels.split(batch_size), strict=True):
        yield generator(z_batch, label_batch, stage, 1.0)
    generator.train(was_training)


def image_batches(path: str | Path, side: int, channels: int, batch_size: int, seed: int) -> list[torch.Tensor]:
    """The images of a NIfTI ``[W, H, C, N]`` in a seeded random order, as batches ``[b, C, s, s]`` of
    ``batch_size`` (a last batch of one image, whose statistic is undefined, is left out)."""
    shape, chunks = iter_nifti_batches(path, batch_size)
    if shape[:3] != (side, side, channels) or shape[3] < 2:
        raise DataError(path, "shape", f"is {list(shape)}; the estimate needs at least 2 images of {side}x{side} "
                        f"with {channels} channel(s), the checkpoint's resolution", f"give real images at {side} px, "
                        f"e.g. the data set's Real{side}x{side}.nii.gz")
    images = torch.cat([torch.tensor(nifti_to_nchw(chunk)) for chunk in chunks])
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    return [batch for batch in images[order].split(batch_size) if len(batch) > 1]


def set_stored_stddev(discriminator: nn.Module, value: float, batches: int) -> None:
    """Set the critic's eval-mode minibatch-stddev value; ``batches`` counts as its history for training."""
    layer = _stddev_layer(discriminator)
    layer.running_stddev.fill_(value)
    layer.num_batches_tracked.fill_(batches)


def _stddev_layer(discriminator: nn.Module) -> MinibatchStddev:
    return next(module for module in discriminator.modules() if isinstance(module, MinibatchStddev))


# ----------------------------------------------------------------------------------------------- export


def export_reference(checkpoint: str | Path, out: str | Path, overwrite: bool = False) -> Path:
    """Write a kit checkpoint in the reference's layout, for the reference's own scripts.

    Writes ``out/PACGAN_{s}x{s}/generator_best.pt`` and ``discriminator_best.pt`` (``{epoch,
    model_state_dict, optimizer_state_dict}``, the optimizer state a fresh Adam's with the checkpoint's
    learning rate and betas) and ``out/config.json`` with the reference's keys. The generator is the one the
    kit samples from (the EMA generator where the run kept one); the critic's stored minibatch-stddev value is
    dropped (the reference has none). ``epoch`` is the reference's 0-based index of the selected epoch when
    the checkpoint records it, else the imported file's, else 0. Files already there are replaced only with
    ``overwrite`` (``out`` may be the authors' own folder of trained models).

    Raises:
        InputError: one of the three files exists and ``overwrite`` is False.
        CheckpointError: not a kit checkpoint, or one the reference cannot hold: other than 2 classes, a class
            head other than 150 wide, a critic other than PACGAN's (conditioning other than acgan, minibatch-stddev
            groups, a channel floor that changes a width, bilinear upsampling in any block), or weights sampled during a fade-in (the reference
            samples at 1).
    """
    checkpoint = checkpoint_file(checkpoint)
    payload = load_checkpoint(checkpoint)
    architecture, sampling = complete_architecture(payload["architecture"]), payload["sampling"]
    limits = (("n_classes", REFERENCE_CLASSES, "the reference's class head has 2 outputs"),
              ("aux_hidden", REFERENCE_AUX_HIDDEN, "the reference's class head is 150 wide"),
              ("conditioning", ACGAN, "the reference's critic is an ACGAN critic"),
              ("mbstd_group_size", 0, "the reference's minibatch-stddev is over the whole batch"),
              ("upsample", NEAREST, "the reference's generator upsamples by nearest neighbour"),
              ("bilinear_from", 0, "the reference's generator upsamples every block by nearest neighbour"),
              ("noise_from", 0, "the reference's generator has no noise inputs"),
              ("generator_padding", ZEROS, "the reference's generator pads its convolutions with zeros"),
              ("class_resolution", 0, "the reference's critic classifies the image at the stage's side"))
    for key, required, why in limits:
        if architecture[key] != required:
            raise CheckpointError(checkpoint, f"architecture.{key}", f"is {architecture[key]!r}; {why}",
                                  f"export a model trained with {key} = {required}")
    widths = stage_channels(architecture["base_channels"], architecture["channel_factors"], architecture["min_channels"])
    if widths != tuple(int(architecture["base_channels"] * factor) for factor in architecture["channel_factors"]):
        raise CheckpointError(checkpoint, "architecture.min_channels", f"is {architecture['min_channels']}, which "
                              f"widens stages to {list(widths)}; the reference's are int(IN_CHANNELS * factor)",
                              "export a model trained without a channel floor (min_channels = 0)")
    if sampling["fade_alpha"] != 1.0:
        raise CheckpointError(checkpoint, "sampling.fade_alpha", f"is {sampling['fade_alpha']}; the reference's "
                              "tools always sample at 1",
                              "export a checkpoint taken after the fade-in (a stage's best)")
    generator, discriminator = networks_of(payload, checkpoint)
    n_stages = len(architecture["channel_factors"])
    train = payload["options"]["train"]
    epoch = reference_epoch(payload)
    side = resolution(sampling["stage"])
    folder = Path(out) / f"PACGAN_{side}x{side}"
    existing = [path for path in (folder / GENERATOR_FILE, folder / DISCRIMINATOR_FILE, Path(out) / "config.json")
                if path.exists()]
    if existing and not overwrite:
        raise InputError(existing[0], "(file)", "exists, and exporting would replace it",
                         "give another --out, or --overwrite to replace the exported files")
    for network, layers, name in ((generator, generator_layers(n_stages), GENERATOR_FILE),
                                  (discriminator, discriminator_layers(n_stages), DISCRIMINATOR_FILE)):
        parameters = len({kit for _, kit, _ in key_pairs(layers)})  # the reference's parameters, each once
        contents = {"epoch": epoch, "model_state_dict": reference_state(network, layers),
                    "optimizer_state_dict": fresh_adam_state(parameters, train["learning_rate"], train["betas"])}
        with atomic_path(folder / name) as tmp:
            torch.save(contents, tmp)
    write_json(Path(out) / "config.json", reference_config(architecture, train))
    return Path(out)


@torch.no_grad()
def reference_state(network: nn.Module, layers: list[tuple[str, str, tuple]]) -> dict[str, torch.Tensor]:
    """The reference's state dict of a kit ``network``, in its key order; a layer registered twice in the
    reference has the same tensor under both keys (so ``torch.save`` stores it once, as the reference does)."""
    kit_state = network.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    state = {}
    for reference, kit, plain in key_pairs(layers):
        if kit not in tensors:
            layer = network.get_submodule(kit.rsplit(".", 1)[0])
            tensors[kit] = (layer.scaled_weight() if plain else kit_state[kit]).detach().clone()
        state[reference] = tensors[kit]
    return state


def fresh_adam_state(n_parameters: int, learning_rate: float, betas: Sequence[float]) -> dict:
    """The state dict of an Adam optimizer that has not stepped, over ``n_parameters`` parameters (the
    reference loads it when it resumes, and checks the count)."""
    parameters = [nn.Parameter(torch.zeros(())) for _ in range(n_parameters)]
    return torch.optim.Adam(parameters, lr=learning_rate, betas=tuple(betas)).state_dict()


def reference_epoch(payload: dict) -> int:
    """The reference's ``epoch`` (0-based index of the selected epoch) for a kit checkpoint payload."""
    for record in payload.get("selection", {}).get("stages", []):
        if record["stage"] == payload["sampling"]["stage"]:
            return int(record["selected_epoch"]) - 1
    return int(payload.get("imported_from", {}).get("epoch", 0))


def reference_config(architecture: dict, train: dict) -> dict:
    """The reference's ``config.json`` keys for a kit architecture and training options (plain data).

    Per-stage lists get one entry per stage of the network (the last value repeated for stages the kit run did
    not reach), as strings the reference evaluates; ``LAMBDA_CLS_1`` is the critic's real-image weight."""
    n_stages = len(architecture["channel_factors"])

    def per_stage(values: Iterable) -> str:
        values = list(values)[:n_stages]
        return str(values + values[-1:] * (n_stages - len(values)))

    loss = train["loss"]
    return {"IMAGE_CHANNELS": architecture["image_channels"], "CLASS_SIZE": architecture["n_classes"],
            "IN_CHANNELS": architecture["base_channels"],
            "FACTORS": str([float(factor) for factor in architecture["channel_factors"]]),
            "EMBEDDING_DIM": architecture["embedding_dim"], "Z_DIM": architecture["z_dim"],
            "LEARNING_RATE": train["learning_rate"], "BATCH_SIZES": per_stage(train["batch_sizes"]),
            "CRITIC_ITERATIONS": per_stage(train["critic_iterations"]), "LAMBDA_GP": loss["gradient_penalty"],
            "LAMBDA_CLS_1": loss["class_real"], "LAMBDA_CLS_2": str(loss["class_fake"]),
            "PROGRESSIVE_EPOCHS": per_stage(train["epochs_per_stage"]), "DEVICE": REFERENCE_DEVICE, "GPUS_N": "[0]"}
