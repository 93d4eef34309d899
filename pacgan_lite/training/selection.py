"""Model selection: the best-epoch snapshot of a stage, and the selected epochs a final run retrains to.

The score of an epoch is the set-level AUC of the critic's class head (:mod:`pacgan_lite.sampling`) on
real validation images plus on generated ones, as in the paper.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..checkpoint import cpu_copy
from ..errors import ConfigError
from ..run_folder import SELECTION_FILE, RunFolder


@dataclass
class BestEpoch:
    """The best epoch of the current stage so far: its 1-based number, score and a deep CPU copy of the state.

    ``snapshot`` holds clones (see :func:`~pacgan_lite.checkpoint.cpu_copy`), so later training
    never changes it (the reference kept ``state_dict()`` references, which followed the live weights).
    """

    epoch: int = 0
    score: float = -math.inf
    snapshot: dict | None = None
    history: list[dict] = field(default_factory=list)

    def offer(self, epoch: int, score: float, state: dict) -> bool:
        """Keep ``state`` if ``score`` beats the best so far (NaN never does); returns whether it was kept."""
        self.history.append({"epoch": epoch, "score": score})
        if math.isnan(score) or score <= self.score:
            return False
        self.epoch, self.score, self.snapshot = epoch, score, cpu_copy(state)
        return True

    def to_dict(self) -> dict:
        return {"epoch": self.epoch, "score": None if math.isinf(self.score) else self.score,
                "snapshot": self.snapshot, "history": self.history}

    @classmethod
    def from_dict(cls, data: dict) -> BestEpoch:
        score = -math.inf if data["score"] is None else data["score"]
        return cls(data["epoch"], score, data["snapshot"], list(data["history"]))


def first_selection_epoch(epochs: int, selection_start: float) -> int:
    """The first 1-based epoch evaluated for selection: ``ceil(selection_start * epochs)``, at least 1."""
    return max(1, math.ceil(selection_start * epochs - 1e-9))


def selected_epochs(source: str | Path, planned: Sequence[int] | None = None) -> list[int]:
    """Per stage, the 1-based selected epoch of a validation run (its folder, or its selection file).

    ``planned``: the epochs per stage of the final run's schedule; the validation run must have had the
    same, or its selected epochs would fall at other points of the fade-in."""
    source = Path(source)
    run = RunFolder(source if source.is_dir() else source.parent)
    path = run.file(SELECTION_FILE)
    records = run.selections()
    if not records:
        raise ConfigError(path, "train.selection_from", "missing or without a finished stage",
                          "point it at the run folder of a finished validation run (train.validate=true)")
    epochs = [int(record["selected_epoch"]) for record in records]
    if planned is not None:
        ran = [int(record["epochs"]) for record in records]
        if ran != list(planned)[: len(ran)]:
            raise ConfigError(path, "epochs", f"the validation run's stages had {ran} epochs, train.epochs_per_stage "
                              f"says {list(planned)[: len(ran)]}: the fade-in would not match the selected epochs",
                              "use the validation run's train.epochs_per_stage in final mode")
    if any(epoch < 1 for epoch in epochs):
        raise ConfigError(path, "selected_epoch", f"epochs must be >= 1, got {epochs}", "rerun the validation run")
    return epochs
