"""Notebook machinery: structure rules, parameter checking, and a headless smoke run of each notebook."""

from __future__ import annotations

import nbformat
import pytest

from pacgan_lite.errors import ConfigError
from pacgan_lite.notebooks import (
    CHECK_TAG,
    HEADLESS_ENV,
    check_notebook,
    headless,
    numbered_notebooks,
    run_notebook,
    strip_outputs,
)

NOTEBOOKS = numbered_notebooks()


def _notebook(tmp_path, cells, kernel="python3"):
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": "Python 3 (ipykernel)", "language": "python"}
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    return path


def _checked_cell():
    cell = nbformat.v4.new_code_cell("print(1)", metadata={"tags": [CHECK_TAG]}, execution_count=1)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    return cell


def _parameters_cell(source='PROFILE = "smoke"'):
    return nbformat.v4.new_code_cell(source, metadata={"tags": ["parameters"]})


def test_there_are_numbered_notebooks():
    assert [p.name[:2] for p in NOTEBOOKS][:2] == ["00", "01"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_committed_notebook_follows_the_rules(path):
    assert check_notebook(path) == []
    assert path.stat().st_size < 200_000, "committed notebooks must not carry bulky outputs"


def test_a_good_notebook_passes(tmp_path):
    assert check_notebook(_notebook(tmp_path, [_parameters_cell(), _checked_cell()])) == []


@pytest.mark.parametrize(
    ("cells", "kernel", "problem"),
    [
        ([_checked_cell()], "python3", "expected exactly one cell tagged 'parameters', found 0"),
        ([_parameters_cell()], "python3", "nbval would check nothing"),
        ([_parameters_cell(), _parameters_cell(), _checked_cell()], "python3", "found 2"),
        ([_parameters_cell("SEED = 0"), _checked_cell()], "python3", "does not define PROFILE"),
        ([_parameters_cell('PROFILE = "smoke"\nN = len([1])'), _checked_cell()], "python3", "N is not a plain literal"),
        ([_parameters_cell(), _checked_cell()], "pacgan-env", "kernelspec name is 'pacgan-env'"),
    ],
)
def test_checker_catches_broken_notebooks(tmp_path, cells, kernel, problem):
    problems = check_notebook(_notebook(tmp_path, cells, kernel))
    assert any(problem in p for p in problems), problems


def test_checker_catches_stray_outputs(tmp_path):
    stray = nbformat.v4.new_code_cell("x = 1", execution_count=2)
    stray.outputs = [nbformat.v4.new_output("stream", name="stdout", text="big\n")]
    problems = check_notebook(_notebook(tmp_path, [_parameters_cell(), _checked_cell(), stray]))
    assert any("stores outputs but is not tagged" in p for p in problems)
    strip_outputs(tmp_path / "nb.ipynb")
    assert check_notebook(tmp_path / "nb.ipynb") == []


def test_unknown_parameter_is_refused_before_running(tmp_path):
    path = _notebook(tmp_path, [_parameters_cell(), _checked_cell()])
    with pytest.raises(ConfigError, match=r"PROFIL: unknown notebook parameter\. Fix: use one of the declared parameters: PROFILE"):
        run_notebook(path, tmp_path / "out.ipynb", {"PROFIL": "smoke"})
    assert not (tmp_path / "out.ipynb").exists()


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_headless_in_smoke_profile(path, tmp_path):
    out = run_notebook(path, tmp_path / path.name, {"PROFILE": "smoke"}, timeout_s=600)
    executed = nbformat.read(str(out), as_version=4)
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == []
    assert executed.metadata["papermill"]["parameters"] == {"PROFILE": "smoke"}


@pytest.mark.parametrize(("value", "expected"), [("1", True), (None, False), ("0", False)])
def test_headless_runs_are_told_by_the_environment(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv(HEADLESS_ENV, raising=False)
    else:
        monkeypatch.setenv(HEADLESS_ENV, value)
    assert headless() is expected
