"""One batch of PACGAN training: ``critic_iterations`` critic updates, then one generator update.

The fakes use **the labels of the real batch** (as the reference), with a fresh z for every critic
iteration and for the generator update. The critic is frozen (``requires_grad_(False)``) during the
generator update, so the generator loss leaves no gradient on it. Both losses take the critic's conditioning
(``model.conditioning``, which the critic was built with) and, with ``train.augment``, a differentiable
augmentation of every image the critic sees (:mod:`pacgan_lite.augment`), and with ``train.class_augment``
the jitter of the real images its class head learns from. The augmentation draws from the
noise generator, which the checkpoint saves per DDP rank, so a resume stays exact; with no augmentation
nothing is drawn, so the paper's run is unchanged.
"""

from __future__ import annotations

import torch

from ..augment import make_augment, make_class_augment
from ..config import TrainOptions
from ..layers import use_custom_gradients
from ..losses import critic_loss, generator_loss
from ..schedule import SchedulePoint
from . import setup
from .distributed import DistributedContext
from .state import load_network_state, network_state


class TrainingStep:
    """The networks, their optimizers and loss scalers, and the update of one batch.

    Args:
        G, D: the networks (``self.G``/``self.D`` evaluate and are saved; their DDP wrappers train).
        G_ema: the moving-average generator, or None.
        options: the ``train`` options.
        precision: autocast and loss scaling of the device.
        dist: this process's place in a DDP run.
        noise_rng: the generator of z, of the gradient-penalty interpolation weights and of the augmentation,
            on the device.
    """

    def __init__(self, G, D, G_ema, options: TrainOptions, precision: setup.Precision, dist: DistributedContext,
                 noise_rng: torch.Generator):
        self.G, self.D, self.G_ema = G, D, G_ema
        for net in (G, D):
            use_custom_gradients(net, options.custom_gradients)
        self.options, self.precision, self.dist, self.noise_rng = options, precision, dist, noise_rng
        self.augment = make_augment(options, noise_rng)
        self.class_augment = make_class_augment(options, noise_rng)
        self.G_train, self.D_train = (dist.wrap(net, precision.device) for net in (G, D))
        self.scalers = [torch.amp.GradScaler(precision.device.type, enabled=precision.needs_scaler)
                        for _ in range(2)]
        self.critic_steps = 0  # counts critic updates, for the lazy gradient penalty
        self.new_optimizers()

    def new_optimizers(self) -> None:
        """Fresh Adam for both networks (at the start, and per stage with ``reset_optimizers_per_stage``)."""
        self.opt_G = setup.make_optimizer(self.G, self.options)
        self.opt_D = setup.make_optimizer(self.D, self.options)

    def state(self) -> dict:
        """Live state dicts (references!): :class:`.selection.BestEpoch` and :func:`.save_checkpoint` copy."""
        return network_state(self.G, self.D, self.G_ema, self.opt_G, self.opt_D, self.scalers)

    def load_state(self, state: dict) -> None:
        load_network_state(state, self.G, self.D, self.G_ema, self.opt_G, self.opt_D, self.scalers)
        # An optimizer's state dict carries its learning rate and betas: take the current options' instead,
        # so that resuming with a lower train.learning_rate (the advice after a divergence) takes effect.
        for optimizer in (self.opt_G, self.opt_D):
            for group in optimizer.param_groups:
                group["lr"], group["betas"] = self.options.learning_rate, tuple(self.options.betas)

    def __call__(self, real: torch.Tensor, labels: torch.Tensor, point: SchedulePoint) -> dict[str, torch.Tensor]:
        """Update on ``real [B, C, s, s]`` with ``labels [B]`` at ``point`` of the schedule.

        Returns the detached loss terms, ``critic_*`` (of the last critic iteration) and ``generator_*``.
        """
        weights, stage, fade_alpha = self.options.loss, point.stage, point.fade_alpha
        conditioning = self.D.conditioning
        scaler_G, scaler_D = self.scalers
        for _ in range(point.critic_iterations):
            with self.precision.autocast():
                with torch.no_grad():
                    fake = self.G(self._z(len(labels)), labels, stage, fade_alpha)
                loss_D, critic_terms = critic_loss(
                    self.D_train, real, fake, labels, stage, fade_alpha, weights, rng=self.noise_rng,
                    gradient_penalty_interval=self.options.gradient_penalty_interval,
                    critic_step=self.critic_steps, conditioning=conditioning, augment=self.augment,
                    class_augment=self.class_augment)
            self.opt_D.zero_grad(set_to_none=True)
            scaler_D.scale(loss_D).backward()
            scaler_D.step(self.opt_D)
            scaler_D.update()
            self.critic_steps += 1
        self.D.requires_grad_(False)
        with self.precision.autocast():
            z = self._z(len(labels))
            fake = self.G_train(z, labels, stage, fade_alpha)
            loss_G, generator_terms = generator_loss(self.D, fake, labels, stage, fade_alpha, weights,
                                                     conditioning=conditioning, augment=self.augment, z=z,
                                                     real=real)
        self.opt_G.zero_grad(set_to_none=True)
        scaler_G.scale(loss_G).backward()
        scaler_G.step(self.opt_G)
        scaler_G.update()
        self.D.requires_grad_(True)
        if self.G_ema is not None:
            setup.update_ema(self.G_ema, self.G, len(labels) * self.dist.world_size,
                             self.options.ema_half_life_images)
        return {**{f"critic_{k}": v for k, v in critic_terms.items()},
                **{f"generator_{k}": v for k, v in generator_terms.items()}}

    def _z(self, batch_size: int) -> torch.Tensor:
        return torch.randn(batch_size, self.G.z_dim, device=self.precision.device, generator=self.noise_rng)
