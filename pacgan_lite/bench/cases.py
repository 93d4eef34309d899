"""One benchmark case: a full training iteration of an architecture at one stage, in one mode, timed.

``reference``: eager float32 with the reference's sequence of computations (:mod:`.reference`).
``kit``: :class:`~pacgan_lite.training.step.TrainingStep` exactly as the trainer runs it with the profile's
options on this device (precision, memory layout, lazy gradient penalty, EMA).

Both modes see the same shapes: the profile's batch size and critic iterations at that stage, fade_alpha
0.5 (both paths of the fade-in run) and random images in [-1, 1]: the benchmark times the computation,
and the trainer's data already live in memory as one tensor.
"""

from __future__ import annotations

import dataclasses
import resource
import time
from dataclasses import dataclass

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from ..architecture import architecture, build_networks
from ..config import load_profile
from ..devices import resolve_device
from ..layers import use_custom_gradients
from ..schedule import MAX_STAGES, SchedulePoint, resolution
from ..training import setup
from ..training.distributed import DistributedContext
from ..training.step import TrainingStep
from .reference import reference_iteration, scale_equalized_inputs

MODES = ("reference", "kit")
N_CLASSES = 2


@dataclass(frozen=True)
class Case:
    """What to time: ``architecture`` is a profile name (its model and train options); ``overrides``
    (``key=value`` strings, as ``--set``) change its options for the kit mode, e.g. to time a lever that
    the profile leaves off."""

    architecture: str
    stage: int
    mode: str
    device: str = "auto"
    overrides: tuple[str, ...] = ()


def bench_config(architecture: str, overrides: tuple[str, ...] = ()):
    """The profile, with its per-stage lists and channel factors extended to 256 px where they stop short.

    A profile may train fewer stages (teaching stops at 128 px); the benchmark still times every stage,
    extending the last factor by halving it and repeating the last batch size and critic iterations.
    """
    config = load_profile(architecture, list(overrides))
    model, train = config.model, config.train
    factors = list(model.channel_factors)
    while len(factors) < MAX_STAGES:
        factors.append(factors[-1] / 2)
    extend = {name: tuple(getattr(train, name)) + (getattr(train, name)[-1],) * MAX_STAGES
              for name in ("epochs_per_stage", "batch_sizes", "critic_iterations")}
    return dataclasses.replace(
        config, model=dataclasses.replace(model, channel_factors=tuple(factors)),
        train=dataclasses.replace(train, stages=MAX_STAGES, **{k: v[:MAX_STAGES] for k, v in extend.items()}))


class Iteration:
    """A ready-to-call training iteration for ``case`` (networks, optimizers and a fixed batch)."""

    def __init__(self, case: Case):
        config = bench_config(case.architecture, case.overrides if case.mode == "kit" else ())
        options = config.train
        self.device = resolve_device(case.device)
        self.batch_size = options.batch_sizes[case.stage]
        side = resolution(case.stage)
        self.point = SchedulePoint(stage=case.stage, resolution=side, fade_alpha=0.5 if case.stage else 1.0,
                                   batch_size=self.batch_size, critic_iterations=options.critic_iterations[case.stage],
                                   epoch=0, stage_done=False)
        if case.mode == "reference":
            self.precision = setup.Precision(self.device, None, channels_last=False)
        else:
            self.precision = setup.precision_for(self.device, options.precision, options.channels_last)
        torch.manual_seed(0)
        arch = architecture(config.model, N_CLASSES, image_channels=1)
        G, D = (net.to(self.device, memory_format=self.precision.memory_format)
                for net in build_networks(arch))
        data_rng = torch.Generator().manual_seed(1)
        self.real = (torch.rand(self.batch_size, 1, side, side, generator=data_rng) * 2 - 1).to(
            self.device, memory_format=self.precision.memory_format)
        self.labels = torch.randint(0, N_CLASSES, (self.batch_size,), generator=data_rng).to(self.device)
        noise_rng = torch.Generator(self.device).manual_seed(2)
        if case.mode == "reference":
            G, D = (use_custom_gradients(scale_equalized_inputs(net), False) for net in (G, D))
            opt_G, opt_D = (torch.optim.Adam(net.parameters(), lr=options.learning_rate, betas=tuple(options.betas))
                            for net in (G, D))
            self._run = lambda: reference_iteration(G, D, opt_G, opt_D, self.real, self.labels, self.point,
                                                    options.loss, noise_rng)
        elif case.mode == "kit":
            G_ema = setup.make_ema(G) if options.ema else None
            step = TrainingStep(G, D, G_ema, options, self.precision, DistributedContext(), noise_rng)
            self._run = lambda: step(self.real, self.labels, self.point)
        else:
            raise ValueError(f"mode must be one of {MODES}, got {case.mode!r}")
        self.generator = G
        # Iterations over which the FLOPs are averaged: a lazy penalty runs on one critic step in k.
        self.penalty_cycle = options.gradient_penalty_interval if case.mode == "kit" else 1

    def __call__(self) -> None:
        self._run()

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


