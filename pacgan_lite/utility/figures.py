"""The utility study's figures, drawn from its tables alone (so a notebook can redraw them from the files).

* :func:`roc_figure`: one panel per group of settings (b to e), each beside the reference (a): the ROC
  curve averaged over seeds (the mean sensitivity at each false positive rate), and the hidden severity's
  (the ceiling, dashed) where it is known;
* :func:`auc_figure`: every setting's AUC over seeds with its 95% interval, each seed as a small dot, the
  reference's AUC as a line and the ceiling as a band.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from .report import SEVERITY_COLUMN, scores_of
from .settings import GROUPS, REFERENCE

FALSE_POSITIVE_GRID = np.linspace(0, 1, 101)


def mean_roc(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``[101]`` sensitivity at the false positive rates of ``FALSE_POSITIVE_GRID``, averaged over the rows of
    ``scores [S, N]``."""
    curves = []
    for row in scores:
        fpr, tpr, _ = roc_curve(labels, row)
        curves.append(np.interp(FALSE_POSITIVE_GRID, fpr, tpr))
    return np.mean(curves, axis=0)


def roc_figure(predictions: pd.DataFrame, summary: pd.DataFrame) -> plt.Figure:
    """ROC curves per group of settings (see the module docstring)."""
    labels = predictions["Label"].to_numpy()
    scores = scores_of(predictions)
    auc = summary.set_index("setting")["auc"]
    groups = [group for group in GROUPS if group != "a" and group in set(summary["group"])]
    fig, axes = plt.subplots(1, len(groups), figsize=(3.6 * len(groups), 3.8), squeeze=False)
    for ax, group in zip(axes[0], groups, strict=True):
        names = [REFERENCE, *summary.loc[summary["group"] == group, "setting"]]
        for index, name in enumerate(names):
            ax.plot(FALSE_POSITIVE_GRID, mean_roc(scores[name], labels), color=f"C{index}",
                    label=f"{name}: {auc[name]:.3f}", lw=2 if name == REFERENCE else 1.3)
        if SEVERITY_COLUMN in predictions:
            ax.plot(FALSE_POSITIVE_GRID, mean_roc(predictions[SEVERITY_COLUMN].to_numpy()[None], labels),
                    color="0.35", ls="--", lw=1, label=f"ceiling (severity): {summary['ceiling_auc'].iloc[0]:.3f}")
        ax.plot([0, 1], [0, 1], color="0.75", ls=":", lw=1)
        ax.set(title=f"{group}: {GROUPS[group]}", xlabel="1 - specificity", ylabel="sensitivity", aspect="equal")
        ax.title.set_fontsize(9)
        ax.legend(fontsize=7, loc="lower right", title="mean AUC over seeds", title_fontsize=7)
    fig.suptitle(f"ROC on the {len(labels)} real test images (mean over seeds)", fontsize=10)
    fig.tight_layout()
    return fig


def auc_figure(summary: pd.DataFrame, runs: pd.DataFrame | None = None) -> plt.Figure:
    """AUC per setting with its 95% interval (and each seed's, from ``runs``), the reference and the ceiling."""
    fig, ax = plt.subplots(figsize=(7.5, 0.42 * len(summary) + 1.4))
    rows = np.arange(len(summary))[::-1]
    colours = [f"C{'abcde'.index(group)}" for group in summary["group"]]
    ax.hlines(rows, summary["auc_low"], summary["auc_high"], color=colours, lw=2)
    ax.scatter(summary["auc"], rows, color=colours, zorder=3, s=30)
    if runs is not None:
        for row, name in zip(rows, summary["setting"], strict=True):
            seeds = runs.loc[runs["setting"] == name, "test_auc"]
            ax.scatter(seeds, np.full(len(seeds), row - 0.18), color="0.4", s=8, zorder=3)
    reference = summary.loc[summary["setting"] == REFERENCE, "auc"].iloc[0]
    ax.axvline(reference, color="C0", ls=":", lw=1, label=f"{REFERENCE}: {reference:.3f}")
    ceiling = summary["ceiling_auc"].iloc[0]
    if np.isfinite(ceiling):
        ax.axvline(ceiling, color="0.3", ls="--", lw=1, label=f"ceiling (hidden severity): {ceiling:.3f}")
    ax.axvline(0.5, color="0.8", lw=1)
    ax.set_yticks(rows, [f"{group}  {name}" for group, name in zip(summary["group"], summary["setting"], strict=True)])
    ax.set_xlabel("AUC on the real test images (mean over seeds, 95% interval; grey dots: seeds)")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig
