"""Figures of a sweep: per metric, every seed of every variant, and each variant's difference to the reference."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..atomic import atomic_path


def metric_figure(results: pd.DataFrame, diffs: pd.DataFrame, metric: str, reference: str) -> plt.Figure:
    """Left: one dot per seed and the mean ± std of each variant. Right: the variant's mean minus the
    reference's, with its bootstrap interval over seeds (see :func:`.compare.differences`)."""
    variants = list(results["variant"].unique())
    rows = diffs[diffs["metric"] == metric].set_index("variant")
    jitter = np.random.default_rng(0)
    fig, (left, right) = plt.subplots(1, 2, sharey=True, figsize=(11, 1.6 + 0.42 * len(variants)))
    for index, variant in enumerate(variants):
        values = results.loc[results["variant"] == variant, metric].dropna().to_numpy(dtype=float)
        if len(values) == 0:
            continue
        left.scatter(values, index + jitter.uniform(-0.12, 0.12, len(values)), s=22, color="0.45", zorder=3,
                     label="one seed" if index == 0 else None)
        spread = values.std(ddof=1) if len(values) > 1 else 0.0
        left.errorbar(values.mean(), index, xerr=spread, fmt="D", color="C0", capsize=4, zorder=2,
                      label="mean ± std" if index == 0 else None)
        if variant == reference:
            right.annotate("reference", (0.0, index), ha="center", va="center", fontsize=8, color="0.4")
        elif variant in rows.index:
            row = rows.loc[variant]
            right.errorbar(row["difference"], index, fmt="o", color="C1", capsize=4,
                           xerr=[[row["difference"] - row["low"]], [row["high"] - row["difference"]]])
    right.axvline(0.0, color="0.5", ls="--", lw=1)
    left.set_yticks(range(len(variants)), variants)
    left.set_ylim(len(variants) - 0.5, -0.5)  # the reference on top
    left.set_title(metric, fontsize=10)
    left.legend(loc="best", fontsize=8)
    right.set_title(f"difference to {reference} (95% bootstrap over seeds)", fontsize=10)
    fig.tight_layout()
    return fig


def write_figures(results: pd.DataFrame, diffs: pd.DataFrame, metrics: list[str], reference: str,
                  folder: str | Path) -> list[Path]:
    """:func:`metric_figure` for each of ``metrics`` as ``folder/<metric>.png``; returns the paths."""
    paths = []
    for metric in metrics:
        figure = metric_figure(results, diffs, metric, reference)
        path = Path(folder) / f"{re.sub(r'[^A-Za-z0-9]+', '_', metric).strip('_')}.png"
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format="png", bbox_inches="tight")
        plt.close(figure)
        paths.append(path)
    return paths
