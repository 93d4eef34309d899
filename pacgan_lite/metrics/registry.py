"""The metric registry (stylegan2-ada style): name -> function of an :class:`EvaluationContext`.

Each metric is a short module that registers one or more functions with :func:`register`. A metric
function takes the context and returns a JSON-ready dict; a metric that cannot run on the given inputs
returns ``{"skipped": "<why, and what to do>"}`` instead of raising, so one missing input (no Inception
weights, images too small for MS-SSIM) never hides the other results.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from ..config import MetricOptions
from ..errors import ConfigError

MetricFunction = Callable[["EvaluationContext"], dict]
_METRICS: dict[str, MetricFunction] = {}


def register(name: str) -> Callable[[MetricFunction], MetricFunction]:
    """Decorator: make ``function`` available as metric ``name`` (its key in the evaluation's metrics file)."""

    def decorator(function: MetricFunction) -> MetricFunction:
        if name in _METRICS:
            raise ValueError(f"metric {name!r} is registered twice")
        _METRICS[name] = function
        return function

    return decorator


def list_metrics() -> list[str]:
    """Names of every registered metric, in registration order (the order of the evaluation's metrics file)."""
    return list(_METRICS)


def skipped(reason: str) -> dict:
    """The result of a metric that could not run; ``reason`` says why and how to make it run."""
    return {"skipped": reason}


@dataclass
class EvaluationSets:
    """The image sets of one evaluation, all at one resolution.

    Images are float32 ``[N, C, s, s]`` in [-1, 1] on the CPU (torch order, see
    :func:`pacgan_lite.data.nifti_to_nchw`); labels are int64 ``[N]`` class indices.

    Attributes:
        train_images, train_labels: the real images the GAN was trained on (memorization reference).
        real_images, real_labels: real held-out images (validation or test split), never trained on.
        fake_images, fake_labels: generated images.
        class_names: names indexed by label (from the data set's metadata).
        real_probabilities: ``[N_real, K]`` class probabilities of the critic's class head on the real
            held-out images, or None.
        severity: ``[N_real]`` hidden disease severity of the real held-out images (embedded cohort only).
        held_out: where the real held-out images come from ("val", "test" or "population").
    """

    train_images: torch.Tensor
    train_labels: torch.Tensor
    real_images: torch.Tensor
    real_labels: torch.Tensor
    fake_images: torch.Tensor
    fake_labels: torch.Tensor
    class_names: list[str]
    real_probabilities: torch.Tensor | None = None
    severity: np.ndarray | None = None
    held_out: str = "test"

    def real_reference(self) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """Every real image of the evaluation, training and held-out together: images ``[N_train + N_real, C, s,
        s]``, labels ``[N_train + N_real]``, and a record of which sets and how many images per class.

        The reference of a fidelity ratio (generated against real): a property of the real data, measured on
        as many real images as the evaluation holds, so that its own sampling noise stays small.
        """
        labels = torch.cat([self.train_labels, self.real_labels])
        record = {"sets": {"train": len(self.train_labels), self.held_out: len(self.real_labels)},
                  "n": len(labels),
                  "per_class": {name: int((labels == k).sum()) for k, name in enumerate(self.class_names)}}
        return torch.cat([self.train_images, self.real_images]), labels, record


@dataclass
class EvaluationContext:
    """What a metric function sees: the sets, the options, and named feature extractors.

    ``extractors`` maps a name ("domain", "inception") to a callable ``images [N, C, s, s] -> [N, D]``;
    :meth:`features` computes each (extractor, set) once, so FD, KID, precision/recall and the memorization
    metric share one pass of each network over each set.
    """

    sets: EvaluationSets
    options: MetricOptions = field(default_factory=MetricOptions)
    extractors: dict[str, Callable[[torch.Tensor], torch.Tensor]] = field(default_factory=dict)
    missing_extractors: dict[str, str] = field(default_factory=dict)  # name -> why it is not available
    _features: dict[tuple[str, str], torch.Tensor] = field(default_factory=dict, repr=False)

    def features(self, extractor: str, which: str) -> torch.Tensor:
        """Features ``[N, D]`` of set ``which`` ("train", "real" or "fake") from ``extractor`` (cached)."""
        key = (extractor, which)
        if key not in self._features:
            self._features[key] = self.extractors[extractor](getattr(self.sets, f"{which}_images")).float()
        return self._features[key]

    def rng(self, purpose: str) -> np.random.Generator:
        """A generator seeded by the options' seed and ``purpose``: metrics do not share random streams,
        so adding a metric never changes another's numbers."""
        return np.random.default_rng([self.options.seed, *purpose.encode()])


def compute_metrics(context: EvaluationContext, names: list[str] | tuple[str, ...] | None = None) -> dict:
    """``{name: result}`` for ``names`` (default: every registered metric), in registry order."""
    names = list_metrics() if names is None else list(names)
    unknown = [name for name in names if name not in _METRICS]
    if unknown:
        raise ConfigError("metrics", ", ".join(unknown), "unknown metric", f"choose from {', '.join(list_metrics())}")
    return {name: _METRICS[name](context) for name in names}
