"""Training: the loop, checkpoints, model selection, the run folder, DDP helpers, the reference config reader.

Usage::

    from pacgan_lite.config import load_profile
    from pacgan_lite.data.prepare import prepare
    from pacgan_lite.training import train

    config = load_profile("smoke")
    prepared = prepare(config)
    result = train(config, prepared.train, test_folder=prepared.test)
"""

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .loop import Trainer, TrainingDiverged, TrainResult, train
from .reference_config import ReferenceConfig, read_reference_config
from .selection import selected_epochs, set_auc

__all__ = [
    "CheckpointError",
    "ReferenceConfig",
    "TrainResult",
    "Trainer",
    "TrainingDiverged",
    "load_checkpoint",
    "read_reference_config",
    "save_checkpoint",
    "selected_epochs",
    "set_auc",
    "train",
]
