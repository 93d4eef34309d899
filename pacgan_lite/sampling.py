"""Sampling a trained pair of networks, shared by training, evaluation, inference and the figures.

* :func:`generate_balanced`: the same number of images of every class from a fixed-seed z;
* :func:`critic_probabilities`: the critic's class probabilities for a set of images;
* :func:`set_auc` and :func:`classifier_auc`: the ROC AUC of those probabilities over a whole set.

Every AUC is computed once over the whole set of predictions (``sklearn.metrics.roc_auc_score``;
one-vs-rest macro for more than two classes; the reference averaged per-batch AUCs, where a batch of one
class counts 0), with the critic in eval mode, so its minibatch-stddev feature does not depend on the batch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score


def set_auc(probabilities: torch.Tensor, labels: torch.Tensor) -> float:
    """ROC AUC over a whole set: ``probabilities [N, n_classes]``, ``labels [N]``; NaN if a class is missing."""
    labels_np, probabilities_np = labels.cpu().numpy(), probabilities.float().cpu().numpy()
    n_classes = probabilities_np.shape[1]
    if len(set(labels_np.tolist())) < n_classes:
        return math.nan
    if n_classes == 2:
        return float(roc_auc_score(labels_np, probabilities_np[:, 1]))
    return float(roc_auc_score(labels_np, probabilities_np, multi_class="ovr", average="macro"))


@torch.no_grad()
def critic_probabilities(discriminator, images: torch.Tensor, stage: int, fade_alpha: float, batch_size: int,
                         device: torch.device) -> torch.Tensor:
    """Class probabilities ``[N, n_classes]`` (CPU) of ``images [N, C, s, s]``, in batches, in eval mode."""
    was_training = discriminator.training
    discriminator.eval()
    chunks = [F.softmax(discriminator(batch.to(device), stage, fade_alpha)[1].float(), dim=1).cpu()
              for batch in images.split(batch_size)]
    discriminator.train(was_training)
    return torch.cat(chunks)


def classifier_auc(discriminator, images, labels, stage, fade_alpha, batch_size, device) -> tuple[float, float]:
    """``(set-level AUC, mean cross-entropy)`` of the critic's class head on a labelled set."""
    probabilities = critic_probabilities(discriminator, images, stage, fade_alpha, batch_size, device)
    cross_entropy = F.nll_loss(probabilities.clamp_min(1e-12).log(), labels).item()
    return set_auc(probabilities, labels), cross_entropy


def latent_vectors(n: int, z_dim: int, seed: int) -> torch.Tensor:
    """``[n, z_dim]`` standard normal latent vectors from one seeded generator: image i depends only on the
    seed and i, never on the batch size."""
    return torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def generate_balanced(generator, n_per_class: int, stage: int, fade_alpha: float, seed: int, batch_size: int,
                      device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_per_class`` images of each class from a fixed-seed z: ``(images [K*n, C, s, s] CPU, labels [K*n])``."""
    was_training = generator.training
    generator.eval()
    labels = torch.arange(generator.n_classes).repeat_interleave(n_per_class)
    z = latent_vectors(len(labels), generator.z_dim, seed)
    images = torch.cat([generator(z_batch.to(device), label_batch.to(device), stage, fade_alpha).float().cpu()
                        for z_batch, label_batch in zip(z.split(batch_size), labels.split(batch_size),
                                                        strict=True)])
    generator.train(was_training)
    return images, labels
