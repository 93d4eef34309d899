"""The numbers of the utility study: AUC with intervals, the spread over seeds, paired comparisons.

Every setting is scored on the same real test images (two classes; class 1, AD, is positive). Its AUC is the
mean over its seeds of each classifier's set-level AUC, and its 95% interval comes from one shared bootstrap:

* each resample draws the test images again, within each class (stratified, as
  :func:`pacgan_lite.metrics.classifier.bootstrap_auc_interval`), and the seeds again, with replacement;
* every setting is scored on the *same* resamples: the same test images and the same seed numbers.

So the interval of a setting holds the uncertainty of a finite test set and of a few seeds, and the paired
comparison with the reference setting (a, the real training images) resamples both together: for each
resample, the setting's mean AUC minus the reference's. Its percentile interval reads:

* "helps": the whole interval above 0;
* "hurts": the whole interval below 0;
* "cannot tell": it holds 0 (with this many test images and seeds, no difference can be told from chance).

A setting of one network (the critic) counts as one seed. The ceiling, on the embedded cohort, is the AUC
of the hidden severity on the same images: no classifier of these labels can do better on average.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import balanced_accuracy_score

from ..metrics.classifier import bootstrap_auc_interval, resampled_aucs, stratified_resamples
from ..sampling import set_auc

HELPS, HURTS, CANNOT_TELL = "helps", "hurts", "cannot tell"


class Bootstrap:
    """The shared resamples of a study: test images ``[R, N]`` and seed draws ``[R, n_seeds]``."""

    def __init__(self, labels: np.ndarray, n_seeds: int, resamples: int, rng: np.random.Generator):
        self.labels = labels
        self.images = stratified_resamples(labels, resamples, rng)
        self.seeds = rng.integers(0, n_seeds, size=(resamples, n_seeds))

    def mean_aucs(self, scores: np.ndarray) -> np.ndarray:
        """``[R]`` per resample, the mean AUC over the drawn seeds of ``scores [S, N]`` (S = the study's seeds,
        or 1 for a single network)."""
        aucs = resampled_aucs(scores, self.labels, self.images)  # [R, S]
        if scores.shape[0] == 1:
            return aucs[:, 0]
        return np.take_along_axis(aucs, self.seeds, axis=1).mean(axis=1)


def interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The percentile interval of bootstrap ``values``."""
    low, high = np.percentile(values, [50 * (1 - level), 50 * (1 + level)])
    return float(low), float(high)


def reading(low: float, high: float) -> str:
    """"helps", "hurts" or "cannot tell" for an interval of a difference to the reference (see the module
    docstring)."""
    if low > 0:
        return HELPS
    if high < 0:
        return HURTS
    return CANNOT_TELL


def run_row(setting: str, seed: int | None, probabilities: torch.Tensor, labels: torch.Tensor, resamples: int,
            rng: np.random.Generator) -> dict:
    """One classifier's scores on the test images: AUC with its own stratified 95% interval
    (:func:`pacgan_lite.metrics.classifier.bootstrap_auc_interval`) and balanced accuracy (predicted class
    = the more probable)."""
    low, high = bootstrap_auc_interval(probabilities, labels, resamples, rng)
    return {"setting": setting, "seed": seed, "test_auc": set_auc(probabilities, labels), "test_auc_low": low,
            "test_auc_high": high,
            "balanced_accuracy": float(balanced_accuracy_score(labels.numpy(), probabilities.argmax(1).numpy()))}


def summary_row(setting: str, runs: pd.DataFrame, scores: np.ndarray, bootstrap: Bootstrap) -> dict:
    """A setting's AUC over seeds with its interval and spread, from its ``runs`` rows and ``scores [S, N]``."""
    low, high = interval(bootstrap.mean_aucs(scores))
    aucs = runs["test_auc"].to_numpy()
    return {"setting": setting, "n_seeds": len(runs), "auc": float(aucs.mean()), "auc_low": low, "auc_high": high,
            "auc_seed_std": float(aucs.std(ddof=1)) if len(aucs) > 1 else math.nan,
            "auc_seed_min": float(aucs.min()), "auc_seed_max": float(aucs.max()),
            "balanced_accuracy": float(runs["balanced_accuracy"].mean()),
            "balanced_accuracy_seed_std": float(runs["balanced_accuracy"].std(ddof=1)) if len(runs) > 1 else math.nan}


def paired_comparison(setting: str, scores: np.ndarray, reference_scores: np.ndarray, bootstrap: Bootstrap) -> dict:
    """``setting`` (``scores [S, N]``) against the reference (``reference_scores [S', N]``) on the same
    resamples: the difference of the mean AUCs, its 95% interval, the reading, and the per-seed differences
    (seed i against seed i; a single network against each reference seed)."""
    differences = bootstrap.mean_aucs(scores) - bootstrap.mean_aucs(reference_scores)
    low, high = interval(differences)
    labels = bootstrap.labels
    own = np.array([set_auc(_two_columns(row), torch.from_numpy(labels)) for row in scores])
    reference = np.array([set_auc(_two_columns(row), torch.from_numpy(labels)) for row in reference_scores])
    per_seed = own - reference if len(own) == len(reference) else own[0] - reference
    return {"setting": setting, "difference": float(own.mean() - reference.mean()), "difference_low": low,
            "difference_high": high, "reading": reading(low, high),
            "per_seed_differences": " ".join(f"{value:+.3f}" for value in per_seed),
            "seeds_better": f"{int((per_seed > 0).sum())}/{len(per_seed)}"}


def _two_columns(positive: np.ndarray) -> torch.Tensor:
    """``[N, 2]`` probabilities from the positive class's ``[N]`` (what :func:`set_auc` reads)."""
    positive = torch.tensor(positive, dtype=torch.float64)
    return torch.stack([1 - positive, positive], dim=1)


def ceiling(severity: np.ndarray | None, bootstrap: Bootstrap) -> dict | None:
    """The hidden severity's AUC on the test images with its interval (the same resamples), or None."""
    if severity is None:
        return None
    low, high = interval(bootstrap.mean_aucs(severity[None]))
    auc = set_auc(_two_columns(severity), torch.from_numpy(bootstrap.labels))
    return {"auc": auc, "auc_low": low, "auc_high": high}


SEVERITY_COLUMN = "hidden severity"
_SEED = " | seed "


def prediction_table(ids: np.ndarray, labels: np.ndarray, scores: dict[str, list[np.ndarray]],
                     seeds: tuple[int, ...], severity: np.ndarray | None) -> pd.DataFrame:
    """One row per test image: ``ID``, ``Label``, the positive-class probability of every setting's network
    (a column ``"<setting> | seed <s>"`` per seed, or ``"<setting>"`` for a single network) and, when known,
    the hidden severity."""
    columns = {"ID": ids, "Label": labels}
    for name, values in scores.items():
        if len(values) == 1 and len(seeds) > 1:
            columns[name] = values[0]
        else:
            columns.update({f"{name}{_SEED}{seed}": value for seed, value in zip(seeds, values, strict=True)})
    if severity is not None:
        columns[SEVERITY_COLUMN] = severity
    return pd.DataFrame(columns)


def scores_of(predictions: pd.DataFrame) -> dict[str, np.ndarray]:
    """``{setting: scores [S, N]}`` read back from a :func:`prediction_table`, in its column order."""
    scores: dict[str, list[np.ndarray]] = {}
    for column in predictions.columns:
        if column not in ("ID", "Label", SEVERITY_COLUMN):
            scores.setdefault(column.split(_SEED)[0], []).append(predictions[column].to_numpy())
    return {name: np.stack(values) for name, values in scores.items()}
