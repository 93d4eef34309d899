"""Which utility options a study of a run uses: a profile's, else the run's own, then overrides."""

from __future__ import annotations

from ..config import PROFILES, UtilityOptions, load_profile, parse_override, replace_options
from ..errors import ConfigError
from ..run_folder import OPTIONS_FILE, RunFolder

PREFIX = "utility."


def utility_options(run: RunFolder, profile: str | None = None, overrides: list[str] | None = None) -> UtilityOptions:
    """The ``utility`` section of ``profile`` (a name or a YAML file); without one, the section stored with the
    run (its profile's when it was trained), or for a run trained before the section existed its named
    profile's, else the defaults. ``overrides`` are ``"utility.<option>=<value>"`` texts, applied last.

    Raises:
        ConfigError: an override outside the utility section, or a bad value.
    """
    if profile is not None:
        base = load_profile(profile).utility
    else:
        config = run.config()
        if "utility" in config:
            base = replace_options(UtilityOptions(), config["utility"], "utility", source=str(run.file(OPTIONS_FILE)))
        else:
            base = load_profile(config["profile"]).utility if config["profile"] in PROFILES else UtilityOptions()
    changes = {}
    for text in overrides or []:
        key, value = parse_override(text)
        if not key.startswith(PREFIX):
            raise ConfigError("override", key, "is not an option of the utility study",
                              "give utility.<option>, e.g. utility.seeds=[0,1,2]")
        changes[key[len(PREFIX):]] = value
    return replace_options(base, changes, "utility")
