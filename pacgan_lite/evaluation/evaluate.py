"""Evaluate a trained run: every registered metric, written to the run's evaluation folder with its figures.

::

    <run>/evaluation/
        metrics file             {"run", "checkpoint", "resolution", "held_out", "sets", "encoder", "metrics": {...}}
                                 (named and read by :mod:`pacgan_lite.run_folder`)
        real_vs_synthetic.png    one real and one generated row per class
        classifier.png           ROC curve and confusion matrix of the critic's class head
        distances.png            FD and KID per extractor (domain, EfficientNet-Lite0, Inception if given),
                                 real-real baseline vs real-fake, per class
        ssim.png                 SSIM real-real / real-fake / fake-fake per class, MS-SSIM among fakes
        class_fidelity.png       ventricle area per class, real vs generated, and the fidelity ratios
        precision_recall_density_coverage.png
                                 k-NN precision, recall, density and coverage per feature space, per class
        memorization.png         nearest-training-image distances and the closest pairs
        power_spectrum.png       radially averaged power spectrum, real vs generated, per class

The held-out real images are the validation split for a validation run (the test set stays untouched
while developing; the reference scored the test set even then) and the test set for a final run, whose
training used the validation images. For a run on the embedded cohort, ``held_out="population"`` takes every
slice of a fresh cohort of the same population instead (:class:`~pacgan_lite.config.EvaluationOptions`):
an AUC on about 50 slices has a 95% interval about 0.3 wide, on several hundred a fraction of that.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from .. import __version__
from ..atomic import atomic_path, write_json
from ..config import (
    EMBEDDED,
    HELD_OUT_SPLITS,
    POPULATION_SEED_OFFSET,
    EncoderOptions,
    EvaluationOptions,
    config_from_dict,
    replace_options,
)
from ..data import SliceDataset
from ..data.embedded import hidden_severity
from ..data.prepare import prepare
from ..errors import InputError
from ..inference import LoadedModel, load_model
from ..metrics.efficientnet import load_efficientnet_lite0
from ..metrics.encoder import extract_features, load_or_train_encoder
from ..metrics.registry import EvaluationContext, EvaluationSets, compute_metrics, list_metrics
from ..paths import data_root, runs_root
from ..run_folder import OPTIONS_FILE, RunFolder
from ..sampling import critic_probabilities, generate_balanced
from . import figures

NO_INCEPTION = ("no local Inception-v3 weights file was given (pass inception_weights / --inception-weights "
                "FILE, e.g. torch-fidelity's pt_inception-2015-12-05 weights); the kit never downloads weights")


@dataclass
class Evaluation:
    """The result of :func:`evaluate`: the metrics (as in the metrics file), the context and where files went."""

    metrics: dict
    context: EvaluationContext
    model: LoadedModel
    folder: Path
    record: dict


def find_run(profile: str, root: str | Path | None = None) -> Path | None:
    """The newest complete run folder of ``profile`` under ``root`` (default ``runs/``), or None."""
    run = RunFolder.newest_complete(Path(root) if root else runs_root(), profile)
    return None if run is None else run.path


def held_out_split(run: RunFolder, requested: str) -> str:
    """``requested`` or, for "auto", "test" for a final run and "val" otherwise (see the module docstring)."""
    if requested not in HELD_OUT_SPLITS:
        raise InputError("held_out", "held_out", f"unknown split {requested!r}", f"use {', '.join(HELD_OUT_SPLITS)}")
    if requested != "auto":
        return requested
    return "test" if run.is_final_mode else "val"


def _load_set(folder: Path, size: int, splits: tuple[str, ...]) -> tuple[SliceDataset, np.ndarray | None]:
    dataset = SliceDataset(folder, size, splits=splits)
    return dataset, hidden_severity(folder, dataset.labels["ID"])


def _population_set(run: RunFolder, size: int, n_subjects: int
                    ) -> tuple[tuple[SliceDataset, ...], torch.Tensor, torch.Tensor, np.ndarray]:
    """Every slice of a fresh cohort of the run's population (see the module docstring), prepared (matched and
    split) as the run's data were: ``(datasets, images [N, C, s, s], labels [N], severity [N])``."""
    options_file = run.file(OPTIONS_FILE)
    config = config_from_dict(run.config(), str(options_file))
    if config.data.source != EMBEDDED:
        raise InputError(options_file, "data.source", f"held_out=population draws fresh subjects of the embedded "
                         f"cohort, and this run trained on {config.data.source}",
                         "evaluate it on its own held-out images (held_out=val or test)")
    cohort = dataclasses.replace(config.cohort, seed=config.cohort.seed + POPULATION_SEED_OFFSET,
                                 n_subjects=n_subjects)
    prepared = prepare(dataclasses.replace(config, cohort=cohort))
    parts = [_load_set(prepared.train, size, ("train", "val")), _load_set(prepared.test, size, ("test",))]
    datasets = tuple(dataset for dataset, _ in parts)
    severity = np.concatenate([part for _, part in parts])
    return (datasets, torch.cat([dataset.images for dataset in datasets]),
            torch.cat([dataset.targets for dataset in datasets]), severity)


def load_sets(run: RunFolder, model: LoadedModel, options: EvaluationOptions) -> EvaluationSets:
    """The run's training images, held-out real images (with critic probabilities) and generated images."""
    run_options = run.options()
    held_out = held_out_split(run, options.held_out)
    final = run.is_final_mode
    if held_out == "val" and final:
        raise InputError(run.path, "held_out", "a final run trained on the validation images",
                         "evaluate a final run on the test set (held_out=test)")
    train_folder = Path(run_options["train_folder"])
    train, _ = _load_set(train_folder, model.resolution, ("train", "val") if final else ("train",))
    if held_out == "population":
        datasets, real_images, real_labels, severity = _population_set(run, model.resolution,
                                                                       options.population_subjects)
    else:
        if held_out == "test":
            if not run_options["test_folder"]:
                raise InputError(run.path, "test_folder", "the run has no test folder",
                                 "evaluate on the validation split (held_out=val)")
            real, severity = _load_set(Path(run_options["test_folder"]), model.resolution, ("test",))
        else:
            real, severity = _load_set(train_folder, model.resolution, ("val",))
        datasets, real_images, real_labels = (real,), real.images, real.targets
    for dataset in (train, *datasets):
        if list(dataset.class_names) != model.class_names:
            raise InputError(dataset.folder / "dataset.json", "class_names", f"the data's classes "
                             f"{dataset.class_names} differ from the checkpoint's {model.class_names}",
                             "evaluate the checkpoint on data with its classes in its order")
    probabilities = critic_probabilities(model.discriminator, real_images, model.stage, model.fade_alpha,
                                         options.batch_size, model.device)
    fake, fake_labels = generate_balanced(model.generator, options.synthetic_per_class, model.stage,
                                          model.fade_alpha, options.metric.seed, options.batch_size, model.device)
    return EvaluationSets(train.images, train.targets, real_images, real_labels, fake, fake_labels,
                          model.class_names, probabilities, severity, held_out)


class DomainFeatures:
    """The domain extractor of an evaluation: the encoder is loaded or trained on first use, so metrics that
    need no features (``--metrics classifier``) cost no encoder training."""

    def __init__(self, train_images: torch.Tensor, cache_dir: Path | None, options: EncoderOptions, batch_size: int):
        self.train_images, self.cache_dir, self.options, self.batch_size = train_images, cache_dir, options, batch_size
        self.encoder, self.record = None, None

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if self.encoder is None:
            self.encoder, self.record = load_or_train_encoder(self.train_images, self.cache_dir, self.options)
        return extract_features(self.encoder, images, self.batch_size)


