"""Model selection: the score of an epoch, the best-epoch snapshot of a stage, and the selected epochs a
final run retrains to.

A validated epoch is scored by ``train.selection`` from the set-level AUC of the critic's class head
(:mod:`pacgan_lite.sampling`) on the real validation images and on generated ones (fixed z,
``validation_fakes_per_class`` per class) and, for the fidelity criteria, from the ventricle area
(:func:`pacgan_lite.biomarkers.ventricle_area`) of the same images:

* ``paper``: AUC(real) + AUC(generated), as in the paper. A generator that over-separates its classes
  (the auxiliary-classifier bias) brings the second term near 1, so this score rewards that bias.
* ``fidelity``: AUC(real) - effect gap. The class effect is Cohen's d of the area of class k against
  class 0 (k >= 1); the gap compares the generated images' effect with the real ones', averaged over k::

      gap(real, fake) = 1 - exp(-|ln(fake / real)|) = 1 - min(fake / real, real / fake)

  ``|ln(fake / real)|`` weighs an effect too large and too small by the same factor alike, but is
  unbounded (about 2.3 for the tenfold effect of an over-separating generator) and would drown the AUC's
  differences of a few hundredths; the transform bounds it to [0, 1], an AUC's range, so both terms
  count: a matched effect costs 0, a factor 1.1 about 0.09, a factor 2 0.5, a factor 10 0.9; an effect of
  the other sign, or none, costs 1. Where the real effect is not measurable (at 4 and 8 px the area
  does not vary between slices; or a class has fewer than 2 validation images) the gap is 0 for every
  epoch of the stage (its validation images do not change), and the criterion ranks by AUC(real) alone.
* ``fidelity_spread``: AUC(real) - the mean of the effect gap and the spread gap, the same gap of the
  within-class standard deviation of the area (generated against real, averaged over the classes): it
  also penalises classes generated too uniform (mode collapse) or too varied.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import cpu_copy
from ..errors import ConfigError
from ..metrics.fidelity import cohens_d, sample_std, ventricle_areas
from ..run_folder import SELECTION_FILE, RunFolder

# What each criterion of config.SELECTION_CRITERIA computes, for the log.
SELECTION_FORMULAS = {"paper": "AUC real + AUC fake", "fidelity": "AUC real - effect gap",
                      "fidelity_spread": "AUC real - mean(effect gap, spread gap)"}


def ratio_gap(real: float, fake: float) -> float:
    """``1 - min(fake / real, real / fake)`` in [0, 1] (see the module docstring): 0 when ``fake`` equals
    ``real`` or ``real`` is 0 or not finite (nothing to match); 1 when ``fake`` is 0, not finite or of the
    other sign."""
    if not math.isfinite(real) or real == 0:
        return 0.0
    ratio = fake / real if math.isfinite(fake) else 0.0
    return 1.0 - min(ratio, 1.0 / ratio) if ratio > 0 else 1.0


def class_effects(areas: np.ndarray, labels: np.ndarray, n_classes: int) -> list[float]:
    """Cohen's d of ``areas [N]`` of class k against class 0 (``labels [N]``), k = 1 .. n_classes - 1."""
    return [cohens_d(areas[labels == k], areas[labels == 0]) for k in range(1, n_classes)]


def class_spreads(areas: np.ndarray, labels: np.ndarray, n_classes: int) -> list[float]:
    """Standard deviation (ddof 1) of ``areas [N]`` in each class; NaN for a class of fewer than 2."""
    return [sample_std(areas[labels == k]) for k in range(n_classes)]


def fidelity_terms(criterion: str, real_areas: np.ndarray, real_labels: np.ndarray, fake_areas: np.ndarray,
                   fake_labels: np.ndarray, n_classes: int) -> dict:
    """The biomarker terms of a fidelity criterion from areas ``[N]`` and labels ``[N]``: ``effect_real``
    and ``effect_fake`` (one d per class k >= 1), ``effect_gap``; for ``fidelity_spread`` also
    ``spread_real``, ``spread_fake`` (one per class) and ``spread_gap``."""
    measures = {"effect": class_effects, **({"spread": class_spreads} if criterion == "fidelity_spread" else {})}
    terms: dict = {}
    for name, measure in measures.items():
        real = measure(real_areas, real_labels, n_classes)
        fake = measure(fake_areas, fake_labels, n_classes)
        terms |= {f"{name}_real": real, f"{name}_fake": fake,
                  f"{name}_gap": float(np.mean([ratio_gap(r, f) for r, f in zip(real, fake, strict=True)]))}
    return terms


