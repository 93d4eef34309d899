"""Two CPU processes with the gloo backend (as torchrun would start them) end with identical weights."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from training_helpers import make_prepared, tiny_config

from pacgan_lite.architecture import architecture, build_networks
from pacgan_lite.errors import ConfigError
from pacgan_lite.losses import CONDITIONINGS
from pacgan_lite.training import train
from pacgan_lite.training.distributed import init_distributed
from pacgan_lite.training.setup import precision_for, schedule_for
from pacgan_lite.training.step import TrainingStep

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


def _step_worker(rank: int, world_size: int, port: int, out) -> None:
    """Two batches of every conditioning, each rank on its own images; the critics' parameters per conditioning
    (the buffers are rank-local until the loop averages them at the epoch's end)."""
    os.environ.update({"RANK": str(rank), "WORLD_SIZE": str(world_size), "LOCAL_RANK": str(rank),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    context = init_distributed("cpu")
    try:
        critics = {}
        for conditioning in CONDITIONINGS:
            config = tiny_config(model__conditioning=conditioning)
            G, D = build_networks(architecture(config.model, 2, 1))
            before = {name: tensor.detach().clone() for name, tensor in D.named_parameters()}
            step = TrainingStep(G, D, None, config.train, precision_for(torch.device("cpu"), "float32", False),
                                context, torch.Generator().manual_seed(rank))
            point = schedule_for(config.train).at(0, 0, 8)
            images = torch.randn(2, 4, 1, 4, 4, generator=torch.Generator().manual_seed(rank))
            for batch in images:
                step(batch, torch.tensor([0, 1, 0, 1]), point)
            critics[conditioning] = {"before": before, "after": dict(D.named_parameters())}
        torch.save(critics, out / f"critics-rank{rank}.pt")
    finally:
        if dist.is_initialized():  # after an error on both ranks a barrier could wait for ever: release at once
            dist.destroy_process_group()


def test_every_conditioning_trains_its_critic_heads_on_two_ranks(tmp_path):
    # The critic step runs the wrapped critic three times before one backward; DDP takes a head missing from
    # the outputs of the last forward (the penalty's) for unused, and a tac critic's twin head must be in it.
    mp.spawn(_step_worker, args=(2, _free_port(), tmp_path), nprocs=2, join=True)
    rank0, rank1 = (torch.load(tmp_path / f"critics-rank{r}.pt", weights_only=True) for r in (0, 1))
    for conditioning, critic in rank0.items():
        for name, tensor in critic["after"].items():
            assert torch.equal(tensor, rank1[conditioning]["after"][name]), (conditioning, name)
    tac = rank0["tac"]
    twin = [name for name in tac["after"] if name.startswith("twin_class_head.")]
    assert twin and all(not torch.equal(tac["before"][name], tac["after"][name]) for name in twin)


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
