"""Figures of an evaluation. Each function returns a matplotlib Figure (the caller shows or saves it).

They read the metric results as written to the metrics file, plus the image sets where images are shown, so
the notebook and :func:`~.evaluate.evaluate` draw the same pictures. Slices are drawn with
:func:`pacgan_lite.plots.show_slice` (radiological convention, anterior up).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ..metrics.distribution import DISTANCE_METRICS
from ..metrics.manifolds import NEAREST_NEIGHBOUR_METRICS
from ..metrics.registry import EvaluationSets
from ..plots import show_slice

COMPARISON_NAMES = {"real_real": "real vs real", "real_fake": "real vs generated", "fake_fake": "generated vs generated"}


def _slice(images, index: int) -> np.ndarray:
    """Channel 0 of image ``index`` of a ``[N, C, H, W]`` tensor as ``[W, H]`` (the layout show_slice wants)."""
    return images[index, 0].numpy().T


def real_vs_synthetic_grid(sets: EvaluationSets, per_class: int = 6, seed: int = 0) -> plt.Figure:
    """Two rows per class: random real held-out images, then random generated images of that class."""
    rng = np.random.default_rng(seed)
    rows = [(f"{name}\nreal", sets.real_images, sets.real_labels, k) for k, name in enumerate(sets.class_names)]
    rows = [row for k, name in enumerate(sets.class_names)
            for row in (rows[k], (f"{name}\ngenerated", sets.fake_images, sets.fake_labels, k))]
    fig, axes = plt.subplots(len(rows), per_class, figsize=(1.6 * per_class, 1.7 * len(rows)), squeeze=False)
    for ax_row, (title, images, labels, k) in zip(axes, rows, strict=True):
        members = np.flatnonzero(labels.numpy() == k)
        chosen = rng.choice(members, size=min(per_class, len(members)), replace=False)
        for ax, index in zip(ax_row, chosen, strict=False):
            show_slice(ax, _slice(images, index))
        for ax in ax_row[len(chosen):]:
            ax.set_axis_off()
        ax_row[0].text(-0.08, 0.5, title, transform=ax_row[0].transAxes, ha="right", va="center", fontsize=9)
    fig.suptitle("real held-out images and generated images, per class", fontsize=10)
    fig.tight_layout()
    return fig


def classifier_figure(result: dict) -> plt.Figure:
    """ROC curve (two classes) and the row-normalized confusion matrix with counts, named classes."""
    names = result["confusion_matrix"]["class_names"]
    matrix = np.array(result["confusion_matrix"]["rows_true_columns_predicted"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.8))
    if "roc" in result:
        left.plot(result["roc"]["false_positive_rate"], result["roc"]["true_positive_rate"], color="tab:blue")
        low, high = result["auc_95ci"]
        left.set_title(f"ROC, {names[1]} positive: AUC {result['auc']:.3f} (95% CI {low:.3f}-{high:.3f})",
                       fontsize=9)
    left.plot([0, 1], [0, 1], color="0.6", ls="--", lw=1)
    left.set_xlabel("1 - specificity (false positive rate)")
    left.set_ylabel("sensitivity (true positive rate)")
    left.set_aspect("equal")
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    annotations = np.array([[f"{share:.2f}\n({count})" for share, count in zip(srow, crow, strict=True)]
                            for srow, crow in zip(shares, matrix, strict=True)])
    sns.heatmap(shares, annot=annotations, fmt="", cmap="Blues", vmin=0, vmax=1, xticklabels=names,
                yticklabels=names, cbar=False, ax=right, square=True)
    right.set_xlabel("predicted")
    right.set_ylabel("true")
    right.set_title(f"confusion matrix ({result['n_images']} held-out images, {result['held_out']})", fontsize=9)
    fig.tight_layout()
    return fig


def _distance_table(result: dict, value) -> pd.DataFrame:
    rows = []
    groups = {"all": result["overall"], **result["per_class"]}
    for group, comparison in groups.items():
        if "skipped" in comparison:  # a class with too few held-out images
            continue
        for key in ("real_real", "real_fake"):
            rows.append({"classes": group, "comparison": COMPARISON_NAMES[key], "value": value(comparison[key])})
    return pd.DataFrame(rows)


EXTRACTOR_NAMES = {"domain": "domain encoder", "efficientnet": "EfficientNet-Lite0 (ImageNet)",
                   "inception": "Inception-v3 (FID/KID)"}


def distances_figure(results: dict) -> plt.Figure:
    """Fréchet (left) and kernel (right) distances, one row per extractor that was computed: the real-real
    baseline of two disjoint real halves next to real-fake, overall and per class."""
    rows = [(EXTRACTOR_NAMES[extractor], *names) for extractor, names in DISTANCE_METRICS.items()
            if any(name in results and "skipped" not in results[name] for name in names)]
    fig, axes = plt.subplots(max(1, len(rows)), 2, figsize=(9.5, 3.3 * max(1, len(rows))), squeeze=False)
    for (label, *names), row in zip(rows, axes, strict=False):
        for name, ax in zip(names, row, strict=True):
            if name not in results or "skipped" in results[name]:
                ax.set_axis_off()
                continue
            is_kid = name.startswith("kid")
            table = _distance_table(results[name], (lambda v: v["mean"]) if is_kid else (lambda v: v))
            if table.empty:  # every group skipped (too few held-out images)
                ax.text(0.5, 0.5, results[name]["overall"].get("skipped", "skipped"), ha="center", wrap=True,
                        fontsize=8)
                ax.set_axis_off()
                continue
            sns.barplot(data=table, x="classes", y="value", hue="comparison", ax=ax, palette=["0.65", "tab:orange"])
            for bars in ax.containers:  # the baseline is often tiny next to real-fake: print the values
                ax.bar_label(bars, fmt="%.3g", fontsize=7)
            ax.set_title(f"{'KID (mean over subsets)' if is_kid else 'Fréchet distance'}: {label}", fontsize=9)
            ax.set_ylabel("distance (lower = closer)")
            ax.set_xlabel("")
            ax.legend(fontsize=8)
    if not rows:
        _nothing_computed(axes[0], "no distance was computed")
    fig.tight_layout()
    return fig


def _nothing_computed(axes, message: str) -> None:
    """A row of empty axes that says why the figure has nothing to show."""
    axes[0].text(0.5, 0.5, message, ha="center")
    for ax in axes:
        ax.set_axis_off()


def ssim_figure(ssim: dict, ms_ssim: dict | None = None) -> plt.Figure:
    """SSIM per class for the three comparisons (mean ± std), and MS-SSIM among generated images."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6), gridspec_kw={"width_ratios": [2, 1]})
    if "skipped" not in ssim:
        rows = [{"classes": group, "comparison": COMPARISON_NAMES[key], "mean": summary["mean"], "std": summary["std"]}
                for key, result in ssim.items()
                for group, summary in {"all": result["overall"], **result["per_class"]}.items()]
        table = pd.DataFrame(rows)
        groups, comparisons = list(dict.fromkeys(table["classes"])), list(COMPARISON_NAMES.values())
        width = 0.8 / len(comparisons)
        for i, (comparison, color) in enumerate(zip(comparisons, ["0.65", "tab:orange", "tab:purple"], strict=True)):
            part = table[table["comparison"] == comparison].set_index("classes").loc[groups]
            left.bar(np.arange(len(groups)) + (i - 1) * width, part["mean"], width, yerr=part["std"], color=color,
                     label=comparison, capsize=2)
        left.set_xticks(np.arange(len(groups)), groups)
        left.set_ylabel("SSIM (mean ± std over pairs)")
        left.set_title("SSIM of random same-class pairs", fontsize=10)
        left.legend(fontsize=8)
    else:
        left.text(0.5, 0.5, ssim["skipped"], ha="center", wrap=True)
    if ms_ssim is not None and "skipped" not in ms_ssim:
        groups = {"all": ms_ssim["overall"], **ms_ssim["per_class"]}
        right.bar(list(groups), [g["mean"] for g in groups.values()], yerr=[g["std"] for g in groups.values()],
                  color="tab:purple", capsize=2)
        right.set_title(f"MS-SSIM among generated ({ms_ssim['scales']} scales)\nlower = more varied", fontsize=10)
        right.set_ylim(0, 1)
    else:
        right.text(0.5, 0.5, "MS-SSIM skipped:\n" + (ms_ssim or {}).get("skipped", "not computed"), ha="center",
                   va="center", wrap=True, fontsize=8)
        right.set_axis_off()
    fig.tight_layout()
    return fig