class FlopCount(TorchDispatchMode):
    """Counts the FLOPs of every operator torch's flop counter knows (convolutions, matrix products).

    torch's ``FlopCounterMode`` also tracks modules with global hooks, which ``torch.autograd.grad`` (the
    gradient penalty) refuses; the benchmark needs only the total, so it uses the same per-operator formulas.
    """

    def __init__(self):
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        count = flop_registry.get(func._overloadpacket)
        if count is not None:
            self.total += count(*args, **kwargs, out_val=out)
        return out


def time_case(case: Case, seconds: float = 10.0, warmup: int = 2, count_flops: bool = True) -> dict:
    """Images/s of ``case`` over at least ``seconds`` (and at least one iteration), peak memory and FLOPs.

    Meant to run in a fresh process (see :func:`.runner.measure`): the peak resident memory of the
    process is then this case's. FLOPs per image are counted with torch's per-operator formulas (forward,
    backward and the gradient penalty's double backward) over one iteration, or over k iterations when the
    penalty runs every k critic steps; ``count_flops=False`` skips that (``flops_per_image`` is None).
    """
    rss_before = _peak_rss_mib()
    iteration = Iteration(case)
    if iteration.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(iteration.device)
    warm_start = time.perf_counter()
    for _ in range(warmup):  # stop early for a case slower than the timed window: one call warms it up
        iteration()
        iteration.synchronize()
        if time.perf_counter() - warm_start > seconds:
            break
    count, start = 0, time.perf_counter()
    while count == 0 or time.perf_counter() - start < seconds:
        iteration()
        count += 1
        if count % 4 == 0:  # the GPU queues work: synchronize now and then so the clock is honest
            iteration.synchronize()
    iteration.synchronize()
    elapsed = time.perf_counter() - start
    flops_per_image = None
    if count_flops:
        with FlopCount() as counter:
            for _ in range(iteration.penalty_cycle):
                iteration()
        flops_per_image = counter.total / (iteration.batch_size * iteration.penalty_cycle)
    peak = (torch.cuda.max_memory_allocated(iteration.device) / 2**20 if iteration.device.type == "cuda"
            else _peak_rss_mib())
    return {**dataclasses.asdict(case), "resolution": resolution(case.stage), "batch_size": iteration.batch_size,
            "critic_iterations": iteration.point.critic_iterations, "iterations": count, "seconds": elapsed,
            "images_per_second": count * iteration.batch_size / elapsed,
            "flops_per_image": flops_per_image,
            "autocast": str(iteration.precision.autocast_dtype).removeprefix("torch.") if
            iteration.precision.autocast_dtype else "float32",
            "channels_last": iteration.precision.channels_last,
            "peak_memory_mib": peak, "process_memory_before_mib": rss_before,
            "device_name": _device_name(iteration.device)}


def time_generation(architecture: str, mode: str, device: str = "auto", batch_size: int = 16,
                    seconds: float = 5.0) -> dict:
    """Images/s of the generator at 256 px (eval, no gradients), in the mode's precision and layout."""
    iteration = Iteration(Case(architecture, MAX_STAGES - 1, mode, device))
    G = iteration.generator.eval()
    labels = torch.arange(batch_size, device=iteration.device) % N_CLASSES
    z = torch.randn(batch_size, G.z_dim, device=iteration.device)

    def generate():
        with torch.no_grad(), iteration.precision.autocast():
            G(z, labels, MAX_STAGES - 1, 1.0)

    generate()
    iteration.synchronize()
    count, start = 0, time.perf_counter()
    while count == 0 or time.perf_counter() - start < seconds:
        generate()
        count += 1
    iteration.synchronize()
    elapsed = time.perf_counter() - start
    return {"architecture": architecture, "mode": mode, "resolution": resolution(MAX_STAGES - 1),
            "batch_size": batch_size, "images_per_second": count * batch_size / elapsed}


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
