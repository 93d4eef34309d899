"""Profiles and options: one place, shared by the notebooks and the CLI.

Defaults live in the dataclasses below. A profile (``pacgan_lite/profiles/<name>.yaml``: ``smoke``,
``teaching``, ``paper``, or any YAML file of the same shape) changes some of them, and overrides
(``{"cohort.n_subjects": 8}`` or CLI ``--set cohort.n_subjects=8``) change the result again:

    defaults  <  profile file  <  overrides

Values are read with ``yaml.safe_load`` and checked against each field's type; text is never evaluated.
An unknown option is an error that names the file, the option and the valid choices.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .cohort import CohortParams
from .errors import ConfigError
from .losses import LossWeights

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"
PROFILES = ("smoke", "teaching", "paper")
PRECISIONS = ("auto", "float32", "bfloat16", "float16")


@dataclass(frozen=True)
class DataOptions:
    """Where the images come from."""

    source: str = "embedded"  # "embedded" (the synthetic cohort) or a folder in the reference layout
    root: str = ""  # cache of generated/prepared data, relative to the repo root; "" = $PACGAN_LITE_DATA or data/
    workers: int = 0  # processes for cohort generation; 0 = all cores
    progress: bool = True  # progress bars (turn off for headless logs)


@dataclass(frozen=True)
class MatchingOptions:
    """Age/sex matching of the first two classes (see :mod:`pacgan_lite.data.matching`)."""

    enabled: bool = True
    caliper_years: float = 2.0


@dataclass(frozen=True)
class SplitOptions:
    """Subject-grouped stratified split (see :mod:`pacgan_lite.data.split`)."""

    test_fraction: float = 0.2
    val_fraction: float = 0.2
    seed: int = 0


@dataclass(frozen=True)
class ModelOptions:
    """Network widths (paper defaults). Image channels and the class count come from the data."""

    z_dim: int = 512
    embedding_dim: int = 3  # length of the learned class embedding joined to z
    base_channels: int = 512  # channels at 4x4; stage i has int(base_channels * channel_factors[i])
    channel_factors: tuple[float, ...] = (1.0, 1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125)
    aux_hidden: int = 150  # hidden width of the critic's class head


@dataclass(frozen=True)
class TrainOptions:
    """The trainer's options (paper defaults); see :func:`pacgan_lite.training.train`.

    Per-stage lists need at least ``stages`` entries; only the first ``stages`` are used.
    """

    stages: int = 7  # stages to train: 4 -> 4 * 2**(stages - 1) px
    epochs_per_stage: tuple[int, ...] = (100,) * 7
    batch_sizes: tuple[int, ...] = (32, 32, 32, 16, 16, 16, 16)  # global batch (split over DDP ranks)
    critic_iterations: tuple[int, ...] = (1, 1, 1, 1, 1, 2, 2)
    fade_fraction: float = 0.5  # fade_alpha reaches 1 after this fraction of a stage's images
    learning_rate: float = 1e-3
    betas: tuple[float, ...] = (0.5, 0.999)  # Adam, both networks
    loss: LossWeights = field(default_factory=LossWeights)
    gradient_penalty_interval: int = 1  # >1: lazy R1-style penalty every k critic steps
    validate: bool = True  # select the best epoch per stage on the val split
    selection_start: float = 0.6  # evaluate from this fraction of a stage's epochs on
    validation_fakes_per_class: int = 100  # generated images per class for the fake AUC
    final_mode: bool = False  # retrain on train+val up to each stage's selected epoch (same fade), then test
    selection_from: str | None = None  # final mode: the validation run folder (its selection.json)
    ema: bool = False  # keep an exponential moving average of G (off in the paper)
    ema_half_life_images: int = 10_000
    reset_optimizers_per_stage: bool = False  # fresh Adam moments at each new stage (PGGAN); paper: keep
    seed: int = 0
    device: str = "auto"  # "auto" (CUDA if present), "cpu", "cuda", "cuda:1"
    precision: str = "auto"  # "auto", "float32", "bfloat16", "float16"; see training.setup.precision_for
    channels_last: bool | None = None  # None: where it pays (CUDA, or with autocast on a CPU)
    custom_gradients: bool = True  # conv/LeakyReLU backward built for the penalty's double backward (ops.py)
    progress: bool = True  # tqdm bars; turn off for headless logs
    sample_seed: int = 123  # fixed z of the per-stage sample grids
    samples_per_class: int = 8  # grid columns; one row per class
    checkpoint_every_epochs: int = 1  # latest.pt every N epochs (and always at stage ends)
    eval_batch_size: int = 64  # batch size of validation/test forward passes

    def __post_init__(self):
        if self.stages < 1:
            raise ValueError(f"train.stages must be >= 1, got {self.stages}")
        for name in ("epochs_per_stage", "batch_sizes", "critic_iterations"):
            if len(getattr(self, name)) < self.stages:
                raise ValueError(f"train.{name} needs at least train.stages = {self.stages} entries, "
                                 f"got {list(getattr(self, name))}")
        if not 0.0 <= self.selection_start <= 1.0:
            raise ValueError(f"train.selection_start must be in [0, 1], got {self.selection_start}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if len(self.betas) != 2:
            raise ValueError(f"train.betas must have two entries, got {list(self.betas)}")
        for name in ("checkpoint_every_epochs", "gradient_penalty_interval", "samples_per_class",
                     "validation_fakes_per_class", "eval_batch_size", "ema_half_life_images"):
            if getattr(self, name) < 1:
                raise ValueError(f"train.{name} must be >= 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class KitConfig:
    """All options of a kit run, grouped in sections."""

    profile: str = "custom"
    data: DataOptions = field(default_factory=DataOptions)
    cohort: CohortParams = field(default_factory=CohortParams)
    matching: MatchingOptions = field(default_factory=MatchingOptions)
    split: SplitOptions = field(default_factory=SplitOptions)
    model: ModelOptions = field(default_factory=ModelOptions)
    train: TrainOptions = field(default_factory=TrainOptions)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def profile_path(name_or_path: str | Path) -> Path:
    """The YAML file of a named profile, or the given path."""
    if str(name_or_path) in PROFILES:
        return PROFILE_DIR / f"{name_or_path}.yaml"
    path = Path(name_or_path)
    if not path.is_file():
        raise ConfigError(path, "profile", "no such profile or file", f"use one of {', '.join(PROFILES)} or a YAML path")
    return path


def load_profile(name_or_path: str | Path = "smoke", overrides: dict | list[str] | None = None) -> KitConfig:
    """Defaults, then the profile, then ``overrides`` (dotted keys), checked; see the module docstring."""
    path = profile_path(name_or_path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(path, "(whole file)", f"not valid YAML ({err})", "fix the YAML syntax") from err
    if not isinstance(raw, dict):
        raise ConfigError(path, "(whole file)", "must be a mapping of sections", "see pacgan_lite/profiles/smoke.yaml")
    name = Path(path).stem if str(name_or_path) not in PROFILES else str(name_or_path)
    config = _merge(KitConfig(profile=name), raw, path, prefix="")
    for key, value in _override_items(overrides):
        config = _merge(config, _nest(key, value), "override", prefix="")
    return config


def _override_items(overrides: dict | list[str] | None) -> list[tuple[str, object]]:
    if overrides is None:
        return []
    if isinstance(overrides, dict):
        return list(overrides.items())
    items = []
    for text in overrides:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise ConfigError("override", text, "expected key=value", "write e.g. cohort.n_subjects=8")
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            parsed = value
        items.append((key.strip(), parsed))
    return items


def _nest(dotted: str, value) -> dict:
    node: object = value
    for part in reversed(dotted.split(".")):
        node = {part: node}
    return node  # type: ignore[return-value]


def _merge(obj, updates: dict, source, prefix: str):
    """A copy of dataclass ``obj`` with ``updates`` applied, each key and value checked."""
    hints = typing.get_type_hints(type(obj))
    names = [f.name for f in dataclasses.fields(obj)]
    changes = {}
    for key, value in updates.items():
        dotted = f"{prefix}{key}"
        if key not in names:
            raise ConfigError(source, dotted, "unknown option", f"valid options here: {', '.join(names)}")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(source, dotted, f"is a section, got {value!r}", f"give its options, e.g. {dotted}.<option>")
            changes[key] = _merge(current, value, source, prefix=f"{dotted}.")
        else:
            changes[key] = _coerce(value, hints[key], source, dotted)
    try:
        return dataclasses.replace(obj, **changes)
    except (ValueError, TypeError) as err:
        raise ConfigError(source, prefix.rstrip(".") or "(top)", str(err), "choose a value in the allowed range") from err


def _coerce(value, hint, source, dotted):
    """Check ``value`` against a field type: bool, int, float, str, optional, or tuple/list of those."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        if value is None:
            return None
        hint = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise ConfigError(source, dotted, f"expected a list, got {value!r}", "write a YAML list, e.g. [1, 2]")
        item_hint = args[0] if args else object
        items = [_coerce(v, item_hint, source, dotted) for v in value]
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
    raise ConfigError(source, dotted, f"expected {hint.__name__}, got {value!r} ({type(value).__name__})",
                      f"give a {hint.__name__} value")
