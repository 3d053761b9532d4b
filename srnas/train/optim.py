"""Optimizers and per-iteration learning-rate schedules of the search (w and alpha) and of retraining."""
from __future__ import annotations

import warnings
from typing import Sequence

import torch

from srnas.config.common import Optim, Scheduler


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


def step_scheduler(sched, skipped: bool) -> None:
    """Advance the per-iteration schedule. A skipped (non-finite) iteration advances it too, so the schedule stays
    tied to the iteration count; torch's warning about a scheduler step with no optimizer step is expected then."""
    with warnings.catch_warnings():
        if skipped:
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)` before")
        sched.step()
