"""Model selection: set-level AUC of the critic's class head, and the best-epoch snapshot of a stage.

The reference averages a per-batch AUC (a batch with one class counts 0); here every AUC is computed once
over the whole set of predictions (``sklearn.metrics.roc_auc_score``; one-vs-rest macro for more than two
classes), with the critic in eval mode, so its minibatch-stddev feature does not depend on the batch.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from ..atomic import write_json
from ..errors import ConfigError
from .checkpoint import cpu_copy

SELECTION_FILE = "selection.json"


def set_auc(probabilities: torch.Tensor, labels: torch.Tensor) -> float:
    """ROC AUC over a whole set: ``probabilities [N, n_classes]``, ``labels [N]``; NaN if a class is missing."""
    labels_np, probabilities_np = labels.cpu().numpy(), probabilities.float().cpu().numpy()
    n_classes = probabilities_np.shape[1]
    if len(set(labels_np.tolist())) < n_classes:
        return math.nan
    if n_classes == 2:
        return float(roc_auc_score(labels_np, probabilities_np[:, 1]))
    return float(roc_auc_score(labels_np, probabilities_np, multi_class="ovr", average="macro"))


@torch.no_grad()
def classify(discriminator, images: torch.Tensor, stage: int, fade_alpha: float, batch_size: int,
             device: torch.device) -> torch.Tensor:
    """Class probabilities ``[N, n_classes]`` (CPU) of ``images [N, C, s, s]``, in batches, in eval mode."""
    was_training = discriminator.training
    discriminator.eval()
    chunks = [F.softmax(discriminator(batch.to(device), stage, fade_alpha)[1].float(), dim=1).cpu()
              for batch in images.split(batch_size)]
    discriminator.train(was_training)
    return torch.cat(chunks)


@torch.no_grad()
def generate_balanced(generator, n_per_class: int, stage: int, fade_alpha: float, seed: int, batch_size: int,
                      device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_per_class`` images of each class from a fixed-seed z: ``(images [K*n, C, s, s] CPU, labels [K*n])``."""
    was_training = generator.training
    generator.eval()
    labels = torch.arange(generator.n_classes).repeat_interleave(n_per_class)
    z = torch.randn(len(labels), generator.z_dim, generator=torch.Generator().manual_seed(seed))
    images = torch.cat([generator(z_batch.to(device), label_batch.to(device), stage, fade_alpha).float().cpu()
                        for z_batch, label_batch in zip(z.split(batch_size), labels.split(batch_size),
                                                        strict=True)])
    generator.train(was_training)
    return images, labels


def classifier_auc(discriminator, images, labels, stage, fade_alpha, batch_size, device) -> tuple[float, float]:
    """``(set-level AUC, mean cross-entropy)`` of the critic's class head on a labelled set."""
    probabilities = classify(discriminator, images, stage, fade_alpha, batch_size, device)
    cross_entropy = F.nll_loss(probabilities.clamp_min(1e-12).log(), labels).item()
    return set_auc(probabilities, labels), cross_entropy


@dataclass
class BestEpoch:
    """The best epoch of the current stage so far: its 1-based number, score and a deep CPU copy of the state.

    ``snapshot`` holds clones (see :func:`~pacgan_lite.training.checkpoint.cpu_copy`), so later training
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


def write_selection(run_dir: Path, records: list[dict]) -> None:
    """``selection.json``: per stage, the selected 1-based epoch count and its score."""
    write_json(run_dir / SELECTION_FILE, {"stages": records})


def selected_epochs(source: str | Path, planned: Sequence[int] | None = None) -> list[int]:
    """Per stage, the 1-based selected epoch of a validation run (its folder or ``selection.json``).

    ``planned``: the epochs per stage of the final run's schedule; the validation run must have had the
    same, or its selected epochs would fall at other points of the fade-in."""
    path = Path(source)
    path = path / SELECTION_FILE if path.is_dir() else path
    if not path.is_file():
        raise ConfigError(path, "train.selection_from", "no selection.json there",
                          "point it at the run folder of a finished validation run (train.validate=true)")
    records = sorted(json.loads(path.read_text())["stages"], key=lambda record: record["stage"])
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
