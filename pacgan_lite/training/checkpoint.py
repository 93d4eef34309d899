"""Training checkpoints: tensors and plain containers only, readable with ``torch.load(weights_only=True)``.

A checkpoint is one dict::

    format, format_version, package_version
    architecture      {n_classes, image_channels, z_dim, embedding_dim, base_channels, channel_factors, aux_hidden}
    class_names       ["CN", "AD"]
    options           the resolved KitConfig as plain data
    generator, discriminator, generator_ema (or None)        state dicts
    optimizer_generator, optimizer_discriminator, scalers    state dicts
    position          {stage, epoch, images_seen, fade_alpha, critic_steps}
    selection         best-epoch bookkeeping of the current stage and the selected epoch of finished stages
    rng               torch CPU, CUDA, numpy, python ``random``, the permutation and noise generators

Files are written through :func:`pacgan_lite.atomic.atomic_path`, so a crash never leaves half a file under
the final name.
"""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..atomic import atomic_path
from ..errors import InputError

FORMAT = "pacgan-lite-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(InputError):
    """A file that is not a kit checkpoint, or one that does not fit the networks being built."""


def cpu_copy(value):
    """A deep copy of ``value`` with every tensor cloned to the CPU (never a view of live weights)."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {key: cpu_copy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(cpu_copy(item) for item in value)
    return value


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


def save_checkpoint(path: str | Path, payload: dict) -> Path:
    """Write ``payload`` (see the module docstring) atomically, stamped with the format and version."""
    path = Path(path)
    stamped = {"format": FORMAT, "format_version": FORMAT_VERSION, "package_version": __version__,
               **cpu_copy(payload)}
    with atomic_path(path) as tmp:
        torch.save(stamped, tmp)
    return path


def load_checkpoint(path: str | Path, architecture: dict | None = None) -> dict:
    """Read a kit checkpoint safely (``weights_only=True``) and check it.

    Args:
        path: a file written by :func:`save_checkpoint`.
        architecture: if given, the networks it must fit; each differing key is named in the error.

    Raises:
        CheckpointError: the file is missing, not a kit checkpoint (e.g. a foreign pickle), of another
            format version, or made for another architecture or class count.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "(file)", "no such checkpoint", "give the path of a .pt file in a run folder")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as err:
        raise CheckpointError(path, "(file)", f"not a pacgan-lite checkpoint (refused by the safe loader: "
                              f"{str(err).splitlines()[0]})", "use latest.pt or stage<s>-best.pt from a run "
                              "folder; files with pickled code are never loaded") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(path, "format", "not a pacgan-lite checkpoint",
                              "use latest.pt or stage<s>-best.pt from a run folder")
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(path, "format_version", f"is {payload.get('format_version')}, this kit reads "
                              f"{FORMAT_VERSION}", f"use pacgan-lite {payload.get('package_version')} to read it")
    if architecture is not None:
        mismatches = [f"{key}: checkpoint {payload['architecture'].get(key)!r}, expected {value!r}"
                      for key, value in architecture.items() if payload["architecture"].get(key) != value]
        if mismatches:
            raise CheckpointError(path, "architecture", "does not match the networks being built ("
                                  + "; ".join(mismatches) + ")",
                                  "use the profile and data the checkpoint was trained with (see options in it)")
    return payload


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
