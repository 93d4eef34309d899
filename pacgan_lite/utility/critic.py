"""Setting e: the critic as the classifier, in the paper's final protocol.

PACGAN reports its critic's AUC from a *final* run: the networks retrained on the training and validation
images together, each stage for the epochs that the validation run selected (``train.final_mode`` with
``train.selection_from`` = the validation run), then scored on the test images. This module finds that run
beside the validation run (:meth:`~pacgan_lite.run_folder.RunFolder.final_runs`), resumes it if it stopped,
or trains it: as long as the validation run's own training (the ``teaching`` profile: about as long as
notebook 02).

The validation run's own critic is scored too: it never saw a test image (it trained on the training images
only; the validation images chose its epochs), so it is a fair second reading, from fewer training images.
Each critic classifies at its own last resolution, the paper's way; the test images are the same.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from ..config import config_from_dict
from ..data import SliceDataset
from ..errors import InputError
from ..inference import load_model
from ..run_folder import COMPLETE, FAILED, OPTIONS_FILE, RunFolder
from ..sampling import critic_probabilities
from ..training import train


def final_config(validation: RunFolder):
    """The validation run's options in final mode, with it as ``train.selection_from``."""
    config = config_from_dict(validation.config(), str(validation.file(OPTIONS_FILE)))
    final = dataclasses.replace(config.train, final_mode=True, selection_from=str(validation.path.resolve()),
                                progress=False)
    return dataclasses.replace(config, train=final)


def ensure_final_run(validation: RunFolder, final_run: str | Path | None = None) -> tuple[RunFolder, str]:
    """The final-protocol run of ``validation`` and how it was had: "given", "found", "resumed" or "trained".

    Args:
        validation: a complete validation run.
        final_run: a final run to use (checked: final mode, selected from ``validation``, complete).

    Raises:
        InputError: ``validation`` is itself a final run, the given run does not fit, or the final run
            found beside it failed.
    """
    if validation.is_final_mode:
        raise InputError(validation.path, "train.final_mode", "is a final run; the study needs the validation "
                         "run (its critic, its generator, its selected epochs)",
                         "give the validation run as --run and this one as --final-run")
    if final_run is not None:
        run = RunFolder(final_run)
        if not run.is_final_run_of(validation):
            selected_from = run.config()["train"]["selection_from"]
            raise InputError(run.file(OPTIONS_FILE), "train.selection_from", f"is not a final run of {validation.path} "
                             f"(final_mode {run.is_final_mode}, selection_from {selected_from})",
                             f"give a run trained with train.final_mode=true train.selection_from={validation.path}")
        if run.status().state != COMPLETE:
            raise InputError(run.path, "(run folder)", f"the final run is not complete ({run.status().reason})",
                             "finish it (pacgan-lite train --resume <its latest checkpoint>)")
        return run, "given"
    for run in validation.final_runs():
        status = run.status()
        if status.state == COMPLETE:
            return run, "found"
        if status.state == FAILED:
            raise InputError(run.path, "(run folder)", f"the final run beside the validation run failed "
                             f"({status.reason})", "remove or fix it, or give another with --final-run")
        if status.resume_from is not None:
            return _train_final(validation, run.path, status.resume_from), "resumed"
    root = validation.path.parent
    folder = RunFolder.create(root, f"{validation.config()['profile']}-final")
    return _train_final(validation, folder.path, None), "trained"


def _train_final(validation: RunFolder, folder: Path, resume: Path | None) -> RunFolder:
    options = validation.options()
    result = train(final_config(validation), options["train_folder"], test_folder=options["test_folder"],
                   run_dir=folder, resume=resume, echo=False)
    return result.run


def critic_test_probabilities(run: RunFolder, test_folder: Path, batch_size: int,
                              device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor, int]:
    """The class probabilities ``[N, K]`` of the run's last selected critic on the test images, their labels
    ``[N]`` and the resolution it classifies at (eval mode, as :func:`pacgan_lite.inference.classify`)."""
    model = load_model(run.final_checkpoint(), device)
    test = SliceDataset(test_folder, model.resolution, splits=("test",))
    probabilities = critic_probabilities(model.discriminator, test.images, model.stage, model.fade_alpha,
                                         batch_size, model.device)
    return probabilities, test.targets, model.resolution
