"""A grid file: a base profile, named variants (sets of option overrides), seeds and the evaluation.

A grid file is YAML (read by ``config.read_yaml``, a safe loader; nothing in it is evaluated)::

    profile: teaching                   # required: the base profile, a name or a YAML path
    data: data/prepared/my-set          # optional: a prepared folder (train/ and test/); default: the
                                        #   profile's data, prepared once by the sweep
    presets: [pacgan-training]          # optional: shared option sets, applied in order before `overrides`
    overrides:                          # optional: options of every run (dotted names, as --set)
      train.stages: 5
    evaluation:                         # optional: options of the evaluation section of every run
      held_out: test
    seeds: [0, 1]                       # required: train.seed of the runs; every variant runs every seed
    variants:                           # required: the first is the reference the others are compared with
      - {name: full}
      - {name: no-ema, set: {train.ema: false}}

The named grids ship in ``pacgan_lite/grids/<name>.yaml``, the presets in
``pacgan_lite/grids/presets/<name>.yaml`` (a mapping of dotted options, like ``overrides``): a preset holds
what several grids share, such as PACGAN's own settings on top of a profile that changes them. Relative
paths (``profile``, ``data``) are relative to the repository root, as in profiles. Every run's whole
configuration is built and checked when the grid is read, so a misspelt option or metric name stops the
sweep before anything runs; each error names the grid file, the field (``variants[2].set.train.emma``)
and the fix.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from ..config import PROFILES, KitConfig, load_profile, read_yaml
from ..data.prepare import prepared_options, refuse_options_unlike
from ..errors import ConfigError
from ..metrics import list_metrics
from ..paths import resolve

GRID_DIR = Path(__file__).resolve().parent.parent / "grids"
# The grid notebook 04 runs for a profile when it is given no grid: `make demo` runs a few-minute grid.
PROFILE_GRIDS = {"smoke": "smoke", "teaching": "demo", "paper": "paper"}
PRESET_DIR = GRID_DIR / "presets"
FIELDS = ("profile", "data", "presets", "overrides", "evaluation", "seeds", "variants")
REQUIRED = ("profile", "seeds", "variants")
VARIANT_FIELDS = ("name", "set")
SEED_OPTION = "train.seed"
_BY_SEEDS, _SEEDS_FIX = "is set by `seeds`", "list the seeds under `seeds:`"  # SEED_OPTION set elsewhere
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+=-]*$")  # a variant name is part of a folder name


@dataclass(frozen=True)
class Variant:
    """One named set of option overrides (dotted option -> value)."""

    name: str
    overrides: dict


@dataclass(frozen=True)
class Preset:
    """A named set of option overrides that grids share (dotted option -> value)."""

    name: str
    overrides: dict


@dataclass(frozen=True)
class Grid:
    """A grid file, read and checked; see the module docstring.

    Attributes:
        path: the grid file.
        profile: the base profile (a name, or an absolute path).
        data: an absolute prepared folder, or None (the profile's data, prepared by the sweep).
        presets: option sets of every run, applied in order before ``overrides``.
        overrides: options of every run, dotted names (the grid's own, on top of the presets).
        evaluation: options of the evaluation section, dotted names within it (``{"held_out": "test"}``).
        seeds: the ``train.seed`` of the runs.
        variants: the variants; ``variants[0]`` is the reference.
    """

    path: Path
    profile: str
    data: Path | None
    presets: tuple[Preset, ...]
    overrides: dict
    evaluation: dict
    seeds: tuple[int, ...]
    variants: tuple[Variant, ...]

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def reference(self) -> str:
        return self.variants[0].name

    @functools.cached_property
    def data_options(self) -> dict:
        """What the prepared ``data`` were made with (:func:`~pacgan_lite.data.prepare.prepared_options`), so
        that each run records its data's source, cohort, matching and split; {} for the profile's data."""
        return prepared_options(self.data) if self.data is not None else {}

    def run_overrides(self, variant: Variant, seed: int, extra: dict | None = None) -> dict:
        """The overrides of one run on top of the profile: the prepared data's options, the presets', the
        grid's, ``extra``, the variant's, the seed (a later source wins)."""
        presets = {key: value for preset in self.presets for key, value in preset.overrides.items()}
        evaluation = {f"evaluation.{key}": value for key, value in self.evaluation.items()}
        return {**self.data_options, **presets, **self.overrides, **evaluation, **(extra or {}), **variant.overrides,
                SEED_OPTION: seed}

    def config(self, variant: Variant, seed: int, extra: dict | None = None) -> KitConfig:
        """The whole configuration of one run, metric names included; errors name the grid field that caused
        them."""
        if SEED_OPTION in (extra or {}):
            raise ConfigError("override", SEED_OPTION, _BY_SEEDS, _SEEDS_FIX)
        try:
            config = load_profile(self.profile, self.run_overrides(variant, seed, extra), known_metrics=list_metrics())
            refuse_options_unlike(config, self.data_options, self.data, "override")
        except ConfigError as err:
            if err.path != Path("override"):  # the profile file names itself
                raise
            raise ConfigError(self.path, self._field_of(err.field, variant, extra), err.problem, err.fix) from None
        return config

    def _field_of(self, option: str, variant: Variant, extra: dict | None) -> str:
        """The grid field that set ``option`` (the last source wins, as in :meth:`run_overrides`)."""
        index = self.variants.index(variant)
        evaluation = [f"evaluation.{key}" for key in self.evaluation]  # the grid field is the option's name
        presets = [(f"presets[{i}] ({preset.name}): ", preset.overrides) for i, preset in enumerate(self.presets)]
        for prefix, keys in ((f"variants[{index}].set.", variant.overrides), ("override ", extra or {}),
                             ("", evaluation), ("overrides.", self.overrides), *reversed(presets),
                             (f"data ({self.data}): ", self.data_options)):
            if any(option == key or option.startswith(f"{key}.") for key in keys):
                return f"{prefix}{option}"
        return f"variants[{index}] ({variant.name}): {option}"


def grid_path(name_or_path: str | Path) -> Path:
    """The file of a named grid (``pacgan_lite/grids/<name>.yaml``), or the given path."""
    named = GRID_DIR / f"{name_or_path}.yaml"
    if _NAME.match(str(name_or_path)) and named.is_file():
        return named
    path = Path(name_or_path)
    if not path.is_file():
        names = ", ".join(sorted(p.stem for p in GRID_DIR.glob("*.yaml")))
        raise ConfigError(path, "grid", "no such grid or file", f"give one of {names}, or a grid YAML path")
    return path.resolve()


def read_grid(name_or_path: str | Path, extra_overrides: dict | None = None) -> Grid:
    """Read and check a grid file: its fields, and every run's configuration (with ``extra_overrides``)."""
    path = grid_path(name_or_path)
    raw = read_yaml(path) or {}
    if not isinstance(raw, dict):
        raise ConfigError(path, "(whole file)", "must be a mapping of fields", "see pacgan_lite/grids/smoke.yaml")
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        raise ConfigError(path, unknown[0], "unknown field", f"a grid has the fields {', '.join(FIELDS)}")
    for field in REQUIRED:
        if field not in raw:
            raise ConfigError(path, field, "missing", f"add `{field}:` (see pacgan_lite/grids/smoke.yaml)")
    grid = Grid(path, _profile(path, raw["profile"]), _data(path, raw.get("data")),
                _presets(path, raw.get("presets")), _mapping(path, "overrides", raw.get("overrides")),
                _mapping(path, "evaluation", raw.get("evaluation")),
                _seeds(path, raw["seeds"]), _variants(path, raw["variants"]))
    for variant in grid.variants:
        grid.config(variant, grid.seeds[0], extra_overrides)
    return grid


def _profile(path: Path, value) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(path, "profile", f"expected a profile name or path, got {value!r}",
                          f"give one of {', '.join(PROFILES)} or a profile YAML path")
    if value in PROFILES:
        return value
    profile = resolve(value)
    if not profile.is_file():
        raise ConfigError(path, "profile", f"no such profile or file: {value}",
                          f"give one of {', '.join(PROFILES)} or a profile YAML path (relative to the repository root)")
    return str(profile)


def _presets(path: Path, value) -> tuple[Preset, ...]:
    if value is None:
        return ()
    names = ", ".join(sorted(p.stem for p in PRESET_DIR.glob("*.yaml")))
    if not isinstance(value, list):
        raise ConfigError(path, "presets", f"expected a list of preset names, got {value!r}", f"write e.g. [{names}]")
    presets = []
    for index, name in enumerate(value):
        file = PRESET_DIR / f"{name}.yaml"
        if not (isinstance(name, str) and _NAME.match(name) and file.is_file()):
            raise ConfigError(path, f"presets[{index}]", f"no such preset: {name!r}",
                              f"give one of {names} (pacgan_lite/grids/presets)")
        presets.append(Preset(name, _mapping(file, "(whole file)", read_yaml(file))))
    return tuple(presets)


def _data(path: Path, value) -> Path | None:
    if value is None:
        return None
    folder = resolve(value) if isinstance(value, str) else None
    if folder is None or not ((folder / "train").is_dir() and (folder / "test").is_dir()):
        raise ConfigError(path, "data", f"{value!r} is not a prepared folder with train/ and test/",
                          "give the folder `pacgan-lite prepare` wrote, or leave `data` out for the profile's data")
    return folder


def _mapping(path: Path, field: str, value) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
        raise ConfigError(path, field, f"expected a mapping of options, got {value!r}",
                          "write dotted option names and values, e.g. {train.ema: false}")
    if SEED_OPTION in value and field != "evaluation":
        raise ConfigError(path, f"{field}.{SEED_OPTION}", _BY_SEEDS, _SEEDS_FIX)
    return dict(value)


def _seeds(path: Path, value) -> tuple[int, ...]:
    if (not isinstance(value, list) or not value
            or not all(isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0 for seed in value)):
        raise ConfigError(path, "seeds", f"expected a list of integers >= 0, got {value!r}", "write e.g. [0, 1]")
    if len(set(value)) != len(value):
        raise ConfigError(path, "seeds", f"repeats a seed: {value}", "list each seed once")
    return tuple(value)


def _variants(path: Path, value) -> tuple[Variant, ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError(path, "variants", f"expected a list of variants, got {value!r}",
                          "write e.g. [{name: full}, {name: no-ema, set: {train.ema: false}}]")
    variants, seen = [], set()
    for index, entry in enumerate(value):
        where = f"variants[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(path, where, f"expected {{name: ..., set: {{...}}}}, got {entry!r}",
                              "write each variant as {name: NAME, set: {option: value}}")
        unknown = sorted(set(entry) - set(VARIANT_FIELDS))
        if unknown:
            raise ConfigError(path, f"{where}.{unknown[0]}", "unknown field",
                              f"a variant has the fields {', '.join(VARIANT_FIELDS)}")
        name = entry.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigError(path, f"{where}.name", f"expected a name of letters, digits and _.+=-, got {name!r}",
                              "name the variant, e.g. no-ema (it becomes part of its runs' folder names)")
        if name in seen:
            raise ConfigError(path, f"{where}.name", f"duplicate variant name {name!r}", "give each variant its own name")
        seen.add(name)
        variants.append(Variant(name, _mapping(path, f"{where}.set", entry.get("set"))))
    return tuple(variants)
