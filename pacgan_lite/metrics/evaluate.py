"""Evaluate a trained run: every registered metric, written to ``<run>/evaluation/`` with its figures.

::

    <run>/evaluation/
        metrics.json             {"run", "checkpoint", "resolution", "held_out", "sets", "encoder", "metrics": {...}}
        real_vs_synthetic.png    one real and one generated row per class
        classifier.png           ROC curve and confusion matrix of the critic's class head
        distances.png            FD and KID per extractor (domain, EfficientNet-Lite0, Inception if given),
                                 real-real baseline vs real-fake, per class
        ssim.png                 SSIM real-real / real-fake / fake-fake per class, MS-SSIM among fakes
        class_fidelity.png       ventricle area per class, real vs generated
        memorization.png         nearest-training-image distances and the closest pairs

The held-out real images are the validation split for a validation run (the test set stays untouched
while developing; the reference scored the test set even then) and the test set for a final run, whose
training used the validation images.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import torch

from .. import __version__
from ..atomic import atomic_path, write_json
from ..data import SliceDataset
from ..data.embedded import TRUTH_FILE
from ..errors import InputError
from ..inference import LoadedModel, load_model
from ..paths import data_root, runs_root
from ..training.selection import classify, generate_balanced
from . import figures
from .efficientnet import load_efficientnet_lite0
from .encoder import EncoderOptions, extract_features, load_or_train_encoder
from .registry import EvaluationContext, EvaluationSets, MetricOptions, compute_metrics

EVALUATION_DIR = "evaluation"
METRICS_FILE = "metrics.json"
NO_INCEPTION = ("no local Inception-v3 weights file was given (pass inception_weights / --inception-weights "
                "FILE, e.g. torch-fidelity's pt_inception-2015-12-05 weights); the kit never downloads weights")


@dataclass(frozen=True)
class EvaluationOptions:
    """What :func:`evaluate` computes.

    Attributes:
        held_out: "auto" (validation split for validation runs, test set for final runs), "val" or "test".
        synthetic_per_class: generated images per class.
        metrics: names to compute (None: all registered, see :func:`~.registry.list_metrics`).
        inception_weights: a local state dict of the FID Inception-v3 network (None: FID/KID skipped).
        batch_size: images per forward pass.
        metric: protocol settings (seed, KID subset size, SSIM pairs, bootstrap).
        encoder: the domain encoder's options.
    """

    held_out: str = "auto"
    synthetic_per_class: int = 200
    metrics: tuple[str, ...] | None = None
    inception_weights: str | None = None
    batch_size: int = 64
    metric: MetricOptions = field(default_factory=MetricOptions)
    encoder: EncoderOptions = field(default_factory=EncoderOptions)


@dataclass
class Evaluation:
    """The result of :func:`evaluate`: the metrics (as in metrics.json), the context and where files went."""

    metrics: dict
    context: EvaluationContext
    model: LoadedModel
    folder: Path
    record: dict


def find_run(profile: str, root: str | Path | None = None) -> Path | None:
    """The newest run folder of ``profile`` under ``root`` (default ``runs/``) whose last stage finished."""
    root = Path(root) if root else runs_root()
    candidates = sorted(root.glob(f"[0-9][0-9][0-9][0-9][0-9]-{profile}-*"), reverse=True)
    return next((run for run in candidates if _last_best(run) is not None), None)


def _last_best(run_dir: Path) -> Path | None:
    options_path = run_dir / "options.json"
    if not options_path.is_file():
        return None
    stages = len(json.loads(options_path.read_text())["epochs_per_stage"])
    best = run_dir / f"stage{stages - 1}-best.pt"
    return best if best.is_file() else None


def final_checkpoint(run_dir: str | Path) -> Path:
    """The selected weights of a run's last stage (``stage{last}-best.pt``)."""
    run_dir = Path(run_dir)
    best = _last_best(run_dir)
    if best is None:
        raise InputError(run_dir, "(run folder)", "no options.json or no finished last stage "
                         "(stage<last>-best.pt) in it", "finish training (or resume it), or pass a checkpoint")
    return best


def held_out_split(options: dict, requested: str) -> str:
    """``requested`` or, for "auto", "test" for a final run and "val" otherwise (see the module docstring)."""
    if requested not in ("auto", "val", "test"):
        raise InputError("held_out", "held_out", f"unknown split {requested!r}", "use auto, val or test")
    if requested != "auto":
        return requested
    return "test" if options["config"]["train"]["final_mode"] else "val"


