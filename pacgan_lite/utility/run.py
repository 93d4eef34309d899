"""The utility study of one run: every setting, every seed, the tables, the figures, written into the run.

::

    from pacgan_lite.config import load_profile
    from pacgan_lite.utility import run_utility

    result = run_utility("runs/00007-teaching-val", load_profile("teaching").utility)
    result.summary        # one row per setting: AUC over seeds with its 95% interval, spread, ceiling
    result.comparisons    # each setting minus the real training images: interval and reading

The run must be a complete validation run with a finished stage at ``options.resolution``: its generator
at that stage makes the synthetic images, its data folders give the real ones. What is written where is
:mod:`pacgan_lite.run_folder`'s business (``<run>/utility/``).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from .. import __version__
from ..atomic import atomic_path, write_json
from ..config import UtilityOptions
from ..errors import InputError
from ..inference import load_model
from ..run_folder import COMPLETE, RunFolder
from ..schedule import resolution
from . import figures
from .classifier import predict, train_classifier
from .critic import critic_test_probabilities, ensure_final_run
from .datasets import RealData, generate_pool, load_real_data
from .report import Bootstrap, ceiling, paired_comparison, prediction_table, run_row, summary_row
from .settings import (
    CRITIC_FINAL,
    CRITIC_VALIDATION,
    GROUPS,
    OVERSAMPLING_REMEDY,
    REFERENCE,
    SYNTHETIC_REMEDY,
    study_settings,
    synthetic_needed,
    training_set,
)


@dataclass
class UtilityResult:
    """What :func:`run_utility` computed and wrote (the tables as in the run's ``utility/`` folder)."""

    runs: pd.DataFrame
    summary: pd.DataFrame
    comparisons: pd.DataFrame
    predictions: pd.DataFrame
    record: dict
    folder: Path


def generator_checkpoint(run: RunFolder, size: int) -> Path:
    """The selected checkpoint of the stage of ``run`` that makes ``size`` px images.

    Raises:
        InputError: the run is not complete, or it has no finished stage at ``size`` px.
    """
    status = run.status()
    if status.state != COMPLETE:
        raise InputError(run.path, "(run folder)", f"the run is not complete ({status.reason})",
                         "finish training it (pacgan-lite train --resume <its latest checkpoint>)")
    sizes = [resolution(stage) for stage in range(run.n_stages)]
    if size not in sizes or not run.checkpoint(sizes.index(size)).is_file():
        raise InputError(run.path, "utility.resolution", f"the run has no finished stage at {size} px (its stages: "
                         f"{sizes} px)", f"set utility.resolution to one of {sizes}, e.g. --set "
                         f"utility.resolution={max(s for s in sizes if s <= max(size, sizes[0]))}")
    return run.checkpoint(sizes.index(size))


def _classifier_runs(real: RealData, model, options: UtilityOptions, settings, log) -> tuple[list[dict], dict]:
    """Train every classifier setting for every seed: the rows and the test probabilities of class 1."""
    rows, scores = [], {}
    n_classes = len(real.class_names)
    needed = synthetic_needed(settings, real.train_labels, options, n_classes)
    for seed in options.seeds:
        pool = generate_pool(model, needed, seed, options.batch_size)
        for setting in settings:
            if setting.kind != "classifier":
                continue
            training = training_set(setting, real.train_images, real.train_labels, pool, options, seed)
            trained = train_classifier(training, real.val_images, real.val_labels, options.classifier, seed,
                                       n_classes, options.batch_size)
            probabilities = predict(trained.model, real.test_images, options.batch_size)
            scores.setdefault(setting.name, []).append(probabilities[:, 1].numpy())
            row = run_row(setting.name, seed, probabilities, real.test_labels, options.bootstrap_resamples,
                          np.random.default_rng([seed, *b"run interval"]))
            counts = training.counts(n_classes)
            rows.append({**row, "group": setting.group, "best_epoch": trained.best_epoch, "epochs": trained.epochs,
                         "val_auc": trained.val_auc[trained.best_epoch - 1], "seconds": round(trained.seconds, 2),
                         **{f"n_{origin}_{name}": counts[origin][k] for origin in counts
                            for k, name in enumerate(real.class_names)}})
            log(f"seed {seed}, {setting.name}: test AUC {row['test_auc']:.3f}, best epoch {trained.best_epoch} "
                f"of {trained.epochs} ({trained.seconds:.0f} s)")
    return rows, scores


def _critic_runs(run: RunFolder, final: RunFolder, real: RealData, options: UtilityOptions,
                 device: str) -> tuple[list[dict], dict, dict]:
    """Setting e: both critics on the test images; the rows, their scores and the resolution of each."""
    rows, scores, record = [], {}, {}
    for name, critic_run in ((CRITIC_FINAL, final), (CRITIC_VALIDATION, run)):
        probabilities, labels, side = critic_test_probabilities(critic_run, real.test_folder, options.batch_size,
                                                                device)
        if not torch.equal(labels, real.test_labels):
            raise InputError(real.test_folder, "Label", f"the critic of {critic_run.path} sees other test labels",
                             "train the final run on the validation run's data folders")
        scores[name] = [probabilities[:, 1].numpy()]
        row = run_row(name, None, probabilities, labels, options.bootstrap_resamples,
                      np.random.default_rng([0, *b"run interval"]))
        rows.append({**row, "group": "e", "critic_resolution": side})
        record[f"{name} resolution"] = side
    return rows, scores, record


def _fidelity(run: RunFolder) -> dict | None:
    """The generator's fidelity from the run's evaluation (coverage, class-effect and spread ratios), if any."""
    metrics = run.metrics()
    if metrics is None:
        return None
    results = metrics["metrics"]
    fidelity = results.get("class_fidelity", {})
    coverage = results.get("density_coverage_domain", {}).get("overall", {})
    return {"evaluated_at_px": metrics["resolution"], "held_out": metrics["held_out"],
            "class_effect_ratio": fidelity.get("class_effect_ratio"),
            "spread_ratio_per_class": fidelity.get("spread_ratio_per_class"),
            "coverage_domain": coverage.get("coverage"),
            "coverage_expected_for_one_distribution": coverage.get("coverage_expected_for_one_distribution")}


def run_utility(run_dir: str | Path, options: UtilityOptions, final_run: str | Path | None = None,
                device: str = "cpu", save_figures: bool = True, echo: bool = True) -> UtilityResult:
    """Run the study on a validation run and write its tables and figures into ``<run>/utility/``.

    Args:
        run_dir: a complete validation run (its generator, its data, its critic).
        options: see :class:`~pacgan_lite.config.UtilityOptions`.
        final_run: the final-protocol run of ``run_dir`` for setting e; None finds it beside the run or
            trains it (see :mod:`.critic`).
        device: where the generator and the critics run ("cpu", "cuda", "auto"); the classifiers train on
            the CPU.
        save_figures: also write the ROC and AUC figures.
        echo: print a line per trained classifier.
    """
    run = RunFolder(run_dir)
    log = print if echo else (lambda _: None)
    start = time.time()
    model = load_model(generator_checkpoint(run, options.resolution), device)
    run_options = run.options()
    real = load_real_data(Path(run_options["train_folder"]), run_options["test_folder"] and
                          Path(run_options["test_folder"]), options.resolution)
    if len(real.class_names) != 2 or real.class_names != model.class_names:
        raise InputError(real.test_folder, "class_names", f"the study needs two classes, the generator's "
                         f"{model.class_names} in the data's order {real.class_names}",
                         "use a two-class run and its own data")
    critic_record = {}
    if options.critic:  # first: a final run that does not fit fails before any classifier trains
        final_start = time.time()
        final, how = ensure_final_run(run, final_run)
        critic_record = {"final_run": str(final.path), "final_run_was": how,
                         "final_run_seconds": round(time.time() - final_start, 1)}
        log(f"final run {final.path} ({how}, {critic_record['final_run_seconds']:.0f} s)")
    settings = study_settings(options)
    rows, scores = _classifier_runs(real, model, options, settings, log)
    if options.critic:
        critic_rows, critic_scores, resolutions = _critic_runs(run, final, real, options, device)
        rows, scores, critic_record = rows + critic_rows, {**scores, **critic_scores}, {**critic_record, **resolutions}
    runs = pd.DataFrame(rows)
    labels = real.test_labels.numpy()
    bootstrap = Bootstrap(labels, len(options.seeds), options.bootstrap_resamples,
                          np.random.default_rng([len(labels), *b"utility bootstrap"]))
    top = ceiling(real.severity, bootstrap)
    summary = pd.DataFrame([{"group": setting.group, **summary_row(setting.name, runs[runs["setting"] == setting.name],
                                                                    np.stack(scores[setting.name]), bootstrap),
                             "ceiling_auc": top["auc"] if top else np.nan} for setting in settings])
    reference = np.stack(scores[REFERENCE])
    comparisons = pd.DataFrame([paired_comparison(setting.name, np.stack(scores[setting.name]), reference, bootstrap)
                                for setting in settings if setting.name != REFERENCE])
    # the two remedies of the imbalance against each other, on the same resamples
    remedies = (SYNTHETIC_REMEDY, OVERSAMPLING_REMEDY)
    remedy_comparison = (paired_comparison(remedies[0], np.stack(scores[remedies[0]]), np.stack(scores[remedies[1]]),
                                           bootstrap) if all(name in scores for name in remedies) else None)
    predictions = prediction_table(real.test_ids, labels, scores, options.seeds, real.severity)
    record = {"run": str(run.path), "generator_checkpoint": str(model.path), "resolution": options.resolution,
              "class_names": real.class_names, "positive_class": real.class_names[1],
              "n_images": {"train": len(real.train_labels), "val": len(real.val_labels), "test": len(labels)},
              "test_per_class": dict(zip(real.class_names, np.bincount(labels).tolist(), strict=True)),
              "ceiling_from_hidden_severity": top, "groups": GROUPS, "fidelity": _fidelity(run), **critic_record,
              "options": dataclasses.asdict(options), "seconds": round(time.time() - start, 1),
              "summary": summary.to_dict("records"), "comparisons": comparisons.to_dict("records"),
              "synthetic_vs_oversampling": remedy_comparison,
              "pacgan_lite_version": __version__}
    _write(run, runs, summary, comparisons, predictions, record)
    if save_figures:
        _write_figures(run, predictions, summary, runs)
    return UtilityResult(runs, summary, comparisons, predictions, record, run.utility_dir)


def _write(run: RunFolder, runs, summary, comparisons, predictions, record) -> None:
    run.utility_dir.mkdir(parents=True, exist_ok=True)
    for key, table in (("runs", runs), ("summary", summary), ("comparisons", comparisons),
                       ("predictions", predictions)):
        with atomic_path(run.utility_file(key)) as tmp:
            table.to_csv(tmp, index=False)
    write_json(run.utility_file("record"), record)


def _write_figures(run: RunFolder, predictions, summary, runs) -> None:
    for key, figure in (("roc_figure", figures.roc_figure(predictions, summary)),
                        ("auc_figure", figures.auc_figure(summary, runs))):
        with atomic_path(run.utility_file(key)) as tmp:
            figure.savefig(tmp, format="png", bbox_inches="tight")
        plt.close(figure)
