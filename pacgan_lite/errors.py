"""Errors for bad input: each names the file, the field and the fix, so a user can act on it."""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """Bad user input. The message reads ``<file>: <field>: <problem>. Fix: <fix>``."""

    def __init__(self, path: str | Path | None, field: str, problem: str, fix: str):
        self.path = None if path is None else Path(path)
        self.field = field
        self.problem = problem
        self.fix = fix
        where = "<input>" if path is None else str(path)
        super().__init__(f"{where}: {field}: {problem}. Fix: {fix}")

    def __reduce__(self):
        # Rebuilt from its four parts, so the error survives pickling (a worker process sends it back).
        return self.__class__, (self.path, self.field, self.problem, self.fix)


class DataError(InputError):
    """A data set (NIfTI pyramid, labels.csv, dataset.json) that the kit cannot use as it is."""


class ConfigError(InputError):
    """A profile, an override or a notebook parameter that the kit cannot use as it is."""