def _fidelity_ratios_text(result: dict) -> str:
    """The class-effect and spread ratios against their targets, in one line."""
    low, high = result["targets"]["class_effect_ratio"]
    effects = ", ".join(f"{contrast} {value:.2f}" for contrast, value in result["class_effect_ratio"].items())
    spreads = ", ".join(f"{name} {value:.2f}" for name, value in result["spread_ratio_per_class"].items())
    return (f"class-effect ratio {effects} (target {low:g}-{high:g}); spread ratio {spreads} "
            f"(target >= {result['targets']['spread_ratio_at_least']:g})")


def class_fidelity_figure(result: dict, sets: EvaluationSets) -> plt.Figure:
    """Ventricle area per class in real held-out images, in every real image (the reference of the ratios:
    training and held-out) and in generated images, with Cohen's d of the gap and the fidelity ratios."""
    reference_labels = sets.train_labels.tolist() + sets.real_labels.tolist()
    reference_name = f"real, all ({' + '.join(result['real_reference_images']['sets'])})"
    table = pd.concat([
        pd.DataFrame({"area": result["areas"]["real"], "images": f"real, {sets.held_out}",
                      "class": [sets.class_names[k] for k in sets.real_labels.tolist()]}),
        pd.DataFrame({"area": result["areas"]["real_reference"], "images": reference_name,
                      "class": [sets.class_names[k] for k in reference_labels]}),
        pd.DataFrame({"area": result["areas"]["fake"], "images": "generated",
                      "class": [sets.class_names[k] for k in sets.fake_labels.tolist()]})])
    fig, ax = plt.subplots(figsize=(7, 4.0))
    sns.boxplot(data=table, x="class", y="area", hue="images", order=sets.class_names, showfliers=False, ax=ax,
                palette=["0.75", "0.5", "tab:orange"])
    ax.set_ylabel("ventricle area in the slice (mm²)")
    ax.set_xlabel("")
    gaps = ", ".join(f"{name}: d = {values['cohens_d_fake_vs_real']:+.2f}"
                     for name, values in result["per_class"].items())
    ax.set_title(f"class fidelity: generated vs real held-out ({gaps})\n{_fidelity_ratios_text(result)}",
                 fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _nearest_neighbour_groups(results: list[dict | None]) -> tuple[dict[str, dict], list[str], int | None]:
    """The scores of the computed ``results`` merged by group ("all", then each class), the groups that were
    skipped (a class with too few images), and k."""
    groups, skipped_groups, k = {}, [], None
    for result in results:
        if result is None or "skipped" in result:
            continue
        k = result["k"]
        for group, scores in {"all": result["overall"], **result["per_class"]}.items():
            if "skipped" in scores:
                skipped_groups.append(group)
            else:
                groups.setdefault(group, {}).update(scores)
    return groups, list(dict.fromkeys(skipped_groups)), k


def nearest_neighbours_figure(results: dict) -> plt.Figure:
    """k-NN precision, recall and coverage (left: fractions, with the coverage two samples of one distribution
    would reach) and density (right: 1 for one distribution), one row per feature space, overall and per
    class."""
    rows = [(EXTRACTOR_NAMES[extractor], results.get(pr_name), results.get(dc_name))
            for extractor, (pr_name, dc_name) in NEAREST_NEIGHBOUR_METRICS.items()
            if any(name in results and "skipped" not in results[name] for name in (pr_name, dc_name))]
    fig, axes = plt.subplots(max(1, len(rows)), 2, figsize=(10, 3.3 * max(1, len(rows))), squeeze=False,
                             gridspec_kw={"width_ratios": [2, 1]})
    for (label, *results), (left, right) in zip(rows, axes, strict=False):
        groups, skipped_groups, k = _nearest_neighbour_groups(results)
        names = list(groups)
        if skipped_groups:
            left.set_xlabel(f"skipped, too few images: {', '.join(skipped_groups)}", fontsize=8)
        fractions = [key for key in ("precision", "recall", "coverage") if any(key in g for g in groups.values())]
        width = 0.8 / max(1, len(fractions))
        for i, (key, color) in enumerate(zip(fractions, ["tab:blue", "tab:green", "tab:orange"], strict=False)):
            offsets = np.arange(len(names)) + (i - (len(fractions) - 1) / 2) * width
            bars = left.bar(offsets, [groups[g].get(key, np.nan) for g in names], width, color=color, label=key)
            left.bar_label(bars, fmt="%.2f", fontsize=7)
            if key == "coverage":  # what two samples of one distribution reach, for these set sizes
                left.hlines([groups[g]["coverage_expected_for_one_distribution"] for g in names],
                            offsets - width / 2, offsets + width / 2, color="k", lw=1.5, ls="--",
                            label="coverage of a same-law sample")
        left.set_xticks(np.arange(len(names)), names)
        left.set_ylim(0, 1.3)  # room for the legend above the bars
        left.set_yticks(np.linspace(0, 1, 6))
        left.set_ylabel("fraction")
        left.set_title(f"{label}: k-NN precision, recall, coverage (k = {k})", fontsize=9)
        left.legend(fontsize=7, loc="upper center", ncol=4)
        if any("density" in g for g in groups.values()):
            bars = right.bar(names, [groups[g].get("density", np.nan) for g in names], color="tab:purple")
            right.bar_label(bars, fmt="%.2f", fontsize=7)
            right.axhline(1.0, color="k", lw=1, ls="--")
            right.set_title("density (1 = as dense as real)", fontsize=9)
        else:
            right.set_axis_off()
    if not rows:
        _nothing_computed(axes[0], "no nearest-neighbour metric was computed")
    fig.tight_layout()
    return fig


def power_spectrum_figure(result: dict) -> plt.Figure:
    """Mean log10 radial power spectrum of real (training and held-out) and generated images against spatial
    frequency, all images and per class, with the high-frequency band shaded and its power ratio."""
    frequency = np.array(result["frequency_cycles_per_pixel"])
    real, fake = result["log10_power"]["real"], result["log10_power"]["fake"]
    ratios = {"all": result["high_frequency_ratio"]["overall"], **result["high_frequency_ratio"]["per_class"]}
    groups = [group for group in real if real[group] is not None and fake[group] is not None]
    fig, axes = plt.subplots(1, len(groups), figsize=(3.6 * len(groups), 3.4), sharey=True, squeeze=False)
    reference = " + ".join(result["real_reference_images"]["sets"])
    for ax, group in zip(axes[0], groups, strict=True):
        ax.axvspan(*result["high_frequency_band_cycles_per_pixel"], color="0.92", zorder=0)
        ax.plot(frequency, real[group], color="0.35", marker=".", label=f"real ({reference})")
        ax.plot(frequency, fake[group], color="tab:orange", marker=".", label="generated")
        ax.set_title(f"{group}: high-frequency power ratio {ratios[group]:.2f}", fontsize=9)
        ax.set_xlabel("spatial frequency (cycles per pixel)")
        ax.set_xlim(0, 0.5)
    axes[0, 0].set_ylabel("log10 power (mean over images)")
    axes[0, 0].legend(fontsize=8)
    title = "radially averaged power spectrum; shaded: the high-frequency band (generated / real power)"
    if "axis_streak_ratio" in result:
        title += f"\nrow and column streaks: axis streak ratio {result['axis_streak_ratio']['overall']:.2f} (1 as real)"
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def memorization_figure(result: dict, sets: EvaluationSets) -> plt.Figure:
    """Nearest-training-image distances (generated vs real held-out) and the closest generated/training pairs."""
    pairs = result["closest_pairs"]
    fig = plt.figure(figsize=(max(8.0, 1.5 * len(pairs) + 4.5), 4.0))
    grid = fig.add_gridspec(2, len(pairs) + 2, width_ratios=[1.4, 1.4] + [1] * len(pairs))
    hist = fig.add_subplot(grid[:, :2])
    pixels = result["pixels_rms"]
    bins = np.histogram_bin_edges(pixels["fake_nearest"] + pixels["real_nearest"], bins=25)
    hist.hist(pixels["real_nearest"], bins=bins, density=True, alpha=0.6, color="0.5", label="real held-out")
    hist.hist(pixels["fake_nearest"], bins=bins, density=True, alpha=0.6, color="tab:orange", label="generated")
    hist.axvline(pixels["real_min"], color="k", lw=1, ls="--")
    hist.set_xlabel("distance to the nearest training image (RMS, pixels)")
    hist.set_title(f"{100 * pixels['fraction_fake_closer_than_any_real']:.1f}% of generated images are closer "
                   "than any real one (dashed)", fontsize=8)
    hist.legend(fontsize=8)
    for column, pair in enumerate(pairs):
        top, bottom = fig.add_subplot(grid[0, column + 2]), fig.add_subplot(grid[1, column + 2])
        show_slice(top, _slice(sets.fake_images, pair["fake_index"]), f"gen. {pair['pixels_rms']:.3f}")
        show_slice(bottom, _slice(sets.train_images, pair["train_index"]), "nearest train")
    fig.tight_layout()
    return fig


def evaluation_figures(results: dict, sets: EvaluationSets) -> dict[str, plt.Figure]:
    """Every figure whose metric was computed, by file name (without .png)."""
    made = {"real_vs_synthetic": real_vs_synthetic_grid(sets)}
    if "classifier" in results and "skipped" not in results["classifier"]:
        made["classifier"] = classifier_figure(results["classifier"])
    if any(name in results for names in DISTANCE_METRICS.values() for name in names):
        made["distances"] = distances_figure(results)
    if "ssim" in results:
        made["ssim"] = ssim_figure(results["ssim"], results.get("ms_ssim_fake"))
    if "class_fidelity" in results:
        made["class_fidelity"] = class_fidelity_figure(results["class_fidelity"], sets)
    if any(name in results for names in NEAREST_NEIGHBOUR_METRICS.values() for name in names):
        made["precision_recall_density_coverage"] = nearest_neighbours_figure(results)
    if "memorization" in results:
        made["memorization"] = memorization_figure(results["memorization"], sets)
    if "power_spectrum" in results:
        made["power_spectrum"] = power_spectrum_figure(results["power_spectrum"])
    return made


def image_row(images, titles: list[str], suptitle: str | None = None) -> plt.Figure:
    """One row of images ``[N, C, H, W]`` (tensor or array) with a title each."""
    fig, axes = plt.subplots(1, len(titles), figsize=(1.7 * len(titles), 2.0), squeeze=False)
    for index, (ax, title) in enumerate(zip(axes[0], titles, strict=True)):
        show_slice(ax, _slice(images, index), title)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def image_grid(rows: dict, column_titles: list[str], suptitle: str | None = None) -> plt.Figure:
    """One row per entry of ``rows`` (its name, then images ``[N, C, H, W]``, tensor or array; every row the
    same N), the name left of the row and ``column_titles`` over the first row."""
    fig, axes = plt.subplots(len(rows), len(column_titles), figsize=(1.6 * len(column_titles), 1.7 * len(rows)),
                             squeeze=False)
    for r, (ax_row, (name, images)) in enumerate(zip(axes, rows.items(), strict=True)):
        if len(images) != len(column_titles):
            raise ValueError(f"row {name!r} has {len(images)} images for {len(column_titles)} columns")
        for index, (ax, title) in enumerate(zip(ax_row, column_titles, strict=True)):
            show_slice(ax, _slice(images, index), title if r == 0 else None)
        ax_row[0].text(-0.08, 0.5, name, transform=ax_row[0].transAxes, ha="right", va="center", fontsize=9)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def interpolation_figure(frames, first: str, last: str) -> plt.Figure:
    """Rows of class interpolations ``[rows, steps, C, H, W]``: one latent vector per row, the class
    embedding moving from ``first`` (left) to ``last`` (right)."""
    rows, steps = frames.shape[:2]
    fig, axes = plt.subplots(rows, steps, figsize=(1.5 * steps, 1.55 * rows + 0.4), squeeze=False)
    for r in range(rows):
        for t in range(steps):
            title = (first if t == 0 else last if t == steps - 1 else f"{t / (steps - 1):.2f}") if r == 0 else None
            show_slice(axes[r, t], _slice(frames[r], t), title)
    fig.suptitle(f"class embedding from {first} to {last}, same latent vector per row", fontsize=10)
    fig.tight_layout()
    return fig
