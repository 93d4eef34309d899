"""What the machine can do: a description and its measured matrix-multiply peak per dtype."""

from __future__ import annotations

import os
import platform
import time

import torch

from ..training import setup


def describe(device: torch.device) -> dict:
    """CPU model, cores, torch version and, on CUDA, the GPU's name."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "device": str(device),
            "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
            "cpu_native_bfloat16": setup.cpu_has_native_bfloat16()}


def matmul_peak(device: torch.device, dtype: torch.dtype, size: int = 2048, seconds: float = 2.0) -> float:
    """FLOP/s of repeated ``[size, size] @ [size, size]`` products (2 size**3 FLOPs each) in ``dtype``.

    The practical peak of the machine for dense work in that dtype: the benchmark divides achieved
    FLOP/s by it.
    """
    rng = torch.Generator(device).manual_seed(0)
    a, b = (torch.randn(size, size, device=device, generator=rng).to(dtype) for _ in range(2))
    a @ b  # warm-up: kernel selection, caches
    _synchronize(device)
    count, start = 0, time.perf_counter()
    while count == 0 or time.perf_counter() - start < seconds:
        a @ b
        count += 1
    _synchronize(device)
    return 2 * size**3 * count / (time.perf_counter() - start)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
