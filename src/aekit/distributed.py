"""Multi-process training under ``torchrun``: process group, data sharding, metric reduction.

``torchrun`` starts one process per GPU (or CPU worker) and sets WORLD_SIZE, RANK and LOCAL_RANK.
With WORLD_SIZE > 1 the trainer joins the process group here (NCCL on CUDA, gloo on CPU), runs the
loss through DistributedDataParallel (gradients are averaged, so every rank keeps the same weights),
gives each rank its own slice of every epoch's shuffled order, averages metrics across ranks, and
lets rank 0 alone write the run folder. Without torchrun every helper is a no-op.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from aekit.errors import TrainingError

_owned = False  # whether init() created the process group (and shutdown() should destroy it)


def init(device: torch.device) -> torch.device:
    """Join the torchrun process group when WORLD_SIZE > 1; returns this rank's device
    (``cuda:LOCAL_RANK`` when training on CUDA, so each process drives its own GPU)."""
    global _owned
    # active: the caller's own group
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 and not active():
        return device
    if not torch.distributed.is_available():
        raise TrainingError(
            "WORLD_SIZE > 1 but this PyTorch build has no torch.distributed; run without torchrun"
        )
    if device.type == "cuda":
        device = torch.device(
            "cuda", int(os.environ.get("LOCAL_RANK", torch.cuda.current_device()))
        )
        torch.cuda.set_device(device)
    if not active():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
        _owned = True
    return device


def shutdown() -> None:
    """Leave the process group that :func:`init` created (one created by the caller stays)."""
    global _owned
    if _owned and active():
        torch.distributed.destroy_process_group()
    _owned = False


def active() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def world_size() -> int:
    return torch.distributed.get_world_size() if active() else 1


def rank() -> int:
    return torch.distributed.get_rank() if active() else 0


def is_main() -> bool:
    """Rank 0 (or the only process): the one that writes files, holds the lock and logs."""
    return rank() == 0


def barrier() -> None:
    if active():
        torch.distributed.barrier()


def shard(order: torch.Tensor) -> torch.Tensor:
    """This rank's part of an order that is identical on every rank: the tail that does not divide
    evenly is dropped and rank r takes every world_size-th index from r, so all ranks step equally
    often."""
    size = world_size()
    if size == 1:
        return order
    return order[: order.shape[0] // size * size][rank() :: size]


def share(rows: int) -> tuple[int, int]:
    """This rank's contiguous share ``(start, stop)`` of ``rows`` rows (e.g. the validation set);
    with fewer rows than ranks every rank keeps them all."""
    size = world_size()
    if size == 1 or rows < size:
        return 0, rows
    return rows * rank() // size, rows * (rank() + 1) // size


def all_reduce_mean(values: dict[str, float], weight: float = 1.0) -> dict[str, float]:
    """Mean of ``values`` over all ranks, each weighted by ``weight`` (e.g. its number of images);
    every rank gets the same numbers, so decisions such as "best epoch" agree."""
    if not active():
        return values
    device = (
        torch.device("cuda", torch.cuda.current_device())
        if torch.distributed.get_backend() == "nccl"
        else None
    )
    packed = torch.tensor(
        [v * weight for v in values.values()] + [weight], dtype=torch.float64, device=device
    )
    torch.distributed.all_reduce(packed)
    return {k: v for k, v in zip(values, (packed[:-1] / packed[-1]).tolist())}


class _Loss(nn.Module):
    """The model's loss as a forward: DDP averages gradients only for what runs through its
    forward."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(
        self, x: torch.Tensor, target: Any, condition: Any, step: int
    ) -> dict[str, torch.Tensor]:
        return self.model.loss(x, target=target, condition=condition, step=step)

    def loss(
        self, x: torch.Tensor, target: Any = None, condition: Any = None, step: int = 0
    ) -> dict[str, torch.Tensor]:
        return self(x, target, condition, step)


class _DistributedLoss(nn.parallel.DistributedDataParallel):
    """DDP over :class:`_Loss`; ``loss`` goes through DDP's forward so gradients are all-reduced."""

    def loss(
        self, x: torch.Tensor, target: Any = None, condition: Any = None, step: int = 0
    ) -> dict[str, torch.Tensor]:
        return self(x, target, condition, step)


def for_training(model: nn.Module, device: torch.device) -> nn.Module:
    """What the training step calls ``train()``, ``loss(...)`` and ``parameters()`` on: the model
    itself in one process (unchanged, bit-exact), else its loss module inside DDP under torchrun."""
    if not active():
        return model
    return _DistributedLoss(
        _Loss(model), device_ids=[device.index] if device.type == "cuda" else None
    )
