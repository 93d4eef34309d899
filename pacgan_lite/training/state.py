"""The training state a checkpoint carries: networks, optimizers and loss scalers, and every random state.

Both are plain containers of tensors (see :mod:`pacgan_lite.checkpoint`), so a resumed run continues
exactly where the saved one stood.
"""

from __future__ import annotations

import random

import numpy as np
import torch


def network_state(G, D, G_ema, opt_G, opt_D, scalers) -> dict:
    """The state dicts of the networks, optimizers and loss scalers (live references, not copies)."""
    return {"generator": G.state_dict(), "discriminator": D.state_dict(),
            "generator_ema": None if G_ema is None else G_ema.state_dict(),
            "optimizer_generator": opt_G.state_dict(), "optimizer_discriminator": opt_D.state_dict(),
            "scalers": [scaler.state_dict() for scaler in scalers]}


def load_network_state(state: dict, G, D, G_ema, opt_G, opt_D, scalers) -> None:
    """Inverse of :func:`network_state`; a missing EMA starts from the generator."""
    G.load_state_dict(state["generator"])
    D.load_state_dict(state["discriminator"])
    if G_ema is not None:
        G_ema.load_state_dict(state["generator_ema"] or state["generator"])
    opt_G.load_state_dict(state["optimizer_generator"])
    opt_D.load_state_dict(state["optimizer_discriminator"])
    for scaler, scaler_state in zip(scalers, state["scalers"], strict=True):
        if scaler_state:  # an inactive scaler (CPU, bf16) has an empty state
            scaler.load_state_dict(scaler_state)


def rng_state(permutation: torch.Generator, noise: torch.Generator,
              noise_of_ranks: list[torch.Tensor] | None = None) -> dict:
    """Every random state the loop depends on, as tensors and lists. ``noise_of_ranks``: the noise
    generators' states of every DDP rank in rank order (default: ``noise``'s alone); each rank draws its
    own z and penalty weights, so an exact resume needs all of them."""
    version, mt_state, gauss = random.getstate()
    # The legacy global numpy state is what other libraries may draw from; it is saved, not used here.
    name, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "python": {"version": version, "state": list(mt_state), "gauss": gauss},
        "permutation": permutation.get_state(),
        "noise": noise_of_ranks if noise_of_ranks is not None else [noise.get_state()],
    }


def noise_states(state: dict) -> list[torch.Tensor]:
    """The noise generators' states of a checkpoint's ``rng`` entry, one per DDP rank (format 1 files
    written before the kit kept one per rank hold a single state)."""
    noise = state["noise"]
    return [noise] if isinstance(noise, torch.Tensor) else list(noise)


def restore_rng_state(state: dict, permutation: torch.Generator, noise: torch.Generator, rank: int = 0) -> None:
    """Inverse of :func:`rng_state`, for DDP rank ``rank`` (its own noise state)."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    numpy_state = state["numpy"]
    keys = numpy_state["keys"].numpy().astype(np.uint32)
    np.random.set_state((numpy_state["name"], keys, numpy_state["pos"],  # noqa: NPY002
                         numpy_state["has_gauss"], numpy_state["cached"]))
    python_state = state["python"]
    random.setstate((python_state["version"], tuple(python_state["state"]), python_state["gauss"]))
    permutation.set_state(state["permutation"])
    noise.set_state(noise_states(state)[rank])
