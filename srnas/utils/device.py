"""Where a run executes: the device, and the data-parallel process group under ``torchrun``."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import torch

from srnas.errors import SrnasError


def select_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SrnasError("device: 'cuda' requested but no CUDA device is available (use device: auto or cpu)")
    return torch.device(name)


def dist_info() -> tuple[int, int]:
    """``(rank, world_size)``: (0, 1) unless ``torch.distributed`` is initialised (``torchrun``)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_distributed(device_name: str) -> tuple[int, int]:
    """Initialise the process group when launched by ``torchrun`` (env ``WORLD_SIZE`` > 1): NCCL on CUDA (one GPU per
    local rank), gloo on CPU. Returns ``(rank, world_size)``."""
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or dist.is_initialized():
        return dist_info()
    use_cuda = device_name != "cpu" and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if use_cuda else "gloo")
    return dist_info()


@dataclass(frozen=True)
class RunEnv:
    """The process's place in a run: its rank, the number of ranks and its device."""

    rank: int
    world: int
    device: torch.device

    @property
    def main(self) -> bool:
        """Rank 0: the only rank that writes, validates and logs."""
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            torch.distributed.barrier()

    def any_rank(self, flag: bool) -> bool:
        """True when ``flag`` is set on any rank (all ranks then act at the same step)."""
        if self.world == 1:
            return flag
        t = torch.tensor([float(flag)], device=self.device)
        torch.distributed.all_reduce(t)
        return bool(t.item())


def start_env(device_name: str) -> RunEnv:
    """Join the ``torchrun`` process group when there is one (each rank: its data shard, gradients averaged) and pick
    the device (under torchrun on CUDA: the local rank's GPU)."""
    rank, world = init_distributed(device_name)
    device = select_device(device_name)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", torch.cuda.current_device())
    return RunEnv(rank, world, device)


def allreduce_grads(params: Sequence[torch.nn.Parameter]) -> None:
    """Average the gradients over data-parallel ranks (one flat all-reduce); a no-op in a single process. Every
    rank holds the same parameters and alphas, so averaging the gradients of each rank's shard equals the gradient of
    the mean loss over the combined batch."""
    import torch.distributed as dist

    _, world = dist_info()
    if world == 1:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for p, g in zip(params, grads):
        n = g.numel()
        p.grad = flat[offset:offset + n].view_as(p).clone()
        offset += n
