"""Run-time plumbing shared by the search and training loops: device, optimizers, schedulers, data iterators,
stop signals."""
from __future__ import annotations

import logging
import signal
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
                        index_range=split.index_range, augment=split.augment, seed=seed)


def batches(dataset: TrainDataset, split: HRFolder, seed: int, stream: int, start: int, stop: int,
            device: torch.device) -> Iterator[dict[str, torch.Tensor]]:
    """The batches of steps ``start..stop-1`` (a pure function of ``(seed, stream, step)``: exact resume)."""
    sampler = StepBatchSampler(len(dataset), split.batch_size, seed, start, stop, stream=stream)
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
