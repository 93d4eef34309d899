"""Checkpoints: weights_only round trip, clear refusals, RNG state, deep copies."""

from __future__ import annotations

import collections
import random

import numpy as np
import pytest
import torch

from pacgan_lite.checkpoint import CheckpointError, cpu_copy, load_checkpoint, save_checkpoint
from pacgan_lite.training.selection import BestEpoch
from pacgan_lite.training.state import noise_states, restore_rng_state, rng_state

ARCH = {"n_classes": 2, "image_channels": 1, "z_dim": 8}

pytestmark = pytest.mark.usefixtures("single_thread")


def _payload():
    net = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(net.parameters(), betas=(0.5, 0.999))
    net(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    return {"architecture": ARCH, "generator": net.state_dict(), "optimizer_generator": optimizer.state_dict(),
            "position": {"stage": 1, "epoch": 3, "images_seen": 48, "fade_alpha": 0.5},
            "rng": rng_state(torch.Generator().manual_seed(1), torch.Generator().manual_seed(2))}


def test_round_trip_loads_with_weights_only(tmp_path):
    payload = _payload()
    path = save_checkpoint(tmp_path / "ck.pt", payload)
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "pacgan-lite-checkpoint" and raw["format_version"] == 2 and raw["package_version"]
    loaded = load_checkpoint(path, ARCH)
    for name, tensor in payload["generator"].items():
        assert torch.equal(loaded["generator"][name], tensor)
    net = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(net.parameters())
    net.load_state_dict(loaded["generator"])
    optimizer.load_state_dict(loaded["optimizer_generator"])
    assert optimizer.param_groups[0]["betas"] == (0.5, 0.999)
    assert loaded["position"]["images_seen"] == 48


def _truncated(path):
    big = save_checkpoint(path.with_name("big.pt"), {"generator": torch.nn.Linear(64, 64).state_dict()})
    path.write_bytes(big.read_bytes()[:5000])  # the first 5,000 bytes of a larger checkpoint


def _pickled_code(path):
    torch.save({"weights": collections.Counter(a=1), "code": print}, path)  # needs the full unpickler


# Each bad file gets the kit's message naming the file and the fix; never the advice to load it unsafely.
BAD_FILES = [
    ("truncated", _truncated, r"truncated\.pt: \(file\): is truncated or damaged \(5000 bytes.*Fix: copy the file"),
    ("empty", lambda path: path.write_bytes(b""), r"empty\.pt: \(file\): is empty \(0 bytes\).*Fix: copy the file"),
    ("not-zip", lambda path: path.write_bytes(b"not a zip file at all"),
     r"not-zip\.pt: \(file\): is not a PyTorch checkpoint.*Fix: check the path"),
    ("pickled-code", _pickled_code,
     r"pickled-code\.pt: \(file\): holds pickled code \((print|collections\.Counter)\).*never loaded"),
    ("reference-layout", lambda path: torch.save({"model_state_dict": {}}, path),
     r"reference-layout\.pt: format: not a pacgan-lite checkpoint"),
    ("missing", lambda path: None, r"missing\.pt: \(file\): no such file"),
]


@pytest.mark.parametrize(("name", "make", "message"), BAD_FILES, ids=[row[0] for row in BAD_FILES])
def test_bad_checkpoint_files_get_the_kits_message(tmp_path, name, make, message):
    path = tmp_path / f"{name}.pt"
    make(path)
    with pytest.raises(CheckpointError, match=message) as err:
        load_checkpoint(path)
    assert "weights_only=False" not in str(err.value) and "weights_only` set to `False" not in str(err.value)
    assert err.value.__cause__ is None  # no raw traceback of torch.load chained underneath


def test_architecture_and_version_mismatches_are_named(tmp_path):
    path = save_checkpoint(tmp_path / "ck.pt", _payload())
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path, {**ARCH, "n_classes": 3, "z_dim": 16})
    message = str(err.value)
    assert "ck.pt: architecture" in message and "n_classes: checkpoint 2, expected 3" in message
    assert "z_dim: checkpoint 8, expected 16" in message
    raw = torch.load(path, weights_only=True)
    torch.save({**raw, "format_version": 99}, path)
    with pytest.raises(CheckpointError, match="format_version: is 99"):
        load_checkpoint(path)


def test_rng_state_round_trip(tmp_path):
    permutation, noise = torch.Generator().manual_seed(5), torch.Generator().manual_seed(6)
    torch.manual_seed(0)
    np.random.seed(0)  # noqa: NPY002 - the legacy global state is what the checkpoint saves
    random.seed(0)
    path = save_checkpoint(tmp_path / "rng.pt", {"rng": rng_state(permutation, noise)})

    def draw():
        return (torch.rand(3).tolist(), np.random.rand(3).tolist(), random.random(),  # noqa: NPY002
                torch.rand(3, generator=permutation).tolist(), torch.rand(3, generator=noise).tolist())

    expected = draw()
    restore_rng_state(load_checkpoint(path)["rng"], permutation, noise)
    assert draw() == expected


def test_copies_never_follow_live_tensors():
    net = torch.nn.Linear(2, 2)
    best = BestEpoch()
    best.offer(1, 1.0, {"generator": net.state_dict()})
    before = cpu_copy(best.snapshot)
    with torch.no_grad():
        net.weight.add_(1.0)
    assert torch.equal(best.snapshot["generator"]["weight"], before["generator"]["weight"])
    assert not best.offer(2, float("nan"), {"generator": net.state_dict()})
    assert best.epoch == 1


def test_a_single_noise_state_of_older_checkpoints_is_read_as_one_rank():
    noise = torch.Generator().manual_seed(5)
    state = rng_state(torch.Generator(), noise)
    older = {**state, "noise": noise.get_state()}  # before the kit kept one state per DDP rank
    assert len(noise_states(state)) == len(noise_states(older)) == 1
    target = torch.Generator()
    restore_rng_state(older, torch.Generator(), target)
    assert torch.equal(target.get_state(), noise.get_state())
