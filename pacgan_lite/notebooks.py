"""Run and check the numbered notebooks headless (papermill), as ``make demo`` and the tests do.

Rules every numbered notebook follows (checked by :func:`check_notebook`):

- kernel ``python3`` (papermill ``-k python3`` and nbval ``--nbval-current-env`` then find it);
- exactly one code cell tagged ``parameters`` holding plain literal assignments, including ``PROFILE``;
- at least one cell tagged ``nbval-check-output`` with a stored output, which nbval compares;
- no stored outputs in any other cell (committed notebooks stay small and free of run-specific output).

papermill only warns about a parameter the notebook does not declare; :func:`run_notebook` refuses it.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import nbformat

from .errors import ConfigError
from .paths import repo_root, runs_root

PARAMETERS_TAG = "parameters"
CHECK_TAG = "nbval-check-output"
KERNEL = "python3"
DEFAULT_TIMEOUT_S = 3600  # per cell
# Set for headless runs (the kit's runner, the tests, `make`); kernels inherit it. A live ipywidget in a
# headless run can leave the client waiting for a message that never comes (jupyter/nbclient#312).
HEADLESS_ENV = "PACGAN_LITE_HEADLESS"


def headless() -> bool:
    """True when the notebook runs headless (papermill, nbval), where live widgets are left out."""
    return os.environ.get(HEADLESS_ENV) == "1"


def notebook_dir() -> Path:
    return repo_root() / "notebooks"


def numbered_notebooks(folder: str | Path | None = None) -> list[Path]:
    """``NN_name.ipynb`` files of ``folder`` (default ``notebooks/``), in order."""
    folder = Path(folder) if folder else notebook_dir()
    return sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def check_notebook(path: str | Path) -> list[str]:
    """Problems that break the rules in the module docstring (an empty list when the notebook is fine)."""
    nb = nbformat.read(str(path), as_version=4)
    problems = []
    kernel = nb.metadata.get("kernelspec", {}).get("name")
    if kernel != KERNEL:
        problems.append(f"kernelspec name is {kernel!r}, expected {KERNEL!r}")
    parameter_cells = [c for c in nb.cells if PARAMETERS_TAG in _tags(c)]
    if len(parameter_cells) != 1:
        problems.append(f"expected exactly one cell tagged {PARAMETERS_TAG!r}, found {len(parameter_cells)}")
    else:
        problems += _check_parameter_cell(parameter_cells[0])
    checked = [c for c in nb.cells if CHECK_TAG in _tags(c)]
    if not any(c.cell_type == "code" and c.get("execution_count") and c.get("outputs") for c in checked):
        problems.append(f"no cell tagged {CHECK_TAG!r} has a stored output and execution count (nbval would check nothing)")
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and cell.get("outputs") and CHECK_TAG not in _tags(cell):
            problems.append(f"cell {index} stores outputs but is not tagged {CHECK_TAG!r} (strip them)")
    return problems


def _check_parameter_cell(cell) -> list[str]:
    if cell.cell_type != "code":
        return ["the parameters cell is not a code cell"]
    try:
        tree = ast.parse(cell.source)
    except SyntaxError as err:
        return [f"the parameters cell does not parse: {err}"]
    problems, names = [], []
    for statement in tree.body:
        if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                and isinstance(statement.targets[0], ast.Name)):
            problems.append(f"parameters cell line {statement.lineno}: only plain `NAME = literal` assignments")
            continue
        try:
            ast.literal_eval(statement.value)
        except ValueError:
            problems.append(f"parameters cell: {statement.targets[0].id} is not a plain literal")
        names.append(statement.targets[0].id)
    if "PROFILE" not in names:
        problems.append("the parameters cell does not define PROFILE")
    return problems


def declared_parameters(path: str | Path) -> dict:
    """The parameters a notebook declares, as papermill reads them (name -> inferred info)."""
    import papermill

    return papermill.inspect_notebook(str(path))


def run_notebook(path: str | Path, out_path: str | Path, parameters: dict | None = None,
                 timeout_s: int = DEFAULT_TIMEOUT_S, log_output: bool = False) -> Path:
    """Execute ``path`` with ``parameters`` into ``out_path`` (papermill, kernel python3, cwd notebooks/).

    Raises ConfigError before running if a parameter name is not declared in the parameters cell.
    """
    import papermill

    parameters = dict(parameters or {})
    declared = declared_parameters(path)
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise ConfigError(path, ", ".join(unknown), "unknown notebook parameter",
                          f"use one of the declared parameters: {', '.join(sorted(declared))}")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    os.environ[HEADLESS_ENV] = "1"  # the kernel papermill starts inherits it
    papermill.execute_notebook(str(path), str(out_path), parameters=parameters, kernel_name=KERNEL,
                               cwd=str(Path(path).parent), execution_timeout=timeout_s,
                               progress_bar=False, log_output=log_output)
    return out_path


def run_all(profile: str, out_dir: str | Path | None = None, only: list[str] | None = None,
            overrides: dict | None = None, timeout_s: int = DEFAULT_TIMEOUT_S, log_output: bool = True) -> list[Path]:
    """Execute the numbered notebooks (or those whose number is in ``only``) in ``profile``.

    Executed copies go to ``out_dir`` (default ``runs/notebooks/<profile>/``), never over the sources.
    """
    out_dir = Path(out_dir) if out_dir else runs_root() / "notebooks" / profile
    notebooks = [p for p in numbered_notebooks() if not only or p.name[:2] in only]
    if not notebooks:
        raise ConfigError(notebook_dir(), "only", f"no numbered notebook matches {only}", "give numbers such as 01")
    parameters = {"PROFILE": profile, **({"OVERRIDES": overrides} if overrides else {})}
    return [run_notebook(p, out_dir / p.name, parameters, timeout_s, log_output) for p in notebooks]


def strip_outputs(path: str | Path) -> None:
    """Keep only the outputs nbval checks; drop run metadata and papermill's injected cells, in place."""
    nb = nbformat.read(str(path), as_version=4)
    nb.cells = [c for c in nb.cells if "injected-parameters" not in _tags(c)]
    for key in ("papermill", "widgets"):
        nb.metadata.pop(key, None)
    for cell in nb.cells:
        for key in ("papermill", "execution", "ExecuteTime"):
            cell.metadata.pop(key, None)
        if cell.cell_type == "code" and CHECK_TAG not in _tags(cell):
            cell.outputs = []
            cell.execution_count = None
    nbformat.write(nb, str(path))


if __name__ == "__main__":  # python -m pacgan_lite.notebooks NOTEBOOK... (used by make notebooks-refresh)
    import sys

    for name in sys.argv[1:]:
        strip_outputs(name)
