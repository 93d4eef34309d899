"""pyproject.toml and environment.yml install the same things; the torch pin admits the CPU and CUDA wheels."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def _pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + project["optional-dependencies"]["dev"]
    return {Requirement(s).name.lower(): str(Requirement(s).specifier) for s in specs}


def _environment_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    specs = []
    for entry in env["dependencies"]:
        if isinstance(entry, dict):
            specs += [s for s in entry["pip"] if not s.startswith("-e")]
        elif not entry.startswith(("python=", "pip")):
            specs.append(entry)
    return {Requirement(s).name.lower(): str(Requirement(s).specifier) for s in specs}


def test_environment_yml_matches_pyproject():
    assert _environment_requirements() == _pyproject_requirements()


def test_environment_yml_installs_the_package_and_python_311():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    pip = next(e for e in env["dependencies"] if isinstance(e, dict))["pip"]
    assert "-e ." in pip


@pytest.mark.parametrize(
    ("version", "admitted"),
    [("2.13.0+cpu", True), ("2.13.0+cu128", True), ("2.4.0", True), ("2.14.0", False), ("2.3.1", False)],
)
def test_torch_range(version, admitted):
    torch_spec = Requirement(next(s for s in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
                                  if s.startswith("torch"))).specifier
    assert torch_spec.contains(Version(version)) is admitted


def test_ci_runs_make_test():
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_every_data_file_of_the_package_is_in_its_package_data():
    # profiles, grids, presets and the sweep's run notebook are read at run time: a wheel without them fails
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["pacgan_lite"]
    package = ROOT / "pacgan_lite"
    data = [p for suffix in ("*.yaml", "*.ipynb") for p in package.rglob(suffix)]
    assert data
    missing = [str(p.relative_to(package)) for p in data if not any(p.relative_to(package).match(pat) for pat in patterns)]
    assert not missing, f"add these to [tool.setuptools.package-data] in pyproject.toml: {missing}"
