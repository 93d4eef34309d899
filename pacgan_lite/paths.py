"""Where the kit's folders are, the same for papermill, nbval, JupyterLab and the CLI.

Relative paths in profiles and notebook parameters are relative to the repository root (not to the
current directory, which differs between papermill, nbval and a learner's JupyterLab).
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def repo_root() -> Path:
    """The kit's root: ``$PACGAN_LITE_ROOT``, else the checkout that holds this package, else the cwd."""
    env = os.environ.get("PACGAN_LITE_ROOT")
    if env:
        return Path(env).resolve()
    checkout = _PACKAGE_DIR.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "notebooks").is_dir():
        return checkout
    return Path.cwd().resolve()


def resolve(path: str | os.PathLike) -> Path:
    """An absolute path: ``path`` itself if absolute, else relative to :func:`repo_root`."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else repo_root() / path


def data_root(folder: str | os.PathLike = "") -> Path:
    """Where generated and prepared data sets are cached: ``folder`` if given (relative to the repository
    root), else ``$PACGAN_LITE_DATA``, else ``<root>/data``."""
    return resolve(folder or os.environ.get("PACGAN_LITE_DATA", "data"))


def runs_root() -> Path:
    """Where run folders and executed notebooks go: ``$PACGAN_LITE_RUNS`` or ``<root>/runs``."""
    return resolve(os.environ.get("PACGAN_LITE_RUNS", "runs"))
