"""The plain classifier: MONAI's 2D ResNet, trained from scratch with early stopping on real validation images.

Why this network. The question is whether synthetic images help *an ordinary classifier of the field*, so
the classifier should be one a reader would pick without thinking of GANs: a ResNet from MONAI, the medical
imaging library of the PyTorch ecosystem (``monai.networks.nets.ResNet``, 2D, one input channel, class
logits out). The defaults are ResNet-18's layout (basic blocks, two per level, 64 to 512 channels, a 7×7
stride-2 stem and max-pooling), the most common baseline for AD/CN classification from 2D MR slices; the
``teaching`` and ``smoke`` profiles narrow it (``utility.classifier.widths`` and ``blocks``) to train in
seconds on a CPU. It starts from random weights: nothing is downloaded, and ImageNet weights would blur the
comparison with the critic, which also starts from scratch.

Training (one seed): Adam on the cross-entropy, a seeded batch order, the training augmentation of
:mod:`.augmentation` (all images if ``augment`` is on, the oversampled copies always). After every epoch the
AUC on the real validation images is computed (eval mode); training stops after ``patience`` epochs without
a better one, and the weights of the best epoch are put back. The seed fixes the initial weights, the batch
order and the augmentation draws, so on a CPU a run repeats exactly.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from monai.networks.nets import ResNet

from ..config import ClassifierOptions
from ..sampling import set_auc
from .augmentation import augment_batch
from .datasets import TrainingSet


def build_classifier(options: ClassifierOptions, channels: int, n_classes: int) -> torch.nn.Module:
    """MONAI's 2D ResNet with ``options.widths`` and ``options.blocks``: images ``[N, channels, s, s]`` -> logits
    ``[N, n_classes]`` (global average pooling at the end: any side works, 64 px and up leave it room)."""
    return ResNet("basic", list(options.blocks), list(options.widths), spatial_dims=2, n_input_channels=channels,
                  conv1_t_size=7, conv1_t_stride=2, num_classes=n_classes)


@torch.no_grad()
def predict(model: torch.nn.Module, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Class probabilities ``[N, K]`` of ``images [N, C, s, s]``, in eval mode (batch normalisation uses its
    running statistics, so a prediction does not depend on its batch)."""
    was_training = model.training
    model.eval()
    probabilities = torch.cat([F.softmax(model(batch), dim=1) for batch in images.split(batch_size)])
    model.train(was_training)
    return probabilities


@dataclass
class TrainedClassifier:
    """A classifier with the weights of its best validation epoch.

    Attributes:
        model: the network, in eval mode.
        best_epoch: the 1-based epoch whose weights it holds.
        epochs: epochs trained before stopping.
        val_auc: ``[epochs]`` the validation AUC after each epoch.
        seconds: training time.
    """

    model: torch.nn.Module
    best_epoch: int
    epochs: int
    val_auc: list[float] = field(default_factory=list)
    seconds: float = 0.0


def _batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """One epoch's batches of indices; a last batch of one image joins the one before (batch normalisation
    needs two)."""
    batches = list(torch.randperm(n, generator=generator).split(batch_size))
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2:] = [torch.cat(batches[-2:])]
    return batches


def train_classifier(training: TrainingSet, val_images: torch.Tensor, val_labels: torch.Tensor,
                     options: ClassifierOptions, seed: int, n_classes: int,
                     eval_batch_size: int = 64) -> TrainedClassifier:
    """Train one classifier on ``training`` and keep its best epoch on ``val_images [M, C, s, s]``,
    ``val_labels [M]`` (see the module docstring)."""
    start = time.time()
    torch.manual_seed(seed)  # the initial weights
    model = build_classifier(options, training.images.shape[1], n_classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=options.learning_rate, weight_decay=options.weight_decay)
    order = torch.Generator().manual_seed(seed)
    draws = torch.Generator().manual_seed(seed + 1)
    augmented = training.augment | options.augment
    best_auc, best_epoch, best_state, history = -math.inf, 0, None, []
    for epoch in range(1, options.max_epochs + 1):
        model.train()
        for index in _batches(len(training.labels), options.batch_size, order):
            images = augment_batch(training.images[index], augmented[index], options, draws)
            loss = F.cross_entropy(model(images), training.labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        auc = set_auc(predict(model, val_images, eval_batch_size), val_labels)
        history.append(auc)
        if auc > best_auc:  # the first of equal AUCs: the earlier, less fitted epoch
            best_auc, best_epoch, best_state = auc, epoch, copy.deepcopy(model.state_dict())
        elif epoch - best_epoch >= options.patience:
            break
    if best_state is not None:  # None only if every validation AUC was NaN: keep the last epoch
        model.load_state_dict(best_state)
    else:
        best_epoch = len(history)
    return TrainedClassifier(model.eval(), best_epoch, len(history), history, time.time() - start)
