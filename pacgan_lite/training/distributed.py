"""Multi-process data-parallel training, launched by ``torchrun`` (env RANK, WORLD_SIZE, LOCAL_RANK).

Every rank holds G and D wrapped in ``DistributedDataParallel`` (never ``nn.DataParallel``), takes its
shard of each epoch's permutation, and DDP averages the gradients during ``backward``, so all ranks keep
identical weights (DDP copies rank 0's weights to the others when it wraps them).

* ``find_unused_parameters=True``: at stage s the layers of later stages get no gradient.
* The critic step runs the wrapped D three times (real, fake, the gradient-penalty mix) before one
  ``backward``; the penalty's ``autograd.grad`` is taken with respect to the images only, so DDP's
  gradient hooks fire once, in that ``backward``. DDP finds the unused parameters from the outputs of the
  last forward, the penalty's, so that forward returns every head the step trains (a ``tac`` critic's twin
  head too, its logits ignored).
* The generator step runs the *unwrapped* D (frozen), so no reduction waits for D's gradients.
* The critic's minibatch-stddev feature is computed per rank, over that rank's part of the batch (as
  with one GPU per chunk in the reference); buffers are not synchronized in the forward pass, so each rank keeps its running value,
  and the values are averaged over ranks at the end of each epoch.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

_DDP_ARGUMENTS = inspect.signature(DistributedDataParallel.__init__).parameters


@dataclass(frozen=True)
class DistributedContext:
    """This process's place: ``rank`` of ``world_size``; ``local_rank`` picks its GPU; ``owns_group``: this
    context started the process group, so :meth:`finish` releases it."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    def shard(self, permutation: torch.Tensor) -> torch.Tensor:
        """This rank's indices: every ``world_size``-th, after cutting to a multiple of ``world_size``."""
        usable = len(permutation) - len(permutation) % self.world_size
        return permutation[:usable][self.rank::self.world_size]

    def wrap(self, module: nn.Module, device: torch.device) -> nn.Module:
        """``module`` in ``DistributedDataParallel`` (see the module docstring), or itself for one process."""
        if not self.enabled:
            return module
        # Keep rank-local buffers in the forward pass; newer torch renames the switch.
        no_buffer_sync = ({"forward_sync_buffers": False} if "forward_sync_buffers" in _DDP_ARGUMENTS
                          else {"broadcast_buffers": False})
        return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None,
                                       find_unused_parameters=True, gradient_as_bucket_view=True, **no_buffer_sync)

    def gather(self, value) -> list:
        """``value`` of every rank, in rank order (one process: ``[value]``); every rank must call it."""
        if not self.enabled:
            return [value]
        values = [None] * self.world_size
        dist.all_gather_object(values, value)
        return values

    def any(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is True on any rank; every rank must call it."""
        return any(self.gather(bool(flag)))

    def from_main(self, value):
        """Rank 0's ``value`` on every rank (ranks then take the same decisions); every rank must call it."""
        return self.gather(value)[0]

    def finish(self) -> None:
        """Wait for every rank, then release the process group if this context started it.

        The wait lets no rank tear its connections down while another still talks to it, which can abort
        a gloo peer at exit; every rank must call it.
        """
        if not self.enabled:
            return
        dist.barrier()
        if self.owns_group:
            dist.destroy_process_group()

    def average_buffers(self, module: nn.Module) -> None:
        """Average floating-point buffers (the running minibatch-stddev) over the ranks."""
        if not self.enabled:
            return
        for buffer in module.buffers():
            if buffer.is_floating_point():
                dist.all_reduce(buffer)
                buffer /= self.world_size


def init_distributed(device_type: str) -> DistributedContext:
    """The context from torchrun's environment; initializes the process group when WORLD_SIZE > 1.

    The backend is NCCL on CUDA and gloo on CPU.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return DistributedContext()
    starts_group = not dist.is_initialized()
    if starts_group:
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    return DistributedContext(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0")),
                              owns_group=starts_group)
