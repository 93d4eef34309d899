"""PACGAN losses: WGAN-GP with the ProGAN drift term, plus the class terms of the critic's conditioning.

Pure functions over the networks: they run forward passes and return a loss to call ``backward()`` on,
and never step an optimizer. Each also returns its terms, detached and unweighted, for logging.

Critic (one call per critic iteration)::

    loss = mean D(fake) - mean D(real)                       # "wasserstein"
         + gradient_penalty * GP                             # "gradient_penalty"
         + drift * mean D(real)**2                           # "drift"
         + class_real * CE(class logits of real, labels)     # "class_real"
         + class_fake * CE(class logits of fake, labels)     # "class_fake" (acgan only, see below)
    (every CE of the critic's class heads with targets smoothed by ``class_label_smoothing``; paper: 0)

Generator::

    loss = -mean D(fake)                                     # "score_fake"
         + class_generator * CE(class logits of fake, labels)  # "class_fake" (acgan, acgan_real)
         + mode_seeking / (diversity ratio + 1e-5)           # "mode_seeking" (the ratio; paper: off)
           (the ratio capped at the real batch's with mode_seeking_up_to_real: "mode_seeking_real"; with
           mode_seeking_per_class the mean over the classes of 1 / (the class's capped ratio + 1e-5))

The conditioning (``model.conditioning``) decides the class terms; in every mode the critic's class head is
trained on real images, so the critic classifies (its AUC):

==============  ============================================  ================================================
conditioning    critic's class terms                          generator's class term
==============  ============================================  ================================================
``acgan``       ``class_real`` x CE(real) + ``class_fake`` x  ``class_generator`` x CE(fake): PACGAN, the
                CE(fake)                                      paper
``acgan_real``  ``class_real`` x CE(real)                     ``class_generator`` x CE(fake)
``tac``         ``class_real`` x CE(real) + ``class_fake`` x  ``class_generator`` x (CE(fake) - CE_twin(fake))
                CE_twin(fake) ("twin_fake")
``projection``  ``class_real`` x CE(real); the score adds     none: the class reaches G through the score
                ``<embedding[label], features>``
==============  ============================================  ================================================

An auxiliary classifier rewards the generator for images its class head classifies confidently, which pushes
overlapping classes apart (the ACGAN bias). ``acgan_real`` stops training the class head on generated images.
``tac`` (Twin Auxiliary Classifiers, Gong et al. 2019) adds a twin class head trained on generated images
only: its cross-entropy estimates how separable the generated classes are, and subtracting it cancels the
generator's reward for separating them beyond the real data, so G matches the class-conditional
distributions. The main head sees real images only, as TAC-GAN's classifier: it must estimate the real
classes, and CE(fake) - CE_twin(fake) compares the real and generated conditionals only then. ``projection``
(Miyato and Koyama 2018) conditions the adversarial score on the label instead of rewarding separability. In
the modes other than ``acgan``, ``class_fake`` (the class head's CE on generated images) is still logged.

``class_label_smoothing`` (critic only) trains the class heads towards ``1 - eps / 2`` for the label and
``eps / 2`` for the other class instead of 1 and 0 (Szegedy et al. 2016): the cross-entropy then stops
falling once the logits are ``log((2 - eps) / eps)`` apart, so the head has no reason to grow its logits without
bound on a small training set it can already separate. Every class term of the critic takes it, the twin
head's too, so that ``tac``'s two cross-entropies stay comparable; the generator's class term does not.

``augment`` (both losses): a differentiable function applied to every image the critic sees, real and
generated (DiffAugment); the gradient penalty mixes the augmented images. None: the images as they are.

``mode_seeking`` (MSGAN, Mao et al. 2019) acts against the generator's collapse onto one image per class,
where different z give nearly the same slice: for every pair of images of the same class in the batch, the
mean absolute difference of the images over that of their z, averaged over the pairs (the "diversity ratio",
:func:`mode_seeking_ratio`); the generator minimizes its reciprocal, so it pays most when z is ignored.
``mode_seeking_scale`` compares the images after average pooling, so that the diversity it rewards is one of
layout, not of pixel noise; ``mode_seeking_up_to_real`` stops the reward where the generated batch is as
diverse as the real one (a bound as in DSGAN, Yang et al. 2019, set by the data).

Departure from the reference: the generator loss does not run the critic on real images. The reference
adds ``LAMBDA_CLS_2 * CE(real)`` there, a term with no gradient for the generator that only changes the
logged value and costs a critic forward and backward.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

ACGAN, ACGAN_REAL, TAC, PROJECTION = "acgan", "acgan_real", "tac", "projection"
CONDITIONINGS = (ACGAN, ACGAN_REAL, TAC, PROJECTION)
MODE_SEEKING_EPSILON = 1e-5  # keeps the reciprocal of a fully collapsed batch's ratio finite
EXPECTED_Z_DISTANCE = 2 / math.sqrt(math.pi)  # E|a - b| for independent a, b ~ N(0, 1)
Augment = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms; the defaults are the paper's (reference ``config.json`` key in brackets).

    The values are checked (finite, >= 0) by :func:`pacgan_lite.config.validate_config`.

    Attributes:
        gradient_penalty: lambda_GP of WGAN-GP (``LAMBDA_GP``, 10).
        drift: ProGAN's epsilon_drift on ``mean D(real)**2`` (hard-coded 0.001 in the reference).
        class_real: critic, cross-entropy on real images (``LAMBDA_CLS_1``, 4).
        class_fake: critic, cross-entropy on generated images (``LAMBDA_CLS_2`` = ``LAMBDA_CLS_1 / 2``, 2): of
            the class head for ``acgan``, of the twin head for ``tac``, unused otherwise.
        class_generator: generator, cross-entropy on generated images (``LAMBDA_CLS_1``, 4); for ``tac`` the
            difference of the two heads' cross-entropies, unused for ``projection``.
        mode_seeking: generator, the reciprocal of the diversity ratio of same-class pairs (MSGAN); 0 (the
            paper) leaves it out.
        mode_seeking_scale: not a weight: the diversity ratio compares the images after average pooling by
            this factor (see :func:`mode_seeking_ratio`); 1 (MSGAN) compares them pixel by pixel.
        mode_seeking_up_to_real: not a weight: reward the diversity only up to the real batch's
            (:func:`real_diversity_ratio`): above it the term is constant, so the generator is not pushed to
            vary more than the data. False (MSGAN): the reward never stops.
        mode_seeking_per_class: not a weight: the ratio (and its cap at the real one) per class, and the term
            the mean of the classes' reciprocals (:func:`class_diversity_ratios`), so that a class less varied
            than its real images is pushed even where the other is more varied than its own. False: one
            ratio over the pairs of every class.
        class_label_smoothing: not a weight: ``eps`` in [0, 1) of the critic's class targets (see the module
            docstring); 0 (the paper): one-hot targets.
    """

    gradient_penalty: float = 10.0
    drift: float = 0.001
    class_real: float = 4.0
    class_fake: float = 2.0
    class_generator: float = 4.0
    mode_seeking: float = 0.0
    mode_seeking_scale: int = 1
    mode_seeking_up_to_real: bool = False
    mode_seeking_per_class: bool = False
    class_label_smoothing: float = 0.0

    # The fields that shape a term instead of weighing it; every other field is a weight (finite, >= 0).
    SHAPING_OPTIONS: ClassVar[tuple[str, ...]] = ("mode_seeking_scale", "mode_seeking_up_to_real",
                                                  "mode_seeking_per_class", "class_label_smoothing")


