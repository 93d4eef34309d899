"""Each variant against the reference (the full PACGAN): differences of means with bootstrap intervals over
seeds, and a plain reading of them.

The interval resamples the seeds of each variant and of the reference with replacement (percentile
bootstrap). With n seeds a group has only a handful of distinct resamples (3 for two seeds), so with two
seeds an interval is a coarse summary of the spread, not a test: it shows whether the seeds of the two
variants overlap at all.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# The numbers a reader of an ablation looks at first (headline_table's names), and which way is better. The
# class-effect and spread ratios carry class names ("spread ratio CN, generated / real std"): matched by prefix.
KEY_METRICS = {
    "critic AUC, real held-out": "higher",
    "FD_domain real-fake": "lower",
    "KID_domain real-fake": "lower",
    "FD_efficientnet real-fake": "lower",
    "SSIM fake-fake": "lower (closer to real-real)",
    "MS-SSIM among generated": "lower (more variety)",
    "coverage (domain)": "higher",
    "class-effect ratio ": "closer to 1",
    "spread ratio ": "closer to 1",
    "images_per_second": "higher",
}


def _matches(metric: str, key: str) -> bool:
    return metric == key or (key.endswith(" ") and metric.startswith(key))


def better(metric: str) -> str | None:
    """Which way ``metric`` is better if it is a key metric (see :data:`KEY_METRICS`), else None."""
    return next((way for key, way in KEY_METRICS.items() if _matches(metric, key)), None)


def key_metrics(metrics: list[str]) -> list[str]:
    """The key metrics among ``metrics`` (an evaluation may have skipped some), in :data:`KEY_METRICS`' order."""
    return [metric for key in KEY_METRICS for metric in metrics if _matches(metric, key)]


def differences(results: pd.DataFrame, metrics: list[str], reference: str, resamples: int = 2000,
                seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """Per variant other than ``reference`` and per metric: ``difference`` (mean of the variant's seeds minus
    the reference's), ``low`` and ``high`` (the bootstrap interval at ``level``), ``n_variant``,
    ``n_reference``. ``results`` has a ``variant`` column and one column per metric (one row per run)."""
    rng = np.random.default_rng(seed)
    tails = [(1 - level) / 2, 1 - (1 - level) / 2]
    rows = []
    for variant in [name for name in results["variant"].unique() if name != reference]:
        for metric in metrics:
            ours = _values(results, variant, metric)
            theirs = _values(results, reference, metric)
            if len(ours) == 0 or len(theirs) == 0:
                continue
            boot = (rng.choice(ours, (resamples, len(ours))).mean(axis=1)
                    - rng.choice(theirs, (resamples, len(theirs))).mean(axis=1))
            low, high = np.quantile(boot, tails)
            rows.append({"variant": variant, "metric": metric, "difference": ours.mean() - theirs.mean(),
                         "low": low, "high": high, "n_variant": len(ours), "n_reference": len(theirs)})
    return pd.DataFrame(rows, columns=["variant", "metric", "difference", "low", "high", "n_variant", "n_reference"])


def reading(diffs: pd.DataFrame, results: pd.DataFrame, reference: str) -> str:
    """A few sentences: which variants moved which key metric beyond the spread of the seeds, which did not,
    and what the number of seeds does not allow to say."""
    seeds = int(results.groupby("variant")["seed"].nunique().min()) if len(results) else 0
    if seeds < 2:
        return ("Each variant ran with one seed: every interval is a single point, one run against one run. "
                "Nothing here says that a variant matters; the numbers show only that the sweep runs.")
    lines = []
    for metric in key_metrics(list(diffs["metric"].unique())):
        rows = diffs[diffs["metric"] == metric]
        moved = rows[(rows["low"] > 0) | (rows["high"] < 0)]
        spread = results.loc[results["variant"] == reference, metric].std()
        said = "; ".join(f"{row.variant} {row.difference:+.3g} [{row.low:+.3g}, {row.high:+.3g}]"
                         for row in moved.itertuples())
        lines.append(f"{metric} ({better(metric)} is better; the {reference} seeds differ by a standard "
                     f"deviation of {spread:.3g}): "
                     + (f"moved beyond the seeds' spread by {said}." if said else "no variant moved it beyond "
                        "the spread of the seeds."))
    lines.append(f"With {seeds} seeds per variant each interval comes from a handful of distinct resamples: an "
                 "interval that excludes 0 says the seeds did not overlap, not that the difference would hold for "
                 "other seeds or data; an interval that includes 0 does not show that the option does not matter. "
                 "More seeds narrow both.")
    return "\n".join(lines)


def _values(results: pd.DataFrame, variant: str, metric: str) -> np.ndarray:
    return results.loc[results["variant"] == variant, metric].dropna().to_numpy(dtype=float)
