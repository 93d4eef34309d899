"""Profiles and overrides: layered, type-checked, never evaluated."""

from __future__ import annotations

import pytest

from pacgan_lite.config import PROFILES, KitConfig, load_profile
from pacgan_lite.errors import ConfigError


@pytest.mark.parametrize("name", PROFILES)
def test_every_profile_loads(name):
    config = load_profile(name)
    assert isinstance(config, KitConfig) and config.profile == name
    assert config.to_dict()["cohort"]["size"] in (4, 8, 16, 32, 64, 128, 256)


def test_profiles_differ_where_they_should():
    smoke, teaching = load_profile("smoke"), load_profile("teaching")
    assert smoke.cohort.size < teaching.cohort.size == 256
    assert smoke.data.progress is False


@pytest.mark.parametrize(
    ("overrides", "path", "expected"),
    [
        ({"cohort.n_subjects": 8}, ("cohort", "n_subjects"), 8),
        (["cohort.effect=0.5"], ("cohort", "effect"), 0.5),
        (["cohort.effect=1"], ("cohort", "effect"), 1.0),  # int accepted where a float is expected
        (["matching.enabled=false"], ("matching", "enabled"), False),
        (["data.source=/tmp/my data"], ("data", "source"), "/tmp/my data"),
        ({"split": {"seed": 7}}, ("split", "seed"), 7),
    ],
)
def test_overrides(overrides, path, expected):
    config = load_profile("smoke", overrides)
    section, key = path
    assert getattr(getattr(config, section), key) == expected


def test_override_text_is_never_evaluated():
    payload = "__import__('os').getcwd()"
    config = load_profile("smoke", [f"data.source={payload}"])
    assert config.data.source == payload


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["cohort.n_subject=8"], "cohort.n_subject: unknown option. Fix: valid options here:"),
        (["colour.depth=8"], "colour: unknown option"),
        (["cohort.n_subjects=eight"], "cohort.n_subjects: expected int, got 'eight'"),
        (["cohort.n_subjects=8.5"], "expected int"),
        (["matching.enabled=1"], "matching.enabled: expected bool"),
        (["cohort=3"], "cohort: is a section"),
        (["cohort.size=48"], "cohort"),
        (["no-equals-sign"], "expected key=value"),
    ],
)
def test_bad_overrides(overrides, message):
    with pytest.raises(ConfigError) as err:
        load_profile("smoke", overrides)
    assert message in str(err.value)


def test_profile_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "mine.yaml"
    bad.write_text("cohort:\n  n_subjects: 10\n  sizes: 64\n")
    with pytest.raises(ConfigError, match=r"mine.yaml: cohort.sizes: unknown option"):
        load_profile(bad)
    bad.write_text("cohort: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_profile(bad)
    with pytest.raises(ConfigError, match="no such profile"):
        load_profile("turbo")


def test_custom_profile_file(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("cohort:\n  n_subjects: 10\n")
    config = load_profile(path)
    assert config.profile == "mine" and config.cohort.n_subjects == 10
