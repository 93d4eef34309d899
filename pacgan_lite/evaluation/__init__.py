"""Evaluation of a trained run: the image sets, every registered metric, the figures and a plain reading.

Usage::

    from pacgan_lite.evaluation import evaluate

    result = evaluate("runs/00003-teaching-val")  # the run's own evaluation options (its profile)
    print(result.metrics["classifier"]["auc"])
"""

from .evaluate import Evaluation, evaluate, find_run

__all__ = ["Evaluation", "evaluate", "find_run"]