def gradient_penalty(
    discriminator: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    stage: int,
    fade_alpha: float,
    rng: torch.Generator | None = None,
    labels: torch.Tensor | None = None,
    twin: bool = False,
) -> torch.Tensor:
    """WGAN-GP penalty ``mean over samples of (||grad_x D_adv(x)|| - 1)**2`` at points between real and fake.

    Each sample gets one ``interpolation_weight ~ U[0, 1)``, drawn as ``torch.rand(B, 1, 1, 1,
    generator=rng)``, and ``x = interpolation_weight * real + (1 - interpolation_weight) * fake``. Only the
    adversarial score is differentiated. The graph is kept (``create_graph=True``) so the penalty trains the
    critic.

    In training mode the critic's minibatch-stddev feature links the samples of a batch, so each
    gradient also carries a small part from the others (as in ProGAN); in eval mode they are independent.

    Args:
        discriminator: callable ``(images, stage, fade_alpha, labels=...) -> (score [B], logits [B, n_classes])``
            (with ``twin``: ``twin=True`` too, and the twin logits third).
        real: ``[B, C, s, s]`` real images.
        fake: ``[B, C, s, s]`` generated images (detached here).
        stage, fade_alpha: as for the critic.
        rng: optional generator for the interpolation weights, on the device of ``real``.
        labels: ``[B]`` classes of the pairs, for a projection critic's score (others ignore them).
        twin: also run a ``tac`` critic's twin head, and ignore its logits: the penalty's is the last forward
            before ``backward``, and DDP (``find_unused_parameters``) takes a head missing from the last
            forward's outputs for unused, although an earlier forward of the step trained it.

    Returns:
        Scalar tensor.
    """
    if real.shape != fake.shape:
        raise ValueError(f"real and fake must have the same shape, got {list(real.shape)} and {list(fake.shape)}")
    interpolation_weight = torch.rand(
        (real.shape[0], 1, 1, 1), generator=rng, device=real.device, dtype=real.dtype
    )
    mixed = interpolation_weight * real.detach() + (1 - interpolation_weight) * fake.detach()
    mixed.requires_grad_(True)
    asked = {"twin": True} if twin else {}  # a critic without a twin head need not take the argument
    score, *_ = discriminator(mixed, stage, fade_alpha, labels=labels, **asked)
    (gradient,) = torch.autograd.grad(score.sum(), mixed, create_graph=True)
    return (gradient.flatten(1).norm(dim=1) - 1).pow(2).mean()


