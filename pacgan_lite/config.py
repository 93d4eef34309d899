"""Profiles and options: one place, shared by the notebooks and the CLI.

Every option lives in the dataclasses below, and their defaults are the paper's settings: this module (with
:class:`~pacgan_lite.cohort.CohortParams` and :class:`~pacgan_lite.losses.LossWeights`) is the only home of
those numbers. A profile (``pacgan_lite/profiles/<name>.yaml``: ``smoke``, ``teaching``, ``paper``, or any
YAML file of the same shape) changes some of them, and overrides (``{"cohort.n_subjects": 8}`` or CLI
``--set cohort.n_subjects=8``) change the result again:

    defaults  <  profile file  <  overrides

:func:`load_profile` first merges the profile and the overrides into one nested dict, checking each key and
value type against the source that gave it (the file, or "override"); then it builds the dataclasses once
and checks the whole configuration with :func:`validate_config`, so the order of the overrides never
matters. Other named sources (a reference ``config.json``, a prepared data folder) may come between the
profile and the overrides. Values are read with PyYAML's safe loader (and YAML 1.2's ``1e-5`` floats); text
is never evaluated. Each error names the source, the option (once) and a fix.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import types
import typing
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, TypeVar

import torch
import yaml

from .cohort.params import CohortParams, CohortParamsError
from .errors import ConfigError
from .losses import ACGAN, CONDITIONINGS, LossWeights
from .schedule import MAX_STAGES, PER_STAGE_FIELDS, is_resolution, resolution, skip_problem

# The generator's x2 upsampling: nearest copies each pixel into a 2x2 block (ProGAN, PACGAN); bilinear
# interpolates, a low-pass that leaves the convolutions no blocks to turn into row and column streaks.
NEAREST, BILINEAR = "nearest", "bilinear"
UPSAMPLINGS = (NEAREST, BILINEAR)
ZEROS, REFLECT, REPLICATE = "zeros", "reflect", "replicate"
PADDINGS = (ZEROS, REFLECT, REPLICATE)

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"
PROFILES = ("smoke", "teaching", "paper")
PRECISIONS = ("auto", "float32", "bfloat16", "float16")
HELD_OUT_SPLITS = ("auto", "val", "test", "population")
# DiffAugment transforms in the order they are applied (see pacgan_lite.augment)
AUGMENT_TRANSFORMS = ("flip", "translation", "cutout", "brightness", "contrast")
SELECTION_CRITERIA = ("paper", "fidelity", "fidelity_spread")  # see pacgan_lite.training.selection
EMBEDDED = "embedded"  # data.source of the synthetic cohort
# evaluation.held_out=population draws its fresh subjects with the run's cohort seed plus this: the embedded
# cohort draws every subject from generators keyed by the seed, so another seed gives other subjects
POPULATION_SEED_OFFSET = 1000
# utility.imbalance_ratio is taken as a fraction p/q with q at most this (pacgan_lite.utility.datasets)
IMBALANCE_DENOMINATOR = 100
Options = TypeVar("Options")  # an options dataclass


def _path_field(default: str | None, *, names: tuple[str, ...] = ()):
    """A field holding a file or folder path; ``names`` are values that name something else (``"embedded"``).

    A command line makes such options absolute against its current directory (see :func:`path_options`)."""
    return field(default=default, metadata={"path": names})


@dataclass(frozen=True)
class DataOptions:
    """Where the images come from."""

    # "embedded" (the synthetic cohort) or a folder in the reference layout
    source: str = _path_field(EMBEDDED, names=(EMBEDDED,))
    # cache of generated/prepared data, relative to the repo root; "" = $PACGAN_LITE_DATA or data/
    root: str = _path_field("")
    workers: int = 0  # processes for cohort generation; 0 = all cores
    progress: bool = True  # progress bars (turn off for headless logs)


@dataclass(frozen=True)
class MatchingOptions:
    """Age/sex matching of the first two classes (see :mod:`pacgan_lite.data.matching`)."""

    enabled: bool = True
    caliper_years: float = 2.0


@dataclass(frozen=True)
class SplitOptions:
    """Subject-grouped stratified split (see :mod:`pacgan_lite.data.split`): each fraction is one of k
    grouped folds, 1/k of the subjects (0.5, 0.333..., 0.25, 0.2, ...); ``val_fraction`` 0 means no
    validation set."""

    test_fraction: float = 0.2
    val_fraction: float = 0.2
    seed: int = 0


@dataclass(frozen=True)
class ModelOptions:
    """Network widths and the critic's conditioning (paper defaults). Image channels and the class count come
    from the data."""

    z_dim: int = 512
    embedding_dim: int = 3  # length of the learned class embedding joined to z
    base_channels: int = 512  # channels at 4x4; stage i has int(base_channels * channel_factors[i])
    channel_factors: tuple[float, ...] = (1.0, 1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125)
    min_channels: int = 0  # floor: stage i has max(min_channels, that number); 0 = none
    aux_hidden: int = 150  # hidden width of the critic's class head
    # how the critic uses the class, one of CONDITIONINGS: acgan, acgan_real, tac, projection (see losses.py)
    conditioning: str = ACGAN
    mbstd_group_size: int = 0  # images per minibatch-stddev group (ProGAN: 4); 0 = the whole batch
    # side (px) of the critic's class view at the stages above it: the image pooled to it; 0: the stage's side
    class_resolution: int = 0
    upsample: str = NEAREST  # the generator's x2 upsampling, one of UPSAMPLINGS
    bilinear_from: int = 0  # side (px) from which the generator's blocks upsample bilinearly; 0: none
    noise_from: int = 0  # side (px) from which the generator's blocks add per-pixel noise (StyleGAN); 0: none
    generator_padding: str = ZEROS  # how the generator's 3x3 convs fill the border, one of PADDINGS


@dataclass(frozen=True)
class TrainOptions:
    """The trainer's options (paper defaults); see :func:`pacgan_lite.training.train`.

    Per-stage lists need at least ``stages`` entries; only the first ``stages`` are used. The values are
    checked by :func:`validate_config`.
    """

    stages: int = 7  # stages to train: 4 -> 4 * 2**(stages - 1) px
    epochs_per_stage: tuple[int, ...] = (100,) * 7  # leading 0s skip stages (no progressive growing)
    batch_sizes: tuple[int, ...] = (32, 32, 32, 16, 16, 16, 16)  # global batch (split over DDP ranks)
    critic_iterations: tuple[int, ...] = (1, 1, 1, 1, 1, 2, 2)
    fade_fraction: float = 0.5  # fade_alpha reaches 1 after this fraction of a stage's images
    learning_rate: float = 1e-3
    betas: tuple[float, ...] = (0.5, 0.999)  # Adam, both networks
    loss: LossWeights = field(default_factory=LossWeights)
    gradient_penalty_interval: int = 1  # >1: lazy R1-style penalty every k critic steps
    # DiffAugment of every image the critic sees (pacgan_lite.augment); () = off, as the paper
    augment: tuple[str, ...] = ()  # any of AUGMENT_TRANSFORMS
    augment_translation: float = 0.125  # largest shift, a fraction of the side
    augment_cutout: float = 0.5  # side of the cut-out square, a fraction of the image side
    augment_brightness: float = 0.5  # largest intensity shift (images in [-1, 1])
    augment_contrast: float = 0.5  # contrast factor drawn in [1 - this, 1 + this]
    # The critic's class head learns from real images jittered as the plain classifier's (pacgan_lite.augment,
    # a second forward pass); False = off, as the paper
    class_augment: bool = False
    validate: bool = True  # select the best epoch per stage on the val split
    selection_start: float = 0.6  # evaluate from this fraction of a stage's epochs on
    validation_fakes_per_class: int = 100  # generated images per class for the fake AUC and class effect
    selection: str = "paper"  # criterion of the best epoch, one of SELECTION_CRITERIA
    final_mode: bool = False  # retrain on train+val up to each stage's selected epoch (same fade), then test
    selection_from: str | None = _path_field(None)  # final mode: the validation run folder (its selected epochs)
    ema: bool = False  # keep an exponential moving average of G (off in the paper)
    ema_half_life_images: int = 10_000
    reset_optimizers_per_stage: bool = False  # fresh Adam moments at each new stage (PGGAN); paper: keep
    seed: int = 0
    device: str = "auto"  # "auto" (CUDA if present), "cpu", "cuda", "cuda:1"
    precision: str = "auto"  # "auto", "float32", "bfloat16", "float16"; see training.setup.precision_for
    channels_last: bool | None = None  # None: the kit's choice, NHWC on every device (precision_for)
    custom_gradients: bool = True  # conv/LeakyReLU backward built for the penalty's double backward (ops.py)
    progress: bool = True  # tqdm bars; turn off for headless logs
    sample_seed: int = 123  # fixed z of the per-stage sample grids
    samples_per_class: int = 8  # grid columns; one row per class
    checkpoint_every_epochs: int = 1  # the latest checkpoint every N epochs (and always at stage ends)
    eval_batch_size: int = 64  # batch size of validation/test forward passes


@dataclass(frozen=True)
class MetricOptions:
    """Protocol settings shared by the metrics (the defaults follow the reference where it has one).

    Attributes:
        seed: seeds every random choice (halves, SSIM pairs, KID subsets, bootstrap).
        kid_subset_size: images per KID subset (reference: 50); lowered to the smallest set when needed.
        kid_subsets: number of KID subsets (torchmetrics' default).
        ssim_pairs_per_class: random same-class pairs per class and comparison (reference: 1000).
        bootstrap_resamples: resamples for the AUC's 95% interval.
        nearest_neighbours: k of the k-NN precision/recall manifolds.
        closest_pairs: pairs kept for the memorization figure.
    """

    seed: int = 0
    kid_subset_size: int = 50
    kid_subsets: int = 100
    ssim_pairs_per_class: int = 1000
    bootstrap_resamples: int = 1000
    nearest_neighbours: int = 3
    closest_pairs: int = 6


@dataclass(frozen=True)
class EncoderOptions:
    """How the domain encoder is built and trained (part of its cache key).

    Attributes:
        feature_dim: length of the feature vector.
        width: channels of the first convolution (doubled per halving, at most ``8 * width``).
        max_side: images are average-pooled to at most this side before the convolutions.
        steps: Adam steps of batch ``batch_size``.
        learning_rate: Adam's step size.
        seed: seeds the initial weights and the batch order.
    """

    feature_dim: int = 64
    width: int = 8
    max_side: int = 64
    steps: int = 300
    batch_size: int = 16
    learning_rate: float = 2e-3
    seed: int = 0


@dataclass(frozen=True)
class EvaluationOptions:
    """What :func:`pacgan_lite.metrics.evaluate` computes.

    Attributes:
        held_out: "auto" (validation split for validation runs, test set for final runs), "val", "test", or
            "population" (a run on the embedded cohort only): every slice of a fresh cohort drawn from the
            same population, ``population_subjects`` new subjects made with the run's cohort options and
            seed ``cohort.seed + POPULATION_SEED_OFFSET``, matched as the run's data were; no image of it
            trained or chose anything, and its hundreds of slices measure an AUC far more precisely than
            a split of about 50.
        population_subjects: subjects of that fresh cohort (the matching keeps most of them).
        synthetic_per_class: generated images per class.
        metrics: names to compute (None: all registered, see :func:`pacgan_lite.metrics.list_metrics`).
        inception_weights: a local state dict of the FID Inception-v3 network (None: FID/KID skipped).
        batch_size: images per forward pass.
        metric: protocol settings (seed, KID subset size, SSIM pairs, bootstrap).
        encoder: the domain encoder's options.
    """

    held_out: str = "auto"
    population_subjects: int = 400
    synthetic_per_class: int = 200
    metrics: tuple[str, ...] | None = None
    inception_weights: str | None = _path_field(None)
    batch_size: int = 64
    metric: MetricOptions = field(default_factory=MetricOptions)
    encoder: EncoderOptions = field(default_factory=EncoderOptions)


@dataclass(frozen=True)
class ClassifierOptions:
    """The plain classifier of the utility study (:mod:`pacgan_lite.utility.classifier`): MONAI's 2D ResNet.

    The defaults are ResNet-18 (basic blocks, two per level, 64 to 512 channels), the usual baseline of
    AD/CN classification from 2D slices; a profile narrows it for a CPU.

    Attributes:
        widths: channels of the four residual levels.
        blocks: residual blocks of each of the four levels.
        batch_size: images per Adam step.
        learning_rate, weight_decay: Adam's step size and its L2 penalty.
        max_epochs: at most this many passes over the training set.
        patience: stop after this many epochs without a better validation AUC; the best epoch's weights
            are restored.
        augment: augment every training image (small affine, intensity); the copies made by oversampling
            are always augmented.
        augment_rotation_degrees, augment_scale, augment_translation: the affine's largest rotation,
            relative scale change and shift (a fraction of the side).
        augment_brightness, augment_contrast: the largest intensity shift and contrast change.
    """

    widths: tuple[int, ...] = (64, 128, 256, 512)
    blocks: tuple[int, ...] = (2, 2, 2, 2)
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    max_epochs: int = 100
    patience: int = 10
    augment: bool = True
    augment_rotation_degrees: float = 5.0
    augment_scale: float = 0.05
    augment_translation: float = 0.05
    augment_brightness: float = 0.1
    augment_contrast: float = 0.1


@dataclass(frozen=True)
class UtilityOptions:
    """What :func:`pacgan_lite.utility.run_utility` measures: does synthetic data help a plain classifier?

    Every setting is scored on the same real test images (see :mod:`pacgan_lite.utility.settings`).

    Attributes:
        resolution: side of the classifier's images (the run must have a finished stage at it).
        seeds: one classifier per setting and seed (initial weights, batch order, augmentation, and the
            generated images' latent vectors).
        synthetic_amounts: (b) synthetic-only training sets, as many images as this times the real
            training set, in its class proportions.
        synthetic_ratios: (c) the real training set plus this many synthetic images per real image.
        imbalance_ratio: (d) images of ``minority_class`` per image of the other class, 0.01 to 0.99 (0.25:
            1 AD : 4 CN).
        minority_class: the class made scarce in (d), 0 or 1 (1 = AD in the embedded cohort).
        critic: (e) also score the critic as the classifier (the paper's approach), final protocol.
        bootstrap_resamples: resamples of the test images (and seeds) for every interval.
        batch_size: images per forward pass when generating and predicting.
        classifier: the network and its training.
    """

    resolution: int = 256
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    synthetic_amounts: tuple[float, ...] = (1.0, 2.0, 4.0)
    synthetic_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)
    imbalance_ratio: float = 0.25
    minority_class: int = 1
    critic: bool = True
    bootstrap_resamples: int = 1000
    batch_size: int = 64
    classifier: ClassifierOptions = field(default_factory=ClassifierOptions)


@dataclass(frozen=True)
class KitConfig:
    """All options of a kit run and of its evaluation, grouped in sections."""

    profile: str = "custom"
    data: DataOptions = field(default_factory=DataOptions)
    cohort: CohortParams = field(default_factory=CohortParams)
    matching: MatchingOptions = field(default_factory=MatchingOptions)
    split: SplitOptions = field(default_factory=SplitOptions)
    model: ModelOptions = field(default_factory=ModelOptions)
    train: TrainOptions = field(default_factory=TrainOptions)
    evaluation: EvaluationOptions = field(default_factory=EvaluationOptions)
    utility: UtilityOptions = field(default_factory=UtilityOptions)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# Counts and sizes: option -> the smallest value it may take.
AT_LEAST = {
    "data.workers": 0,
    "split.seed": 0,
    "model.z_dim": 1,
    "model.embedding_dim": 1,
    "model.base_channels": 1,
    "model.min_channels": 0,
    "model.aux_hidden": 1,
    "train.gradient_penalty_interval": 1,
    "train.validation_fakes_per_class": 1,
    "train.ema_half_life_images": 1,
    "train.samples_per_class": 1,
    "train.checkpoint_every_epochs": 1,
    "train.eval_batch_size": 1,
    "evaluation.synthetic_per_class": 2,
    "evaluation.population_subjects": 20,  # fewer can leave a class out of a split of the fresh cohort
    "evaluation.batch_size": 1,
    "evaluation.metric.seed": 0,
    "evaluation.metric.kid_subset_size": 2,  # the unbiased MMD compares pairs within a subset
    "evaluation.metric.kid_subsets": 1,
    "evaluation.metric.ssim_pairs_per_class": 1,
    "evaluation.metric.bootstrap_resamples": 10,
    "evaluation.metric.nearest_neighbours": 1,
    "evaluation.metric.closest_pairs": 1,
    "evaluation.encoder.feature_dim": 1,
    "evaluation.encoder.width": 1,
    "evaluation.encoder.steps": 1,
    "evaluation.encoder.batch_size": 1,
    "utility.bootstrap_resamples": 10,
    "utility.batch_size": 1,
    "utility.classifier.batch_size": 2,  # batch normalisation needs two images
    "utility.classifier.max_epochs": 1,
    "utility.classifier.patience": 1,
}


# ------------------------------------------------------------------------------------------------ loading


def profile_path(name_or_path: str | Path) -> Path:
    """The YAML file of a named profile, or the given path."""
    if str(name_or_path) in PROFILES:
        return PROFILE_DIR / f"{name_or_path}.yaml"
    path = Path(name_or_path)
    if not path.is_file():
        raise ConfigError(path, "profile", "no such profile or file",
                          f"use one of {', '.join(PROFILES)} or a YAML path")
    return path


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader (no object is ever built from text), which reads YAML 1.1: there a float needs a
    dot, and ``1e-5`` is text. This one also reads YAML 1.2's exponent floats without a dot."""


_Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$"),
                              list("-+.0123456789"))


def load_yaml(text: str):
    """The value of YAML ``text``, read by the safe loader with YAML 1.2's floats (``1e-5``)."""
    return yaml.load(text, Loader=_Loader)  # safe: _Loader is a SafeLoader


def read_yaml(path: str | Path):
    """What a YAML file of the kit holds (read by :func:`load_yaml`; None for a file of comments only)."""
    try:
        return load_yaml(Path(path).read_text())
    except yaml.YAMLError as err:
        raise ConfigError(path, "(whole file)", f"not valid YAML ({err})", "fix the YAML syntax") from err


def read_profile(path: str | Path) -> dict:
    """The nested mapping a profile file holds (``{}`` for a file of comments only)."""
    raw = read_yaml(path) or {}
    if not isinstance(raw, dict):
        raise ConfigError(path, "(whole file)", "must be a mapping of sections",
                          "see pacgan_lite/profiles/smoke.yaml")
    return raw


def load_profile(name_or_path: str | Path = "smoke", overrides: dict | list[str] | None = None, *,
                 layers: Iterable[tuple[str | Path, Mapping[str, object]]] = (),
                 known_metrics: Collection[str] | None = None) -> KitConfig:
    """Defaults, then the profile, then ``layers``, then ``overrides`` (dotted keys), checked as a whole; see
    the module docstring.

    ``layers`` are ``(source, {dotted option: value})`` pairs, each named by its source in errors.
    ``known_metrics`` (:func:`pacgan_lite.metrics.list_metrics`, which this module cannot import) also checks
    the names in ``evaluation.metrics``.
    """
    path = profile_path(name_or_path)
    raw = read_profile(path)
    name = str(name_or_path) if str(name_or_path) in PROFILES else path.stem
    tree = dataclasses.asdict(KitConfig(profile=name))
    sources: dict[str, str] = {}
    _merge(KitConfig, tree, raw, str(path), "", sources)
    items = [(str(source), key, value) for source, options in layers for key, value in options.items()]
    items += [("override", key, value) for key, value in _override_items(overrides)]
    for source, key, value in items:
        _merge(KitConfig, tree, _nest(key, value), source, "", sources)
    config = _build(KitConfig, tree, sources, "")
    validate_config(config, sources, known_metrics=known_metrics)
    return config


def replace_options(options: Options, overrides: Mapping[str, object], section: str,
                    source: str = "override", *, known_metrics: Collection[str] | None = None) -> Options:
    """A copy of one section's ``options`` with ``overrides`` applied, checked as :func:`load_profile` checks
    (``known_metrics`` as there).

    Keys are dotted and relative to the section (``{"metric.seed": 3}`` for section ``"evaluation"``); an
    error names the option as ``<section>.<key>`` and ``source``.
    """
    cls, prefix = type(options), f"{section}."
    tree = dataclasses.asdict(options)
    sources: dict[str, str] = {}
    for key, value in overrides.items():
        _merge(cls, tree, _nest(key, value), source, prefix, sources)
    result = _build(cls, tree, sources, prefix)
    _raise_first(_section_findings(result, section, known_metrics), sources)
    return result


def parse_override(text: str) -> tuple[str, object]:
    """``"key=value"`` -> ``(key, value)``, the value read as YAML (plain text if it is not valid YAML)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError("override", text, "expected key=value", "write e.g. cohort.n_subjects=8")
    try:
        parsed = load_yaml(value)
    except yaml.YAMLError:
        parsed = value
    return key.strip(), parsed


def path_options() -> dict[str, tuple[str, ...]]:
    """The options that hold a file or folder path: dotted name -> values that are names, not paths.

    In a profile such a path is relative to the repository root (see :mod:`pacgan_lite.paths`); a command
    line makes it absolute against its current directory first.
    """
    return dict(_path_fields(KitConfig, ""))


def _path_fields(cls: type, prefix: str) -> Iterator[tuple[str, tuple[str, ...]]]:
    for item in dataclasses.fields(cls):
        hint = _hints(cls)[item.name]
        if dataclasses.is_dataclass(hint):
            yield from _path_fields(hint, f"{prefix}{item.name}.")
        elif "path" in item.metadata:
            yield f"{prefix}{item.name}", item.metadata["path"]


def _override_items(overrides: dict | list[str] | None) -> list[tuple[str, object]]:
    if overrides is None:
        return []
    if isinstance(overrides, dict):
        return list(overrides.items())
    return [parse_override(text) for text in overrides]


def _nest(dotted: str, value) -> dict:
    node: object = value
    for part in reversed(dotted.split(".")):
        node = {part: node}
    return node  # type: ignore[return-value]


@functools.cache
def _hints(cls: type) -> dict:
    return typing.get_type_hints(cls)


def _merge(cls: type, tree: dict, updates: dict, source: str, prefix: str, sources: dict[str, str]) -> None:
    """Write ``updates`` into ``tree`` (the plain dict of dataclass ``cls``), each key and type checked; record
    each option's source."""
    names = [item.name for item in dataclasses.fields(cls)]
    for key, value in updates.items():
        option = f"{prefix}{key}"
        if key not in names:
            raise ConfigError(source, option, "unknown option", f"valid options here: {', '.join(names)}")
        hint = _hints(cls)[key]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                inner = ", ".join(item.name for item in dataclasses.fields(hint))
                raise ConfigError(source, option, f"is a section, got {value!r}",
                                  f"give a mapping of its options ({inner})")
            _merge(hint, tree[key], value, source, f"{option}.", sources)
        else:
            try:
                tree[key] = _coerce(value, hint)
            except _BadType as bad:
                raise ConfigError(source, option, bad.problem, bad.fix) from None
            sources[option] = source


def _build(cls: type, tree: dict, sources: Mapping[str, str], prefix: str):
    """The dataclass ``cls`` (and its sections) from its plain dict."""
    values = {}
    for item in dataclasses.fields(cls):
        hint, value = _hints(cls)[item.name], tree[item.name]
        if dataclasses.is_dataclass(hint):
            value = _build(hint, value, sources, f"{prefix}{item.name}.")
        values[item.name] = value
    try:
        return cls(**values)
    except CohortParamsError as err:  # CohortParams checks itself: it is also built on its own
        option = f"{prefix}{err.field}"
        raise ConfigError(sources.get(option, "defaults"), option, err.problem, err.fix) from None


class _BadType(Exception):
    def __init__(self, problem: str, fix: str):
        super().__init__(problem)
        self.problem, self.fix = problem, fix


def _coerce(value, hint):
    """``value`` checked against a field type (bool, int, float, str, optional, or tuple/list of those)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        if value is None:
            return None
        hint = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise _BadType(f"expected a list, got {value!r}", "write a YAML list, e.g. [1, 2]")
        item_hint = args[0] if args else object
        items = [_coerce(v, item_hint) for v in value]
        return tuple(items) if origin is tuple else items
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    else:
        return value
    raise _BadType(f"expected {hint.__name__}, got {value!r} ({type(value).__name__})",
                   f"give a {hint.__name__} value")


# ------------------------------------------------------------------------------------------------ checking


class _Finding(NamedTuple):
    """One problem: the option it names, what is wrong, the fix, and other options it depends on."""

    option: str
    problem: str
    fix: str
    related: tuple[str, ...] = ()


def validate_config(config: KitConfig, sources: Mapping[str, str] | None = None, *,
                    known_metrics: Collection[str] | None = None) -> None:
    """Check a whole configuration: value types, ranges, and options that depend on each other; with
    ``known_metrics`` (the metric registry's names) also the names in ``evaluation.metrics``.

    Raises :class:`~pacgan_lite.errors.ConfigError` for the first problem. It names the option once, its
    source (``sources[option]``: the profile file or "override"; "defaults" for an option left at its
    default; "options" when ``sources`` is None, for a config built in Python) and a fix.
    """
    _raise_first(_findings(config, known_metrics), sources)


def _raise_first(findings: Iterable[_Finding], sources: Mapping[str, str] | None) -> None:
    finding = next(iter(findings), None)
    if finding is None:
        return
    if sources is None:
        source = "options"
    else:  # the source of the named option, else of an option it depends on
        options = (finding.option, *finding.related)
        source = next((sources[option] for option in options if option in sources), "defaults")
    raise ConfigError(source, finding.option, finding.problem, finding.fix)


def _findings(config: KitConfig, known_metrics: Collection[str] | None) -> Iterator[_Finding]:
    # Types first: the range checks compare values.
    yield from _type_findings(config, "")
    yield from _minimum_findings(config, "")
    for section, findings in _SECTION_FINDINGS.items():
        yield from findings(getattr(config, section))
    yield from _cross_section_findings(config)
    yield from _metric_name_findings(config.evaluation, known_metrics)


def _section_findings(options, section: str, known_metrics: Collection[str] | None) -> Iterator[_Finding]:
    yield from _type_findings(options, f"{section}.")
    yield from _minimum_findings(options, f"{section}.")
    if section in _SECTION_FINDINGS:
        yield from _SECTION_FINDINGS[section](options)
    if section == "evaluation":
        yield from _metric_name_findings(options, known_metrics)


def _type_findings(options, prefix: str) -> Iterator[_Finding]:
    for item in dataclasses.fields(options):
        option, value, hint = f"{prefix}{item.name}", getattr(options, item.name), _hints(type(options))[item.name]
        if dataclasses.is_dataclass(hint):
            if isinstance(value, hint):
                yield from _type_findings(value, f"{option}.")
            else:
                yield _Finding(option, f"must be a {hint.__name__}, got {value!r}", f"give a {hint.__name__}")
            continue
        try:
            _coerce(value, hint)
        except _BadType as bad:
            yield _Finding(option, bad.problem, bad.fix)


def _minimum_findings(options, prefix: str) -> Iterator[_Finding]:
    for option, minimum in AT_LEAST.items():
        if option.startswith(prefix):
            value = functools.reduce(getattr, option[len(prefix):].split("."), options)
            if value < minimum:
                yield _Finding(option, f"must be at least {minimum}, got {value}", f"give {minimum} or more")


def _matching_findings(matching: MatchingOptions) -> Iterator[_Finding]:
    if not (math.isfinite(matching.caliper_years) and matching.caliper_years > 0):
        yield _Finding("matching.caliper_years", f"must be a positive number of years, got {matching.caliper_years}",
                       "give the largest age difference of a matched pair, e.g. 2")


FOLDS = "0.5, 0.333..., 0.25, 0.2, ... (1/k for k >= 2, within 2%)"


def _is_fold(fraction: float) -> bool:
    """Whether ``fraction`` is one of k >= 2 grouped folds: data/split.py takes round(1 / fraction) folds."""
    folds = 1 / fraction if math.isfinite(fraction) and fraction > 0 else math.inf
    return math.isfinite(folds) and round(folds) >= 2 and math.isclose(fraction, 1 / round(folds), rel_tol=0.02)


def _split_findings(split: SplitOptions) -> Iterator[_Finding]:
    if not _is_fold(split.test_fraction):
        yield _Finding("split.test_fraction", f"must be one fold of the subjects, {FOLDS}, got {split.test_fraction}",
                       "use e.g. 0.2 (one fold of five)")
    if split.val_fraction != 0 and not _is_fold(split.val_fraction):
        yield _Finding("split.val_fraction", f"must be 0 (no validation set) or one fold of the non-test subjects, "
                       f"{FOLDS}, got {split.val_fraction}", "use e.g. 0.2 (one fold of five) or 0")


def _model_findings(model: ModelOptions) -> Iterator[_Finding]:
    if model.conditioning not in CONDITIONINGS:
        yield _Finding("model.conditioning", f"unknown conditioning {model.conditioning!r}",
                       f"use one of {', '.join(CONDITIONINGS)}")
    if model.mbstd_group_size < 0 or model.mbstd_group_size == 1:
        yield _Finding("model.mbstd_group_size", f"must be 0 or at least 2, got {model.mbstd_group_size} (a group "
                       "of one image has no spread)", "give 0 (one group: the whole batch) or the images per group, "
                       "e.g. 4 as ProGAN")
    if model.upsample not in UPSAMPLINGS:
        yield _Finding("model.upsample", f"unknown upsampling {model.upsample!r}", f"use one of {', '.join(UPSAMPLINGS)}")
    if model.generator_padding not in PADDINGS:
        yield _Finding("model.generator_padding", f"unknown padding {model.generator_padding!r}",
                       f"use one of {', '.join(PADDINGS)}")
    top = resolution(len(model.channel_factors) - 1)
    if model.bilinear_from and not (is_resolution(model.bilinear_from) and 8 <= model.bilinear_from <= top):
        yield _Finding("model.bilinear_from", f"must be 0 or a side the generator's blocks make (8 to {top} px, a "
                       f"power of two), got {model.bilinear_from}", "give 0 (no block) or, e.g., 64",
                       ("model.channel_factors",))
    if model.class_resolution and not (is_resolution(model.class_resolution) and model.class_resolution <= top):
        yield _Finding("model.class_resolution", f"must be 0 or a side of the critic's stages (4 to {top} px, a "
                       f"power of two), got {model.class_resolution}", "give 0 (the stage's side) or, e.g., 8",
                       ("model.channel_factors",))
    if model.noise_from and not (is_resolution(model.noise_from) and 8 <= model.noise_from <= top):
        yield _Finding("model.noise_from", f"must be 0 or a side the generator's blocks make (8 to {top} px, a "
                       f"power of two), got {model.noise_from}", "give 0 (no noise inputs) or, e.g., 8",
                       ("model.channel_factors",))


def _train_findings(train: TrainOptions) -> Iterator[_Finding]:
    if not 1 <= train.stages <= MAX_STAGES:
        yield _Finding("train.stages", f"must be in 1..{MAX_STAGES} (4 to {resolution(MAX_STAGES - 1)} px), "
                       f"got {train.stages}", f"choose 1 to {MAX_STAGES} stages")
        return  # the per-stage checks need a valid count
    for name in PER_STAGE_FIELDS:
        values = getattr(train, name)
        if len(values) < train.stages:
            yield _Finding(f"train.{name}", f"has {len(values)} entries, fewer than train.stages = {train.stages}",
                           f"give at least {train.stages} entries (one per stage), or lower train.stages",
                           ("train.stages",))
        elif name == "epochs_per_stage":  # leading stages may be skipped (0 epochs): no progressive growing
            if min(values[:train.stages]) < 0:
                yield _Finding(f"train.{name}", f"must hold integers >= 0, got {list(values)}",
                               "give 0 (a skipped leading stage) or more epochs for each stage")
            elif bad := skip_problem(values[:train.stages]):
                problem, fix = bad
                if len(values) > train.stages:
                    problem += f" (the first {train.stages} entries: train.stages = {train.stages})"
                yield _Finding(f"train.{name}", problem, fix, ("train.stages",))
        elif min(values[:train.stages]) < 1:
            yield _Finding(f"train.{name}", f"must hold positive integers, got {list(values)}",
                           "give 1 or more for each stage")
    if not 0.0 < train.fade_fraction <= 1.0:
        yield _Finding("train.fade_fraction", f"must be in (0, 1], got {train.fade_fraction}",
                       "give a fraction of the stage above 0 and at most 1")
    if not (math.isfinite(train.learning_rate) and train.learning_rate > 0):
        yield _Finding("train.learning_rate", f"must be a positive number, got {train.learning_rate}",
                       "give Adam's step size, above 0")
    if len(train.betas) != 2 or not all(0.0 <= beta < 1.0 for beta in train.betas):
        yield _Finding("train.betas", f"must be two numbers in [0, 1), got {list(train.betas)}",
                       "give Adam's two decay rates")
    scale = train.loss.mode_seeking_scale
    if scale < 1:
        yield _Finding("train.loss.mode_seeking_scale", f"must be an integer >= 1, got {scale!r}",
                       "give the pooling factor of the mode-seeking distance (1: pixel by pixel)")
    smoothing = train.loss.class_label_smoothing
    if not 0.0 <= smoothing < 1.0:
        yield _Finding("train.loss.class_label_smoothing", f"must be in [0, 1), got {smoothing!r}",
                       "give 0 (one-hot class targets, the paper) or a small fraction such as 0.1")
    for weight in dataclasses.fields(LossWeights):
        if weight.name in LossWeights.SHAPING_OPTIONS:
            continue
        value = getattr(train.loss, weight.name)
        if not (math.isfinite(value) and value >= 0):
            yield _Finding(f"train.loss.{weight.name}", f"must be a finite number >= 0, got {value!r}",
                           "give 0 (term off) or a positive weight")
    yield from _augment_findings(train)
    if train.selection not in SELECTION_CRITERIA:
        yield _Finding("train.selection", f"unknown criterion {train.selection!r}",
                       f"use one of {', '.join(SELECTION_CRITERIA)}")
    elif train.selection != "paper" and train.validation_fakes_per_class < 2:
        yield _Finding("train.validation_fakes_per_class", f"is {train.validation_fakes_per_class}; the class "
                       f"effect of train.selection = {train.selection} needs a spread in each class",
                       "give 2 or more", ("train.selection",))
    if not 0.0 <= train.selection_start <= 1.0:
        yield _Finding("train.selection_start", f"must be in [0, 1], got {train.selection_start}",
                       "give the fraction of a stage's epochs after which selection starts")
    if train.precision not in PRECISIONS:
        yield _Finding("train.precision", f"unknown precision {train.precision!r}",
                       f"use one of {', '.join(PRECISIONS)}")
    if not _is_device(train.device):
        yield _Finding("train.device", f"unknown device {train.device!r}", "use auto, cpu, cuda or cuda:<index>")
    if train.final_mode and not train.selection_from:
        yield _Finding("train.selection_from", "is not set; train.final_mode needs the validation run",
                       "set it to the validation run's folder, or turn train.final_mode off", ("train.final_mode",))


# Augmentation strengths: option -> (above, at most, what it is)
AUGMENT_RANGES = {
    "augment_translation": (0.0, 0.5, "the largest shift as a fraction of the side"),
    "augment_cutout": (0.0, 1.0, "the square's side as a fraction of the image side"),
    "augment_brightness": (0.0, 1.0, "the largest intensity shift"),
    "augment_contrast": (0.0, 1.0, "the largest change of the contrast factor"),
}


def _augment_findings(train: TrainOptions) -> Iterator[_Finding]:
    unknown = [name for name in train.augment if name not in AUGMENT_TRANSFORMS]
    if unknown:
        yield _Finding("train.augment", f"unknown transform(s) {', '.join(map(repr, unknown))}",
                       f"use any of {', '.join(AUGMENT_TRANSFORMS)}, or [] for none")
    elif len(set(train.augment)) < len(train.augment):
        yield _Finding("train.augment", f"names a transform twice: {list(train.augment)}",
                       "give each transform once (they are applied in a fixed order)")
    for name, (low, high, what) in AUGMENT_RANGES.items():
        value = getattr(train, name)
        if not (math.isfinite(value) and low < value <= high):
            yield _Finding(f"train.{name}", f"must be in ({low:g}, {high:g}], got {value}", f"give {what}")


def _cross_section_findings(config: KitConfig) -> Iterator[_Finding]:
    stages = config.train.stages
    factors = config.model.channel_factors
    if len(factors) < stages:
        yield _Finding("model.channel_factors", f"has {len(factors)} entries, fewer than train.stages = {stages}",
                       f"give at least {stages} factors (one per stage), or lower train.stages", ("train.stages",))
    last = resolution(stages - 1)
    if config.data.source == EMBEDDED and config.cohort.size < last:
        yield _Finding("cohort.size", f"is {config.cohort.size} px, smaller than the {last} px of the last stage "
                       f"(train.stages = {stages})", f"raise it to {last} or more, or lower train.stages",
                       ("train.stages", "data.source"))


def _evaluation_findings(evaluation: EvaluationOptions) -> Iterator[_Finding]:
    if evaluation.held_out not in HELD_OUT_SPLITS:
        yield _Finding("evaluation.held_out", f"unknown split {evaluation.held_out!r}",
                       f"use one of {', '.join(HELD_OUT_SPLITS)}")
    if not is_resolution(evaluation.encoder.max_side):
        yield _Finding("evaluation.encoder.max_side", f"must be a power of two, at least 4, got "
                       f"{evaluation.encoder.max_side}", "give e.g. 64")


def _metric_name_findings(evaluation: EvaluationOptions, known: Collection[str] | None) -> Iterator[_Finding]:
    if known is None:
        return
    unknown = [name for name in evaluation.metrics or () if name not in known]
    if unknown:
        yield _Finding("evaluation.metrics", f"unknown metric(s) {', '.join(map(repr, unknown))}",
                       f"use any of {', '.join(known)}, or leave it unset for all")


# Classifier augmentation strengths: option -> (at least, at most, what it is)
CLASSIFIER_AUGMENT_RANGES = {
    "augment_rotation_degrees": (0.0, 45.0, "the largest rotation in degrees"),
    "augment_scale": (0.0, 0.5, "the largest relative change of scale"),
    "augment_translation": (0.0, 0.5, "the largest shift as a fraction of the side"),
    "augment_brightness": (0.0, 1.0, "the largest intensity shift"),
    "augment_contrast": (0.0, 1.0, "the largest change of the contrast factor"),
}


def _utility_findings(utility: UtilityOptions) -> Iterator[_Finding]:
    side = utility.resolution
    if not is_resolution(side) or side > resolution(MAX_STAGES - 1):
        yield _Finding("utility.resolution", f"must be a power of two from 4 to {resolution(MAX_STAGES - 1)}, "
                       f"got {side}", "give a resolution the run trained, e.g. 64")
    if not utility.seeds or min(utility.seeds) < 0 or len(set(utility.seeds)) < len(utility.seeds):
        yield _Finding("utility.seeds", f"must be distinct integers >= 0, at least one, got {list(utility.seeds)}",
                       "give e.g. [0, 1, 2] (three or more for a spread over seeds)")
    for name in ("synthetic_amounts", "synthetic_ratios"):
        values = getattr(utility, name)
        if not all(math.isfinite(value) and value > 0 for value in values):
            yield _Finding(f"utility.{name}", f"must hold positive numbers, got {list(values)}",
                           "give multiples of the real training set, e.g. [1, 2], or [] to leave the setting out")
    if utility.minority_class not in (0, 1):
        yield _Finding("utility.minority_class", f"must be 0 or 1 (the study has two classes), got "
                       f"{utility.minority_class}", "give the label of the class made scarce, e.g. 1 (AD)")
    low, high = 1 / IMBALANCE_DENOMINATOR, 1 - 1 / IMBALANCE_DENOMINATOR  # p/q strictly between 0 and 1
    if not low <= utility.imbalance_ratio <= high:
        yield _Finding("utility.imbalance_ratio", f"must be in [{low:g}, {high:g}], got {utility.imbalance_ratio}",
                       "give the minority images per majority image, e.g. 0.25 for 1 : 4")
    classifier = utility.classifier
    for name in ("widths", "blocks"):  # MONAI's ResNet has four levels
        if len(getattr(classifier, name)) != 4:
            yield _Finding(f"utility.classifier.{name}", f"has {len(getattr(classifier, name))} entries, the "
                           f"ResNet has 4 levels", "give four numbers, one per level (ResNet-18: widths "
                           "[64, 128, 256, 512], blocks [2, 2, 2, 2])")
    if min(classifier.widths) < 1 or min(classifier.blocks) < 1:
        yield _Finding("utility.classifier.widths", f"widths {list(classifier.widths)} and blocks "
                       f"{list(classifier.blocks)} must be positive", "give 1 or more for each level")
    if not (math.isfinite(classifier.learning_rate) and classifier.learning_rate > 0):
        yield _Finding("utility.classifier.learning_rate", f"must be a positive number, got "
                       f"{classifier.learning_rate}", "give Adam's step size, above 0")
    if not (math.isfinite(classifier.weight_decay) and classifier.weight_decay >= 0):
        yield _Finding("utility.classifier.weight_decay", f"must be a finite number >= 0, got "
                       f"{classifier.weight_decay}", "give 0 (none) or an L2 weight")
    for name, (low, high, what) in CLASSIFIER_AUGMENT_RANGES.items():
        value = getattr(classifier, name)
        if not (math.isfinite(value) and low <= value <= high):
            yield _Finding(f"utility.classifier.{name}", f"must be in [{low:g}, {high:g}], got {value}", f"give {what}")


# Each section's own checks, after the types and AT_LEAST.
_SECTION_FINDINGS = {"matching": _matching_findings, "split": _split_findings, "model": _model_findings,
                     "train": _train_findings, "evaluation": _evaluation_findings, "utility": _utility_findings}


def config_from_dict(tree: Mapping, source: str) -> KitConfig:
    """A configuration from its plain nested dict (:meth:`KitConfig.to_dict`, e.g. the ``config`` of a run's
    options), checked as :func:`load_profile` checks a profile; ``source`` names it in errors. Options the
    dict lacks keep their defaults (a run trained before they existed)."""
    tree_now = dataclasses.asdict(KitConfig())
    sources: dict[str, str] = {}
    _merge(KitConfig, tree_now, dict(tree), source, "", sources)
    config = _build(KitConfig, tree_now, sources, "")
    validate_config(config, sources)
    return config


def _is_device(name: str) -> bool:
    if name == "auto":
        return True
    try:
        torch.device(name)
    except RuntimeError:
        return False
    return True