def build_context(sets: EvaluationSets, options: EvaluationOptions, cache_dir: Path | None) -> EvaluationContext:
    """The metric context with the domain extractor (its encoder trained on ``sets.train_images`` and cached
    in ``cache_dir``), the pretrained EfficientNet-Lite0 and, given a weights file, the Inception extractor."""
    context = EvaluationContext(sets, options.metric)
    context.extractors["domain"] = DomainFeatures(sets.train_images, cache_dir, options.encoder, options.batch_size)
    context.extractors["efficientnet"] = lambda images: extract_features(load_efficientnet_lite0(), images,
                                                                         options.batch_size)
    if options.inception_weights:
        from ..metrics.inception import load_inception

        inception = load_inception(options.inception_weights)
        context.extractors["inception"] = lambda images: extract_features(inception, images, options.batch_size)
    else:
        context.missing_extractors["inception"] = NO_INCEPTION
    return context


def run_evaluation_options(run: RunFolder, overrides: dict | None = None) -> EvaluationOptions:
    """The evaluation options of the run's profile (the ``evaluation`` section of its resolved options; the
    defaults for runs trained before profiles held it), with ``overrides`` (``{"held_out": "test"}``); the
    metric names are checked against the registry before any work."""
    overrides = overrides or {}
    # the stored names are checked unless overrides replace them, so that each error names its source
    stored = replace_options(EvaluationOptions(), run.config().get("evaluation", {}), "evaluation",
                             source=str(run.file(OPTIONS_FILE)),
                             known_metrics=None if "metrics" in overrides else list_metrics())
    return replace_options(stored, overrides, "evaluation", known_metrics=list_metrics())


def evaluate(run_dir: str | Path, checkpoint: str | Path | None = None, options: EvaluationOptions | None = None,
             out: str | Path | None = None, device: str = "auto", save_figures: bool = True,
             encoder_cache: str | Path | None = None) -> Evaluation:
    """Compute every metric for a trained run and write its metrics file and the figures.

    Args:
        run_dir: the run folder (its options name the data).
        checkpoint: default: the selected weights of the last stage.
        options: see :class:`~pacgan_lite.config.EvaluationOptions`; default: the run's own
            (:func:`run_evaluation_options`), which its profile set.
        out: output folder (default: the run's evaluation folder).
        device: "auto" uses CUDA when present.
        save_figures: also write the PNG figures.
        encoder_cache: where the domain encoder is cached (default ``<data root>/cache/encoders``).
    """
    run = RunFolder(run_dir)
    run_options = run.options()
    options = options or run_evaluation_options(run)
    checkpoint = Path(checkpoint) if checkpoint else run.final_checkpoint()
    model = load_model(checkpoint, device, expect={key: run_options["architecture"][key]
                                                   for key in ("n_classes", "image_channels")})
    sets = load_sets(run, model, options)
    cache_dir = Path(encoder_cache) if encoder_cache else data_root(run_options["config"]["data"]["root"]) / "cache" / "encoders"
    context = build_context(sets, options, cache_dir)
    results = compute_metrics(context, options.metrics)
    folder = Path(out) if out else run.evaluation_dir
    record = {"run": str(run.path), "checkpoint": str(checkpoint), "stage": model.stage,
              "resolution": model.resolution, "fade_alpha": model.fade_alpha, "held_out": sets.held_out,
              "sets": {name: len(getattr(sets, f"{name}_labels")) for name in ("train", "real", "fake")},
              "class_names": model.class_names, "encoder": context.extractors["domain"].record, "seed": options.metric.seed,
              "pacgan_lite_version": __version__, "metrics": results}
    write_json(run.metrics_path(folder), record)
    if save_figures:
        for name, figure in figures.evaluation_figures(results, sets).items():
            with atomic_path(folder / f"{name}.png") as tmp:
                figure.savefig(tmp, format="png", bbox_inches="tight")
            plt.close(figure)
    return Evaluation(results, context, model, folder, record)
