"""Mixed precision and loss scaling for one optimizer, with the data-parallel gradient average before the update."""
from __future__ import annotations

import math
from typing import Sequence

import torch

from srnas.errors import SrnasError
from srnas.utils.device import allreduce_grads


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
