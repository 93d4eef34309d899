"""The layering contract (pyproject.toml, checked by ``make lint``): kept by the package, and able to fail."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` on the package under ``root`` (first on the path), with the repository's contract."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"], cwd=root,
                          env=env, capture_output=True, text=True, timeout=300)


def test_the_package_keeps_its_layers():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("module", "wrong_import", "broken"), [
    ("metrics/classifier.py", "from ..training import selection", "pacgan_lite.metrics is not allowed to import "
                                                                    "pacgan_lite.training"),
    ("inference.py", "from .evaluation import evaluate", "pacgan_lite.inference is not allowed to import "
                                                          "pacgan_lite.evaluation"),
    ("run_folder.py", "from . import sampling", "pacgan_lite.run_folder is not allowed to import pacgan_lite.sampling"),
])
def test_an_import_against_the_layers_fails_the_lint(tmp_path, module, wrong_import, broken):
    shutil.copytree(ROOT / "pacgan_lite", tmp_path / "pacgan_lite", ignore=shutil.ignore_patterns("__pycache__"))
    path = tmp_path / "pacgan_lite" / module
    path.write_text(path.read_text() + f"\n{wrong_import}  # the wrong import\n")
    result = _lint(tmp_path)
    assert result.returncode != 0 and broken in result.stdout, result.stdout + result.stderr
