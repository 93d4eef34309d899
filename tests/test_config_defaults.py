"""One home for every default: the option dataclasses hold the paper's settings, and nothing repeats them."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest

from pacgan_lite.config import PROFILES, KitConfig, load_profile, profile_path, read_profile

PACKAGE = Path(__file__).resolve().parents[1] / "pacgan_lite"
HOMES = {"config.py", "losses.py"}  # where the paper's numbers live (losses.py: LossWeights)

# The paper's distinctive settings as they read in source with blanks and trailing ".0" removed.
PAPER_LITERALS = {
    "epochs per stage": r"\(100,\)\*7|\[100\]\*7|100,100,100,100,100,100,100",
    "batch sizes": r"32,32,32,16,16,16,16",
    "critic iterations": r"1,1,1,1,1,2,2",
    "channel factors": r"1,1,(0\.5|1/2),(0\.25|1/4),(0\.125|1/8),(0\.0625|1/16),(0\.03125|1/32)",
    "loss weights": r"10,0\.001,4,2,4|\b(gradient_penalty|drift|class_real|class_fake|class_generator)"
                    r"(:float)?=(10|0\.001|4|2)\b",
}


def _normalized(source: str) -> str:
    return re.sub(r"(\d)\.0\b", r"\1", re.sub(r"\s+", "", source))


def _leaves(mapping: dict, prefix: str = ""):
    for key, value in mapping.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _as_tuples(value):
    return tuple(_as_tuples(v) for v in value) if isinstance(value, list | tuple) else value


def test_the_paper_profile_is_the_defaults():
    assert load_profile("paper") == KitConfig(profile="paper")


@pytest.mark.parametrize("name", PROFILES)
def test_profiles_set_no_option_to_its_default(name):
    defaults = KitConfig()
    redundant = [option for option, value in _leaves(read_profile(profile_path(name)))
                 if _as_tuples(value) == functools.reduce(getattr, option.split("."), defaults)]
    assert redundant == [], f"{name}.yaml repeats the default of {redundant}: remove those lines"


@pytest.mark.parametrize("what", PAPER_LITERALS)
def test_the_paper_settings_are_written_only_in_their_home(what):
    pattern = re.compile(PAPER_LITERALS[what])
    found = {path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*.py")
             if pattern.search(_normalized(path.read_text()))}
    assert found <= HOMES, f"the paper's {what} are repeated in {sorted(found - HOMES)}: use the defaults instead"
    assert found, f"the pattern of the paper's {what} no longer finds their home: update PAPER_LITERALS"
