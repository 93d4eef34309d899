"""Two CPU processes with the gloo backend (as torchrun would start them) end with identical weights."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from training_helpers import make_prepared, tiny_config

from pacgan_lite.errors import ConfigError
from pacgan_lite.training import train

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _worker(rank: int, world_size: int, port: int, prepared, out, run: str = "run", max_epochs=None,
            resume: str | None = None) -> None:
    os.environ.update({"RANK": str(rank), "WORLD_SIZE": str(world_size), "LOCAL_RANK": str(rank),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    try:
        result = train(tiny_config(train__stages=2), prepared / "train", run_dir=None if resume else out / run,
                       resume=resume, max_epochs=max_epochs, echo=False)
        weights = {f"G.{k}": v for k, v in result.generator.state_dict().items()}
        weights |= {f"D.{k}": v for k, v in result.discriminator.state_dict().items()}
        torch.save({"weights": weights, "run_dir": str(result.run_dir), "group_released": not dist.is_initialized()},
                   out / f"{run}-rank{rank}.pt")
    finally:
        if dist.is_initialized():  # train() releases the group it started; after an error it is still up
            dist.destroy_process_group()


def test_two_gloo_ranks_end_with_identical_weights(tmp_path):
    prepared = make_prepared(tmp_path)
    mp.spawn(_worker, args=(2, _free_port(), prepared, tmp_path), nprocs=2, join=True)
    rank0, rank1 = (torch.load(tmp_path / f"run-rank{r}.pt", weights_only=True) for r in (0, 1))
    assert rank0["weights"].keys() == rank1["weights"].keys()
    for name, tensor in rank0["weights"].items():
        assert torch.equal(tensor, rank1["weights"][name]), name
    assert rank0["run_dir"] == str(tmp_path / "run") and rank1["run_dir"] == "None"  # only rank 0 writes
    assert rank0["group_released"] and rank1["group_released"]  # train() waits for all ranks, then tears down
    stats = (tmp_path / "run" / "stats.jsonl").read_text().splitlines()
    assert len(stats) == 4  # 2 stages x 2 epochs, written once
    assert (tmp_path / "run" / "latest.pt").is_file()


def test_two_ranks_resume_exactly_each_with_its_own_noise(tmp_path):
    """Interrupted after one epoch and resumed on two ranks: the weights equal an uninterrupted two-rank run.
    (Each rank's noise generator is checkpointed; restoring rank 0's on both would change the result.)"""
    prepared = make_prepared(tmp_path)
    mp.spawn(_worker, args=(2, _free_port(), prepared, tmp_path, "whole"), nprocs=2, join=True)
    mp.spawn(_worker, args=(2, _free_port(), prepared, tmp_path, "cut", 1), nprocs=2, join=True)
    mp.spawn(_worker, args=(2, _free_port(), prepared, tmp_path, "resumed", None, str(tmp_path / "cut" / "latest.pt")),
             nprocs=2, join=True)
    whole, resumed = (torch.load(tmp_path / f"{run}-rank0.pt", weights_only=True)["weights"]
                      for run in ("whole", "resumed"))
    for name, tensor in whole.items():
        assert torch.equal(tensor, resumed[name]), name
    with pytest.raises(ConfigError, match=r"world size: the checkpoint was written by 2 process\(es\), this run has 1"):
        train(tiny_config(train__stages=2), prepared / "train", resume=tmp_path / "cut" / "latest.pt", echo=False)
