"""Run-time plumbing shared by the search and training loops: device, optimizers, schedulers, data iterators,
stop signals."""
from __future__ import annotations

import logging
import math
import signal
import warnings
from contextlib import contextmanager
from typing import Iterator, Sequence

import torch
from torch.utils.data import DataLoader

from srnas.config.common import HRFolder, Optim, Scheduler
from srnas.data import TrainDataset
from srnas.data.sampling import StepBatchSampler
from srnas.errors import SrnasError
from srnas.utils.experiment import resolve_path

log = logging.getLogger("srnas")


class Interrupted(SrnasError):
    """SIGINT/SIGTERM arrived: the loop saved a checkpoint at the end of the current step and stopped."""


def select_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SrnasError("device: 'cuda' requested but no CUDA device is available (use device: auto or cpu)")
    return torch.device(name)


def build_optimizer(params: Sequence[torch.nn.Parameter], cfg: Optim, weight_decay: float) -> torch.optim.Optimizer:
    if cfg.type == "SGD":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=weight_decay)
    cls = torch.optim.AdamW if cfg.type == "AdamW" else torch.optim.Adam
    return cls(params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=weight_decay)


def step_scheduler(sched, skipped: bool) -> None:
    """Advance the per-iteration schedule. A skipped (non-finite) iteration advances it too, so the schedule stays
    tied to the iteration count; torch's warning about a scheduler step with no optimizer step is expected then."""
    with warnings.catch_warnings():
        if skipped:
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)` before")
        sched.step()


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: Scheduler, total_iters: int):
    """Per-iteration schedule (BasicSR convention)."""
    if cfg.type == "MultiStepLR":
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(cfg.milestones), gamma=cfg.gamma)
    if cfg.type == "CosineAnnealingLR":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(total_iters, 1), eta_min=cfg.eta_min)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)


def make_dataset(split: HRFolder, scale: int, seed: int) -> TrainDataset:
    return TrainDataset(resolve_path(split.hr_dir), scale, split.lq_patch,
                        lq_dir=None if split.lq_dir is None else resolve_path(split.lq_dir),
                        index_range=split.index_range, augment=split.augment, seed=seed, preload=split.preload)


def batches(dataset: TrainDataset, split: HRFolder, seed: int, stream: int, start: int, stop: int,
            device: torch.device, shard: bool = True) -> Iterator[dict[str, torch.Tensor]]:
    """The batches of steps ``start..stop-1`` (a pure function of ``(seed, stream, step)``: exact resume). Under
    ``torchrun`` each rank gets its slice of the global batch (``batch_size`` is the global batch) unless ``shard`` is
    False (every rank then loads the whole batch)."""
    rank, world = dist_info() if shard else (0, 1)
    if split.batch_size % world:
        raise SrnasError(f"batch_size {split.batch_size} must be divisible by the {world} data-parallel processes")
    sampler = StepBatchSampler(len(dataset), split.batch_size, seed, start, stop, stream, rank, world)
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=split.num_workers,
                        pin_memory=device.type == "cuda")
    for batch in loader:
        yield {k: batch[k].to(device, non_blocking=True) for k in ("lq", "gt")}


@contextmanager
def stop_signals() -> Iterator[dict[str, bool]]:
    """Turn SIGINT/SIGTERM into a flag the loop checks after each step (a second signal aborts at once)."""
    flag = {"stop": False}
    previous = {}

    def handler(signum, frame):  # noqa: ANN001
        if flag["stop"]:
            raise KeyboardInterrupt
        flag["stop"] = True
        log.warning("signal %s: saving a checkpoint after this step (send again to abort)", signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread
            pass
    try:
        yield flag
    finally:
        for sig, h in previous.items():
            signal.signal(sig, h)


# ---- mixed precision and data parallelism --------------------------------------------------------------------------
def dist_info() -> tuple[int, int]:
    """``(rank, world_size)``: (0, 1) unless ``torch.distributed`` is initialised (``torchrun``)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_distributed(device_name: str) -> tuple[int, int]:
    """Initialise the process group when launched by ``torchrun`` (env ``WORLD_SIZE`` > 1): NCCL on CUDA (one GPU per
    local rank), gloo on CPU. Returns ``(rank, world_size)``."""
    import os

    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or dist.is_initialized():
        return dist_info()
    use_cuda = device_name != "cpu" and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if use_cuda else "gloo")
    return dist_info()


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


class Precision:
    """Autocast + (for fp16) loss scaling for one optimizer: ``fp32`` (default), ``bf16`` (CPU or GPU), ``fp16``
    (CUDA only, with a GradScaler)."""

    def __init__(self, mode: str, device: torch.device):
        if mode == "fp16" and device.type != "cuda":
            raise SrnasError("precision: fp16 needs a CUDA device (use bf16 on CPU)")
        self.mode, self.device = mode, device
        self.dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(mode)
        self.scaler = torch.amp.GradScaler("cuda") if mode == "fp16" else None

    def autocast(self):
        from contextlib import nullcontext

        return nullcontext() if self.dtype is None else torch.autocast(self.device.type, dtype=self.dtype)

    def backward(self, loss: torch.Tensor, inputs: Sequence[torch.Tensor]) -> None:
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward(inputs=list(inputs))

    def unscale_and_clip(self, optimizer: torch.optim.Optimizer, params: Sequence[torch.nn.Parameter],
                         grad_clip: float | None = None, norm: bool = False) -> torch.Tensor | None:
        """Average the gradients over ranks, unscale them (fp16) and clip their norm; returns the norm (before
        clipping) when ``grad_clip`` is set or ``norm`` is asked for."""
        allreduce_grads(params)
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)
        if grad_clip is None and not norm:
            return None
        return torch.nn.utils.clip_grad_norm_(params, grad_clip if grad_clip is not None else math.inf)

    def apply(self, optimizer: torch.optim.Optimizer) -> None:
        """The optimizer step (fp16: skipped by the GradScaler when the gradients overflowed; the scale adapts)."""
        if self.scaler is not None:
            self.scaler.step(optimizer)
            self.scaler.update()
        else:
            optimizer.step()

    def step(self, optimizer: torch.optim.Optimizer, params: Sequence[torch.nn.Parameter],
             grad_clip: float | None = None) -> None:
        self.unscale_and_clip(optimizer, params, grad_clip)
        self.apply(optimizer)

    def state_dict(self) -> dict:
        return self.scaler.state_dict() if self.scaler is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)
