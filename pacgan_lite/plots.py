"""Figures for the notebooks. Each function returns a matplotlib Figure; the notebook decides to show it.

Slices are drawn in the radiological convention used by the data layer: ``image[W, H]`` with W running
from the patient's right to left and H from posterior to anterior, so ``imshow(image.T, origin="lower")``
puts anterior at the top and the patient's right on the left of the screen.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .cohort.template import load_template
from .data.matching import MatchResult

GREY = {"cmap": "gray", "vmin": -1.0, "vmax": 1.0}


def use_notebook_style() -> None:
    """Small, consistent figures: notebooks stay light and nbval sees no size-dependent text."""
    sns.set_theme(context="notebook", style="whitegrid")
    plt.rcParams.update({"figure.dpi": 80, "savefig.dpi": 80, "image.interpolation": "nearest"})


def show_slice(ax, image: np.ndarray, title: str | None = None, **imshow_kwargs) -> None:
    """Draw one ``[W, H]`` slice (values in [-1, 1] unless ``vmin``/``vmax`` say otherwise) on ``ax``."""
    ax.imshow(np.asarray(image).T, origin="lower", **{**GREY, **imshow_kwargs})
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)


def slice_grid(images: np.ndarray, labels: pd.DataFrame, class_names: list[str], per_class: int = 6,
               seed: int = 0) -> plt.Figure:
    """One row per class with ``per_class`` random slices (``images`` is ``[W, H, C, N]``, labels by ID)."""
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(len(class_names), per_class, figsize=(1.7 * per_class, 1.9 * len(class_names)),
                             squeeze=False)
    for k, name in enumerate(class_names):
        ids = labels.loc[labels["Label"] == k, "ID"].to_numpy()
        chosen = rng.choice(ids, size=min(per_class, len(ids)), replace=False)
        for ax, image_id in zip(axes[k], chosen, strict=False):
            row = labels.set_index("ID").loc[image_id]
            age = f", {row['Age']:.0f} y" if "Age" in row else ""
            show_slice(ax, images[:, :, 0, image_id], f"{name}: {row['Subject_ID']}{age}")
        for ax in axes[k][len(chosen):]:
            ax.set_axis_off()
    fig.tight_layout()
    return fig


def orientation_figure(slice_z_mm: float = 18.0) -> plt.Figure:
    """Where the axial slice lies: sagittal and coronal template views with the level marked, and the slice."""
    template = load_template()
    to_index = np.linalg.inv(template.affine)
    i0, j0, k0 = np.round(to_index[:3, :3] @ np.array([0.0, -17.0, slice_z_mm]) + to_index[:3, 3]).astype(int)
    extent_x = template.affine[0, 3] + np.array([0, template.t1.shape[0] - 1])
    extent_y = template.affine[1, 3] + np.array([0, template.t1.shape[1] - 1])
    extent_z = template.affine[2, 3] + np.array([0, template.t1.shape[2] - 1])
    views = [
        ("sagittal (x = 0 mm)", template.t1[i0].T, (*extent_y, *extent_z), "y (mm, posterior → anterior)"),
        ("coronal (y = -17 mm)", template.t1[:, j0].T[:, ::-1], (extent_x[1], extent_x[0], *extent_z),
         "x (mm, right ← → left)"),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    for ax, (title, image, extent, xlabel) in zip(axes[:2], views, strict=True):
        ax.imshow(image, origin="lower", cmap="gray", extent=extent)
        ax.axhline(slice_z_mm, color="tab:red", lw=1.5)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("z (mm)")
        ax.grid(False)
    axial = template.t1[::-1, :, k0].T  # flip x so the patient's right is on the left (radiological)
    axes[2].imshow(axial, origin="lower", cmap="gray", extent=(extent_x[1], extent_x[0], *extent_y))
    axes[2].set_title(f"axial slice at z = {slice_z_mm:g} mm")
    axes[2].set_xlabel("x (mm, right ← → left)")
    axes[2].set_ylabel("y (mm)")
    axes[2].grid(False)
    fig.tight_layout()
    return fig


def class_effect_figure(table: pd.DataFrame, class_names: list[str]) -> plt.Figure:
    """Ventricle area by class (left) and against the hidden severity (right, when ``Severity`` is given).

    ``table`` has ``Label`` and ``ventricle_area_mm2`` (and optionally ``Severity``), one row per image.
    """
    data = table.assign(Class=table["Label"].map(dict(enumerate(class_names))))
    panels = 2 if "Severity" in data else 1
    fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 4), squeeze=False)
    sns.boxplot(data=data, x="Class", y="ventricle_area_mm2", order=class_names, ax=axes[0, 0],
                showfliers=False, width=0.5, color="0.85")
    sns.stripplot(data=data, x="Class", y="ventricle_area_mm2", order=class_names, hue="Class",
                  hue_order=class_names, ax=axes[0, 0], size=3, alpha=0.6, legend=False)
    axes[0, 0].set_ylabel("ventricle area in the slice (mm²)")
    axes[0, 0].set_title("image biomarker by class")
    if panels == 2:
        sns.scatterplot(data=data, x="Severity", y="ventricle_area_mm2", hue="Class", hue_order=class_names,
                        ax=axes[0, 1], s=14, alpha=0.7)
        axes[0, 1].set_xlabel("hidden disease severity (ground truth)")
        axes[0, 1].set_ylabel("ventricle area (mm²)")
        axes[0, 1].set_title("what the biomarker sees of the truth")
    fig.tight_layout()
    return fig


def age_histograms(match: MatchResult, class_names: list[str]) -> plt.Figure:
    """Subject ages per class before and after matching, with the p-values of the balance tests."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharex=True)
    balance = match.balance.set_index("stage")
    for ax, stage, subjects in zip(axes, ("before", "after"), (match.subjects_before, match.subjects_after),
                                   strict=True):
        data = subjects.assign(Class=subjects["Label"].map(dict(enumerate(class_names))))
        sns.histplot(data=data, x="Age", hue="Class", hue_order=class_names, binwidth=2.5, element="step", ax=ax)
        p = balance.loc[stage]
        ax.set_title(f"{stage} matching: {len(subjects)} subjects\n"
                     f"age t-test p={p['t_test_p']:.3f}, Mann-Whitney p={p['mann_whitney_p']:.3f}, "
                     f"sex χ² p={p['chi2_sex_p']:.3f}", fontsize=9)
        ax.set_xlabel("age at first session (years)")
    fig.tight_layout()
    return fig