def selection_components(criterion: str, auc_real: float, auc_fake: float,
                         real: tuple[torch.Tensor, torch.Tensor], fake: tuple[torch.Tensor, torch.Tensor],
                         n_classes: int) -> dict:
    """What ``criterion`` scores an epoch by: ``auc_real``, ``auc_fake`` and, for the fidelity criteria, the
    :func:`fidelity_terms` of ``real`` and ``fake`` = ``(images [N, C, s, s] CPU, labels [N])``."""
    components = {"auc_real": auc_real, "auc_fake": auc_fake}
    if criterion != "paper":
        (real_images, real_labels), (fake_images, fake_labels) = real, fake
        components |= fidelity_terms(criterion, ventricle_areas(real_images), real_labels.numpy(),
                                     ventricle_areas(fake_images), fake_labels.numpy(), n_classes)
    return components


def selection_score(criterion: str, components: dict) -> float:
    """The score of an epoch (higher is better) from its :func:`selection_components`."""
    if criterion == "paper":
        return components["auc_real"] + components["auc_fake"]
    if criterion == "fidelity":
        return components["auc_real"] - components["effect_gap"]
    return components["auc_real"] - (components["effect_gap"] + components["spread_gap"]) / 2


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

    def offer(self, epoch: int, score: float, state: dict, components: dict | None = None) -> bool:
        """Keep ``state`` if ``score`` beats the best so far (NaN never does); returns whether it was kept.
        ``components``: what the score was computed from, kept in the history."""
        self.history.append({"epoch": epoch, "score": score, "components": components})
        if math.isnan(score) or score <= self.score:
            return False
        self.epoch, self.score, self.snapshot = epoch, score, cpu_copy(state)
        return True

    @property
    def components(self) -> dict | None:
        """The components of the kept epoch's score (None before an epoch is kept)."""
        if self.snapshot is None:
            return None
        return next(record.get("components") for record in self.history if record["epoch"] == self.epoch)

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
    """Per stage, the 1-based selected epoch of a validation run (its folder, or its selection file); 0 for
    a leading stage the run skipped (0 epochs, no record), which a final run skips too.

    ``planned``: the epochs per stage of the final run's schedule; the validation run must have had the
    same in the stages both have (a final run may train fewer), or its selected epochs would fall at other
    points of the fade-in."""
    run = RunFolder.of_selection(source)
    path = run.file(SELECTION_FILE)
    records = run.selections()
    if not records:
        raise ConfigError(path, "train.selection_from", "missing or without a finished stage",
                          "point it at the run folder of a finished validation run (train.validate=true)")
    stages = [int(record["stage"]) for record in records]
    if stages != list(range(stages[0], stages[0] + len(stages))):
        raise ConfigError(path, "stages", f"the records are of stages {stages}, not of consecutive stages",
                          "point train.selection_from at the validation run's folder, or rerun it")
    skipped = stages[0]  # leading stages without a record: skipped by the validation run
    epochs = [0] * skipped + [int(record["selected_epoch"]) for record in records]
    if planned is not None:
        ran = [0] * skipped + [int(record["epochs"]) for record in records]
        common = min(len(ran), len(planned))
        if ran[:common] != list(planned)[:common]:
            raise ConfigError(path, "epochs", f"the validation run's stages had {ran[:common]} epochs, "
                              f"train.epochs_per_stage says {list(planned)[:common]}: the fade-in would not match "
                              "the selected epochs",
                              "use the validation run's train.epochs_per_stage in final mode")
    trained = epochs[skipped:]
    if any(epoch < 1 for epoch in trained):
        raise ConfigError(path, "selected_epoch", f"epochs of the trained stages must be >= 1, got {trained}",
                          "rerun the validation run")
    return epochs
