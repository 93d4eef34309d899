"""Which device a command runs on."""

from __future__ import annotations

import torch

from .errors import ConfigError


def resolve_device(name: str, local_rank: int = 0, option: str = "train.device") -> torch.device:
    """``"auto"``: ``cuda:<local_rank>`` if CUDA is present, else the CPU; otherwise ``torch.device(name)``.

    ``option`` names the setting in the error for an unknown or unavailable device."""
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ConfigError("options", option, f"unknown device {name!r}", "use auto, cpu or cuda") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("options", option, "CUDA requested but not available", "use auto or cpu")
    return device