def split_figure(summary: pd.DataFrame, class_names: list[str]) -> plt.Figure:
    """Images per set, stacked by class (``summary`` from :func:`pacgan_lite.data.split_summary`)."""
    counts = summary[[f"images_{name}" for name in class_names]]
    counts.columns = class_names
    fig, ax = plt.subplots(figsize=(5, 3.2))
    counts.plot.bar(stacked=True, ax=ax, rot=0, color=sns.color_palette(n_colors=len(class_names)))
    for i, (_, row) in enumerate(summary.iterrows()):
        ax.text(i, row["images"], f"{row['subjects']} subj.", ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("images")
    ax.set_xlabel("")
    ax.set_title("subject-grouped, stratified split")
    fig.tight_layout()
    return fig


def pyramid_figure(levels: dict[int, np.ndarray], image_id: int = 0) -> plt.Figure:
    """One image at every resolution of the pyramid (``levels`` maps size -> ``[W, H, C, N]``)."""
    sizes = sorted(levels)
    fig, axes = plt.subplots(1, len(sizes), figsize=(1.9 * len(sizes), 2.2))
    for ax, size in zip(np.atleast_1d(axes), sizes, strict=True):
        show_slice(ax, levels[size][:, :, 0, image_id], f"{size}×{size}")
    fig.tight_layout()
    return fig


def schedule_figure(rows: list[dict]) -> plt.Figure:
    """Resolution and ``fade_alpha`` against training progress (``rows`` from ``Schedule.curve``)."""
    curve = pd.DataFrame(rows)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 4.2), sharex=True)
    top.step(curve["progress"], curve["resolution"], where="post", color="tab:blue")
    top.set_yscale("log", base=2)
    top.set_yticks(sorted(curve["resolution"].unique()), [str(r) for r in sorted(curve["resolution"].unique())])
    top.set_ylabel("resolution (px)")
    bottom.plot(curve["progress"], curve["fade_alpha"], color="tab:orange")
    bottom.set_ylabel("fade_alpha")
    bottom.set_xlabel("stage (+ fraction of the stage done)")
    top.set_title("the progressive schedule: each new resolution fades in over the first half of its stage")
    fig.tight_layout()
    return fig


def loss_curves_figure(stats: pd.DataFrame) -> plt.Figure:
    """Per-epoch losses and critic scores (left) and the class head's validation AUCs (right)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6))
    terms = {"critic_loss": "critic loss", "generator_loss": "generator loss",
             "critic_wasserstein": "D(fake) - D(real)", "critic_gradient_penalty": "gradient penalty",
             "critic_class_real": "class CE, real", "generator_class_fake": "class CE, generated",
             "generator_mode_seeking": "diversity ratio (mode seeking)",
             "generator_mode_seeking_real": "diversity ratio of the real batch (its bound)"}
    long = stats.melt(id_vars="epoch_index", value_vars=[c for c in terms if c in stats], var_name="term")
    sns.lineplot(data=long.assign(term=long["term"].map(terms)), x="epoch_index", y="value", hue="term", ax=left)
    left.set_xlabel("epoch (all stages)")
    left.set_ylabel("")
    left.set_title("losses")
    sns.move_legend(left, "upper left", bbox_to_anchor=(0, -0.22), ncol=3, title=None, frameon=False)  # off the curves
    if "val_auc_real" in stats:
        aucs = stats.melt(id_vars="epoch_index", value_vars=["val_auc_real", "val_auc_fake"], var_name="images")
        aucs["images"] = aucs["images"].map({"val_auc_real": "real validation", "val_auc_fake": "generated"})
        sns.lineplot(data=aucs.dropna(), x="epoch_index", y="value", hue="images", marker="o", ax=right)
        right.set_ylim(0.0, 1.02)
    right.set_xlabel("epoch (all stages)")
    right.set_ylabel("AUC of the class head")
    right.set_title("the critic as a classifier (validation)")
    for boundary in stats.index[stats["stage"].diff() > 0]:
        for ax in (left, right):
            ax.axvline(stats.loc[boundary, "epoch_index"] - 0.5, color="0.7", lw=1, ls="--")
    fig.tight_layout()
    return fig


def fade_in_figure(images: np.ndarray, fade_alphas: list[float], class_names: list[str]) -> plt.Figure:
    """Generated images ``[K classes, A alphas, C, H, W]`` (torch order) for each ``fade_alpha``."""
    fig, axes = plt.subplots(len(class_names), len(fade_alphas), figsize=(2.2 * len(fade_alphas),
                                                                           2.3 * len(class_names)), squeeze=False)
    for k, name in enumerate(class_names):
        for a, fade_alpha in enumerate(fade_alphas):
            show_slice(axes[k, a], images[k, a, 0].T, f"{name}, fade_alpha = {fade_alpha:g}")
    fig.tight_layout()
    return fig