def critic_loss(
    discriminator: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    labels: torch.Tensor,
    stage: int,
    fade_alpha: float,
    weights: LossWeights = LossWeights(),
    *,
    rng: torch.Generator | None = None,
    gradient_penalty_interval: int = 1,
    critic_step: int = 0,
    conditioning: str = ACGAN,
    augment: Augment | None = None,
    class_augment: Augment | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Loss of one critic update (see the module docstring).

    Contract: ``fake`` is detached here, so the loss trains the critic only and a generator forward can
    be reused without freezing the generator.

    Lazy regularization (StyleGAN2): with ``gradient_penalty_interval = k > 1`` the penalty is computed
    only when ``critic_step % k == 0``, with weight ``k * weights.gradient_penalty``, which keeps its
    average effect. Off by default (k = 1: every step, as the paper).

    Args:
        discriminator: the critic, ``(images, stage, fade_alpha, labels=..., twin=...) -> (score [B], logits
            [B, n_classes][, twin logits [B, n_classes]])`` (a :class:`~pacgan_lite.networks.Discriminator`).
        real: ``[B, C, s, s]`` real images.
        fake: ``[B, C, s, s]`` generated images, made with ``labels``.
        labels: ``[B]`` int64 classes of ``real`` (the reference reuses them for ``fake``).
        stage, fade_alpha: as for the critic.
        weights: term weights.
        rng: generator for the penalty's interpolation weights.
        gradient_penalty_interval: compute the penalty every this many critic steps (>= 1).
        critic_step: index of this critic update, for the interval.
        conditioning: one of :data:`CONDITIONINGS`, the critic's (see the module docstring).
        augment: applied to ``real`` and ``fake`` before the critic sees them; None: no augmentation.
        class_augment: when given, ``class_real`` is the class head's cross-entropy on ``class_augment(real)``
            (of the real images before ``augment``), in a second forward pass; the scores, the penalty and
            ``drift`` keep the first.

    Returns:
        ``(loss, terms)``: ``terms`` holds ``loss``, ``wasserstein``, ``gradient_penalty`` (only on steps
        that compute it), ``drift`` (``mean D(real)**2``), ``class_real``, ``class_fake``, ``twin_fake``
        (``tac`` only), ``score_real`` and ``score_fake`` (mean scores), all detached scalars, unweighted.
    """
    if gradient_penalty_interval < 1:
        raise ValueError(f"gradient_penalty_interval must be >= 1, got {gradient_penalty_interval}")
    _check_conditioning(conditioning)
    class_view = None if class_augment is None else class_augment(real)
    real, fake = _augmented(real, augment), _augmented(fake.detach(), augment)
    score_real, logits_real = discriminator(real, stage, fade_alpha, labels=labels)
    if class_view is not None:
        _, logits_real = discriminator(class_view, stage, fade_alpha, labels=labels)
    score_fake, logits_fake, *twin_logits = discriminator(fake, stage, fade_alpha, labels=labels,
                                                          twin=conditioning == TAC)
    smoothing = weights.class_label_smoothing
    terms = {
        "score_real": score_real.mean(),
        "score_fake": score_fake.mean(),
        "drift": score_real.pow(2).mean(),
        "class_real": F.cross_entropy(logits_real, labels, label_smoothing=smoothing),
        "class_fake": F.cross_entropy(logits_fake, labels, label_smoothing=smoothing),
    }
    terms["wasserstein"] = terms["score_fake"] - terms["score_real"]
    loss = terms["wasserstein"] + weights.drift * terms["drift"] + weights.class_real * terms["class_real"]
    if conditioning == ACGAN:
        loss = loss + weights.class_fake * terms["class_fake"]
    elif conditioning == TAC:
        terms["twin_fake"] = F.cross_entropy(twin_logits[0], labels, label_smoothing=smoothing)
        loss = loss + weights.class_fake * terms["twin_fake"]
    if critic_step % gradient_penalty_interval == 0:
        terms["gradient_penalty"] = gradient_penalty(discriminator, real, fake, stage, fade_alpha, rng, labels,
                                                      twin=conditioning == TAC)
        loss = loss + gradient_penalty_interval * weights.gradient_penalty * terms["gradient_penalty"]
    return loss, _detached(loss, terms)


def generator_loss(
    discriminator: nn.Module,
    fake: torch.Tensor,
    labels: torch.Tensor,
    stage: int,
    fade_alpha: float,
    weights: LossWeights = LossWeights(),
    *,
    conditioning: str = ACGAN,
    augment: Augment | None = None,
    z: torch.Tensor | None = None,
    real: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Loss of one generator update: ``-mean D(fake)`` plus the class term of ``conditioning`` (see the module
    docstring; PACGAN's: ``class_generator * CE(logits of fake, labels)``).

    The critic runs once, on ``fake`` only. Its parameters also receive gradients from ``backward()``;
    a trainer should freeze them (``requires_grad_(False)``) or zero them before the next critic step.

    Args:
        discriminator: the critic.
        fake: ``[B, C, s, s]`` generated images, still attached to the generator's graph.
        labels: ``[B]`` int64 classes the images were generated for.
        stage, fade_alpha: as for the critic.
        weights: term weights: ``class_generator`` and the ``mode_seeking`` options (the critic's weights and
            ``class_label_smoothing`` are not used).
        conditioning: one of :data:`CONDITIONINGS`, the critic's.
        augment: applied to ``fake`` before the critic sees it (differentiable, so G gets its gradient through
            it); None: no augmentation.
        z: ``[B, z_dim]`` the latent vectors of ``fake``; needed when ``weights.mode_seeking > 0``.
        real: ``[B, C, s, s]`` real images with the same ``labels``; needed with
            ``weights.mode_seeking_up_to_real``.

    Returns:
        ``(loss, terms)`` with ``terms`` = ``loss``, ``score_fake`` (mean score), ``class_fake`` (cross-entropy),
        ``twin_fake`` (the twin head's cross-entropy, ``tac`` only), ``mode_seeking`` (the diversity ratio,
        with ``weights.mode_seeking > 0`` only) and ``mode_seeking_real`` (the real batch's, with
        ``weights.mode_seeking_up_to_real`` only), detached scalars, unweighted.
    """
    _check_conditioning(conditioning)
    score_fake, logits_fake, *twin_logits = discriminator(_augmented(fake, augment), stage, fade_alpha,
                                                          labels=labels, twin=conditioning == TAC)
    terms = {"score_fake": score_fake.mean(), "class_fake": F.cross_entropy(logits_fake, labels)}
    loss = -terms["score_fake"]
    if conditioning in (ACGAN, ACGAN_REAL):
        loss = loss + weights.class_generator * terms["class_fake"]
    elif conditioning == TAC:
        terms["twin_fake"] = F.cross_entropy(twin_logits[0], labels)
        loss = loss + weights.class_generator * (terms["class_fake"] - terms["twin_fake"])
    if weights.mode_seeking > 0:
        if z is None:
            raise ValueError("the mode-seeking term needs the latent vectors z of the generated images")
        if weights.mode_seeking_up_to_real and real is None:
            raise ValueError("mode_seeking_up_to_real needs the real images of the batch")
        pairs = _same_class_pairs(labels)  # once: on a GPU, finding the pairs waits for the device
        if pairs is not None:  # a batch with no two images of one class has no pair to compare
            scale = weights.mode_seeking_scale
            ratio = terms["mode_seeking"] = _diversity_ratio(fake, z, pairs, scale)
            if weights.mode_seeking_up_to_real:
                terms["mode_seeking_real"] = _real_diversity_ratio(real.detach(), pairs, scale)
            if weights.mode_seeking_per_class:
                ratios = _class_diversity_ratios(fake, z, labels, pairs, scale)
                if weights.mode_seeking_up_to_real:
                    caps = _class_diversity_ratios(real.detach(), None, labels, pairs, scale)
                    ratios = {k: torch.minimum(ratio_k, caps[k]) for k, ratio_k in ratios.items()}
                inverses = [1 / (ratio_k + MODE_SEEKING_EPSILON) for ratio_k in ratios.values()]
                loss = loss + weights.mode_seeking * torch.stack(inverses).mean()
            else:
                if weights.mode_seeking_up_to_real:
                    ratio = torch.minimum(ratio, terms["mode_seeking_real"])
                loss = loss + weights.mode_seeking / (ratio + MODE_SEEKING_EPSILON)
    return loss, _detached(loss, terms)


def mode_seeking_ratio(images: torch.Tensor, z: torch.Tensor, labels: torch.Tensor, scale: int = 1
                       ) -> torch.Tensor | None:
    """Diversity ratio of a generated batch: over every pair ``i < j`` of the same class,
    ``mean|images_i - images_j| / mean|z_i - z_j|``, averaged over the pairs (MSGAN's ``d_I / d_z``).

    With ``scale`` > 1 the images are compared after 2-D average pooling by that factor, reduced where needed
    so that at least 4 pixels a side remain (at 128 px and scale 4: 32 x 32 means of 4 x 4 blocks). Pixel
    noise that differs from one z to the next then averages out, so the ratio rewards differences of layout
    (outline, size, ventricles) rather than speckle.

    Args:
        images: ``[B, C, s, s]`` generated images (the graph kept, so the ratio trains the generator).
        z: ``[B, z_dim]`` their latent vectors.
        labels: ``[B]`` their classes; pairs of different classes are left out (their difference is the
            class's, not z's).
        scale: the pooling factor, at least 1 (1: pixel by pixel, as MSGAN).

    Returns:
        Scalar float32 tensor; None when no class has two images in the batch.
    """
    pairs = _same_class_pairs(labels)
    return None if pairs is None else _diversity_ratio(images, z, pairs, scale)


def real_diversity_ratio(real: torch.Tensor, labels: torch.Tensor, scale: int = 1) -> torch.Tensor | None:
    """The diversity ratio of real images, as if each had been made from its own ``z ~ N(0, I)``: the mean
    distance of their same-class pairs (as in :func:`mode_seeking_ratio`) over ``E|z_i - z_j| = 2 / sqrt(pi)``
    per element.

    Args:
        real: ``[B, C, s, s]`` real images; labels: ``[B]`` their classes; scale: the pooling factor.

    Returns:
        Scalar float32 tensor; None when no class has two images in the batch.
    """
    pairs = _same_class_pairs(labels)
    return None if pairs is None else _real_diversity_ratio(real, pairs, scale)


def class_diversity_ratios(images: torch.Tensor, z: torch.Tensor | None, labels: torch.Tensor, scale: int = 1
                           ) -> dict[int, torch.Tensor]:
    """The diversity ratio of :func:`mode_seeking_ratio` per class: ``{class: ratio}`` over the pairs of that
    class, for every class with two images in the batch.

    Args:
        images: ``[B, C, s, s]``; labels: ``[B]``; scale: the pooling factor.
        z: ``[B, z_dim]`` their latent vectors; None for real images, whose pair distances are divided by
            the expected distance of two z (as :func:`real_diversity_ratio`).

    Returns:
        Scalar float32 tensors by class index (empty when no class has two images).
    """
    pairs = _same_class_pairs(labels)
    return {} if pairs is None else _class_diversity_ratios(images, z, labels, pairs, scale)


def _class_diversity_ratios(images: torch.Tensor, z: torch.Tensor | None, labels: torch.Tensor,
                            pairs: tuple[torch.Tensor, torch.Tensor], scale: int) -> dict[int, torch.Tensor]:
    z_distances = EXPECTED_Z_DISTANCE if z is None else _z_distances(z, pairs)
    ratios, pair_classes = _pair_distances(images, pairs, scale) / z_distances, labels[pairs[0]]
    return {int(k): ratios[pair_classes == k].mean() for k in pair_classes.unique()}


def _diversity_ratio(images: torch.Tensor, z: torch.Tensor, pairs: tuple[torch.Tensor, torch.Tensor],
                     scale: int) -> torch.Tensor:
    return (_pair_distances(images, pairs, scale) / _z_distances(z, pairs)).mean()


def _z_distances(z: torch.Tensor, pairs: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """``[P]`` mean absolute differences of the pairs' latent vectors."""
    first, second = pairs
    return (z[first].float() - z[second].float()).abs().mean(1)


def _real_diversity_ratio(real: torch.Tensor, pairs: tuple[torch.Tensor, torch.Tensor], scale: int) -> torch.Tensor:
    return _pair_distances(real, pairs, scale).mean() / EXPECTED_Z_DISTANCE


def _same_class_pairs(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    first, second = (labels[:, None] == labels[None, :]).triu(diagonal=1).nonzero(as_tuple=True)
    return None if len(first) == 0 else (first, second)


def _pair_distances(images: torch.Tensor, pairs: tuple[torch.Tensor, torch.Tensor], scale: int) -> torch.Tensor:
    """``[P]`` mean absolute differences of the image pairs after average pooling by ``scale`` (cut to leave
    at least 4 pixels a side)."""
    if scale < 1:
        raise ValueError(f"scale must be an integer >= 1, got {scale}")
    factor = min(scale, max(1, min(images.shape[-2:]) // 4))
    images = images.float() if factor == 1 else F.avg_pool2d(images.float(), factor)
    first, second = pairs
    return (images[first] - images[second]).abs().flatten(1).mean(1)


def _check_conditioning(conditioning: str) -> None:
    if conditioning not in CONDITIONINGS:
        raise ValueError(f"conditioning must be one of {', '.join(CONDITIONINGS)}, got {conditioning!r}")


def _augmented(images: torch.Tensor, augment: Augment | None) -> torch.Tensor:
    return images if augment is None else augment(images)


def _detached(loss: torch.Tensor, terms: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {"loss": loss.detach(), **{name: value.detach() for name, value in terms.items()}}