def _load_set(folder: Path, size: int, splits: tuple[str, ...]) -> tuple[SliceDataset, torch.Tensor | None]:
    dataset = SliceDataset(folder, size, splits=splits)
    truth_path = folder / TRUTH_FILE
    severity = None
    if truth_path.is_file():
        truth = pd.read_csv(truth_path).set_index("ID")
        if "Severity" in truth.columns:
            severity = truth.loc[dataset.labels["ID"], "Severity"].to_numpy()
    return dataset, severity


def load_sets(run_dir: Path, model: LoadedModel, options: EvaluationOptions) -> EvaluationSets:
    """The run's training images, held-out real images (with critic probabilities) and generated images."""
    run_options = json.loads((run_dir / "options.json").read_text())
    held_out = held_out_split(run_options, options.held_out)
    final = run_options["config"]["train"]["final_mode"]
    if held_out == "val" and final:
        raise InputError(run_dir / "options.json", "held_out", "a final run trained on the validation images",
                         "evaluate a final run on the test set (held_out=test)")
    train_folder = Path(run_options["train_folder"])
    train, _ = _load_set(train_folder, model.resolution, ("train", "val") if final else ("train",))
    if held_out == "test":
        if not run_options["test_folder"]:
            raise InputError(run_dir / "options.json", "test_folder", "the run has no test folder",
                             "evaluate on the validation split (held_out=val)")
        real, severity = _load_set(Path(run_options["test_folder"]), model.resolution, ("test",))
    else:
        real, severity = _load_set(train_folder, model.resolution, ("val",))
    for dataset in (train, real):
        if list(dataset.class_names) != model.class_names:
            raise InputError(dataset.folder / "dataset.json", "class_names", f"the data's classes "
                             f"{dataset.class_names} differ from the checkpoint's {model.class_names}",
                             "evaluate the checkpoint on data with its classes in its order")
    probabilities = classify(model.discriminator, real.images, model.stage, model.fade_alpha, options.batch_size,
                             model.device)
    fake, fake_labels = generate_balanced(model.generator, options.synthetic_per_class, model.stage,
                                          model.fade_alpha, options.metric.seed, options.batch_size, model.device)
    return EvaluationSets(train.images, train.targets, real.images, real.targets, fake, fake_labels,
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
        from .inception import load_inception

        inception = load_inception(options.inception_weights)
        context.extractors["inception"] = lambda images: extract_features(inception, images, options.batch_size)
    else:
        context.missing_extractors["inception"] = NO_INCEPTION
    return context


def evaluate(run_dir: str | Path, checkpoint: str | Path | None = None,
             options: EvaluationOptions = EvaluationOptions(), out: str | Path | None = None,
             device: str = "auto", save_figures: bool = True, encoder_cache: str | Path | None = None) -> Evaluation:
    """Compute every metric for a trained run and write ``metrics.json`` and the figures.

    Args:
        run_dir: the run folder (its options.json names the data).
        checkpoint: default: the selected weights of the last stage.
        options: see :class:`EvaluationOptions`.
        out: output folder (default ``<run_dir>/evaluation``).
        device: "auto" uses CUDA when present.
        save_figures: also write the PNG figures.
        encoder_cache: where the domain encoder is cached (default ``<data root>/cache/encoders``).
    """
    run_dir = Path(run_dir)
    checkpoint = Path(checkpoint) if checkpoint else final_checkpoint(run_dir)
    run_options = json.loads((run_dir / "options.json").read_text())
    model = load_model(checkpoint, device, expect={key: run_options["architecture"][key]
                                                   for key in ("n_classes", "image_channels")})
    sets = load_sets(run_dir, model, options)
    cache_dir = Path(encoder_cache) if encoder_cache else data_root(run_options["config"]["data"]["root"]) / "cache" / "encoders"
    context = build_context(sets, options, cache_dir)
    results = compute_metrics(context, options.metrics)
    folder = Path(out) if out else run_dir / EVALUATION_DIR
    record = {"run": str(run_dir), "checkpoint": str(checkpoint), "stage": model.stage,
              "resolution": model.resolution, "fade_alpha": model.fade_alpha, "held_out": sets.held_out,
              "sets": {name: len(getattr(sets, f"{name}_labels")) for name in ("train", "real", "fake")},
              "class_names": model.class_names, "encoder": context.extractors["domain"].record, "seed": options.metric.seed,
              "pacgan_lite_version": __version__, "metrics": results}
    write_json(folder / METRICS_FILE, record)
    if save_figures:
        for name, figure in figures.evaluation_figures(results, sets).items():
            with atomic_path(folder / f"{name}.png") as tmp:
                figure.savefig(tmp, format="png", bbox_inches="tight")
            plt.close(figure)
    return Evaluation(results, context, model, folder, record)
