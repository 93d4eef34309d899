"""Training: the loop, model selection, the training state and DDP helpers.

Usage::

    from pacgan_lite.config import load_profile
    from pacgan_lite.data.prepare import prepare
    from pacgan_lite.training import train

    config = load_profile("smoke")
    prepared = prepare(config)
    result = train(config, prepared.train, test_folder=prepared.test)
"""

from .loop import Trainer, TrainingDiverged, TrainResult, train
from .selection import selected_epochs

__all__ = [
    "TrainResult",
    "Trainer",
    "TrainingDiverged",
    "selected_epochs",
    "train",
]
